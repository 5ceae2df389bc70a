"""Data-quality checks of DL3 observations: a PASS/WARN/FAIL verdict with reasons.

Each observation (a run of a GADF data store, or a DL3 FITS file) is checked for
its HDUs, its files read through, its events and GTIs (`sat.quality.events`),
its pointing and IRFs and Gammapy's own checker (`sat.quality.irfs`);
`check_paths` (`sat.quality.run`) does it for data stores and files, every
finding a reason in an `ObservationReport` (`sat.quality.report`).
"""

from sat.quality.report import Finding, ObservationReport, overall_verdict
from sat.quality.run import CheckConfig, check_paths

__all__ = [
    "CheckConfig",
    "Finding",
    "ObservationReport",
    "check_paths",
    "overall_verdict",
]
