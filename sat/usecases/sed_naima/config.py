"""Configuration of the naima SED fit."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sat.usecases.base import UseCaseConfig


class SeedField(UseCaseConfig):
    """A thermal seed photon field for inverse Compton."""

    name: str
    """Name of the field (a label in the figure and result.json)."""
    temperature_k: float = Field(gt=0)
    """Black-body temperature (K)."""
    energy_density_ev_cm3: float = Field(gt=0)
    """Energy density of the field (eV cm-3)."""


class ElectronsConfig(UseCaseConfig):
    """Electron spectrum: exponential-cutoff power law (start values of the fit)."""

    reference_tev: float = Field(10.0, gt=0)
    """Reference energy of the electron spectrum (TeV)."""
    index: float = 3.0
    """Power-law index of the electrons (start value of the fit)."""
    cutoff_tev: float = Field(30.0, gt=0)
    """Exponential cutoff energy of the electrons (TeV, start value)."""
    min_energy_tev: float = Field(1e-3, gt=0)
    """Lowest electron energy of the model (TeV)."""


class SedNaimaConfig(UseCaseConfig):
    """Configuration of the naima SED fit."""

    # rxj1713 by default: the source with a published naima fit to validate
    # against (crab-2006 has one too; crab, the DR1 points, has none).
    source: Literal["rxj1713", "crab-2006", "crab"] = "rxj1713"
    """Source and its flux points: rxj1713, crab-2006 (both with a published naima fit)
    or crab (H.E.S.S. DR1 points)."""
    flux_points: str | None = None
    """Flux points to fit instead: FITS/ECSV, a naima .dat table or a spectrum-1d
    result folder (null: the source's)."""
    distance_kpc: float | None = Field(None, gt=0)
    """Distance of the source (kpc; null: the source's)."""
    seed_fields: list[Literal["CMB", "FIR", "NIR"] | SeedField] | None = Field(
        None,
        examples=[
            ["CMB", "FIR"],
            ["CMB", {"name": "dust", "temperature_k": 30, "energy_density_ev_cm3": 1}],
        ],
    )
    """Seed photons of inverse Compton: CMB, FIR, NIR (naima's) or {name,
    temperature_k, energy_density_ev_cm3} (null: the source's)."""
    radiation: Literal["ic", "syn-ic"] = "ic"
    """Radiation fitted: ic (inverse Compton) or syn-ic (synchrotron and inverse
    Compton, needs X-ray data)."""
    # Synchrotron field: fitted with syn-ic if fit_magnetic_field (needs X-ray
    # data), else fixed; with ic it only draws the synchrotron the electrons make.
    magnetic_field_ug: float | None = Field(None, gt=0)
    """Magnetic field (µG) of the synchrotron drawn or fitted (null: none)."""
    fit_magnetic_field: bool = False
    """Fit the magnetic field (with syn-ic), else keep it fixed."""
    electrons: ElectronsConfig = Field(default_factory=ElectronsConfig)
    """Electron spectrum: exponential-cutoff power law."""
    we_min_tev: float = Field(1.0, gt=0)
    """Total electron energy W_e is given above this energy (TeV)."""
