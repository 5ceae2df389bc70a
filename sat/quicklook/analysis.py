"""The quick look's analysis of one run, with Gammapy's makers and estimators.

The target's position, the counts, excess and significance maps (ring or FoV
background), the theta² distribution with its ON/OFF numbers, and a first
reflected-regions spectrum with a power-law fit.
"""

from __future__ import annotations


def target_position_of(store, observation, target):
    """Return (position, how it was found) of the quick look's target, or None."""
    import numpy as np

    from sat.dl3.select import run_target, target_position

    if store is None:
        # A bare DL3 file: its events header names the target (RA_OBJ, DEC_OBJ).
        known = observation.meta.target
        if known.position is not None and np.isfinite(known.position.ra.deg):
            name = known.name or "object"
            return known.position.icrs, f"file RA_OBJ/DEC_OBJ ({name})"
        return None, "significance peak (no target position in the file)"
    if target:
        return target_position(store, target), f"obs-index position of {target!r}"
    known = run_target(store, observation.obs_id)
    if known is not None:
        position, name = known
        return position, f"obs-index RA_OBJ/DEC_OBJ ({name})"
    return None, "significance peak (no target position in the obs-index)"


def sky_maps(observation, position, settings, exclude=True):
    """Make the counts, excess and significance images around ``position``."""
    import astropy.units as u
    from gammapy.datasets import MapDataset
    from gammapy.estimators import ExcessMapEstimator
    from gammapy.makers import (
        FoVBackgroundMaker,
        MapDatasetMaker,
        RingBackgroundMaker,
        SafeMaskMaker,
    )
    from gammapy.maps import MapAxis, WcsGeom
    from regions import CircleSkyRegion

    energy = MapAxis.from_energy_bounds(
        settings.energy_min_tev, settings.energy_max_tev, 2, unit="TeV"
    )
    geom = WcsGeom.create(
        skydir=position,
        width=settings.map_width_deg,
        binsz=settings.binsz_deg,
        frame="icrs",
        axes=[energy],
    )
    # Without a target (first pass, to find the peak) nothing is excluded.
    exclusion = None
    if exclude:
        exclusion = ~geom.to_image().region_mask(
            [CircleSkyRegion(position, settings.exclusion_radius_deg * u.deg)]
        )
    empty = MapDataset.create(geom, name=f"obs-{observation.obs_id}")
    maker = MapDatasetMaker(selection=["counts", "background", "exposure"])
    safe = SafeMaskMaker(
        methods=["offset-max"], offset_max=settings.offset_max_deg * u.deg
    )
    dataset = safe.run(maker.run(empty, observation), observation)
    if settings.background == "ring":
        image = dataset.to_image()
        dataset = RingBackgroundMaker(
            r_in=settings.ring_inner_deg * u.deg,
            width=settings.ring_width_deg * u.deg,
            exclusion_mask=exclusion,
        ).run(image)
    else:
        dataset = FoVBackgroundMaker(method="scale", exclusion_mask=exclusion).run(
            dataset
        )
        # The fitted norm lives in the dataset's background model, which
        # `to_image` drops: apply it to the background map first.
        dataset.background = dataset.npred_background()
        dataset.models = None
        dataset = dataset.to_image()
    estimator = ExcessMapEstimator(
        correlation_radius=settings.correlation_radius_deg * u.deg,
        selection_optional=[],
    )
    result = estimator.run(dataset)
    return dataset, result


def theta2_numbers(observation, position, settings):
    """Theta² table and ON/OFF numbers inside the ON radius (mirrored OFF)."""
    import numpy as np
    from gammapy.data import Observations
    from gammapy.makers.utils import ThetaSquaredTable
    from gammapy.maps import MapAxis
    from gammapy.stats import WStatCountsStatistic

    r2 = settings.on_radius_deg**2
    # Bins of r²/3 so that the ON radius is a bin edge.
    nbin = int(np.ceil(settings.theta2_max_deg2 / (r2 / 3)))
    axis = MapAxis.from_bounds(
        0, nbin * r2 / 3, nbin=nbin, interp="lin", unit="deg2", name="theta_squared"
    )
    table = ThetaSquaredTable(Observations([observation]), axis, position).run()
    inside = table["theta2_max"].quantity.to_value("deg2") <= r2 * (1 + 1e-9)
    n_on = int(np.sum(table["counts"][inside]))
    n_off = int(np.sum(table["counts_off"][inside]))
    alpha = float(np.mean(table["alpha"][inside]))
    stat = WStatCountsStatistic(n_on, n_off, alpha)
    numbers = {
        "on_radius_deg": settings.on_radius_deg,
        "n_on": n_on,
        "n_off": n_off,
        "alpha": alpha,
        "excess": float(stat.n_sig),
        "significance": float(stat.sqrt_ts),
    }
    return table, numbers


def first_spectrum(observation, position, settings):
    """Reflected-regions ON/OFF spectrum and its power-law fit."""
    import astropy.units as u
    from gammapy.datasets import SpectrumDataset
    from gammapy.makers import SafeMaskMaker
    from gammapy.maps import MapAxis, RegionGeom, WcsGeom
    from gammapy.modeling import Fit
    from gammapy.modeling.models import PowerLawSpectralModel, SkyModel
    from regions import CircleSkyRegion

    from sat.dl3.makers import spectrum_makers

    energy = MapAxis.from_energy_bounds(
        settings.energy_min_tev,
        settings.energy_max_tev,
        settings.spectrum_bins,
        unit="TeV",
    )
    energy_true = MapAxis.from_energy_bounds(
        0.5 * settings.energy_min_tev,
        2 * settings.energy_max_tev,
        4 * settings.spectrum_bins,
        unit="TeV",
        name="energy_true",
    )
    region = CircleSkyRegion(position, settings.on_radius_deg * u.deg)
    geom = RegionGeom.create(region=region, axes=[energy])
    pointing = observation.get_pointing_icrs(observation.tmid)
    mask_geom = WcsGeom.create(
        skydir=pointing, width=2 * settings.offset_max_deg + 1, binsz=0.02
    )
    exclusion = ~mask_geom.region_mask(
        [CircleSkyRegion(position, settings.exclusion_radius_deg * u.deg)]
    )
    dataset = SpectrumDataset.create(geom=geom, energy_axis_true=energy_true)
    safe = SafeMaskMaker(methods=["aeff-max"], aeff_percent=10)
    # No PSF containment correction: the quick look's first, rough spectrum.
    for maker in spectrum_makers(False, exclusion, safe):
        dataset = maker.run(dataset, observation)
    model = PowerLawSpectralModel(
        index=2.5, amplitude="1e-12 cm-2 s-1 TeV-1", reference="1 TeV"
    )
    dataset.models = [SkyModel(spectral_model=model, name="target")]
    fit = {"success": False}
    if dataset.counts_off is not None and dataset.mask_safe.data.any():
        result = Fit().run([dataset])
        index, amplitude = model.parameters["index"], model.parameters["amplitude"]
        fit = {
            "success": bool(result.success),
            "index": float(index.value),
            "index_error": float(index.error),
            "amplitude": float(amplitude.value),
            "amplitude_error": float(amplitude.error),
            "amplitude_unit": str(amplitude.unit),
            "reference_tev": 1.0,
            "stat": float(result.total_stat),
        }
    return dataset, fit
