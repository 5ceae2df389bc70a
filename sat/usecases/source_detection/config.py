"""The configuration: simulated field, population, detection, H.E.S.S. fields."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sat.parallel import ParallelConfig
from sat.usecases.base import UseCaseConfig
from sat.usecases.options import Angle, Datasets, check_energy_axes


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
