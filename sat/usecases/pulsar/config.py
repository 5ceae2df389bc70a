"""Configuration of the pulsar use case: its two analyses, each optional."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from sat.usecases.base import UseCaseConfig

# The defaults: PSR J0030+0451 as PINT ships it (timing), and the Vela pulsar in
# the CTA 1DC run with a PHASE column (phase-resolved), with the on/off phases
# and radius of Gammapy's pulsar-analysis tutorial.
DEFAULT_PAR = "PSRJ0030+0451_psrcat.par"
DEFAULT_EVENTS = (
    "J0030+0451_P8_15.0deg_239557517_458611204_ft1weights_GEO_wt.gt.0.4.fits"
)
VELA_RUN = 111630
DEFAULT_ON, DEFAULT_OFF, DEFAULT_RADIUS = [(0.5, 0.6)], [(0.7, 1.0)], 0.2

Interval = tuple[float, float]


class TimingConfig(UseCaseConfig):
    """PINT phase-folding of Fermi-LAT photons.

    File names that do not exist as given are looked up in the ``pint-examples``
    dataset.
    """

    par_file: str = DEFAULT_PAR
    """PINT timing model (.par) of the pulsar."""
    event_file: str = DEFAULT_EVENTS
    """Fermi-LAT FT1 event file (photons with arrival times)."""
    # "auto": the column named PSR<name> (the Fermi convention) if the file has it.
    weight_column: str | None = "auto"
    """Photon weights column: auto (PSR<name> if the file has it), a name, or null."""
    phase_bins: int = Field(50, ge=4, le=1000)
    """Bins of the pulse profile over one cycle."""
    planets: bool = False
    """Include the planets' Shapiro delays in the barycentring."""


class PhaseResolvedConfig(UseCaseConfig):
    """Gammapy ON/OFF phase-resolved analysis of a CTA 1DC run with a PHASE column."""

    obs_id: int = VELA_RUN
    """CTA 1DC run to analyse (its events need a PHASE column)."""
    ra_deg: float = Field(128.836, ge=0, lt=360)
    """RA of the pulsar (deg, ICRS): the ON region centre."""
    dec_deg: float = Field(-45.176, ge=-90, le=90)
    """Dec of the pulsar (deg, ICRS)."""
    on_radius_deg: float = Field(DEFAULT_RADIUS, gt=0, le=2)
    """Radius of the ON region (deg)."""
    on_phase: list[Interval] = Field(default_factory=lambda: list(DEFAULT_ON))
    """Pulse-phase intervals of the pulsed signal, [start, stop] in [0, 1]."""
    off_phase: list[Interval] = Field(default_factory=lambda: list(DEFAULT_OFF))
    """Pulse-phase intervals of the background (unpulsed), [start, stop]."""
    fit_energy_tev: Interval = (0.04, 0.4)
    """Energy range of the power-law fit (TeV): [min, max]."""
    reference_energy_tev: float = Field(0.1, gt=0)
    """Reference energy of the power law (TeV)."""
    phase_bins: int = Field(30, ge=4, le=1000)
    """Bins of the ON-region phasogram over one cycle."""

    @field_validator("on_phase", "off_phase")
    @classmethod
    def _phases(cls, value: list[Interval]) -> list[Interval]:
        if not value:
            raise ValueError("give at least one [start, stop] phase interval")
        for start, stop in value:
            if not (0 <= start < stop <= 1):
                raise ValueError(
                    f"phase interval [{start}, {stop}] must have 0 <= start < stop <= 1"
                )
        return value

    @field_validator("fit_energy_tev")
    @classmethod
    def _energies(cls, value: Interval) -> Interval:
        if not 0 < value[0] < value[1]:
            raise ValueError("need 0 < energy_min < energy_max")
        return value

    @model_validator(mode="after")
    def _disjoint(self):
        for on in self.on_phase:
            for off in self.off_phase:
                if max(on[0], off[0]) < min(on[1], off[1]):
                    raise ValueError(f"on phase {list(on)} overlaps off {list(off)}")
        return self


class PulsarConfig(UseCaseConfig):
    """Configuration of the pulsar use case (set a part to null to skip it)."""

    timing: TimingConfig | None = Field(default_factory=TimingConfig)
    """PINT timing of Fermi-LAT photons (null: skip it)."""
    phase_resolved: PhaseResolvedConfig | None = Field(
        default_factory=PhaseResolvedConfig
    )
    """Phase-resolved ON/OFF spectrum with Gammapy (null: skip it)."""
    # Staged clock files; default: the pulsar-clock-corrections dataset.
    clock_dir: str | None = None
    """Folder of staged clock files (null: the pulsar-clock-corrections dataset)."""

    @model_validator(mode="after")
    def _something(self):
        if self.timing is None and self.phase_resolved is None:
            raise ValueError("timing and phase_resolved are both null: nothing to do")
        return self
