"""Config of the use cases that analyse DL3 runs: Gammapy's own config blocks.

spectrum-1d, lightcurve and map-3d do what Gammapy's high-level ``Analysis``
does, so they take its ``AnalysisConfig`` blocks key for key, with Gammapy's
defaults and spelling (quantities as ``0.1 TeV``): ``observations``,
``datasets``, ``fit``, ``flux_points``, ``light_curve``, ``excess_map``. A
Gammapy user's YAML blocks work unchanged; a block given updates the use case's
default block key by key (as ``AnalysisConfig.update`` does). Our keys come
beside them:

- ``target``: the runs and the position of a source by its obs-index name
  (TARGET_NAME, TARGET_TAG or OBJECT); ``observations`` selects among them;
- ``exclusion_regions``: circles kept out of the background estimate, spelled
  as Gammapy's ``on_region`` (``lon``/``lat`` null: centred on the target);
- ``general``: ``n_jobs`` as Gammapy's ``general.n_jobs``, the
  ``parallel_backend`` of Gammapy's makers, ``skip_failed`` (`sat.parallel`).

The blocks are Gammapy's classes, imported when a config is validated
(`sat.config.upstream`): listing the use cases imports no scientific package.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from sat import parallel
from sat.config import upstream
from sat.usecases.base import UseCase, UseCaseConfig

__all__ = [
    "RENAMED",
    "Angle",
    "Circle",
    "DL3Config",
    "DL3UseCase",
    "Datasets",
    "Energy",
    "ExcessMap",
    "Fit",
    "FluxPoints",
    "LightCurve",
    "Observations",
    "Quantity",
    "SkyDirection",
    "check_energy_axes",
    "check_reflected_regions",
    "reflected_regions_datasets",
]

# The blocks, reached from Gammapy's public AnalysisConfig (the block classes
# themselves are not in gammapy.analysis.config.__all__).
_ANALYSIS = "gammapy.analysis.config:AnalysisConfig"
Observations = upstream(f"{_ANALYSIS}.observations")
Datasets = upstream(f"{_ANALYSIS}.datasets")
Fit = upstream(f"{_ANALYSIS}.fit")
FluxPoints = upstream(f"{_ANALYSIS}.flux_points")
LightCurve = upstream(f"{_ANALYSIS}.light_curve")
ExcessMap = upstream(f"{_ANALYSIS}.excess_map")
Circle = upstream(f"{_ANALYSIS}.datasets.on_region")
SkyDirection = upstream(f"{_ANALYSIS}.datasets.geom.wcs.skydir")
Energy = upstream("gammapy.utils.types:EnergyType")
Angle = upstream("gammapy.utils.types:AngleType")
Quantity = upstream("gammapy.utils.types:QuantityType")

# Keys of the DL3 use cases before they took Gammapy's blocks (release 2026.11).
RENAMED = {
    "obs_ids": "observations.obs_ids",
    "datastore": "observations.datastore",
    "position": "datasets.on_region.lon and .lat (with frame: icrs)",
    "on_radius_deg": "datasets.on_region.radius (e.g. 0.11 deg)",
    "energy_reco": "datasets.geom.axes.energy (min, max as 0.1 TeV; nbins)",
    "energy_true": "datasets.geom.axes.energy_true (min, max as 0.1 TeV; nbins)",
    "containment_correction": "datasets.containment_correction",
    "safe_mask": "datasets.safe_mask (methods; parameters: bias_percent, "
    "aeff_percent, offset_max as 3 deg)",
    "reference_energy_tev": "reference_energy (e.g. 1 TeV)",
    "exclusion_regions.*.radius_deg": "exclusion_regions: radius (e.g. 0.3 deg)",
    "exclusion_regions.*.ra_deg": "exclusion_regions: lon (e.g. 83.6 deg), frame",
    "exclusion_regions.*.dec_deg": "exclusion_regions: lat (e.g. 22.0 deg), frame",
    **parallel.RENAMED,
}


class DL3Config(UseCaseConfig):
    """Keys of every use case that reduces DL3 runs (blocks of Gammapy's config).

    Each use case sets the default ``target`` and ``datasets`` block.
    """

    renamed = RENAMED

    observations: Observations = Field(default_factory=dict)
    """Which runs: Gammapy's observations block (data store, run ids, cone, time
    range)."""
    target: str | None = None
    """Source name in the obs-index (TARGET_NAME, TARGET_TAG or OBJECT): its runs and
    position."""
    datasets: Datasets = Field(default_factory=dict)
    """How the runs are reduced: Gammapy's datasets block (geometry, energy axes,
    background, safe mask, ON region)."""
    exclusion_regions: list[Circle] = Field(
        default_factory=list,
        examples=[
            [
                {"radius": "0.35 deg"},
                {
                    "frame": "icrs",
                    "lon": "228.53 deg",
                    "lat": "-59.16 deg",
                    "radius": "0.3 deg",
                },
            ]
        ],
    )
    """Circles kept out of the background estimate (lon and lat null: centred on the
    target)."""

    @model_validator(mode="after")
    def _exclusions_have_a_radius(self):
        for index, circle in enumerate(self.exclusion_regions):
            if circle.radius is None:
                raise ValueError(f"exclusion_regions.{index}: give a radius")
            if (circle.lon is None) != (circle.lat is None):
                raise ValueError(
                    f"exclusion_regions.{index}: give both lon and lat, or neither "
                    "(centred on the target)"
                )
        return self


class DL3UseCase(UseCase):
    """A use case whose runs are in a data store (``observations.datastore``).

    Its first dataset is the store's registered dataset: required only when the
    config reads the runs from it (not from another folder or an archive).
    """

    def required_datasets(self, config: DL3Config) -> tuple[str, ...]:
        """Return the datasets to check: the store's only when it is read."""
        from sat.archive.usecase import local_datasets

        store, *others = self.datasets
        archive = getattr(config, "archive", None)
        datastore = config.observations.datastore
        return (*local_datasets(datastore, store, archive), *others)


def reflected_regions_datasets() -> dict:
    """Return the default ``datasets`` block of a reflected-regions analysis.

    Per-run ON/OFF spectra (``stack: false``) with reflected OFF regions in a
    0.11 deg ON region (the H.E.S.S. DR1 point-source cut), PSF containment
    corrected; energies trusted where the energy bias is below 10 %.
    """
    return {
        "type": "1d",
        "stack": False,
        "geom": {
            "axes": {
                "energy": {"min": "0.1 TeV", "max": "100 TeV", "nbins": 24},
                "energy_true": {"min": "0.05 TeV", "max": "150 TeV", "nbins": 48},
            }
        },
        "background": {"method": "reflected"},
        "safe_mask": {"methods": ["edisp-bias"], "parameters": {"bias_percent": 10}},
        "on_region": {"frame": "icrs", "radius": "0.11 deg"},
        "containment_correction": True,
    }


def check_energy_axes(datasets) -> None:
    """Refuse energy axes of a ``datasets`` block that make no binning.

    Raises
    ------
    ValueError
        ``energy`` without min, max or nbins; ``max`` not above ``min``.
    """
    axes = datasets.geom.axes
    for name, axis in (("energy", axes.energy), ("energy_true", axes.energy_true)):
        key = f"datasets.geom.axes.{name}"
        bounded = axis.min is not None and axis.max is not None
        if name == "energy" and not (bounded and axis.nbins):
            raise ValueError(f"{key}: give min, max and nbins")
        if bounded and not axis.max > axis.min:
            raise ValueError(f"{key}: max must be above min")


def check_reflected_regions(config: DL3Config) -> None:
    """Refuse a ``datasets`` block a reflected-regions analysis cannot run.

    Raises
    ------
    ValueError
        Naming the key: not ``type: 1d``, another background method, no ON
        radius or energy axis, or neither a target nor an ON-region position.
    """
    datasets = config.datasets
    if datasets.type != "1d":
        raise ValueError("datasets.type must be 1d (a 1D ON/OFF analysis)")
    if datasets.background.method != "reflected":
        raise ValueError(
            "datasets.background.method must be reflected (reflected OFF regions)"
        )
    if datasets.on_region.radius is None:
        raise ValueError("datasets.on_region.radius: give the ON-region radius")
    if (datasets.on_region.lon is None) != (datasets.on_region.lat is None):
        raise ValueError("datasets.on_region: give both lon and lat, or neither")
    if datasets.on_region.lon is None and not config.target:
        raise ValueError(
            "give a target (obs-index name) or datasets.on_region lon and lat"
        )
    check_energy_axes(datasets)
    if datasets.background.exclusion is not None and config.exclusion_regions:
        raise ValueError(
            "give exclusion_regions or datasets.background.exclusion, not both"
        )
