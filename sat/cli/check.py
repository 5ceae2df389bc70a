"""``ctao-sat check``: data-quality verdicts of DL3 observations."""

from __future__ import annotations

import json

import click

_COLOURS = {"PASS": "green", "WARN": "yellow", "FAIL": "red"}


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def check(paths, as_json, quiet):
    """Check DL3 observations: a PASS/WARN/FAIL verdict per observation.

    PATHS are data store folders (obs-index.fits.gz, hdu-index.fits.gz) or DL3
    FITS files. Checks: GADF HDUs, columns, units and header keys; GTIs, dead
    time, time order, event-rate stability; pointing and zenith against the IRF;
    IRF energy ranges and units. Exits 1 when any observation FAILs.
    """
    import logging
    import warnings

    from astropy.utils.exceptions import AstropyWarning

    from sat.quality import check_paths, overall_verdict

    # Gammapy logs warnings about IRF units it repairs, astropy about the damage
    # it reads through: the verdicts say what matters, once per observation.
    logging.getLogger("gammapy").setLevel(logging.ERROR)
    warnings.simplefilter("ignore", AstropyWarning)
    progress = None
    if not quiet and not as_json:
        from tqdm import tqdm

        def progress(iterable, desc):
            return tqdm(iterable, desc=desc, unit="obs", leave=False)

    reports = check_paths(paths, progress=progress)
    verdict = overall_verdict(reports)
    if as_json:
        click.echo(
            json.dumps(
                {"verdict": verdict, "observations": [r.as_dict() for r in reports]},
                indent=2,
            )
        )
    else:
        for report in reports:
            click.secho(
                f"{report.verdict}  obs {report.obs_id}  {report.source}",
                fg=_COLOURS[report.verdict],
            )
            for finding in report.findings:
                click.echo(f"    {finding.level} [{finding.check}] {finding.reason}")
        counts = {v: sum(r.verdict == v for r in reports) for v in _COLOURS}
        click.echo(
            f"{len(reports)} observations: "
            + ", ".join(f"{n} {v}" for v, n in counts.items())
        )
    if verdict == "FAIL":
        click.get_current_context().exit(1)
