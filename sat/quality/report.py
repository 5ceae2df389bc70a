"""The verdict of one observation: PASS, WARN or FAIL, with its reasons."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from sat.errors import cause
from sat.result import FAIL, PASS, WARN, worst

__all__ = [
    "FAIL",
    "PASS",
    "WARN",
    "Finding",
    "ObservationReport",
    "guarded",
    "overall_verdict",
]


@dataclass
class Finding:
    """One reason for a verdict.

    Attributes
    ----------
    level : str
        "WARN" or "FAIL".
    check : str
        Which check ("hdus", "events", "gti", "deadtime", "rate", "pointing", "irf",
        "read", "gammapy").
    reason : str
        What is wrong, in one line.
    """

    level: str
    check: str
    reason: str


@dataclass
class ObservationReport:
    """The verdict of one observation.

    Attributes
    ----------
    obs_id : int or None
        Observation id (None when the file could not be read).
    source : str
        The data store folder or the file checked.
    findings : list of Finding
        Every WARN and FAIL reason.
    stats : dict
        Numbers measured on the way (events, live time, rate, zenith...).
    """

    obs_id: int | None
    source: str
    findings: list[Finding] = field(default_factory=list)
    stats: dict = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        """PASS, or the worst level among the findings."""
        return worst(f.level for f in self.findings)

    def add(self, level: str, check: str, reason: str) -> None:
        """Record a finding."""
        self.findings.append(Finding(level, check, reason))

    def as_dict(self) -> dict:
        """Return the report as a plain dict (for JSON)."""
        return {
            "obs_id": self.obs_id,
            "source": self.source,
            "verdict": self.verdict,
            "findings": [asdict(f) for f in self.findings],
            "stats": self.stats,
        }


def overall_verdict(reports) -> str:
    """Return the worst verdict of ``reports`` (PASS when empty)."""
    return worst(r.verdict for r in reports)


def guarded(report, check, what, function, *args):
    """Run ``function``; an exception becomes a FAIL saying what could not be read."""
    try:
        return function(*args)
    except Exception as error:  # any failure is a verdict, not a crash
        report.add(FAIL, check, f"cannot read {what}: {cause(error)}")
        return None
