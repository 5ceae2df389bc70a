"""Run the use cases from Python: in a notebook, get Gammapy objects back.

The command line's ``ctao-sat run NAME`` is, from Python::

    import sat

    result = sat.run("spectrum-1d", {"target": "PKS 2155-304"})
    result.gammapy.flux_points.plot(sed_type="e2dnde")

`run` takes the config as a dict of the keys to change, a YAML file, or the
config object of `get_config`; it writes nothing unless given an ``output``
folder. The `sat.result.Result` it returns is what ``result.json`` holds (the
fitted parameters, the validation, the products) and, from this run, the
Gammapy objects (``result.gammapy``: datasets, models, flux points, light
curve, maps) and the matplotlib figures (``result.figures``).

These functions are also importable from `sat` itself (``from sat import run``);
importing `sat` stays cheap: the scientific stack is imported by a run.
"""

from __future__ import annotations

import warnings
from pathlib import Path

__all__ = ["get_config", "list_usecases", "read_result", "run"]


def list_usecases() -> dict[str, str]:
    """Return every use case's name with its one-line summary.

    Examples
    --------
    >>> import sat
    >>> usecases = sat.list_usecases()
    >>> usecases["spectrum-1d"]
    '1D ON/OFF spectrum (reflected regions) of H.E.S.S. DR1 runs'
    """
    from sat.usecases.registry import usecases

    return {name: case.summary for name, case in usecases().items()}


def get_config(usecase: str, example: str | None = None):
    """Return the config of ``usecase``: its defaults, or one of its examples.

    The config is a pydantic model: change its keys as attributes (each change
    is validated) and pass it to `run`. ``print(sat.config.dump_config(c))``
    shows it as YAML; ``ctao-sat run NAME --print-config`` with a comment per key.

    Parameters
    ----------
    usecase : str
        A use-case name (`list_usecases`).
    example : str, optional
        A documented variant (``ctao-sat run NAME --print-config --example X``).

    Raises
    ------
    ConfigError
        An unknown use case or example (one line naming the known ones).

    Examples
    --------
    >>> import sat
    >>> config = sat.get_config("joint-crab")
    >>> config.instruments
    ['fermi', 'magic', 'veritas', 'fact', 'hess']
    >>> config.instruments = ["hess"]
    """
    from sat.config import load_config
    from sat.usecases.registry import get_usecase

    case = get_usecase(usecase)
    return load_config(case.Config, example_config(case, example))


def example_config(case, example: str | None) -> dict:
    """Return the keys of ``case``'s example ``example`` ({} for none).

    Raises
    ------
    ConfigError
        No such example (naming the known ones).
    """
    from sat.errors import ConfigError

    if example is None:
        return {}
    if example not in case.examples:
        known = ", ".join(case.examples) or "none"
        raise ConfigError(
            f"{case.name} has no example {example!r}; its examples: {known}"
        )
    return dict(case.examples[example].config)


def run(usecase: str, config=None, output=None, overwrite=False, quiet=False):
    """Run a use case; return its result with the Gammapy objects and figures.

    Parameters
    ----------
    usecase : str
        A use-case name (`list_usecases`).
    config : dict, str, Path or config object, optional
        The keys that differ from the defaults, a YAML file (as written by
        ``ctao-sat run NAME --print-config``), or a config from `get_config`.
    output : str or Path, optional
        Write the products and ``result.json`` into this folder, as ``ctao-sat
        run --output`` does (new or empty). None: nothing is written.
    overwrite : bool
        Replace a previous result of this use case in ``output``.
    quiet : bool
        No progress messages.

    Returns
    -------
    `sat.result.Result`
        ``result.parameters``, ``result.validation`` and ``result.summary`` as in
        ``result.json``; ``result.gammapy`` (datasets, models, flux_points,
        light_curve, maps: the Gammapy objects of this run), ``result.figures``
        (matplotlib figures by product name) and ``result.output``.

    Warns
    -----
    ValidationWarning
        The result is outside the tolerance of its published reference (the
        command line exits 1 then); ``result.failures`` names the checks.

    Raises
    ------
    SatError
        A bad config, missing data or an output folder that cannot be written
        (one line saying what to do).

    Examples
    --------
    The joint fit of the H.E.S.S. Crab spectrum of Nigro et al. (2019), in a
    few seconds:

    >>> import sat
    >>> result = sat.run("joint-crab", {"instruments": ["hess"]}, quiet=True)
    >>> result.passed
    True
    >>> result.parameters["alpha"].unit
    ''
    >>> datasets = result.gammapy.datasets  # Gammapy's Datasets, fitted
    >>> [dataset.name for dataset in datasets][:2]
    ['23523', '23526']
    >>> sorted(result.figures)
    ['sed.png']
    >>> print(result.output)
    None
    """
    from sat.errors import ValidationWarning
    from sat.usecases.runner import run_usecase

    result = run_usecase(
        usecase,
        config,
        None if output is None else Path(output),
        quiet=quiet,
        overwrite=overwrite,
        check=False,
    )
    if not result.passed:
        checks = "; ".join(check.describe() for check in result.failures)
        warnings.warn(
            f"{usecase}: validation failed for {checks}", ValidationWarning, 2
        )
    return result


def read_result(path):
    """Read a run's ``result.json`` (or the output folder holding one).

    The result has the JSON's keys; it holds no Gammapy objects (its products
    do: ``result.output / product``) and no figures.

    Examples
    --------
    >>> import sat, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> written = sat.run(
    ...     "joint-crab", {"instruments": ["hess"]}, output=f"{folder}/crab", quiet=True
    ... )
    >>> again = sat.read_result(f"{folder}/crab")
    >>> again.parameters == written.parameters
    True
    >>> [p.path for p in again.products if p.kind == "figure"]
    ['sed.png']
    """
    from sat.result import Result

    return Result.read(path)
