"""Pulsar timing with PINT and a phase-resolved analysis with Gammapy, offline.

Two analyses, each optional:

- ``timing``: PINT phase-folds the Fermi-LAT photons of PSR J0030+0451 shipped with
  PINT (geocentred, with likelihood weights) using its timing model, computes the
  weighted H-test (`pint.eventstats`) and a phasogram. PINT needs the JPL DE421
  ephemeris and observatory clock corrections (the absolute phase refers to a TOA
  at the Green Bank Telescope): both come from staged files through
  `sat.offline.configure_pint`, never from the network.
- ``phase_resolved``: the Vela pulsar in the CTA 1DC run 111630, whose events carry
  a PHASE column: phasogram, on/off phase ranges, `PhaseBackgroundMaker` ON/OFF
  spectrum (exposure corrected for the PSF share inside the ON region), excess,
  significance, power-law fit and flux points (Gammapy's "pulsar analysis"
  tutorial). Validated against the truth of the simulation: the events carry the
  source they were simulated from (MC_ID), so the pulsar's own photons give the
  excess to expect and, fitted alone through the same dataset, the index to
  expect; the difference is the background's noise only. One 30-min run holds
  ~40 pulsed photons: the index is known to +-0.75, and at 40-400 GeV the
  background's spectrum resembles the pulsar's, so the index checks catch only
  gross errors; the excess check is the one that catches a wrong background.
"""

from __future__ import annotations

from sat.usecases.base import Outcome, RunContext, UseCase
from sat.usecases.pulsar.config import (
    DEFAULT_EVENTS,
    PhaseResolvedConfig,
    PulsarConfig,
    TimingConfig,
)
from sat.usecases.pulsar.phase_resolved import phase_resolved
from sat.usecases.pulsar.timing import timing

# The use case's public API (documented on its page); each name lives in the
# submodule it is imported from.
__all__ = [
    "DEFAULT_EVENTS",
    "USECASE",
    "PhaseResolvedConfig",
    "Pulsar",
    "PulsarConfig",
    "TimingConfig",
    "phase_resolved",
    "timing",
]


class Pulsar(UseCase):
    """Pulsar: PINT timing of PSR J0030+0451, phase-resolved Vela with Gammapy."""

    name = "pulsar"
    usecase_id = "SUSS-UC-SAT-070"
    summary = "Pulsar timing (PINT, J0030+0451) and phase-resolved Vela (Gammapy)"
    Config = PulsarConfig
    datasets = ()  # which ones depends on the config: checked in run()

    def run(self, config: PulsarConfig, context: RunContext) -> Outcome:
        """Run the enabled analyses and validate them."""
        parameters, validation, summary, extra = {}, [], [], {}
        if config.timing is not None:
            result = timing(config.timing, config.clock_dir, context)
            validation += result.pop("validation")
            summary += result.pop("summary")
            extra["timing"] = result
        if config.phase_resolved is not None:
            result = phase_resolved(config.phase_resolved, context)
            parameters = result["parameters"]
            validation += result.pop("validation")
            summary += result.pop("summary")
            extra["phase_resolved"] = result
        return Outcome(parameters, validation, summary, extra)


USECASE = Pulsar
