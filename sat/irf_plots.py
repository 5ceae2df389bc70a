"""Figures of a CTAO IRF, one per component, for ``ctao-sat irf show --plot``.

Gammapy's ``peek()`` of an IRF is a developer's view: a "relative effective
area" normalised where the area is zero comes out empty, background rates are
drawn over forty decades where the table holds zeros, and the axes carry
Gammapy's names. These figures show what a proposal or a slide needs, each
component over energy and over the field of view, in physical units, where the
IRF is defined (values from Gammapy's ``evaluate`` and ``containment_radius``).

- ``aeff``: effective area against true energy (per offset) and offset (per
  energy);
- ``psf``: 68 % containment radius, likewise;
- ``edisp``: energy bias and resolution against true energy, and the migration
  matrix at one offset;
- ``bkg``: background rate against energy (per offset) and its map over the
  field of view at 1 TeV.
"""

from __future__ import annotations

__all__ = ["irf_figures"]

# Offsets (deg) and true energies (TeV) at which the curves are drawn; those
# outside an IRF's axes are left out.
OFFSETS_DEG = (0.5, 1.5, 2.5, 3.5, 4.5)
ENERGIES_TEV = (0.05, 0.1, 1.0, 10.0, 100.0)
# Where a component is shown at one offset (migration matrix) or energy (map).
OFFSET_DEG = 0.5
ENERGY_TEV = 1.0
# Background rates below this fraction of the maximum are the table's floor
# (zeros filled with tiny numbers), not a rate: not drawn.
BACKGROUND_FLOOR = 1e-10


def irf_figures(name: str) -> dict:
    """Return the figures of IRF ``name`` by component (aeff, psf, edisp, bkg).

    Parameters
    ----------
    name : str
        A name of `sat.irf.known_irfs`.

    Returns
    -------
    dict of `~matplotlib.figure.Figure`
        One figure per component, captioned with the IRF's production, site,
        array and zenith angle.
    """
    from sat.irf import irf_info, load_irf
    from sat.plots import caption

    info = irf_info(name)
    irfs = load_irf(name)
    what = (
        f"{info.name}: {info.production}, {info.site}, {info.array}, zenith "
        f"{info.zenith_deg:g}°, optimised for {info.livetime_h:g} h"
    )
    figures = {
        "aeff": _aeff(irfs["aeff"]),
        "psf": _psf(irfs["psf"]),
        "edisp": _edisp(irfs["edisp"]),
        "bkg": _bkg(irfs["bkg"]),
    }
    titles = {
        "aeff": "effective area",
        "psf": "point spread function",
        "edisp": "energy dispersion",
        "bkg": "background rate",
    }
    for component, figure in figures.items():
        figure.suptitle(f"{info.name}: {titles[component]}")
        caption(figure, what)
    return figures


def _inside(values, axis, unit):
    # The values within an IRF axis's edges.
    low, high = axis.edges.min().to_value(unit), axis.edges.max().to_value(unit)
    return [value for value in values if low <= value <= high]


def _energy_grid(axis, unit="TeV", n=200):
    import numpy as np

    low, high = axis.edges.min().to_value(unit), axis.edges.max().to_value(unit)
    return np.geomspace(low, high, n)


def _two_panels():
    import matplotlib.pyplot as plt

    return plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")


def _aeff(aeff):
    import astropy.units as u
    import numpy as np

    from sat.plots import label

    figure, (left, right) = _two_panels()
    energy = _energy_grid(aeff.axes["energy_true"])
    for offset in _inside(OFFSETS_DEG, aeff.axes["offset"], "deg"):
        area = aeff.evaluate(energy_true=energy * u.TeV, offset=offset * u.deg)
        area = area.to_value("m2")
        shown = area > 0
        left.loglog(energy[shown], area[shown], label=f"offset {offset:g}°")
    left.set_xlabel(label("True energy", "TeV"))
    left.set_ylabel(label("Effective area", "m2"))
    left.set_ylim(bottom=1)
    left.legend(title="field of view", fontsize="small")
    offset = np.linspace(*aeff.axes["offset"].edges[[0, -1]].to_value("deg"), 100)
    for value in _inside(ENERGIES_TEV, aeff.axes["energy_true"], "TeV"):
        area = aeff.evaluate(energy_true=value * u.TeV, offset=offset * u.deg)
        right.semilogy(offset, area.to_value("m2"), label=f"{value:g} TeV")
    right.set_xlabel(label("Offset from the pointing", "deg"))
    right.set_ylabel(label("Effective area", "m2"))
    right.set_ylim(bottom=1)
    right.legend(title="true energy", fontsize="small")
    return figure


def _psf(psf):
    import astropy.units as u
    import numpy as np

    from sat.plots import label

    figure, (left, right) = _two_panels()
    energy = _energy_grid(psf.axes["energy_true"], n=60)
    for offset in _inside(OFFSETS_DEG, psf.axes["offset"], "deg"):
        radius = psf.containment_radius(
            0.68, energy_true=energy * u.TeV, offset=offset * u.deg
        ).to_value("deg")
        left.semilogx(energy, radius, label=f"offset {offset:g}°")
    left.set_xlabel(label("True energy", "TeV"))
    left.set_ylabel(label("68 % containment radius", "deg"))
    left.legend(title="field of view", fontsize="small")
    offset = np.linspace(*psf.axes["offset"].edges[[0, -1]].to_value("deg"), 40)
    for value in _inside(ENERGIES_TEV, psf.axes["energy_true"], "TeV"):
        radius = psf.containment_radius(
            0.68, energy_true=value * u.TeV, offset=offset * u.deg
        ).to_value("deg")
        right.plot(offset, radius, label=f"{value:g} TeV")
    right.set_xlabel(label("Offset from the pointing", "deg"))
    right.set_ylabel(label("68 % containment radius", "deg"))
    right.legend(title="true energy", fontsize="small")
    return figure


def _edisp(edisp):
    import astropy.units as u
    import numpy as np
    from gammapy.maps import MapAxis

    from sat.plots import colorbar, label

    figure, (left, right) = _two_panels()
    axis = edisp.axes["energy_true"]
    low = max(axis.edges.min().to_value("TeV"), 0.01)
    high = min(axis.edges.max().to_value("TeV"), 300)
    energy_axis = MapAxis.from_energy_bounds(low, high, 10, "TeV", per_decade=True)
    kernel = edisp.to_edisp_kernel(
        offset=OFFSET_DEG * u.deg,
        energy_axis_true=energy_axis.copy(name="energy_true"),
        energy_axis=energy_axis,
    )
    centres = energy_axis.center.to_value("TeV")
    data = np.squeeze(kernel.pdf_matrix)  # (energy_true, energy) probabilities
    # Below threshold the kernel is empty: no bias or resolution to show there.
    defined = data.sum(axis=1) > 0.5
    bias = np.where(defined, np.squeeze(kernel.get_bias(energy_axis.center)), np.nan)
    resolution = np.squeeze(kernel.get_resolution(energy_axis.center))
    resolution = np.where(defined, resolution, np.nan)
    left.semilogx(centres, 100 * resolution, label="resolution (RMS of E / E_true)")
    left.semilogx(centres, 100 * bias, label="bias (mean E / E_true − 1)")
    left.axhline(0, color="0.5", lw=0.5)
    left.set_xlabel(label("True energy", "TeV"))
    left.set_ylabel(label("Energy bias and resolution", "%"))
    left.set_title(f"offset {OFFSET_DEG:g}°")
    left.legend(fontsize="small")
    edges = energy_axis.edges.to_value("TeV")
    shown = right.pcolormesh(edges, edges, data.T, cmap="GnBu", shading="flat")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel(label("True energy", "TeV"))
    right.set_ylabel(label("Reconstructed energy", "TeV"))
    right.set_title(f"migration matrix, offset {OFFSET_DEG:g}°")
    colorbar(figure, shown, right, "probability per reconstructed-energy bin")
    return figure


def _bkg_rate(bkg, energy, offset):
    # Background3D is in FoV coordinates, Background2D in offset.
    import astropy.units as u

    names = bkg.axes.names
    if "offset" in names:
        return bkg.evaluate(energy=energy, offset=offset)
    return bkg.evaluate(energy=energy, fov_lon=offset, fov_lat=0 * u.deg)


def _bkg(bkg):
    import astropy.units as u
    import numpy as np

    from sat.plots import colorbar, label

    unit = "s-1 MeV-1 sr-1"
    figure, (left, right) = _two_panels()
    energy = _energy_grid(bkg.axes["energy"])
    if "offset" in bkg.axes.names:
        offset_max = bkg.axes["offset"].edges.max().to_value("deg")
    else:
        offset_max = bkg.axes["fov_lon"].edges.max().to_value("deg")
    offsets = [offset for offset in OFFSETS_DEG if offset <= offset_max]
    curves = [
        _bkg_rate(bkg, energy * u.TeV, offset * u.deg).to_value(unit)
        for offset in offsets
    ]
    floor = BACKGROUND_FLOOR * max(float(np.max(curve)) for curve in curves)
    for offset, rate in zip(offsets, curves, strict=True):
        shown = rate > floor
        left.loglog(energy[shown], rate[shown], label=f"offset {offset:g}°")
    left.set_xlabel(label("Reconstructed energy", "TeV"))
    left.set_ylabel(label("Background rate", unit))
    left.legend(title="field of view", fontsize="small")
    grid = np.linspace(-offset_max, offset_max, 121)
    lon, lat = np.meshgrid(grid, grid)
    if "offset" in bkg.axes.names:
        rate = bkg.evaluate(
            energy=ENERGY_TEV * u.TeV, offset=np.hypot(lon, lat) * u.deg
        )
    else:
        rate = bkg.evaluate(
            energy=ENERGY_TEV * u.TeV, fov_lon=lon * u.deg, fov_lat=lat * u.deg
        )
    image = right.imshow(
        rate.to_value(unit),
        origin="lower",
        extent=[-offset_max, offset_max, -offset_max, offset_max],
        cmap="GnBu",
    )
    right.set_xlabel(label("Field-of-view longitude", "deg"))
    right.set_ylabel(label("Field-of-view latitude", "deg"))
    right.set_title(f"at {ENERGY_TEV:g} TeV")
    colorbar(figure, image, right, "Background rate", unit)
    return figure
