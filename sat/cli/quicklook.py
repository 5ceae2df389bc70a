"""``ctao-sat quicklook``: maps, theta², ON/OFF numbers and a first spectrum per run."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--obs-id", "obs_ids", type=int, multiple=True, help="Run (repeatable).")
@click.option(
    "--target", help="Target name in a store's obs-index (its runs, its position)."
)
@click.option(
    "--output",
    type=click.Path(file_okay=False),
    default="quicklook",
    show_default=True,
    help="Output folder (one obs_NNNNNN sub-folder per run): new or empty.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace a previous quick look in the output folder (kept until the new "
    "one is complete; not by one where a run failed).",
)
@click.option(
    "--overwrite-failed",
    is_flag=True,
    help="With --overwrite: replace it even when a run of this quick look fails.",
)
@click.option(
    "--background",
    type=click.Choice(["ring", "fov"]),
    default="ring",
    show_default=True,
    help="Background of the maps: ring, or the IRF template scaled to the FoV.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def quicklook(
    paths, obs_ids, target, output, background, overwrite, overwrite_failed, quiet
):
    """Quick-look products of the runs of a data store folder or of DL3 files.

    PATHS is one data store folder (obs-index and hdu-index), or DL3 files that
    hold events and IRFs, one run each (as H.E.S.S. DR1 ships them); a file's
    header gives its target.

    Per run, in seconds: counts, excess and significance maps, the theta²
    distribution and ON/OFF numbers of the target, a power-law fit in a few
    energy bins; a PNG panel and a JSON summary in OUTPUT/obs_NNNNNN/. A run
    that cannot be looked at is named with its cause and the others go on; the
    exit code is 1 when any failed.
    """
    import logging
    import warnings

    from sat.errors import DataError, ValidationFailed
    from sat.quicklook import QuicklookFailed
    from sat.usecases.operations import Quicklook
    from sat.usecases.runner import run

    # Empty ring pixels (alpha 0) give harmless divide warnings in Gammapy.
    warnings.simplefilter("ignore", RuntimeWarning)
    logging.getLogger("gammapy").setLevel(logging.ERROR)
    if overwrite_failed and not overwrite:
        raise click.UsageError("--overwrite-failed goes with --overwrite")
    config = {
        "paths": [str(path) for path in paths],
        "obs_ids": list(obs_ids),
        "target": target,
        "settings": {"background": background},
    }
    try:
        result = run(Quicklook, config, output, quiet, overwrite, overwrite_failed)
        where = output
    except QuicklookFailed as error:  # no run looked at: nothing written
        if len(error.failures) > 1:
            _print_failures(error.failures)
        raise
    except ValidationFailed as error:  # some runs failed: the others are written
        result, where = error.result, error.output
    for line in result.summary:
        click.echo(line)
    failed = [entry for entry in result["runs"] if "error" in entry]
    if failed:
        _print_failures(failed)
        kept = ""
        if Path(where) != Path(output).absolute():
            kept = (
                f"; the previous result in {output} is kept (--overwrite-failed "
                "replaces it)"
            )
        raise DataError(
            f"{len(failed)} of {len(result['runs'])} runs failed (listed above); the "
            f"others' products are in {where}{kept}"
        )
    click.echo(f"products in {where}")


def _print_failures(failed) -> None:
    for entry in failed:
        which = f"obs {entry['obs_id']}" if entry["obs_id"] is not None else "run"
        click.secho(f"FAILED {which}: {entry['error']}", err=True, fg="red")
