"""The first seed as an analyst shows it: light curve and time-resolved spectra."""

from __future__ import annotations

from sat.usecases.ebl_absorption import intrinsic, power_law


def estimate_light_curve(bins, model, config, intervals):
    """Gammapy's light curve of the time bins (flux in the light-curve band)."""
    import astropy.units as u
    from gammapy.estimators import LightCurveEstimator
    from gammapy.modeling.models import SkyModel

    # The estimator fits each bin's normalisation of a fixed spectral shape: the
    # joint fit's, without its decay (each bin has its own flux).
    spectral = model.spectral_model.copy()
    bins.models = [SkyModel(spectral_model=spectral, name="burst-spectrum")]
    estimator = LightCurveEstimator(
        energy_edges=[config.energy_min_tev, config.light_curve_max_tev] * u.TeV,
        # The bins' own edges: their GTIs, sums of steps, may overlap by rounding.
        time_intervals=intervals,
        source="burst-spectrum",
        selection_optional=["ul"],
    )
    light_curve = estimator.run(bins)
    bins.models = [model]
    return light_curve


def time_resolved_spectra(bins, model, config, groups) -> list[dict]:
    """Time-resolved spectra: a power-law fit and flux points per segment."""
    import astropy.units as u
    from gammapy.datasets import Datasets
    from gammapy.estimators import FluxPointsEstimator
    from gammapy.maps import MapAxis
    from gammapy.modeling import Fit

    source = config.source
    segments = []
    for number, group in enumerate(groups, start=1):
        stacked = Datasets([bins[int(i)] for i in group]).stack_reduce(
            name=f"segment-{number}"
        )
        # The mean spectrum of the segment: no decay model within it.
        sky = power_law(
            f"segment-{number}",
            source.reference_tev,
            config.ebl_model,
            source.redshift,
            2.0,
            source.amplitude * 0.01,
        )
        stacked.models = [sky]
        fit = Fit().run([stacked])
        edges = MapAxis.from_energy_bounds(
            config.energy_min_tev, config.energy_max_tev, 3, per_decade=True, unit="TeV"
        ).edges
        points = FluxPointsEstimator(
            energy_edges=edges.to(u.TeV),
            source=sky.name,
            selection_optional=["ul"],
            n_jobs=1,
        ).run([stacked])
        gti = stacked.gti
        start = float((gti.time_start[0] - model.temporal_model.reference_time).sec)
        stop = float((gti.time_stop[-1] - model.temporal_model.reference_time).sec)
        spectral = intrinsic(sky)
        segments.append(
            {
                "segment": number,
                "start_s": start,
                "stop_s": stop,
                "success": bool(fit.success),
                "index": float(spectral.index.value),
                "index_error": float(spectral.index.error),
                "amplitude": float(spectral.amplitude.value),
                "amplitude_error": float(spectral.amplitude.error),
                "excess": float(stacked.excess.data.sum()),
                "model": sky,
                "flux_points": points,
            }
        )
    bins.models = [model]
    return segments
