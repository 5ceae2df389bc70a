"""The simulated observation: its dataset, J-factor map and dark-matter counts."""

from __future__ import annotations

import math

from sat.usecases.dark_matter.config import (
    JFACTOR_UNIT,
    PROFILES,
    DarkMatterLimitsConfig,
)

IRF_BINSZ_DEG = 0.5


def _check_ranges(config: DarkMatterLimitsConfig, irfs: dict) -> None:
    """Refuse energies and pointings the IRF does not cover (one-line errors)."""
    from sat.errors import ConfigError
    from sat.irf import check_energy_range

    check_energy_range(config.irf, irfs, config.energy_min_tev, config.energy_max_tev)
    fov = irfs["aeff"].axes["offset"].edges.max().to_value("deg")
    needed = config.pointing_offset_deg + config.width_deg / math.sqrt(2)
    if needed > fov:
        raise ConfigError(
            f"pointing_offset_deg + width_deg puts map corners {needed:.3g} deg from "
            f"a pointing, outside the field of view of IRF {config.irf!r} ({fov:g} deg)"
        )


def _survey_dataset(config: DarkMatterLimitsConfig, irfs: dict, site: str):
    """Return the stacked dataset of the four pointings, and the pointings."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from gammapy.datasets import MapDataset
    from gammapy.makers import MapDatasetMaker
    from gammapy.maps import WcsGeom

    from sat.irf import energy_axes
    from sat.simulate import create_observation, transit_time
    from sat.sites import get_site

    location = get_site(site)
    centre = SkyCoord(0, 0, unit="deg", frame="galactic")
    energy, energy_true = energy_axes(irfs, config)
    geom = WcsGeom.create(
        skydir=centre,
        width=config.width_deg,
        binsz=config.binsz_deg,
        frame="galactic",
        proj="CAR",
        axes=[energy],
    )
    offset = config.pointing_offset_deg
    pointings = SkyCoord(
        [offset, -offset, 0, 0], [0, 0, offset, -offset], unit="deg", frame="galactic"
    )
    livetime = config.livetime_h / len(pointings) * u.h
    start = transit_time(centre.icrs, location) - livetime / 2
    # PSF and energy dispersion change slowly across the field: on 0.5 deg pixels.
    options = {"energy_axis_true": energy_true, "binsz_irf": IRF_BINSZ_DEG}
    stacked = MapDataset.create(geom, name="survey", **options)
    maker = MapDatasetMaker(selection=["exposure", "background", "psf", "edisp"])
    for obs_id, pointing in enumerate(pointings.icrs, start=1):
        observation = create_observation(
            irfs, pointing, location, livetime, obs_id, start
        )
        empty = MapDataset.create(geom, **options)
        stacked.stack(maker.run(empty, observation))
    return stacked, pointings


def _jfactor_map(config: DarkMatterLimitsConfig, geom):
    """J-factor of every pixel (GeV2 cm-5) from Gammapy's profile and `JFactory`."""
    from gammapy.astro.darkmatter import JFactory, profiles
    from gammapy.maps import Map

    profile = getattr(profiles, PROFILES[config.halo.profile])()
    profile.scale_to_local_density()
    # JFactory integrates along lines of sight from the Sun, at the profile's
    # distance to the Galactic centre. Gammapy 2.1 starts the integral at
    # D tan(psi) instead of the closest approach D sin(psi) (gammapy#6754, fixed
    # after 2.1): about 0.8 psi of each line of sight is lost, 3 % at the
    # corners of the default map (tests/test_dark_matter.py measures it).
    factory = JFactory(
        geom=geom, profile=profile, distance=profiles.DMProfile.DISTANCE_GC
    )
    values = factory.compute_jfactor().to_value(JFACTOR_UNIT)
    return Map.from_geom(geom, data=values, unit=JFACTOR_UNIT)


def _template(jfactor, path):
    """Write dJ/dOmega to ``path``; return it as a normalised `TemplateSpatialModel`."""
    from gammapy.maps import Map
    from gammapy.modeling.models import TemplateSpatialModel

    geom = jfactor.geom
    density = (jfactor.quantity / geom.solid_angle()).to("GeV2 cm-5 sr-1")
    template = Map.from_geom(geom, data=density.value, unit=density.unit)
    template.write(path, overwrite=True)
    return TemplateSpatialModel(template, normalize=True, filename=str(path))


def _roi(geom, plane_mask_deg: float):
    """Pixels of the image ``geom`` outside the masked Galactic plane."""
    import numpy as np

    latitude = geom.get_coord().skycoord.galactic.b.deg
    # Pixel centres on the mask's edge stay in (1e-6 deg of rounding).
    return np.abs(latitude) >= plane_mask_deg - 1e-6


def _npred(dataset, spatial, mass_tev: float, channel: str, jfactor: float):
    """Predicted counts of <sigma v> = 3e-26 cm3 s-1 (exposure, PSF, edisp)."""
    import logging

    import astropy.units as u
    from gammapy.astro.darkmatter import DarkMatterAnnihilationSpectralModel
    from gammapy.modeling.models import SkyModel

    # PrimaryFlux is a TemplateNDSpectralModel built from the table, without a
    # file name of its own: Gammapy logs that it cannot serialise it (we never
    # do) every time one is made or copied.
    logger = logging.getLogger("gammapy.modeling.models.spectral")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        spectral = DarkMatterAnnihilationSpectralModel(
            mass=mass_tev * u.TeV,
            channel=channel,
            jfactor=jfactor * u.Unit(JFACTOR_UNIT),
        )
        model = SkyModel(
            spectral_model=spectral, spatial_model=spatial, name="dark-matter"
        )
        dataset.models = [model]
        npred = dataset.npred_signal().copy()
    finally:
        logger.setLevel(level)
    dataset.models = None
    return npred
