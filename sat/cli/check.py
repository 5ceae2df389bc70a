"""``ctao-sat check``: data-quality verdicts of DL3 observations."""

from __future__ import annotations

import json

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
@click.option("--overwrite", is_flag=True, help="Replace a previous check in --output.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def check(paths, as_json, output, overwrite, quiet):
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
    config = {"paths": [str(path) for path in paths]}
    try:
        result = run(Check, config, output, quiet or as_json, overwrite)
    except ValidationFailed as error:  # a FAIL: reported below, exit 1
        result = error.result
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
    if not result.passed:
        click.get_current_context().exit(1)
