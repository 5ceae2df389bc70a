"""``ctao-sat check``: data-quality verdicts of DL3 observations."""

from __future__ import annotations

import json
from pathlib import Path

import click

_COLOURS = {"PASS": "green", "WARN": "yellow", "FAIL": "red"}


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.option(
    "--output",
    type=click.Path(file_okay=False),
    help="Also write the verdicts as result.json into this folder (new or empty).",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace a previous check in --output (kept until the new one is "
    "complete; not by a check with a FAIL).",
)
@click.option(
    "--overwrite-failed",
    is_flag=True,
    help="With --overwrite: replace it even when this check has a FAIL.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def check(paths, as_json, output, overwrite, overwrite_failed, quiet):
    """Check DL3 observations: a PASS/WARN/FAIL verdict per observation.

    PATHS are data store folders (obs-index.fits.gz, hdu-index.fits.gz) or DL3
    FITS files. Checks: GADF HDUs, columns, units and header keys; GTIs, dead
    time, time order, event-rate stability; pointing and zenith against the IRF;
    IRF energy ranges and units. Exits 1 when any observation FAILs.
    """
    import logging
    import warnings

    from astropy.utils.exceptions import AstropyWarning

    from sat.errors import ValidationFailed
    from sat.usecases.operations import Check
    from sat.usecases.runner import run

    # Gammapy logs warnings about IRF units it repairs, astropy about the damage
    # it reads through: the verdicts say what matters, once per observation.
    logging.getLogger("gammapy").setLevel(logging.ERROR)
    warnings.simplefilter("ignore", AstropyWarning)
    if overwrite_failed and not overwrite:
        raise click.UsageError("--overwrite-failed goes with --overwrite")
    config = {"paths": [str(path) for path in paths]}
    where = output
    try:
        result = run(
            Check, config, output, quiet or as_json, overwrite, overwrite_failed
        )
    except ValidationFailed as error:  # a FAIL: reported below, exit 1
        result, where = error.result, error.output
    if as_json:
        content = {"verdict": result["verdict"], "observations": result["observations"]}
        click.echo(json.dumps(content, indent=2))
    else:
        for report in result["observations"]:
            click.secho(
                f"{report['verdict']}  obs {report['obs_id']}  {report['source']}",
                fg=_COLOURS[report["verdict"]],
            )
            for finding in report["findings"]:
                click.echo(
                    f"    {finding['level']} [{finding['check']}] {finding['reason']}"
                )
        click.echo(result.summary[0])
    if output is not None and Path(where) != Path(output).absolute():
        # A check with a FAIL went beside the previous result: say where.
        click.echo(
            f"verdicts in {where}; the previous result in {output} is kept "
            "(--overwrite-failed replaces it)",
            err=as_json,
        )
    if not result.passed:
        click.get_current_context().exit(1)
