"""``ctao-sat datavolume``: the DL3+ data volume per site, year and product level."""

from __future__ import annotations

import click


@click.command()
@click.option(
    "--scenario",
    type=click.Path(dir_okay=False),
    help="YAML scenario (keys of sat.datavolume.Scenario; defaults documented).",
)
@click.option(
    "--measure",
    "measure",
    multiple=True,
    type=click.Path(exists=True),
    help="DL3 files to measure bytes per event on [default: H.E.S.S. DR1 runs].",
)
@click.option(
    "--output",
    type=click.Path(file_okay=False),
    default="datavolume",
    show_default=True,
    help="Output folder (ECSV table, PNG, assumptions.json): new or empty.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace a previous datavolume result in the output folder (kept until "
    "the new one is complete; not by a run whose checks fail).",
)
@click.option(
    "--overwrite-failed",
    is_flag=True,
    help="With --overwrite: replace it even when this run's checks fail.",
)
@click.option(
    "--check/--no-check",
    default=True,
    show_default=True,
    help="Check the per-run predictions on the H.E.S.S. DR1 and CTA 1DC runs.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def datavolume(scenario, measure, output, overwrite, overwrite_failed, check, quiet):
    """Model the data volume of DL3 and higher products per site and year.

    The per-run predictions (events from live time and IRF, bytes per event) are
    checked on DL3 files the model did not make: H.E.S.S. DR1 and CTA 1DC. The
    yearly totals extrapolate them with the scenario: model-only.
    """
    import logging
    import warnings

    from sat.config import load_config
    from sat.datavolume import Scenario
    from sat.errors import ValidationFailed
    from sat.usecases.operations import DataVolume
    from sat.usecases.runner import run

    warnings.simplefilter("ignore")
    logging.getLogger("gammapy").setLevel(logging.ERROR)
    # The scenario file first: its errors name the file and the line.
    scenario = load_config(Scenario, scenario).model_dump(mode="json")
    if overwrite_failed and not overwrite:
        raise click.UsageError("--overwrite-failed goes with --overwrite")
    config = {"scenario": scenario, "measure": list(measure), "check": check}
    failure = None
    try:
        result = run(DataVolume, config, output, quiet, overwrite, overwrite_failed)
        where = output
    except ValidationFailed as error:  # printed below, then the one error line
        result, where, failure = error.result, error.output, error
    for line in result.summary[:-1]:
        click.echo(line)
    years = result["provenance"]["config"]["scenario"]["years"]
    click.echo(f"stored at the end of year {years} (GB):")
    for name, gigabytes in result["stored_gb"].items():
        site, level = name.split(" ", 1)
        click.echo(f"  {site:<11} {level:<12} {gigabytes:10.2f}")
    total = result.parameters["stored_tb"].value
    click.echo(
        f"total {total:.2f} TB (model-only); table, plot and assumptions in {where}"
    )
    click.echo("model-only (no file or public figure checks these):")
    for line in result["model_only"]:
        click.echo(f"  - {line}")
    click.echo("CTAO's public figures (raw data only, none for DL3+):")
    for figure in result["public_figures"]:
        click.echo(f"  - {figure['what']}: {figure['value']} ({figure['source']})")
    if result["checked_runs"] is None:
        click.echo("per-run predictions NOT checked (--no-check)")
        return
    runs = ", ".join(f"{name} {n} runs" for name, n in result["checked_runs"].items())
    click.echo(f"checked on DL3 files it did not make ({runs}):")
    for item in result.validation:
        click.echo(f"  {item.verdict}  {item.describe()}")
    if failure is not None:
        raise failure
