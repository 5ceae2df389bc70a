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

The package holds one thing per module: ``config``, ``simulated`` (the
simulated survey and its checks), ``real_fields`` (the H.E.S.S. fields) and
``plots``; this module, the use case.
"""

from __future__ import annotations

from sat.usecases.base import Outcome, RunContext, UseCase
from sat.usecases.source_detection.config import (
    Detection,
    Population,
    RealData,
    RealField,
    SimulatedField,
    SourceDetectionConfig,
)
from sat.usecases.source_detection.real_fields import (
    HESS_POINTING_DEG,
    OFFSET_N_SIGMA,
    _real_fields,
)
from sat.usecases.source_detection.simulated import (
    CRAB_AMPLITUDE,
    MAX_PLACEMENT_TRIES,
    N_SIGMA,
    P_3SIGMA,
    _simulated_survey,
)

# The use case's public API (documented on its page); each name lives in the
# submodule it is imported from.
__all__ = [
    "CRAB_AMPLITUDE",
    "HESS_POINTING_DEG",
    "MAX_PLACEMENT_TRIES",
    "N_SIGMA",
    "OFFSET_N_SIGMA",
    "P_3SIGMA",
    "USECASE",
    "Detection",
    "Population",
    "RealData",
    "RealField",
    "SimulatedField",
    "SourceDetection",
    "SourceDetectionConfig",
]


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
        for part, key, search in (
            ("simulation", "simulation", _simulated_survey),
            ("real-data", "real_data", _real_fields),
        ):
            if part in config.parts:
                outcome = search(config, context)
                validation += outcome.validation
                summary += outcome.summary
                extra[key] = outcome.extra
                parameters.update(outcome.parameters)
        return Outcome(parameters, validation, summary, extra)


USECASE = SourceDetection
