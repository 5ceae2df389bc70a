"""``ctao-sat irf``: list and inspect the public CTAO IRFs."""

from __future__ import annotations

import json

import click


@click.group()
def irf():
    """List and inspect the public CTAO instrument response functions."""


@irf.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(as_json):
    """List the known IRFs with their site, array and source."""
    from sat.irf import known_irfs

    infos = known_irfs()
    if as_json:
        click.echo(json.dumps([info.as_dict() for info in infos.values()], indent=2))
        return
    for info in infos.values():
        legacy = " (legacy)" if info.legacy else ""
        click.echo(
            f"{info.name:<22} {info.site:<11} {info.array}, zenith "
            f"{info.zenith_deg:g} deg, {info.livetime_h:g} h, {info.production}"
            f"{legacy}"
        )


@irf.command()
@click.argument("name")
@click.option(
    "--energy",
    type=float,
    default=1.0,
    show_default=True,
    help="Energy (TeV) of the effective area, PSF, background and resolution.",
)
@click.option(
    "--offset",
    type=float,
    default=0.5,
    show_default=True,
    help="Offset from the pointing position (deg).",
)
@click.option(
    "--plot",
    "plot_dir",
    type=click.Path(file_okay=False),
    help="Write PNG plots of every component into this folder.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(name, energy, offset, plot_dir, as_json):
    """Show the key performance numbers of IRF NAME (see `ctao-sat irf list`)."""
    from sat.irf import irf_summary, plot_irf

    summary = irf_summary(name, energy_tev=energy, offset_deg=offset)
    if plot_dir:
        summary["plots"] = [str(path) for path in plot_irf(name, plot_dir)]
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    s = summary
    lines = [
        f"{s['name']}: {s['production']}, {s['site']}, {s['array']}",
        f"  zenith {s['zenith_deg']:g} deg, azimuth {s['azimuth']}, "
        f"optimised for {s['livetime_h']:g} h",
        f"  source: {s['source']}",
        f"  licence: {s['licence']}",
        f"  energy axis: {s['energy_range_tev'][0]:.3g} - "
        f"{s['energy_range_tev'][1]:.3g} TeV; effective area > 10 % of its maximum: "
        f"{s['aeff_range_tev'][0]:.3g} - {s['aeff_range_tev'][1]:.3g} TeV",
        f"  field of view: offsets up to {s['offset_max_deg']:g} deg",
        f"  at {s['energy_tev']:g} TeV, offset {s['offset_deg']:g} deg:",
        f"    effective area       {s['aeff_m2']:.3g} m2",
        f"    PSF 68 % containment {s['psf_r68_deg']:.3f} deg",
        f"    energy resolution    {100 * s['energy_resolution']:.1f} % (RMS)",
        f"    background rate      {s['background_rate']:.3g} s-1 MeV-1 sr-1",
        f"  background rate, all energies: {s['background_rate_integral']:.3g} "
        "s-1 deg-2",
    ]
    lines += [f"  plot: {path}" for path in s.get("plots", [])]
    click.echo("\n".join(lines))
