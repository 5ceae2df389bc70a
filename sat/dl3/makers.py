"""Gammapy's standard makers for DL3 runs, from Gammapy's own config blocks.

The energy axes, positions and regions of a ``datasets`` block
(`energy_axis`, `sky_coord`, `circle`), the mask of the excluded sky
(`exclusion_mask`), and the makers of a run's 1D ON/OFF spectrum with
reflected OFF regions (`spectrum_makers`, `reflected_regions_makers`) or of a
3D cube (`cube_makers`), as Gammapy's high-level ``Analysis`` assembles them.
Every analysis, quick look and simulation of `sat` builds its makers here.
"""

from __future__ import annotations

from sat.errors import reading

__all__ = [
    "circle",
    "cube_makers",
    "energy_axis",
    "exclusion_mask",
    "map_reference",
    "reflected_regions_makers",
    "safe_mask_maker",
    "sky_coord",
    "spectrum_makers",
]


def energy_axis(block, name: str = "energy"):
    """Return the `~gammapy.maps.MapAxis` of Gammapy's energy-axis config block.

    Log-spaced bins from ``min`` to ``max`` as Gammapy's ``Analysis`` makes them;
    None when the block leaves a bound or the number of bins unset.
    """
    from gammapy.maps import MapAxis

    if block.min is None or block.max is None or not block.nbins:
        return None
    return MapAxis.from_energy_bounds(block.min, block.max, block.nbins, name=name)


def sky_coord(block):
    """Return the `~astropy.coordinates.SkyCoord` of a Gammapy position block.

    ``frame``, ``lon`` and ``lat`` (``SkyCoordConfig``, ``SpatialCircleConfig``);
    None without ``lon``; ICRS without ``frame``.
    """
    from astropy.coordinates import SkyCoord

    if block.lon is None:
        return None
    return SkyCoord(block.lon, block.lat, frame=block.frame or "icrs")


def circle(block, centre):
    """Return a Gammapy circle block as a region, centred on ``centre`` without lon."""
    from regions import CircleSkyRegion

    return CircleSkyRegion(sky_coord(block) or centre, block.radius)


def map_reference(block, centre, name: str = "stacked"):
    """Return the empty `~gammapy.datasets.MapDataset` of Gammapy's geom block.

    A TAN map in ICRS centred on ``centre`` with the width, pixel size and
    energy axes of ``datasets.geom`` (``wcs``, ``axes``), as Gammapy's
    ``Analysis`` makes it; its geometry is ``reference.counts.geom``.
    """
    from gammapy.datasets import MapDataset
    from gammapy.maps import WcsGeom

    wcs = block.wcs
    geom = WcsGeom.create(
        skydir=centre.icrs,
        width=(wcs.width.width.to_value("deg"), wcs.width.height.to_value("deg")),
        binsz=wcs.binsize.to_value("deg"),
        frame="icrs",
        proj="TAN",
        axes=[energy_axis(block.axes.energy)],
    )
    return MapDataset.create(
        geom,
        energy_axis_true=energy_axis(block.axes.energy_true, "energy_true"),
        binsz_irf=wcs.binsize_irf.to_value("deg"),
        name=name,
    )


def exclusion_mask(position, observations, circles, on_radius, path=None):
    """Map of the sky where reflected OFF regions may lie, or None to exclude nothing.

    Parameters
    ----------
    position : `~astropy.coordinates.SkyCoord`
        The target.
    observations : `gammapy.data.Observations`
        The runs (their pointings set how far the OFF regions reach).
    circles : list of `gammapy.analysis.config.SpatialCircleConfig`
        Circles to exclude (``lon`` None: centred on the target).
    on_radius : `~astropy.coordinates.Angle`
        Radius of the ON region.
    path : path-like, optional
        A mask map instead (Gammapy's ``datasets.background.exclusion``: True
        where OFF regions may lie), read as Gammapy's ``Analysis`` reads it.
    """
    from gammapy.maps import Map, WcsGeom

    if path is not None:
        from gammapy.utils.scripts import make_path

        with reading(path):
            mask = Map.read(make_path(path))
        mask.data = mask.data.astype(bool)
        return mask
    if not circles:
        return None
    # Reflected regions lie on the circle through the target around each pointing:
    # the mask must reach twice the largest offset (plus the on region) from it.
    offset = max(
        position.separation(obs.get_pointing_icrs(obs.tmid)).deg for obs in observations
    )
    width = 2 * (2 * offset + on_radius.to_value("deg")) + 0.5
    geom = WcsGeom.create(
        skydir=position, width=width, binsz=0.01, frame="icrs", proj="TAN"
    )
    return geom.region_mask([circle(c, position) for c in circles], inside=False)


def safe_mask_maker(block):
    """Return Gammapy's `SafeMaskMaker` of a ``datasets.safe_mask`` block."""
    from gammapy.makers import SafeMaskMaker

    return SafeMaskMaker(methods=list(block.methods), **block.parameters)


def spectrum_makers(
    containment_correction: bool = True,
    exclusion_mask=None,
    safe_mask=None,
    **background,
) -> list:
    """Gammapy's makers of a run's ON/OFF spectrum with reflected OFF regions.

    Parameters
    ----------
    containment_correction : bool
        Correct the exposure for the PSF outside the ON region.
    exclusion_mask : `~gammapy.maps.WcsNDMap`, optional
        Where OFF regions may lie (`exclusion_mask`).
    safe_mask : `gammapy.makers.SafeMaskMaker`, optional
        The energies of each run to trust, applied last.
    **background
        Arguments of `ReflectedRegionsBackgroundMaker`.

    Returns
    -------
    list of `gammapy.makers.Maker`
        To run in order on each run (`SpectrumDatasetMaker` for counts, exposure
        and energy dispersion; `ReflectedRegionsBackgroundMaker`; the safe mask).
    """
    from gammapy.makers import ReflectedRegionsBackgroundMaker, SpectrumDatasetMaker

    makers = [
        SpectrumDatasetMaker(
            selection=["counts", "exposure", "edisp"],
            containment_correction=containment_correction,
        ),
        ReflectedRegionsBackgroundMaker(exclusion_mask=exclusion_mask, **background),
    ]
    return makers if safe_mask is None else [*makers, safe_mask]


def reflected_regions_makers(config, position, observations) -> list:
    """Return the makers of a reflected-regions analysis's ``datasets`` block.

    Parameters
    ----------
    config : `sat.usecases.options.DL3Config`
        Its ``datasets`` block (``containment_correction``, ``on_region``,
        ``background`` and ``safe_mask``, as Gammapy's ``Analysis`` reads them)
        and ``exclusion_regions`` (spectrum-1d, lightcurve).
    position : `~astropy.coordinates.SkyCoord`
        The target.
    observations : `gammapy.data.Observations`
        The runs.
    """
    datasets = config.datasets
    mask = exclusion_mask(
        position,
        observations,
        config.exclusion_regions,
        datasets.on_region.radius,
        datasets.background.exclusion,
    )
    return spectrum_makers(
        datasets.containment_correction,
        mask,
        safe_mask_maker(datasets.safe_mask),
        **datasets.background.parameters,
    )


def cube_makers(datasets, exclusion) -> list:
    """Return the makers of a stacked-cube analysis's ``datasets`` block.

    `MapDatasetMaker` (``map_selection``), the safe mask (``safe_mask``) and
    `FoVBackgroundMaker` (``background.parameters``, normalised outside
    ``exclusion``), in the order of Gammapy's ``Analysis``.
    """
    from gammapy.makers import FoVBackgroundMaker, MapDatasetMaker

    return [
        MapDatasetMaker(selection=list(datasets.map_selection)),
        safe_mask_maker(datasets.safe_mask),
        FoVBackgroundMaker(exclusion_mask=exclusion, **datasets.background.parameters),
    ]
