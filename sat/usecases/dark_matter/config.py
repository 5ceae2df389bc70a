"""The configuration: masses, channel, halo, observation, coverage test; units."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, field_validator, model_validator

from sat.usecases.base import UseCaseConfig

SIGMA_V_UNIT = "cm3 s-1"
# Gammapy's DarkMatterAnnihilationSpectralModel.THERMAL_RELIC_CROSS_SECTION: the
# model's scale is <sigma v> in this unit.
THERMAL_SIGMA_V = 3e-26
JFACTOR_UNIT = "GeV2 cm-5"
# The masses of the PPPC 4 DM ID table (5 GeV to 100 TeV).
MASS_RANGE_TEV = (0.005, 100.0)
# PrimaryFlux channels the PPPC 4 DM ID table holds (Gammapy's names).
Channel = Literal[
    "e", "eL", "eR", "mu", "muL", "muR", "tau", "tauL", "tauR", "q", "c", "b",
    "t", "W", "WL", "WT", "Z", "ZL", "ZT", "g", "gamma", "h",
    "nu_e", "nu_mu", "nu_tau", "V->e", "V->mu", "V->tau",
]  # fmt: skip
PROFILES = {
    "einasto": "EinastoProfile",
    "nfw": "NFWProfile",
    "burkert": "BurkertProfile",
    "isothermal": "IsothermalProfile",
    "moore": "MooreProfile",
}


class Halo(UseCaseConfig):
    """The dark-matter halo of the Galaxy and the J-factor the analysis assumes."""

    profile: Literal["einasto", "nfw", "burkert", "isothermal", "moore"] = "einasto"
    """Density profile of the halo (Gammapy's): einasto, nfw, burkert, isothermal or
    moore."""
    # J-factor of the whole map the analysis assumes (GeV2 cm-5); None: that of
    # the profile, i.e. of the simulated sky. Another value models an analysis
    # that assumes another halo than the one that made the sky.
    jfactor_gev2_cm5: float | None = Field(default=None, gt=0)
    """J-factor of the whole map the analysis assumes (GeV2 cm-5); null: that of the
    profile (the simulated sky's)."""


class SimulatedSignal(UseCaseConfig):
    """Dark matter in the simulated observation whose limits are reported."""

    sigma_v_cm3_s: float = Field(default=0.0, ge=0)
    """Annihilation cross-section <sigma v> of the simulated dark matter (cm3 s-1; 0:
    none)."""
    mass_tev: float = Field(default=1.0, gt=0)
    """Dark-matter particle mass of the simulated signal (TeV)."""


class Coverage(UseCaseConfig):
    """The coverage test: background-only and injected-signal simulations."""

    mass_tev: float = Field(default=1.0, gt=0)
    """Mass of the coverage test (TeV), one of masses_tev."""
    n_seeds: int = Field(default=100, ge=10)
    """Simulations of each kind (background only, signal injected)."""
    # The injected <sigma v>, in units of the expected limit at mass_tev (a
    # signal at the edge of what the observation can see).
    injected: float = Field(default=1.0, gt=0)
    """Injected <sigma v>, in units of the expected limit at mass_tev."""


class DarkMatterLimitsConfig(UseCaseConfig):
    """Configuration of the dark-matter limits from the Galactic centre."""

    irf: str = "prod5-south-z20-50h"
    """CTAO IRF of the simulated observation (ctao-sat irf list)."""
    channel: Channel = "W"
    """Annihilation channel (PPPC 4 DM ID names: W, b, tau, mu...)."""
    masses_tev: list[float] = Field(
        default_factory=lambda: [0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0],
        min_length=1,
    )
    """Dark-matter particle masses of the limits (TeV)."""
    halo: Halo = Field(default_factory=Halo)
    """The dark-matter halo and the J-factor the analysis assumes."""
    # Total live time, shared by four pointings at pointing_offset_deg from the
    # Galactic centre (north, south, east and west in Galactic coordinates).
    livetime_h: float = Field(default=500.0, gt=0)
    """Total live time (h), shared by four pointings around the Galactic centre."""
    pointing_offset_deg: float = Field(default=1.0, ge=0)
    """Offset of the four pointings from the Galactic centre (deg)."""
    width_deg: float = Field(default=4.0, gt=0, le=10)
    """Width of the square map (deg); width / binsz must be even."""
    binsz_deg: float = Field(default=0.2, gt=0, le=0.5)
    """Pixel size (deg)."""
    plane_mask_deg: float = Field(default=0.3, ge=0)
    """Galactic latitudes below this (deg) are masked, as in the published analyses."""
    energy_min_tev: float = Field(default=0.1, gt=0)
    """Lowest reconstructed energy (TeV)."""
    energy_max_tev: float = Field(default=100.0, gt=0)
    """Highest reconstructed energy (TeV)."""
    bins_per_decade: int = Field(default=4, gt=0)
    """Reconstructed-energy bins per decade."""
    confidence_level: float = Field(default=0.95, gt=0.5, lt=1)
    """Confidence level of the upper limits."""
    observation: SimulatedSignal = Field(default_factory=SimulatedSignal)
    """Dark matter in the simulated observation whose limits are reported."""
    coverage: Coverage = Field(default_factory=Coverage)
    """The coverage test: background-only and injected-signal simulations."""
    seed: int = Field(default=0, ge=0)
    """Random seed of the first simulation; the others follow."""

    @field_validator("masses_tev")
    @classmethod
    def _masses_in_table(cls, masses: list[float]) -> list[float]:
        low, high = MASS_RANGE_TEV
        outside = [m for m in masses if not low <= m <= high]
        if outside:
            raise ValueError(
                f"masses {outside} TeV are outside the PPPC 4 DM ID table "
                f"({low:g} to {high:g} TeV)"
            )
        return sorted(set(masses))

    @model_validator(mode="after")
    def _consistent(self):
        if self.energy_max_tev <= self.energy_min_tev:
            raise ValueError("energy_max_tev must be larger than energy_min_tev")
        if not any(math.isclose(self.coverage.mass_tev, m) for m in self.masses_tev):
            raise ValueError(
                f"coverage.mass_tev {self.coverage.mass_tev:g} must be one of "
                "masses_tev"
            )
        if self.plane_mask_deg >= self.width_deg / 2:
            raise ValueError("plane_mask_deg masks the whole map: lower it")
        if round(self.width_deg / self.binsz_deg) % 2:
            # JFactory cannot integrate the line of sight through the centre
            # itself (gammapy/gammapy#6769).
            raise ValueError(
                "width_deg / binsz_deg must be an even number of pixels (no pixel "
                "centred on the Galactic centre, where Gammapy's J-factor fails)"
            )
        low, high = MASS_RANGE_TEV
        if not low <= self.observation.mass_tev <= high:
            raise ValueError(
                f"observation.mass_tev is outside the PPPC 4 DM ID table "
                f"({low:g} to {high:g} TeV)"
            )
        return self
