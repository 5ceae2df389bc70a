"""Run a use case and write its result atomically.

Check the data, run in a scratch folder, write result.json (a `sat.result.Result`),
move the folder into place by the rules of `sat.outputs` (never over something
else, never a failed validation over a previous result unless asked), and fail
when the validation fails. Every command that computes something runs through
`run`: the use cases (``ctao-sat run``) and the operations on DL3 data
(``quicklook``, ``check``, ``datavolume``; `sat.usecases.operations`). Without
an output folder (`sat.run` in a notebook), nothing is kept on disk: the result
holds the figures and the Gammapy objects.
"""

from __future__ import annotations

import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from sat import __version__, interrupt, offline
from sat.config import load_config
from sat.data import require
from sat.errors import ValidationFailed
from sat.outputs import OutputFolder
from sat.provenance import now, record
from sat.result import Result
from sat.usecases.base import RunContext, UseCase
from sat.usecases.registry import get_usecase

__all__ = ["run", "run_usecase"]


def run(
    case: type[UseCase],
    config=None,
    output=None,
    quiet: bool = False,
    overwrite: bool = False,
    overwrite_failed: bool = False,
    check: bool = True,
) -> Result:
    """Run use case ``case`` and return its result (what result.json holds).

    Parameters
    ----------
    case : type of `sat.usecases.base.UseCase`
        The use case (a registered one, `get_usecase`, or an operation).
    config : None, dict, str, Path or the use case's config
        Defaults, overrides, a YAML file, or a config object.
    output : str or Path, optional
        Folder to write the products and ``result.json`` into. It appears complete
        or not at all; it must not exist, or be empty (`sat.outputs`). None: the
        products are written into a temporary folder, removed afterwards (the
        result is returned with its figures and Gammapy objects, nothing stays
        on disk).
    quiet : bool
        No progress output.
    overwrite : bool
        Replace a previous result of this use case in ``output``.
    overwrite_failed : bool
        Replace it even when this run's validation fails (otherwise the failed
        run goes to ``OUTPUT-failed-YYYYmmddTHHMMSS`` beside it).
    check : bool
        Raise `ValidationFailed` when the validation fails (else the result says
        so: ``result.passed``, ``result.failures``).

    Raises
    ------
    SatError
        Bad config, missing data, an output folder that cannot be written or
        would be destroyed (one line each), or `ValidationFailed` after the
        products were written, naming the checks that failed (the result is its
        ``result``, where it went its ``output``).
    """
    if isinstance(config, case.Config):  # validated again, as a copy
        config = config.model_dump(mode="json")
    settings = load_config(case.Config, config)
    offline.configure()  # no use case may download anything at run time
    usecase = case()
    for dataset in usecase.required_datasets(settings):
        require(dataset)
    with _folder(output, case.name, overwrite, overwrite_failed) as folder:
        result = _execute(usecase, settings, RunContext(folder.scratch, quiet=quiet))
        result.write(folder.scratch)
        where = folder.publish(passed=result.passed)
    result.keep(output=where)
    if check and not result.passed:
        raise _failed(case.name, result, where, folder.path)
    return result


def run_usecase(
    name: str,
    config=None,
    output="results",
    quiet: bool = False,
    overwrite: bool = False,
    overwrite_failed: bool = False,
    check: bool = True,
) -> Result:
    """Run the registered use case ``name`` (``ctao-sat run --list``); see `run`."""
    return run(
        get_usecase(name), config, output, quiet, overwrite, overwrite_failed, check
    )


def _execute(usecase: UseCase, settings, context: RunContext) -> Result:
    """Run ``usecase`` with ``settings`` in ``context``; return its `Result`.

    The result keeps the run's figures and Gammapy objects (never written).
    """
    started, start = now(), time.perf_counter()
    outcome = usecase.run(settings, context)
    result = Result(
        usecase=usecase.name,
        usecase_id=usecase.usecase_id,
        ctao_sat=__version__,
        parameters=outcome.parameters,
        validation=outcome.validation,
        products=sorted(context.products),
        **outcome.extra,
        summary=outcome.summary,
        provenance=record(
            settings.model_dump(mode="json"),
            context.inputs,
            started,
            time.perf_counter() - start,
        ),
    )
    return result.keep(gammapy=context.gammapy, figures=context.figures)


class _Discarded:
    """A temporary folder standing in for an output folder: nothing is kept."""

    def __init__(self, scratch: Path):
        self.scratch = self.path = scratch

    def publish(self, passed: bool = True) -> None:
        return None


@contextmanager
def _folder(output, name: str, overwrite: bool, overwrite_failed: bool):
    """Yield the `sat.outputs.OutputFolder` of ``output``, or a discarded one."""
    if output is None:
        with tempfile.TemporaryDirectory(prefix=f"ctao-sat-{name}-") as scratch:
            # Removed by a signal too, as OutputFolder's scratch is.
            interrupt.register_scratch(scratch)
            try:
                yield _Discarded(Path(scratch))
            finally:
                interrupt.discard_scratch(scratch)
        return
    with OutputFolder(output, name, overwrite, overwrite_failed) as folder:
        yield folder


def _failed(name: str, result: Result, where, output) -> ValidationFailed:
    """Return the error of a result whose validation failed, naming the checks."""
    quantities = "; ".join(check.describe() for check in result.failures)
    products = "" if where is None else f"; products in {where}"
    kept = ""
    if where is not None and where != output:
        kept = (
            f"; the previous result in {output} is kept (--overwrite-failed replaces "
            "it)"
        )
    error = ValidationFailed(
        f"{name}: validation failed for {quantities}{products}{kept}"
    )
    error.result, error.output = result, where
    return error
