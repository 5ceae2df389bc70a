"""Configuration of the sensitivity use case."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from sat.usecases.base import UseCaseConfig
from sat.usecases.sensitivity.published import PUBLISHED_IRF


class SensitivityConfig(UseCaseConfig):
    """Configuration of the differential sensitivity."""

    # The 1DC South IRF: the one whose published curve can be compared with.
    irf: str = PUBLISHED_IRF
    """CTAO IRF (ctao-sat irf list); 1dc-south-z20-50h has a published curve to compare
    with."""
    livetimes_h: list[float] = Field(
        default_factory=lambda: [0.5, 5.0, 50.0], min_length=2
    )
    """Observation times of the curves (h), at least two."""
    offset_deg: float = Field(default=0.5, ge=0)
    """Offset of the source from the pointing (deg)."""
    # CTAO's range: 20 bins of 0.2 in log10, from 10**-1.7 to 10**2.3 TeV.
    energy_min_tev: float = Field(default=0.02, gt=0)
    """Lower edge of the energy bins (TeV)."""
    energy_max_tev: float = Field(default=199.5, gt=0)
    """Upper edge of the energy bins (TeV)."""
    bins_per_decade: int = Field(default=5, gt=0)
    """Energy bins per decade."""
    containment: float = Field(default=0.68, gt=0, lt=1)
    """PSF containment fraction of the ON region in each bin."""
    n_sigma: float = Field(default=5.0, gt=0)
    """Detection significance required in each bin (sigma)."""
    gamma_min: float = Field(default=10.0, gt=0)
    """Minimum number of signal events in each bin."""
    bkg_syst_fraction: float = Field(default=0.05, ge=0)
    """The signal must exceed this fraction of the background (systematics)."""
    acceptance_off: float = Field(default=5.0, gt=0)
    """OFF-region area relative to the ON region (1 / alpha)."""
    spectral_index: float = 2.0
    """Index of the power law assumed inside each bin."""
    # Background-dominated: S/B up to 0.35 (the 30-min curve of the 1DC IRF has
    # S/B ~ 0.3 in its lowest bins); the scaling tolerance follows from it.
    max_signal_to_background: float = Field(default=0.35, gt=0)
    """Bins below this signal-to-background ratio count as background-limited in the
    time-scaling check."""

    @field_validator("livetimes_h", mode="after")
    @classmethod
    def _positive_unique(cls, livetimes: list[float]):
        if any(t <= 0 for t in livetimes):
            raise ValueError("every live time must be positive")
        if len(set(livetimes)) != len(livetimes):
            raise ValueError("each live time at most once")
        return sorted(livetimes)

    @model_validator(mode="after")
    def _range(self):
        if self.energy_max_tev <= self.energy_min_tev:
            raise ValueError("energy_max_tev must be larger than energy_min_tev")
        return self
