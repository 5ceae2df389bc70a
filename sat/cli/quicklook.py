"""``ctao-sat quicklook``: maps, theta², ON/OFF numbers and a first spectrum per run."""

from __future__ import annotations

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
    help="Output folder (one obs_NNNNNN sub-folder per run).",
)
@click.option(
    "--background",
    type=click.Choice(["ring", "fov"]),
    default="ring",
    show_default=True,
    help="Background of the maps: ring, or the IRF template scaled to the FoV.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def quicklook(paths, obs_ids, target, output, background, quiet):
    """Quick-look products of the runs of a data store folder or of DL3 files.

    PATHS is one data store folder (obs-index and hdu-index), or DL3 files that
    hold events and IRFs, one run each (as H.E.S.S. DR1 ships them); a file's
    header gives its target.

    Per run, in seconds: counts, excess and significance maps, the theta²
    distribution and ON/OFF numbers of the target, a power-law fit in a few
    energy bins; a PNG panel and a JSON summary in OUTPUT/obs_NNNNNN/.
    """
    import logging
    import warnings

    from sat.quicklook import QuicklookSettings, run_quicklook

    # Empty ring pixels (alpha 0) give harmless divide warnings in Gammapy.
    warnings.simplefilter("ignore", RuntimeWarning)
    logging.getLogger("gammapy").setLevel(logging.ERROR)
    progress = None
    if not quiet:
        from tqdm import tqdm

        def progress(iterable, desc):
            return tqdm(iterable, desc=desc, unit="run", leave=False)

    summaries = run_quicklook(
        paths,
        output,
        obs_ids=list(obs_ids) or None,
        target=target,
        settings=QuicklookSettings(background=background),
        progress=progress,
    )
    for s in summaries:
        fit = s["spectrum"]["fit"]
        index = (
            f"index {fit['index']:.2f} ± {fit['index_error']:.2f}"
            if fit["success"]
            else "fit failed"
        )
        theta2 = s["theta2"]
        click.echo(
            f"obs {s['obs_id']}: ON {theta2['n_on']} OFF {theta2['n_off']} "
            f"excess {theta2['excess']:.0f} ({theta2['significance']:.1f} sigma), "
            f"map max {s['maps']['max_significance']:.1f} sigma, {index}, "
            f"{s['time_s']:.1f} s"
        )
    click.echo(f"products in {output}")
