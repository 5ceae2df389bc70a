"""Show a use case's configuration and result in a notebook or a gallery page.

The use-case pages of the documentation (``docs/examples``) are built from these
functions, so every page shows the same things the same way: the configuration,
the run, the plots the use case wrote, the fitted parameters and the validation
against the references. They read the run's `sat.result.Result` (result.json);
they compute nothing themselves.

Like every module of `sat.usecases`, this one is imported when the use cases are
discovered: matplotlib and astropy are imported inside the functions.
"""

from __future__ import annotations

import os
from pathlib import Path

from sat.result import Result

__all__ = [
    "RESULTS_ENV",
    "parameters_table",
    "plot_products",
    "results_folder",
    "run",
    "show_config",
    "show_tolerances",
    "validation_table",
]

# Where `run` writes when set (else ``results/`` in the current folder).
RESULTS_ENV = "CTAO_SAT_RESULTS"


def show_config(name: str, overrides: dict | None = None) -> None:
    """Print the use case's id and summary, and its configuration with overrides.

    Parameters
    ----------
    name : str
        Registered use-case name.
    overrides : dict, optional
        Keys that differ from the defaults.
    """
    from sat.config import dump_config, load_config
    from sat.usecases.registry import get_usecase

    usecase = get_usecase(name)
    print(usecase.usecase_id, "-", usecase.summary)
    print(dump_config(load_config(usecase.Config, overrides or {})))


def results_folder(name: str) -> Path:
    """Return the folder a notebook or gallery page writes the results of ``name`` to.

    ``results/<name>`` beside the notebook (the folder it runs in), as
    ``ctao-sat run`` would write them; ``$CTAO_SAT_RESULTS/<name>`` when that is set
    (the documentation build sets a temporary folder).
    """
    return Path(os.environ.get(RESULTS_ENV) or "results") / name


def run(name: str, overrides: dict | None = None) -> tuple[Result, Path]:
    """Run a use case into its `results_folder`; print its summary.

    A failed validation is printed, not raised: the products are written and
    the page shows them with the failing checks. Running again replaces the
    results of the previous run of this use case, failed or not (``overwrite``
    and ``overwrite_failed`` of `sat.usecases.runner.run_usecase`): a notebook is
    meant to be run again.

    Returns
    -------
    result : `sat.result.Result`
        What ``result.json`` holds.
    output : Path
        The folder holding the products.
    """
    from sat.errors import ValidationFailed
    from sat.usecases.runner import run_usecase

    output = results_folder(name).absolute()
    print(f"results in {output}")
    try:
        result = run_usecase(
            name,
            overrides or {},
            output,
            quiet=True,
            overwrite=True,
            overwrite_failed=True,
        )
    except ValidationFailed as error:
        print(f"VALIDATION FAILED: {error}")
        result = Result.read(output)
    print("\n".join(result.summary))
    return result, output


def plot_products(result: Result, output: Path) -> list:
    """Show every figure of the run, titled with its path; return the figures."""
    import matplotlib.pyplot as plt

    figures = []
    for product in result.products:
        if product.kind != "figure":
            continue
        image = plt.imread(product.locate(output))
        height, width = image.shape[:2]
        figure, axes = plt.subplots(figsize=(8, 8 * height / width))
        axes.imshow(image)
        axes.set_axis_off()
        axes.set_title(product.path)
        figure.tight_layout()
        figures.append(figure)
    return figures


def parameters_table(result: Result):
    """Return the fitted parameters (value, error, unit) as an astropy `Table`."""
    from astropy.table import Table

    table = Table(names=("parameter", "value", "error", "unit"), dtype=[str] * 4)
    for name, fitted in result.parameters.items():
        error = "" if fitted.error is None else f"{fitted.error:.3g}"
        table.add_row((name, f"{fitted.value:.4g}", error, fitted.unit))
    return table


def validation_table(result: Result):
    """Return the validation checks as an `~astropy.table.Table`.

    One row per check: verdict, quantity, measured value with its error, the
    reference with its tolerance (or the allowed interval) and the source.
    """
    from astropy.table import Table

    names = ("verdict", "quantity", "measured", "reference (tolerance)", "source")
    table = Table(names=names, dtype=[str] * len(names))
    for check in result.validation:
        # describe(): "q = measured vs reference ± error (...)" or "..., allowed [a, b]"
        line = check.describe()
        reference = (
            line.partition(" vs ")[2] or "within " + line.partition(", allowed ")[2]
        )
        measured = f"{check.measured:.4g} ± {check.measured_error:.2g}"
        table.add_row(
            (check.verdict, check.quantity, measured, reference, check.source)
        )
    return table


def show_tolerances(result: Result) -> None:
    """Print why each reference and tolerance was chosen, once per reason."""
    if not result.validation:
        print("no reference applies to this configuration")
    for why in dict.fromkeys(check.why for check in result.validation):
        print("-", why)
