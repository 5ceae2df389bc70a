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
    "--check/--no-check",
    default=True,
    show_default=True,
    help="Check the per-run predictions on the H.E.S.S. DR1 and CTA 1DC runs.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def datavolume(scenario, measure, output, overwrite, check, quiet):
    """Model the data volume of DL3 and higher products per site and year.

    The per-run predictions (events from live time and IRF, bytes per event) are
    checked on DL3 files the model did not make: H.E.S.S. DR1 and CTA 1DC. The
    yearly totals extrapolate them with the scenario: model-only.
    """
    import logging
    import warnings

    from sat.config import load_config
    from sat.data import require
    from sat.datavolume import Scenario, run_model
    from sat.outputs import OutputFolder

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

    releases = None
    if check:
        from sat.dl3.store import open_store

        releases = {
            "H.E.S.S. DR1": open_store(require("hess-dl3-dr1")),
            "CTA 1DC": open_store(require("cta-1dc") / "index" / "gps"),
        }
    with OutputFolder(output, "datavolume", overwrite) as folder:
        result = run_model(
            config, paths, folder.scratch, progress=progress, releases=releases
        )
        validation = result["validation"]
        checks = validation["checks"] if validation else []
        failed = [item for item in checks if item["verdict"] != "PASS"]
        output = folder.publish(passed=not failed)
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
    click.echo(
        f"total {total:.2f} TB (model-only); table, plot and assumptions in {output}"
    )
    click.echo("model-only (no file or public figure checks these):")
    for line in result["model_only"]:
        click.echo(f"  - {line}")
    click.echo("CTAO's public figures (raw data only, none for DL3+):")
    for figure in result["public_figures"]:
        click.echo(f"  - {figure['what']}: {figure['value']} ({figure['source']})")
    if validation is None:
        click.echo("per-run predictions NOT checked (--no-check)")
        return
    runs = ", ".join(f"{name} {n} runs" for name, n in validation["runs"].items())
    click.echo(f"checked on DL3 files it did not make ({runs}):")
    for item in validation["checks"]:
        click.echo(
            f"  {item['verdict']}  {item['quantity']} = {item['measured']:.3g}, "
            f"allowed {item['allowed']}"
        )
    if failed:
        kept = (
            f"; the previous result in {folder.path} is kept"
            if output != folder.path
            else ""
        )
        raise click.ClickException(
            "validation failed for "
            + "; ".join(item["quantity"] for item in failed)
            + f"; details in {output}/real_runs.json{kept}"
        )
