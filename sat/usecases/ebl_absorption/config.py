"""Configuration of the EBL-absorption use case: the real data and the simulation."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from sat.parallel import ParallelConfig
from sat.usecases.base import UseCaseConfig
from sat.usecases.ebl_absorption.ebl import EblChoice
from sat.usecases.options import (
    RENAMED,
    Datasets,
    DL3Config,
    Energy,
    check_reflected_regions,
    reflected_regions_datasets,
)


class EblNormTest(UseCaseConfig):
    """The bright source fitted with the EBL normalisation free."""

    flux_factor: float = Field(default=10.0, gt=0)
    """The bright source's flux, in units of the simulated source's."""
    livetime_h: float = Field(default=2.0, gt=0)
    """Live time of each observation of the bright source (h)."""
    n_seeds: int = Field(default=40, ge=3)
    """Number of simulated observations of the bright source (one per seed)."""


class EblSimulation(UseCaseConfig):
    """The simulated CTAO observations of the pull test (dataset-level ON/OFF).

    The default source is close to PKS 2155-304 as this use case measures it in
    2008 (intrinsic index 2.68 ± 0.25 and 1.4e-11 cm-2 s-1 TeV-1 at 1 TeV with
    Domínguez 2011), seen by CTAO-South at 20 deg zenith angle.
    """

    irf: str = "prod5-south-z20-50h"
    """CTAO IRF of the simulated observations (ctao-sat irf list)."""
    redshift: float = Field(default=0.116, gt=0)
    """Redshift of the simulated source."""
    # The EBL of the simulated sky ("none": no absorption).
    ebl_model: EblChoice = "dominguez"
    """EBL of the simulated sky: dominguez, franceschini or none."""
    index: float = 2.6
    """Intrinsic spectral index of the simulated source."""
    amplitude: float = Field(default=1.5e-11, gt=0)
    """Intrinsic differential flux at the reference energy (cm-2 s-1 TeV-1)."""
    reference_tev: float = Field(default=1.0, gt=0)
    """Reference energy of the power law (TeV)."""
    livetime_h: float = Field(default=0.5, gt=0)
    """Live time of each simulated observation (h)."""
    offset_deg: float = Field(default=0.5, ge=0)
    """Offset of the source from the pointing (deg)."""
    on_radius_deg: float = Field(default=0.11, gt=0)
    """Radius of the ON region (deg)."""
    n_off_regions: int = Field(default=5, ge=1)
    """Number of OFF regions (alpha = 1 / n_off_regions)."""
    energy_min_tev: float = Field(default=0.1, gt=0)
    """Lowest reconstructed energy (TeV)."""
    energy_max_tev: float = Field(default=50.0, gt=0)
    """Highest reconstructed energy (TeV)."""
    bins_per_decade: int = Field(default=8, gt=0)
    """Reconstructed-energy bins per decade."""
    n_seeds: int = Field(default=100, ge=3)
    """Number of simulated observations (one per seed) in the pull test."""
    seed: int = Field(default=0, ge=0)
    """Random seed of the first observation; the others follow."""
    ebl_norm: EblNormTest = Field(default_factory=EblNormTest)
    """The bright source fitted with the EBL normalisation free."""

    @model_validator(mode="after")
    def _energies(self):
        if self.energy_max_tev <= self.energy_min_tev:
            raise ValueError("energy_max_tev must be larger than energy_min_tev")
        return self


class EblAbsorptionConfig(DL3Config):
    """Configuration of the EBL-absorption use case.

    (a) the real data: Gammapy's ``observations`` and ``datasets`` (type 1d,
    reflected regions) blocks, ``target`` and ``exclusion_regions``
    (`sat.usecases.options`), as in ``lightcurve``; (b) the ``simulation``.
    """

    renamed: ClassVar[dict[str, str]] = RENAMED

    # The analysis: the EBL model the intrinsic spectrum is corrected with.
    ebl_model: EblChoice = "dominguez"
    """EBL model the intrinsic spectrum is corrected with: dominguez, franceschini or
    none (the deliberately wrong analysis)."""
    # (a) the real data.
    target: str | None = "PKS 2155-304"
    """Source name in the obs-index: its runs and position."""
    datasets: Datasets = Field(default_factory=reflected_regions_datasets)
    redshift: float = Field(default=0.116, gt=0)
    """Redshift of the source (PKS 2155-304: 0.116)."""
    reference_energy: Energy = "0.65 TeV"
    """Reference energy of the power laws."""
    flux_points_per_decade: int = Field(default=4, gt=0)
    """Flux-point bins per decade of energy."""
    # Beyond a few TeV the EBL leaves nothing of a z = 0.116 source's steep spectrum.
    flux_points_max_tev: float = Field(default=10.0, gt=0)
    """Flux points up to this energy (TeV), or the runs' safe maximum if lower."""
    # (b) the simulation.
    simulation: EblSimulation = Field(default_factory=EblSimulation)
    """The simulated CTAO observations of the pull tests."""
    general: ParallelConfig = Field(default_factory=ParallelConfig)
    """How the runs are reduced: n_jobs, parallel_backend, skip_failed."""

    @model_validator(mode="after")
    def _a_reflected_regions_spectrum(self):
        check_reflected_regions(self)
        return self
