"""Configuration of the GRB follow-up: the simulated burst and its observation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sat.usecases.base import UseCaseConfig
from sat.usecases.ebl_absorption import EblChoice

DecayModel = Literal["power-law", "exponential"]


class GrbSource(UseCaseConfig):
    """The simulated burst: intrinsic spectrum at ``flux_time_s`` after T0, decay."""

    redshift: float = Field(default=0.4245, gt=0)
    """Redshift of the burst (GRB 190114C: 0.4245)."""
    ebl_model: EblChoice = "dominguez"
    """EBL model of the simulated sky: dominguez, franceschini or none."""
    index: float = 2.2
    """Intrinsic spectral index of the power law."""
    amplitude: float = Field(default=1.2e-8, gt=0)
    """Intrinsic differential flux at the reference energy and at flux_time_s (cm-2 s-1
    TeV-1)."""
    reference_tev: float = Field(default=0.1, gt=0)
    """Reference energy of the power law (TeV)."""
    flux_time_s: float = Field(default=100.0, gt=0)
    """Time after T0 at which the amplitude is given (s)."""
    decay_index: float = Field(default=1.6, gt=0)
    """Temporal decay index: flux proportional to (t / flux_time_s)^-decay_index."""


class GrbFollowupConfig(UseCaseConfig):
    """Configuration of the GRB follow-up."""

    irf: str = "prod5-north-z20-50h"
    """CTAO IRF of the follow-up (ctao-sat irf list)."""
    source: GrbSource = Field(default_factory=GrbSource)
    """The simulated burst."""
    # The analysis: the EBL model of the fit and the decay model.
    ebl_model: EblChoice = "dominguez"
    """EBL model of the fit: dominguez, franceschini or none (plain power law)."""
    decay_model: DecayModel = "power-law"
    """Decay model of the fit: power-law, or exponential (the deliberately wrong
    analysis)."""
    # The observation: from T0 + delay_s for duration_s.
    delay_s: float = Field(default=60.0, gt=0)
    """Start of the observation after T0 (s): the alert and slew delay."""
    duration_s: float = Field(default=3600.0, gt=0)
    """Length of the observation (s)."""
    n_time_bins: int = Field(default=8, ge=3)
    """Log-spaced time bins of the fit and the light curve."""
    significance_steps: int = Field(default=5, ge=1)
    """Steps per time bin of the cumulative significance (time to 5 sigma)."""
    offset_deg: float = Field(default=0.5, ge=0)
    """Offset of the burst from the pointing (deg)."""
    on_radius_deg: float = Field(default=0.15, gt=0)
    """Radius of the ON region (deg)."""
    n_off_regions: int = Field(default=3, ge=1)
    """Number of OFF regions (alpha = 1 / n_off_regions)."""
    energy_min_tev: float = Field(default=0.03, gt=0)
    """Lowest reconstructed energy (TeV)."""
    energy_max_tev: float = Field(default=10.0, gt=0)
    """Highest reconstructed energy (TeV)."""
    bins_per_decade: int = Field(default=8, gt=0)
    """Reconstructed-energy bins per decade."""
    light_curve_max_tev: float = Field(default=1.0, gt=0)
    """Upper energy of the light curve's band (TeV); its lower one is energy_min_tev."""
    segments: int = Field(default=3, ge=1)
    """Parts of the observation with their own spectrum (time-resolved spectra)."""
    n_seeds: int = Field(default=20, ge=3)
    """Number of simulated follow-ups (one per seed) in the pull test."""
    seed: int = Field(default=0, ge=0)
    """Random seed of the first follow-up; the others follow."""

    @model_validator(mode="after")
    def _consistent(self):
        if self.energy_max_tev <= self.energy_min_tev:
            raise ValueError("energy_max_tev must be larger than energy_min_tev")
        if not self.energy_min_tev < self.light_curve_max_tev:
            raise ValueError("light_curve_max_tev must be above energy_min_tev")
        if self.segments > self.n_time_bins:
            raise ValueError("segments must be at most n_time_bins")
        return self
