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
    help="Output folder (ECSV table, PNG, assumptions.json).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def datavolume(scenario, measure, output, quiet):
    """Model the data volume of DL3 and higher products per site and year."""
    import logging
    import warnings

    from sat.config import load_config
    from sat.data import require
    from sat.datavolume import Scenario, run_model

    warnings.simplefilter("ignore")
    logging.getLogger("gammapy").setLevel(logging.ERROR)
    config = load_config(Scenario, scenario)
    paths = list(measure) or sorted(
        (require("hess-dl3-dr1") / "data").glob("*.fits.gz")
    )
    progress = None
    if not quiet:
        from tqdm import tqdm

        def progress(iterable, desc):
            return tqdm(iterable, desc=desc, leave=False)

    result = run_model(config, paths, output, progress=progress)
    table = result["table"]
    last = table[table["year"] == config.years]
    click.echo(
        f"bytes per event {table.meta['bytes_per_event']:.1f} "
        f"({'gzip' if config.compressed else 'raw'}, measured on {len(paths)} files)"
    )
    for name, rate in result["event_rates_hz"].items():
        click.echo(
            f"{name}: {rate['background_hz']:.1f} Hz background + "
            f"{rate['gamma_hz']:.2f} Hz target"
        )
    click.echo(f"stored at the end of year {config.years} (GB):")
    for row in last:
        click.echo(
            f"  {row['site']:<11} {row['level']:<12} {row['stored_bytes'] / 1e9:10.2f}"
        )
    total = last["stored_bytes"].sum() / 1e12
    click.echo(f"total {total:.2f} TB; table, plot and assumptions in {output}")
