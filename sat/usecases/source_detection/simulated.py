"""The simulated survey: field, population, TS maps, fits, matching and checks.

A survey field with sources and its source-free twin are simulated from a CTAO
IRF and searched; the detections are fitted, paired with the truth and
validated (completeness, position and flux pulls, false detections).
"""

from __future__ import annotations

import math

from sat.detection import AMPLITUDE_UNIT
from sat.usecases.base import Outcome, RunContext
from sat.usecases.source_detection.config import Detection
from sat.usecases.source_detection.plots import _plot_field, _plot_validation
from sat.validation import Bounds, Reference, check_bounds, compare

# The Crab Nebula's power law at 1 TeV (H.E.S.S., Aharonian et al. 2006, A&A 457,
# 899): the unit of the population's fluxes.
CRAB_AMPLITUDE = 3.45e-11
# Tolerance of the detected count against its Asimov expectation (sigma).
N_SIGMA = 3.0
# Probability of a 3 sigma Gaussian excursion (one-sided), for Poisson checks.
P_3SIGMA = 0.00135
# Draws of a position before giving up placing the population.
MAX_PLACEMENT_TRIES = 10000


def _simulated_survey(config, context: RunContext) -> Outcome:
    """Simulate the field with sources and without; detect, fit, validate."""
    import numpy as np
    from astropy.table import Table
    from gammapy.datasets import Datasets
    from gammapy.modeling.models import FoVBackgroundModel, Models

    from sat.detection import find_sources, ts_map
    from sat.irf import irf_info, irf_path, load_irf

    info = irf_info(config.irf)
    context.add_inputs(irf_path(config.irf))
    irfs = load_irf(config.irf)
    _check_field(config, irfs)
    field = config.simulation
    detection = config.detection

    truth = _population(config)
    with context.step(
        f"exposure and background of {field.n_pointings} x {field.livetime_h:g} h "
        f"({info.name})"
    ):
        dataset, pointings = _field_dataset(config, irfs, info.site)
    truth_models = Models(
        [_truth_model(row) for row in truth]
        + [FoVBackgroundModel(dataset_name=dataset.name)]
    )
    truth_models.write(
        context.product("models/truth.yaml"), overwrite=True, write_covariance=False
    )

    with context.step(f"simulating {len(truth)} sources and a source-free twin"):
        dataset.models = truth_models
        asimov = dataset.copy(name="asimov")
        asimov.counts = dataset.npred().copy()
        dataset.fake(random_state=config.population.seed)
        null = dataset.copy(name="null")
        null.models = [FoVBackgroundModel(dataset_name="null")]
        null.fake(random_state=config.population.seed + 1)
        for data in (dataset, asimov):
            data.models = [FoVBackgroundModel(dataset_name=data.name)]

    maps = {}
    for label, data in (("field", dataset), ("asimov", asimov), ("null", null)):
        with context.step(f"TS map of the {label}"):
            maps[label] = ts_map(data, detection.index, detection.kernel_width_deg)
    maps["field"]["sqrt_ts"].write(
        context.product("maps/field_sqrt_ts.fits"), overwrite=True
    )
    maps["null"]["sqrt_ts"].write(
        context.product("maps/null_sqrt_ts.fits"), overwrite=True
    )

    peaks = find_sources(
        maps["field"], detection.ts_threshold, detection.min_distance_deg
    )
    if detection.fit:
        with context.step(f"fitting {len(peaks)} detections"):
            fits = [
                _fit(dataset, peak, peaks, detection, frame="galactic")
                for peak in context.progress(peaks, "fitting detections")
            ]
    else:
        fits = [_peak(peak, frame="galactic") for peak in peaks]
    catalogue = Table(rows=fits) if fits else Table()
    _match(catalogue, truth, detection.match_radius_deg)
    _expected(truth, maps["asimov"], detection.ts_threshold)
    truth.write(context.product("truth.ecsv"), overwrite=True)
    if len(catalogue):
        catalogue.write(context.product("detections.ecsv"), overwrite=True)

    # Down to TS 4, for the false-detection rate at every threshold.
    null_peaks = find_sources(maps["null"], 4.0, detection.min_distance_deg)
    area = _area_deg2(null)
    false_rates = _false_rates(null_peaks, area, detection.ts_threshold)

    validation, statistics = _simulation_checks(
        config, truth, catalogue, null_peaks, area
    )
    # For a notebook: the simulated field, its TS maps, the truth and the fits.
    context.keep(
        datasets=Datasets([dataset]),
        ts_maps=maps["field"],
        truth=truth,
        detections=catalogue,
    )
    with context.step("plots"):
        field, population = config.simulation, config.population
        pointing = "pointing" if field.n_pointings == 1 else "pointings"
        what = (
            f"Simulated: {field.n_pointings} {pointing} of {field.livetime_h:g} h "
            f"with {config.irf} along Galactic longitude {field.lon_deg:g}°, "
            f"{population.n_sources} sources of {population.flux_min_crab:g} to "
            f"{population.flux_max_crab:g} Crab"
        )
        figure = _plot_field(maps["field"], truth, catalogue, pointings, what)
        context.save_figure(figure, "field.png", dpi=100)
        figure = _plot_validation(
            config, truth, catalogue, false_rates, statistics, what
        )
        context.save_figure(figure, "validation.png", dpi=100)

    n_detected = int(np.sum(truth["detected"]))
    summary = [
        f"simulated field: {field.width_lon_deg:g} x {field.width_lat_deg:g} deg at "
        f"l = {field.lon_deg:g}, b = {field.lat_deg:g}, {field.n_pointings} x "
        f"{field.livetime_h:g} h with {info.name}; {len(truth)} sources "
        f"({int(np.sum(truth['extended']))} extended) from "
        f"{config.population.flux_min_crab:g} to {config.population.flux_max_crab:g} "
        "Crab",
        f"TS >= {detection.ts_threshold:g}: {len(catalogue)} detections, "
        f"{n_detected} of {len(truth)} sources found (Asimov expectation "
        f"{statistics['expected_detected']:.1f}), {statistics['spurious']} "
        "without a simulated source",
        f"source-free field: {statistics['false_detections']} false detections in "
        f"{area:.1f} deg2 ({statistics['false_per_deg2']:.3g} per deg2; purity "
        f"requirement {detection.max_false_per_deg2:g})",
    ]
    parameters = {
        "simulated_detected": {"value": n_detected, "error": 0.0, "unit": ""},
        "false_per_deg2": {
            "value": statistics["false_per_deg2"],
            "error": 0.0,
            "unit": "deg-2",
        },
    }
    extra = {
        "irf": info.as_dict(),
        "area_deg2": area,
        "statistics": statistics,
        "false_rates": false_rates,
        "n_detections": len(catalogue),
    }
    return Outcome(parameters, validation, summary, extra)


def _check_field(config, irfs) -> None:
    """Refuse energies and fields the IRF does not cover (one-line errors)."""
    from sat.errors import ConfigError
    from sat.irf import check_energy_range

    field = config.simulation
    check_energy_range(config.irf, irfs, field.energy_min_tev, field.energy_max_tev)
    fov = irfs["aeff"].axes["offset"].edges.max().to_value("deg")
    step = field.width_lon_deg / field.n_pointings
    needed = math.hypot(step / 2, field.width_lat_deg / 2)
    if needed > fov:
        raise ConfigError(
            f"the field reaches {needed:.3g} deg from the nearest pointing, outside "
            f"the field of view of IRF {config.irf!r} ({fov:g} deg): add pointings "
            "or narrow the field"
        )


def _field_dataset(config, irfs, site: str):
    """Return the stacked dataset of the pointings, and the pointings."""
    import astropy.units as u
    import numpy as np
    from astropy.coordinates import SkyCoord
    from gammapy.datasets import MapDataset
    from gammapy.makers import MapDatasetMaker
    from gammapy.maps import WcsGeom

    from sat.irf import energy_axes, true_energy_axis
    from sat.simulate import create_observation, transit_time
    from sat.sites import get_site

    field = config.simulation
    location = get_site(site)
    centre = SkyCoord(field.lon_deg, field.lat_deg, unit="deg", frame="galactic")
    energy, _ = energy_axes(irfs, field)
    energy_true = true_energy_axis(
        irfs, field.energy_min_tev, field.energy_max_tev, field.true_bins_per_decade
    )
    geom = WcsGeom.create(
        skydir=centre,
        width=(field.width_lon_deg, field.width_lat_deg),
        binsz=field.binsz_deg,
        frame="galactic",
        proj="CAR",
        axes=[energy],
    )
    step = field.width_lon_deg / field.n_pointings
    offsets = (np.arange(field.n_pointings) - (field.n_pointings - 1) / 2) * step
    pointings = SkyCoord(
        field.lon_deg + offsets, np.full(len(offsets), field.lat_deg),
        unit="deg", frame="galactic",
    )  # fmt: skip
    livetime = field.livetime_h * u.h
    start = transit_time(centre.icrs, location) - livetime / 2
    options = {"energy_axis_true": energy_true, "binsz_irf": 0.5}
    stacked = MapDataset.create(geom, name="field", **options)
    maker = MapDatasetMaker(selection=["exposure", "background", "psf", "edisp"])
    for obs_id, pointing in enumerate(pointings.icrs, start=1):
        observation = create_observation(
            irfs, pointing, location, livetime, obs_id, start
        )
        stacked.stack(maker.run(MapDataset.create(geom, **options), observation))
    return stacked, pointings


def _population(config):
    """Draw the simulated sources (a table: position, flux, index, morphology)."""
    import numpy as np
    from astropy.coordinates import SkyCoord, angular_separation
    from astropy.table import Table

    field, population = config.simulation, config.population
    rng = np.random.default_rng(population.seed)
    margin = population.edge_margin_deg
    half_lon = field.width_lon_deg / 2 - margin
    half_lat = field.width_lat_deg / 2 - margin
    # Uniform positions, each at least min_separation_deg from those kept.
    minimum = np.radians(population.min_separation_deg)
    lons, lats = [], []
    for _ in range(MAX_PLACEMENT_TRIES):
        lon = np.radians(field.lon_deg + rng.uniform(-half_lon, half_lon))
        lat = np.radians(field.lat_deg + rng.uniform(-half_lat, half_lat))
        if np.all(
            angular_separation(lon, lat, np.array(lons), np.array(lats)) >= minimum
        ):
            lons.append(lon)
            lats.append(lat)
            if len(lons) == population.n_sources:
                break
    else:
        from sat.errors import ConfigError

        raise ConfigError(
            f"cannot place {population.n_sources} sources "
            f"{population.min_separation_deg:g} deg apart in the field: fewer "
            "sources or a larger field"
        )
    positions = SkyCoord(lons, lats, unit="rad", frame="galactic")
    n = population.n_sources
    low, high = np.log10(population.flux_min_crab), np.log10(population.flux_max_crab)
    flux = 10 ** rng.uniform(low, high, n)
    extended = rng.uniform(size=n) < population.extended_fraction
    sigma = np.where(
        extended, rng.uniform(population.sigma_min_deg, population.sigma_max_deg, n), 0
    )
    index = rng.normal(population.index_mean, population.index_spread, n)
    coords = positions
    table = Table(
        {
            "name": [f"sim-{i:02d}" for i in range(n)],
            "lon_deg": coords.l.wrap_at("180d").deg % 360,
            "lat_deg": coords.b.deg,
            "flux_crab": flux,
            "amplitude": flux * CRAB_AMPLITUDE,
            "index": index,
            "extended": extended,
            "sigma_deg": sigma,
        }
    )
    table["amplitude"].unit = AMPLITUDE_UNIT
    return table


def _truth_model(row):
    """Return the `SkyModel` of one simulated source."""
    import astropy.units as u
    from gammapy.modeling.models import (
        GaussianSpatialModel,
        PointSpatialModel,
        PowerLawSpectralModel,
        SkyModel,
    )

    position = {
        "lon_0": row["lon_deg"] * u.deg,
        "lat_0": row["lat_deg"] * u.deg,
        "frame": "galactic",
    }
    spatial = (
        GaussianSpatialModel(sigma=row["sigma_deg"] * u.deg, **position)
        if row["extended"]
        else PointSpatialModel(**position)
    )
    spectral = PowerLawSpectralModel(
        index=row["index"], amplitude=row["amplitude"] * u.Unit(AMPLITUDE_UNIT)
    )
    return SkyModel(
        spectral_model=spectral, spatial_model=spatial, name=str(row["name"])
    )


def _area_deg2(dataset) -> float:
    """Solid angle of the map pixels with exposure (deg2)."""
    exposure = dataset.exposure.reduce_over_axes().data > 0
    return float(dataset.counts.geom.to_image().solid_angle().to_value("deg2")[
        exposure
    ].sum())  # fmt: skip


def _peak(peak, frame: str) -> dict:
    """Return a TS-map peak as an unfitted catalogue row."""
    from astropy.coordinates import SkyCoord

    position = SkyCoord(peak["ra"], peak["dec"], unit="deg")
    there = position.transform_to(frame)
    return {
        "lon_deg": float(there.spherical.lon.deg),
        "lat_deg": float(there.spherical.lat.deg),
        "ra_deg": float(position.ra.deg),
        "dec_deg": float(position.dec.deg),
        "ts": float(peak["ts"]),
        "extended": False,
        "success": True,
        "frame": frame,
    }


def _fit(dataset, peak, peaks, detection: Detection, frame: str) -> dict:
    """Fit one detection (`sat.detection.fit_source`); add its flux in Crab units."""
    from sat.detection import fit_source

    row = fit_source(
        dataset,
        peak,
        peaks,
        index=detection.index,
        width_deg=detection.fit_width_deg,
        ts_extension=detection.ts_extension,
        frame=frame,
    )
    return {**row, "flux_crab": row["amplitude"] / CRAB_AMPLITUDE}


# --- validation of the simulated survey -----------------------------------------


def _match(catalogue, truth, radius_deg: float) -> None:
    """Pair detections and simulated sources (nearest, within ``radius_deg``).

    Adds ``match`` (the truth row, -1 for none) to ``catalogue`` and
    ``detected`` and ``detection`` (the catalogue row) to ``truth``; a source
    claimed by two detections goes to the one with the higher TS.
    """
    import numpy as np
    from astropy.coordinates import SkyCoord

    truth["detected"] = np.zeros(len(truth), bool)
    truth["detection"] = np.full(len(truth), -1)
    if len(catalogue) == 0:
        return
    catalogue["match"] = np.full(len(catalogue), -1)
    true = SkyCoord(truth["lon_deg"], truth["lat_deg"], unit="deg", frame="galactic")
    for row in np.argsort(-np.asarray(catalogue["ts"])):
        found = SkyCoord(
            catalogue["lon_deg"][row], catalogue["lat_deg"][row], unit="deg",
            frame="galactic",
        )  # fmt: skip
        separation = found.separation(true).deg
        separation[truth["detected"]] = np.inf
        nearest = int(np.argmin(separation))
        if separation[nearest] <= radius_deg:
            catalogue["match"][row] = nearest
            truth["detected"][nearest] = True
            truth["detection"][nearest] = row


def _expected(truth, asimov_maps, threshold: float) -> None:
    """Add each source's noise-free TS and its detection probability to ``truth``.

    sqrt(TS) of a real source fluctuates as N(sqrt(TS_Asimov), 1): the source
    is found with probability Phi(sqrt(TS_Asimov) - sqrt(threshold)).
    """
    import numpy as np
    from astropy.coordinates import SkyCoord
    from scipy import stats

    position = SkyCoord(
        truth["lon_deg"], truth["lat_deg"], unit="deg", frame="galactic"
    )
    sqrt_ts = asimov_maps["sqrt_ts"]
    values = sqrt_ts.get_by_coord(
        {"skycoord": position, "energy": sqrt_ts.geom.axes["energy"].center[0]}
    )
    truth["expected_sqrt_ts"] = values
    truth["p_detect"] = stats.norm.cdf(np.asarray(values) - math.sqrt(threshold))


def _false_rates(null_peaks, area: float, threshold: float) -> list[dict]:
    """Return the false detections per deg2 of the source-free field, by TS."""
    import numpy as np

    ts = np.asarray(null_peaks["ts"]) if len(null_peaks) else np.array([])
    levels = sorted({4.0, 9.0, 16.0, 25.0, float(threshold)})
    return [
        {
            "ts": level,
            "n": int(np.sum(ts > level)),
            "per_deg2": np.sum(ts > level) / area,
        }
        for level in levels
    ]


def _simulation_checks(config, truth, catalogue, null_peaks, area):
    """Return the verdicts of the simulated survey, and its statistics."""
    import numpy as np
    from scipy import stats

    from sat.validation import pull_checks

    detection = config.detection
    source = f"truth of the simulation ({len(truth)} sources)"
    p = np.asarray(truth["p_detect"])
    expected = float(p.sum())
    # The prediction's own uncertainty (a peak is the maximum of a few
    # correlated pixels, confusion with neighbours): 1 source added in
    # quadrature to the binomial spread.
    spread = math.sqrt(float(np.sum(p * (1 - p))) + 1.0)
    detected = int(np.sum(truth["detected"]))
    validation = [
        compare(
            Reference(
                "sources detected",
                expected,
                spread,
                "",
                f"{source}: Asimov TS map, Phi(sqrt(TS) - sqrt(threshold))",
                N_SIGMA,
                "sqrt(TS) of a source fluctuates as N(sqrt(TS_Asimov), 1): the number "
                "detected is a sum of Bernoulli trials (binomial spread, +1 source "
                "for the peak-finding approximation); 3 sigma",
            ),
            float(detected),
        )
    ]
    bright = np.asarray(truth["expected_sqrt_ts"]) >= 2 * math.sqrt(
        detection.ts_threshold
    )
    validation.append(
        compare(
            Reference(
                "bright sources detected",
                float(bright.sum()),
                0.0,
                "",
                f"{source}: expected TS >= 4 x threshold",
                0.0,
                "a source expected at twice the threshold in sqrt(TS) is missed with "
                "probability < 3e-7: every one must be found",
            ),
            float(np.sum(np.asarray(truth["detected"])[bright])),
        )
    )
    statistics = {
        "expected_detected": expected,
        "detected": detected,
        "bright": int(bright.sum()),
        "spurious": int(np.sum(catalogue["match"] < 0)) if len(catalogue) else 0,
    }

    matched = [] if len(catalogue) == 0 else catalogue[catalogue["match"] >= 0]
    # Unfitted peaks have no errors: no pulls.
    matched = [row for row in matched if row["success"]] if detection.fit else []
    pulls = []
    for row in matched:
        true = truth[row["match"]]
        cos = math.cos(math.radians(true["lat_deg"]))
        dlon = ((row["lon_deg"] - true["lon_deg"] + 180) % 360 - 180) * cos
        pulls += [
            dlon / (row["lon_error_deg"] * cos),
            (row["lat_deg"] - true["lat_deg"]) / row["lat_error_deg"],
        ]
    validation += pull_checks("position", pulls)
    statistics["position_pulls"] = len(pulls)

    # Flux pulls: sources chosen by truth (expected TS >= 4 x threshold), fitted
    # with the morphology they have.
    chosen = [
        row
        for row in matched
        if bright[row["match"]]
        and bool(row["extended"]) == bool(truth["extended"][row["match"]])
    ]
    for name in ("amplitude", "index"):
        values = [
            (row[name] - truth[name][row["match"]]) / row[f"{name}_error"]
            for row in chosen
        ]
        validation += pull_checks(name, values)
    statistics["flux_pulls"] = len(chosen)
    statistics["morphology_right"] = int(
        sum(bool(r["extended"]) == bool(truth["extended"][r["match"]]) for r in matched)
    )
    statistics["matched"] = len(matched)

    # False detections of the source-free field at the stated threshold.
    ts = np.asarray(null_peaks["ts"]) if len(null_peaks) else np.array([])
    n_false = int(np.sum(ts > detection.ts_threshold))
    allowed = detection.max_false_per_deg2 * area
    n_max = int(stats.poisson.ppf(1 - P_3SIGMA, allowed))
    validation.append(
        check_bounds(
            Bounds(
                "false detections per deg2",
                0.0,
                n_max / area,
                "deg-2",
                f"purity requirement {detection.max_false_per_deg2:g} per deg2 on a "
                f"source-free simulation of {area:.1f} deg2",
                f"at most {n_max} false detections in {area:.1f} deg2 are consistent "
                f"(Poisson, 3 sigma) with {detection.max_false_per_deg2:g} per deg2 "
                f"at TS >= {detection.ts_threshold:g}",
            ),
            n_false / area,
        )
    )
    statistics["false_detections"] = n_false
    statistics["false_per_deg2"] = n_false / area
    statistics["false_allowed"] = n_max
    return validation, statistics
