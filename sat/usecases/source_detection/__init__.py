"""Source detection over a survey field: TS map, peak finding, per-source fits.

The catalogue step of a survey, at the scale one run of a use case affords:

1. a simulated survey field (a row of pointings along the Galactic plane, a
   public CTAO IRF, binned `MapDataset.fake`) holding a population of point and
   Gaussian sources whose fluxes span the detection threshold;
2. Gammapy's `TSMapEstimator` (a point-source kernel with a power-law spectrum,
   all energies summed) and `find_peaks_in_flux_map` (`sat.detection`): every
   local maximum of sqrt(TS) above sqrt(``ts_threshold``) is a detection;
3. a fit of every detection on a cutout around it (`sat.detection.fit_source`):
   a point source and a Gaussian, the Gaussian kept when it improves the
   likelihood by ``ts_extension``; position, flux and index with their errors.

Validation, against the truth of the simulation:

- completeness vs flux: the number of sources detected against the number the
  noise-free (Asimov) TS map predicts, sum_i Phi(sqrt(TS_i) - sqrt(threshold));
  and every source expected far above the threshold found;
- positions: the offsets of the fitted positions from the truth, divided by
  their fitted errors, are N(0, 1) (the PSF and the counts set those errors:
  ``detections.ecsv`` gives both, ``validation.png`` shows them);
- fluxes: pulls of the fitted amplitude and index of the bright sources (those
  expected at 4 times the TS threshold or more, chosen by truth, not by the
  measured value, so that no selection bias enters) with the right morphology;
- false detections: a second simulation of the same field without sources,
  searched the same way; the false detections per square degree at the stated
  threshold must be consistent with the catalogue's purity requirement
  (``max_false_per_deg2``). A threshold too low fails it.

On real data, the H.E.S.S. DR1 fields of the Crab Nebula, MSH 15-52 and
PKS 2155-304 are searched blind (the field is the runs' mean pointing; the
background template is normalised outside a first pass of detections) and each
target must be detected at its position in the shared gammacat catalogue,
within the fit error, the catalogue error and the H.E.S.S. systematic pointing
error combined.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from sat.detection import AMPLITUDE_UNIT
from sat.parallel import ParallelConfig
from sat.usecases.base import Outcome, RunContext, UseCase, UseCaseConfig
from sat.usecases.options import Angle, Datasets, check_energy_axes
from sat.validation import Bounds, Reference, check_bounds, compare

# The Crab Nebula's power law at 1 TeV (H.E.S.S., Aharonian et al. 2006, A&A 457,
# 899): the unit of the population's fluxes.
CRAB_AMPLITUDE = 3.45e-11
# H.E.S.S. systematic pointing uncertainty, per axis (20 arcsec, Gillessen 2004,
# and the H.E.S.S. source-position papers since, e.g. Acero et al. 2010, MNRAS
# 402, 1877).
HESS_POINTING_DEG = 20 / 3600
# A 2D offset of N(0, sigma) per axis exceeds 3.44 sigma with probability 0.27 %:
# the two-dimensional equivalent of a 3 sigma check.
OFFSET_N_SIGMA = 3.44
N_SIGMA = 3.0
# Probability of a 3 sigma Gaussian excursion (one-sided), for Poisson checks.
P_3SIGMA = 0.00135
# Draws of a position before giving up placing the population.
MAX_PLACEMENT_TRIES = 10000


class SimulatedField(UseCaseConfig):
    """The simulated survey field: a row of pointings along Galactic longitude."""

    lon_deg: float = Field(default=330.0, ge=0, lt=360)
    """Galactic longitude of the field centre (deg)."""
    lat_deg: float = Field(default=0.0, ge=-90, le=90)
    """Galactic latitude of the field centre (deg)."""
    width_lon_deg: float = Field(default=6.0, gt=0, le=20)
    """Width of the field in longitude (deg)."""
    width_lat_deg: float = Field(default=3.0, gt=0, le=10)
    """Width of the field in latitude (deg)."""
    binsz_deg: float = Field(default=0.04, gt=0, le=0.2)
    """Pixel size of the maps (deg)."""
    n_pointings: int = Field(default=3, ge=1)
    """Pointings along the longitude of the field."""
    livetime_h: float = Field(default=10.0, gt=0)
    """Live time of each pointing (h)."""
    energy_min_tev: float = Field(default=0.1, gt=0)
    """Lowest reconstructed energy (TeV)."""
    energy_max_tev: float = Field(default=100.0, gt=0)
    """Highest reconstructed energy (TeV)."""
    bins_per_decade: int = Field(default=2, gt=0)
    """Reconstructed-energy bins per decade."""
    # True-energy bins per decade of the exposure, PSF and energy dispersion:
    # the simulation and the fits share them, and every fit step convolves them.
    true_bins_per_decade: int = Field(default=3, gt=0)
    """True-energy bins per decade of the exposure, PSF and energy dispersion."""

    @model_validator(mode="after")
    def _energies(self):
        if self.energy_max_tev <= self.energy_min_tev:
            raise ValueError("energy_max_tev must be larger than energy_min_tev")
        return self


class Population(UseCaseConfig):
    """The simulated sources: fluxes around the detection threshold."""

    n_sources: int = Field(default=20, ge=1)
    """Number of simulated sources."""
    # Amplitude at 1 TeV as a fraction of the Crab's, log-uniform in this range.
    flux_min_crab: float = Field(default=0.001, gt=0)
    """Lowest amplitude at 1 TeV, in Crab units (log-uniform up to flux_max_crab)."""
    flux_max_crab: float = Field(default=0.03, gt=0)
    """Highest amplitude at 1 TeV, in Crab units."""
    extended_fraction: float = Field(default=0.3, ge=0, le=1)
    """Fraction of the sources that are Gaussians (the others point sources)."""
    sigma_min_deg: float = Field(default=0.05, gt=0)
    """Smallest Gaussian width (deg)."""
    sigma_max_deg: float = Field(default=0.2, gt=0)
    """Largest Gaussian width (deg)."""
    index_mean: float = 2.4
    """Mean spectral index of the sources."""
    index_spread: float = Field(default=0.2, ge=0)
    """Spread (standard deviation) of their indices."""
    # Sources closer than this would be confused (one peak for two).
    min_separation_deg: float = Field(default=0.6, gt=0)
    """Smallest distance between two sources (deg): closer ones would be confused."""
    edge_margin_deg: float = Field(default=0.4, ge=0)
    """No source closer than this to the edge of the field (deg)."""
    seed: int = Field(default=0, ge=0)
    """Random seed of the population and of the simulated counts."""

    @model_validator(mode="after")
    def _ranges(self):
        if self.flux_max_crab <= self.flux_min_crab:
            raise ValueError("flux_max_crab must be larger than flux_min_crab")
        if self.sigma_max_deg < self.sigma_min_deg:
            raise ValueError("sigma_max_deg must be at least sigma_min_deg")
        return self


class Detection(UseCaseConfig):
    """The detection and the per-source fits."""

    ts_threshold: float = Field(default=25.0, gt=0)
    """Detection threshold on the test statistic (TS 25: about 5 sigma)."""
    kernel_width_deg: float = Field(default=0.5, gt=0)
    """Width of the TS map's kernel (deg)."""
    index: float = 2.4
    """Spectral index of the TS kernel."""
    min_distance_deg: float = Field(default=0.2, gt=0)
    """Smallest distance between two detected peaks (deg)."""
    match_radius_deg: float = Field(default=0.2, gt=0)
    """A detection within this distance of a simulated source is that source (deg)."""
    fit_width_deg: float = Field(default=0.8, gt=0)
    """Width of the cutout each detection is fitted on (deg)."""
    ts_extension: float = Field(default=16.0, ge=0)
    """The Gaussian is kept when it improves the likelihood by this TS over a point
    source."""
    max_false_per_deg2: float = Field(default=0.01, gt=0)
    """Purity requirement: false detections per square degree at most."""
    # Fit every detection (position, flux, index, extension). Off, the catalogue
    # is the peaks of the TS map: positions only, no position or flux pulls (a
    # quick scan of a field, a purity study).
    fit: bool = True
    """Fit every detection (position, flux, index, extension); off: the catalogue is the
    TS-map peaks."""


class RealField(UseCaseConfig):
    """A H.E.S.S. DR1 field: the runs of an obs-index target, a catalogue source."""

    target: str
    """Target name in the obs-index: the runs of the field."""
    catalogue: Literal["gammacat", "hgps"] = "gammacat"
    """Catalogue the target's position comes from: gammacat or hgps."""
    catalogue_name: str
    """Name of the source in that catalogue."""


def _default_fields() -> list[RealField]:
    # MSH 15-52 from the HGPS: gammacat's entry (HESS J1514-591, citing
    # Aharonian et al. 2005, A&A 435, L17) lies 0.14 deg from the HGPS position
    # and from the position that paper gives (15h14m07s, -59d09m27s).
    return [
        RealField(target="Crab Nebula", catalogue_name="Crab nebula"),
        RealField(
            target="MSH 15-52", catalogue="hgps", catalogue_name="HESS J1514-591"
        ),
        RealField(target="PKS 2155-304", catalogue_name="PKS 2155-304"),
    ]


def _field_datasets() -> dict:
    """Return the default ``datasets`` block of a field: a stacked 2.5 deg cube."""
    return {
        "type": "3d",
        "stack": True,
        "geom": {
            "wcs": {
                "skydir": {"frame": "icrs"},  # lon, lat null: the mean pointing
                "binsize": "0.04 deg",
                "width": {"width": "2.5 deg", "height": "2.5 deg"},
                "binsize_irf": "0.2 deg",
            },
            # Runs are reduced on a cutout of twice this around their pointing.
            "selection": {"offset_max": "2 deg"},
            # The TS map sums every energy: a few bins serve the fitted index.
            "axes": {
                "energy": {"min": "0.1 TeV", "max": "100 TeV", "nbins": 6},
                "energy_true": {"min": "0.05 TeV", "max": "150 TeV", "nbins": 12},
            },
        },
        "map_selection": ["counts", "exposure", "background", "psf", "edisp"],
        "safe_mask": {
            "methods": ["aeff-default", "offset-max"],
            "parameters": {"offset_max": "2 deg"},
        },
    }


class RealData(UseCaseConfig):
    """The search of the H.E.S.S. DR1 fields (Gammapy's ``datasets`` block)."""

    fields: list[RealField] = Field(default_factory=_default_fields)
    """The H.E.S.S. DR1 fields searched."""
    datasets: Datasets = Field(default_factory=_field_datasets)
    """Gammapy's datasets block of a field: a stacked cube centred on the runs' mean
    pointing."""
    # Detections of the first pass are excluded from the background
    # normalisation within this radius.
    exclusion_radius: Angle = "0.3 deg"
    """Detections of the first pass are kept out of the background normalisation within
    this radius."""

    @model_validator(mode="after")
    def _a_stacked_cube(self):
        if self.datasets.type != "3d" or not self.datasets.stack:
            raise ValueError("real_data.datasets: type 3d and stack true")
        if self.datasets.geom.wcs.skydir.lon is not None:
            raise ValueError(
                "real_data.datasets.geom.wcs.skydir: leave lon and lat null (each "
                "field is centred on the mean pointing of its runs)"
            )
        check_energy_axes(self.datasets)
        return self


class SourceDetectionConfig(UseCaseConfig):
    """Configuration of the source detection."""

    irf: str = "prod5-south-z20-50h"
    """CTAO IRF of the simulated survey (ctao-sat irf list)."""
    simulation: SimulatedField = Field(default_factory=SimulatedField)
    """The simulated survey field."""
    population: Population = Field(default_factory=Population)
    """The simulated sources."""
    detection: Detection = Field(default_factory=Detection)
    """The detection and the per-source fits."""
    real_data: RealData | None = Field(default_factory=RealData)
    """The search of the H.E.S.S. DR1 fields (null: none)."""
    general: ParallelConfig = Field(default_factory=ParallelConfig)
    """How the runs are reduced: n_jobs, parallel_backend, skip_failed."""
    # Which parts run: the simulated survey (with its source-free twin), the
    # H.E.S.S. fields, or both.
    parts: list[Literal["simulation", "real-data"]] = Field(
        default_factory=lambda: ["simulation", "real-data"], min_length=1
    )
    """Which parts run: simulation (the simulated survey and its source-free twin),
    real-data (the H.E.S.S. fields), or both."""

    @model_validator(mode="after")
    def _consistent(self):
        detection, population = self.detection, self.population
        if population.min_separation_deg < 2 * detection.min_distance_deg:
            raise ValueError(
                "population.min_separation_deg must be at least twice "
                "detection.min_distance_deg (else two sources give one peak)"
            )
        if "real-data" in self.parts and self.real_data is None:
            raise ValueError("parts has 'real-data' but real_data is null")
        return self


class SourceDetection(UseCase):
    """Detect sources in a simulated survey field and in H.E.S.S. DR1 fields."""

    name = "source-detection"
    usecase_id = "SUSS-UC-SAT-150"
    summary = (
        "Source detection (TS map, peaks, per-source fits) in a simulated CTAO "
        "survey field and in the H.E.S.S. DR1 fields"
    )
    Config = SourceDetectionConfig
    datasets = ("cta-caldb", "hess-dl3-dr1", "catalogs")

    def required_datasets(self, config) -> tuple[str, ...]:
        """Only the data of the parts that run."""
        needed = []
        if "simulation" in config.parts:
            needed.append("cta-caldb")
        if "real-data" in config.parts:
            needed += ["hess-dl3-dr1", "catalogs"]
        return tuple(needed)

    def run(self, config, context: RunContext) -> Outcome:
        """Simulate and search the survey field and its twin; search real fields."""
        validation, summary, extra, parameters = [], [], {}, {}
        if "simulation" in config.parts:
            outcome = _simulated_survey(config, context)
            validation += outcome.validation
            summary += outcome.summary
            extra["simulation"] = outcome.extra
            parameters.update(outcome.parameters)
        if "real-data" in config.parts:
            outcome = _real_fields(config, context)
            validation += outcome.validation
            summary += outcome.summary
            extra["real_data"] = outcome.extra
            parameters.update(outcome.parameters)
        return Outcome(parameters, validation, summary, extra)


# --- the simulated survey ---------------------------------------------------------


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


# --- the H.E.S.S. fields -----------------------------------------------------------


def _real_fields(config, context: RunContext) -> Outcome:
    """Search each H.E.S.S. field blind; find its target at its catalogue place."""
    from astropy.coordinates import SkyCoord
    from astropy.table import Table

    validation, summary, rows, results, images = [], [], [], {}, {}
    observed = []  # the runs of each field, for the figure
    for field in config.real_data.fields:
        catalogue, catalogue_error, reference = _catalogue_position(context, field)
        found, maps, runs = _search_field(config, context, field)
        images[field.target] = (maps, field.catalogue, catalogue)
        observed.append(f"{field.target}, {runs.text()}")
        rows += [{**row, "field": field.target} for row in found]
        nearest = _nearest(found, catalogue, config.detection.match_radius_deg)
        error = _offset_error(nearest, catalogue_error)
        offset = (
            float("nan")
            if nearest is None
            else float(
                SkyCoord(nearest["ra_deg"], nearest["dec_deg"], unit="deg")
                .separation(catalogue)
                .deg
            )
        )
        validation.append(
            compare(
                Reference(
                    f"{field.target}: offset from {field.catalogue}",
                    0.0,
                    error,
                    "deg",
                    reference,
                    OFFSET_N_SIGMA,
                    "detected at TS >= threshold within the fit error, the "
                    "catalogue error and the H.E.S.S. pointing systematic (20 "
                    "arcsec per axis) combined; 3.44 sigma holds 99.73 % of 2D "
                    "offsets",
                ),
                offset,
            )
        )
        results[field.target] = {
            "detections": len(found),
            "offset_deg": offset,
            "offset_error_deg": error,
            "ts": None if nearest is None else nearest["ts"],
            "extended": None if nearest is None else bool(nearest["extended"]),
        }
        summary.append(
            f"{field.target}: {len(found)} detections; "
            + (
                "target not detected"
                if nearest is None
                else f"target at TS {nearest['ts']:.0f}, {offset * 60:.2f}' from "
                f"{field.catalogue} (combined error {error * 60:.2f}'), "
                + ("extended" if nearest["extended"] else "point-like")
            )
        )
    if rows:
        Table(rows=rows).write(context.product("real_detections.ecsv"), overwrite=True)
    what = "\n".join(observed)  # one stacked cube per field
    context.save_figure(_plot_real(config, images, rows, what), "real_fields.png")
    parameters = {
        f"{target}: offset": {
            "value": result["offset_deg"],
            "error": result["offset_error_deg"],
            "unit": "deg",
        }
        for target, result in results.items()
    }
    return Outcome(parameters, validation, summary, {"fields": results})


def _catalogue_position(context: RunContext, field: RealField):
    """Return a field's catalogue position, its error per axis (deg), the source.

    gammacat's ``pos_err`` is taken as the error per axis; the HGPS gives the
    radius holding 68 % of a 2D Gaussian, 1.515 times the error per axis.
    """
    import numpy as np
    from astropy.coordinates import SkyCoord
    from gammapy.catalog import SourceCatalogGammaCat, SourceCatalogHGPS

    from sat.data import require
    from sat.errors import ConfigError

    folder = require("catalogs")
    if field.catalogue == "hgps":
        path = folder / "hgps_catalog_v1.fits.gz"
        catalogue = SourceCatalogHGPS(path)
    else:
        path = folder / "gammacat" / "gammacat.fits.gz"
        catalogue = SourceCatalogGammaCat(path)
    context.add_inputs(path)
    try:
        entry = catalogue[field.catalogue_name].data
    except KeyError:
        raise ConfigError(
            f"{field.catalogue_name!r} is not in {field.catalogue}: give its name there"
        ) from None
    if field.catalogue == "hgps":
        position = SkyCoord(entry["RAJ2000"], entry["DEJ2000"])
        error = float(entry["Pos_Err_68"].to_value("deg")) / 1.515
        reference = f"HGPS (H.E.S.S. 2018, A&A 612, A1): {entry['Source_Name']}"
    else:
        position = SkyCoord(entry["ra"], entry["dec"])
        # Masked (no error given) for positions taken from other wavebands.
        error = float(np.nan_to_num(entry["pos_err"].to_value("deg")))
        reference = f"gammacat: {entry['common_name']} ({entry['reference_id']})"
    return position, error, reference


def _search_field(config, context: RunContext, field: RealField):
    """Reduce, stack and search one H.E.S.S. field.

    Return its fits, its TS maps and the `sat.plots.ObservationSummary` of its
    runs.
    """
    import numpy as np
    from astropy.coordinates import SkyCoord
    from gammapy.datasets import MapDataset
    from gammapy.makers import FoVBackgroundMaker, MapDatasetMaker
    from gammapy.maps import WcsGeom
    from gammapy.modeling.models import FoVBackgroundModel
    from regions import CircleSkyRegion

    from sat.data import require
    from sat.detection import find_sources, ts_map
    from sat.dl3.makers import energy_axis, safe_mask_maker
    from sat.dl3.runs import checked_runs
    from sat.plots import ObservationSummary
    from sat.reduction import reduce_observations
    from sat.stacking import StackingMaker

    real = config.real_data
    block = real.datasets
    selection = checked_runs(context, require("hess-dl3-dr1"), field.target)
    table = selection.store.obs_table
    rows = np.isin(table["OBS_ID"], selection.obs_ids)
    # Blind: the field is centred on the mean pointing of its runs.
    pointing = SkyCoord(table["RA_PNT"][rows], table["DEC_PNT"][rows], unit="deg")
    vector = pointing.cartesian
    mean = SkyCoord(
        *(np.mean(getattr(vector, axis)) for axis in "xyz"),
        representation_type="cartesian",
    )
    wcs = block.geom.wcs
    centre = SkyCoord(mean.spherical.lon, mean.spherical.lat, frame="icrs")
    geom = WcsGeom.create(
        skydir=centre.icrs,
        width=(wcs.width.width.to_value("deg"), wcs.width.height.to_value("deg")),
        binsz=wcs.binsize.to_value("deg"),
        frame="icrs",
        proj="TAN",
        axes=[energy_axis(block.geom.axes.energy)],
    )
    stacked = MapDataset.create(
        geom,
        energy_axis_true=energy_axis(block.geom.axes.energy_true, "energy_true"),
        binsz_irf=wcs.binsize_irf.to_value("deg"),
        name="stacked",
    )
    makers = [
        MapDatasetMaker(selection=list(block.map_selection)),
        safe_mask_maker(block.safe_mask),
    ]
    stacked = reduce_observations(
        context,
        config.general,
        makers,
        stacked,
        selection.observations,
        selection.files,
        f"{field.target}: reducing and stacking {len(selection.obs_ids)} runs",
        maker_class=StackingMaker,
        cutout_width=2 * block.geom.selection.offset_max,
    ).datasets[0]
    template = stacked.background.copy()

    def search(exclusion_regions):
        stacked.background = template.copy()
        mask = (
            geom.to_image().region_mask(exclusion_regions, inside=False)
            if exclusion_regions
            else None
        )
        stacked.models = [FoVBackgroundModel(dataset_name=stacked.name)]
        normalised = FoVBackgroundMaker(method="scale", exclusion_mask=mask).run(
            stacked
        )
        # The normalised template becomes the background the fits keep fixed.
        normalised.background = normalised.npred_background().copy()
        normalised.models = [FoVBackgroundModel(dataset_name=normalised.name)]
        detection = config.detection
        maps = ts_map(normalised, detection.index, detection.kernel_width_deg)
        peaks = find_sources(maps, detection.ts_threshold, detection.min_distance_deg)
        return normalised, maps, peaks

    with context.step(f"{field.target}: two-pass search"):
        _, _, first = search([])
        regions = [
            CircleSkyRegion(
                SkyCoord(row["ra"], row["dec"], unit="deg"),
                real.exclusion_radius,
            )
            for row in first
        ]
        dataset, maps, peaks = search(regions)
    with context.step(f"{field.target}: fitting {len(peaks)} detections"):
        found = [
            _fit(dataset, peak, peaks, config.detection, frame="icrs") for peak in peaks
        ]
    runs = ObservationSummary.from_observations(selection.observations, "H.E.S.S. DR1")
    return found, maps, runs


def _nearest(found: list[dict], position, radius_deg: float):
    """Return the detection nearest ``position`` within ``radius_deg``, or None."""
    from astropy.coordinates import SkyCoord

    best, best_separation = None, radius_deg
    for row in found:
        separation = (
            SkyCoord(row["ra_deg"], row["dec_deg"], unit="deg").separation(position).deg
        )
        if separation <= best_separation:
            best, best_separation = row, separation
    return best


def _offset_error(row, catalogue_error: float) -> float:
    """Per-axis error of the offset: fit, catalogue and pointing systematic."""
    if row is None:
        return HESS_POINTING_DEG
    cos = math.cos(math.radians(row["dec_deg"]))
    fit = math.sqrt((row["lon_error_deg"] * cos) ** 2 + row["lat_error_deg"] ** 2) / (
        math.sqrt(2)
    )
    return math.sqrt(fit**2 + catalogue_error**2 + HESS_POINTING_DEG**2)


# --- plots ------------------------------------------------------------------------


def _plot_field(maps, truth, catalogue, pointings, what):
    """Plot the sqrt(TS) map of the simulated field with the truth and detections."""
    import matplotlib.pyplot as plt
    import numpy as np

    from sat.plots import caption

    image = maps["sqrt_ts"].sum_over_axes(keepdims=False)
    figure = plt.figure(figsize=(12, 6.5))
    ax = figure.add_subplot(projection=image.geom.wcs)
    shown = ax.imshow(image.data, origin="lower", cmap="viridis", vmin=-3, vmax=10)
    colorbar = figure.colorbar(shown, ax=ax, shrink=0.7)
    colorbar.set_label("Significance √TS of a point source")
    transform = ax.get_transform("galactic")
    for extended, marker, label in (
        (False, "o", "simulated point source"),
        (True, "s", "simulated Gaussian source"),
    ):
        rows = truth[truth["extended"] == extended]
        if len(rows):
            ax.scatter(
                rows["lon_deg"], rows["lat_deg"], s=120, marker=marker,
                facecolors="none", edgecolors="magenta", lw=1.5, transform=transform,
                label=label,
            )  # fmt: skip
    if len(catalogue):
        matched = np.asarray(catalogue["match"]) >= 0
        for selection, color, label in (
            (matched, "tab:red", "detection"),
            (~matched, "tab:orange", "detection without a source"),
        ):
            if selection.any():
                ax.plot(
                    catalogue["lon_deg"][selection], catalogue["lat_deg"][selection],
                    "x", color=color, ms=9, mew=2, transform=transform, label=label,
                )  # fmt: skip
    ax.plot(
        pointings.l.deg, pointings.b.deg, "+", color="tab:cyan", ms=14, mew=2,
        transform=transform,
        label="pointings",
    )  # fmt: skip
    ax.set_xlabel("Galactic longitude")
    ax.set_ylabel("Galactic latitude")
    ax.set_title("Simulated survey field: TS map, simulated sources and detections")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, facecolor="0.85")
    caption(figure, what)
    return figure


def _plot_validation(config, truth, catalogue, false_rates, statistics, what):
    """Plot completeness vs flux, position and flux pulls, false-detection rates."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    from sat.plots import caption
    from sat.plots import label as axis_label

    population, detection = config.population, config.detection
    figure, axes = plt.subplots(2, 2, figsize=(12, 9))
    ax = axes[0, 0]
    # Fluxes in mCrab: 1e-3 of the Crab's amplitude at 1 TeV.
    edges = 1e3 * np.geomspace(population.flux_min_crab, population.flux_max_crab, 6)
    centres = np.sqrt(edges[1:] * edges[:-1])
    flux = 1e3 * np.asarray(truth["flux_crab"])
    which = np.clip(np.digitize(flux, edges) - 1, 0, len(centres) - 1)
    for extended, color, label in (
        (False, "tab:blue", "point sources"),
        (True, "tab:orange", "Gaussian sources"),
    ):
        mask = np.asarray(truth["extended"]) == extended
        if not mask.any():
            continue
        found = [
            np.mean(truth["detected"][mask & (which == k)])
            if np.any(mask & (which == k)) else np.nan
            for k in range(len(centres))
        ]  # fmt: skip
        predicted = [
            np.mean(truth["p_detect"][mask & (which == k)])
            if np.any(mask & (which == k)) else np.nan
            for k in range(len(centres))
        ]  # fmt: skip
        ax.plot(centres, found, "o-", color=color, label=f"{label}: detected")
        ax.plot(centres, predicted, "--", color=color, label=f"{label}: Asimov")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("Simulated flux at 1 TeV (mCrab)")
    ax.set_ylabel("Fraction detected")
    ax.set_title(f"Completeness at TS >= {detection.ts_threshold:g}")
    ax.legend(fontsize="small")

    # Unfitted peaks (detection.fit off) have no errors to show.
    matched = (
        catalogue[(catalogue["match"] >= 0) & catalogue["success"]]
        if len(catalogue) and detection.fit
        else []
    )
    ax = axes[0, 1]
    if len(matched):
        true = truth[np.asarray(matched["match"])]
        offset = np.hypot(
            (np.asarray(matched["lon_deg"]) - true["lon_deg"])
            * np.cos(np.radians(true["lat_deg"])),
            np.asarray(matched["lat_deg"]) - true["lat_deg"],
        )
        error = np.hypot(matched["lon_error_deg"], matched["lat_error_deg"])
        ax.scatter(
            error * 60,
            offset * 60,
            c=np.asarray(true["extended"]),
            cmap="coolwarm",
            label="detections of a simulated source",
        )
        top = max(float(np.max(error)), float(np.max(offset))) * 60 * 1.2
        grid = np.array([0, top])
        ax.plot(grid, grid, "k-", label="offset = radial error")
        ax.plot(grid, 2.45 / np.sqrt(2) * grid, "k:", label="95 % of offsets below")
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no fitted positions", ha="center", transform=ax.transAxes)
    ax.set_xlabel("Fitted position error, radial (arcmin)")
    ax.set_ylabel("Offset from the simulated position (arcmin)")
    ax.set_title("Positions (blue: point, red: Gaussian)")

    ax = axes[1, 0]
    grid = np.linspace(-4, 4, 200)
    bins = np.linspace(-4, 4, 17)
    bright = np.asarray(truth["expected_sqrt_ts"]) >= 2 * math.sqrt(
        detection.ts_threshold
    )
    for name, color in (("amplitude", "tab:green"), ("index", "tab:purple")):
        pulls = [
            (row[name] - truth[name][row["match"]]) / row[f"{name}_error"]
            for row in matched
            if bright[row["match"]]
            and bool(row["extended"]) == bool(truth["extended"][row["match"]])
        ]
        if pulls:
            ax.hist(
                np.clip(pulls, -3.99, 3.99), bins=bins, histtype="step", lw=2,
                color=color,
                label=f"{name} (mean {np.mean(pulls):+.2f}, std {np.std(pulls):.2f})",
            )  # fmt: skip
    n = max(statistics["flux_pulls"], 1)
    ax.plot(
        grid,
        n * (bins[1] - bins[0]) * np.exp(-(grid**2) / 2) / np.sqrt(2 * np.pi),
        "k-",
        label="N(0, 1)",
    )
    ax.set_xlabel("Pull: (fit - truth) / error")
    ax.set_ylabel(f"number of bright sources (of {statistics['flux_pulls']})")
    ax.set_title("Fluxes and indices of the bright sources")
    ax.legend(fontsize="small")

    ax = axes[1, 1]
    levels = [r["ts"] for r in false_rates]
    rates = [r["per_deg2"] for r in false_rates]
    ax.plot(levels, np.maximum(rates, 1e-3), "o-", label="source-free simulation")
    ax.axhline(
        detection.max_false_per_deg2, color="tab:red", ls="--",
        label="purity requirement",
    )  # fmt: skip
    ax.axvline(detection.ts_threshold, color="0.5", ls=":", label="stated threshold")
    ax.set_yscale("log")
    ax.set_xlabel("TS threshold")
    ax.set_ylabel(axis_label("False detections per square degree", "deg-2"))
    ax.set_title("False detections (none: drawn at 10⁻³)")
    ax.legend(fontsize="small")
    figure.tight_layout()
    caption(figure, what)
    return figure


def _plot_real(config, images, rows, what):
    """Plot the sqrt(TS) map of every H.E.S.S. field with detections and catalogue."""
    import matplotlib.pyplot as plt

    from sat.plots import caption

    n = len(images)
    figure = plt.figure(figsize=(5.2 * n, 5))
    for number, (target, (maps, name, catalogue)) in enumerate(images.items()):
        image = maps["sqrt_ts"].sum_over_axes(keepdims=False)
        ax = figure.add_subplot(1, n, number + 1, projection=image.geom.wcs)
        shown = ax.imshow(image.data, origin="lower", cmap="viridis", vmin=-3)
        colorbar = figure.colorbar(shown, ax=ax, shrink=0.8)
        colorbar.set_label("Significance √TS")
        transform = ax.get_transform("icrs")
        mine = [row for row in rows if row["field"] == target]
        if mine:
            ax.plot(
                [r["ra_deg"] for r in mine], [r["dec_deg"] for r in mine], "rx",
                ms=10, mew=2, transform=transform, label="detections",
            )  # fmt: skip
        ax.scatter(
            catalogue.ra.deg, catalogue.dec.deg, s=200, facecolors="none",
            edgecolors="w", transform=transform, label=f"{name} position",
        )  # fmt: skip
        ax.set_xlabel("Right ascension")
        ax.set_ylabel("Declination")
        ax.set_title(target)
        ax.legend(loc="lower left", fontsize="small")
    figure.tight_layout()
    caption(figure, what)
    return figure


USECASE = SourceDetection
