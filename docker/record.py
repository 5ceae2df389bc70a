"""What an artifact session found: its checks (the evidence) and its figures.

Every real check of the image (``nox -s container``) or of the chart (``nox -s
chart``) is recorded as a `satdev.evidence.Check` with the catalogue ids it is
evidence for (`CHECKS`, `docker.chart.CHECKS`: the one place they are named), and
written as JUnit XML to ``build/evidence/<session>.xml``; `nox -s verify` and
`nox -s release` fold it into the traceability. A check the run never reached (an
earlier step failed, a route without podman) is written as a failure that says so:
a requirement is never verified by a check that did not run. The container's
timings and facts go to ``build/container/deploy.json`` as before.
"""

from __future__ import annotations

import json
from pathlib import Path

from docker.common import ONE_HOUR, ROOT, log
from satdev.evidence import EVIDENCE_DIR, Check, write_junit

SESSION = "container"
EVIDENCE_FOLDER = ROOT / "build" / EVIDENCE_DIR

# Every check of a full container run, in run order: name -> the requirements it is
# evidence for. C-SAT-0110: OCI image, non-root, offline, read-only root;
# B-SUSS-1530: deployable within one hour (demonstration). The deployment (the Helm
# chart, C-SAT-0120/C-SAT-0250) is played by `nox -s chart` (docker.chart).
IMAGE = ("C-SAT-0110",)
CHECKS = {
    "image_builds": IMAGE,
    "image_starts": IMAGE,
    "image_runs_as_non_root": IMAGE,
    "read_only_root_filesystem": IMAGE,
    "no_network": IMAGE,
    "all_capabilities_dropped": IMAGE,
    "doctor_passes_offline_read_only": IMAGE,
    "usecase_on_read_only_data": IMAGE,
    "survey_on_ray_in_image": IMAGE,
    "healthcheck_passes": IMAGE,
    "oci_archive_exported": IMAGE,
    "deploy_released_archive_on_fresh_store": ("B-SUSS-1530",),
}


class Record:
    """The checks and figures of one run of an artifact session.

    Attributes
    ----------
    report : dict
        Facts and timings, written as ``deploy.json``.
    checks : list of Check
        The checks run so far, in order.
    """

    def __init__(
        self,
        report: dict | None = None,
        *,
        session: str = SESSION,
        expected: dict[str, tuple[str, ...]] = CHECKS,
    ):
        self.report = report if report is not None else {"timings_s": {}}
        self.session = session
        self.expected = dict(expected)
        self.checks: list[Check] = []
        self.skipped: dict[str, str] = {}

    def add(
        self,
        name: str,
        passed: bool,
        message: str = "",
        *,
        seconds: float = 0.0,
        usecases: tuple[str, ...] = (),
        figures: dict | None = None,
        requirements: tuple[str, ...] | None = None,
    ) -> Check:
        """Record check ``name`` and print its verdict.

        Its requirements are those ``expected`` names, unless given.
        """
        check = Check(
            name,
            bool(passed),
            requirements=self.expected[name] if requirements is None else requirements,
            usecases=tuple(usecases),
            message=message,
            seconds=round(seconds, 1),
            figures=dict(figures or {}),
        )
        self.checks.append(check)
        verdict = "PASS" if check.passed else "FAIL"
        log(f"check {name}: {verdict}{f' ({message})' if message else ''}")
        return check

    def get(self, name: str) -> Check | None:
        """Return the check called ``name``, or None if it did not run."""
        return next((c for c in self.checks if c.name == name), None)

    def skip(self, names: tuple[str, ...], reason: str) -> None:
        """Say why checks ``names`` do not run (their evidence says so, failed)."""
        for name in names:
            log(f"check {name}: not run ({reason})")
            self.expected[name]  # a name not expected is a KeyError
            self.skipped[name] = reason

    @property
    def failed(self) -> list[str]:
        """Return the names of the checks that ran and failed."""
        return [check.name for check in self.checks if not check.passed]

    @property
    def passed(self) -> bool:
        """Tell whether every check ran and passed."""
        done = {check.name for check in self.checks}
        return set(self.expected) <= done and all(check.passed for check in self.checks)

    def not_run(self, reason: str) -> list[Check]:
        """Return every expected check that did not run, failed with ``reason``."""
        done = {check.name for check in self.checks}
        return [
            Check(
                name,
                False,
                requirements=ids,
                message=f"not run: {self.skipped.get(name, reason)}",
            )
            for name, ids in self.expected.items()
            if name not in done
        ]

    def write_evidence(self, path: Path | None = None, reason: str = "") -> Path:
        """Write every check, and those that did not run, as JUnit XML.

        ``path`` defaults to ``build/evidence/<session>.xml``.
        """
        path = path or EVIDENCE_FOLDER / f"{self.session}.xml"
        failed = self.failed
        reason = reason or (
            f"the run stopped after {failed[0]} failed"
            if failed
            else "the run stopped early"
        )
        checks = self.checks + self.not_run(reason)
        return write_junit(path, self.session, checks, ROOT)

    def write_report(self, path: Path) -> Path:
        """Write the facts and timings as JSON (``deploy.json``)."""
        self.report["checks"] = {c.name: c.passed for c in self.checks}
        path.write_text(json.dumps(self.report, indent=2, default=str) + "\n")
        return path


def within_limit(seconds: float, limit: float = ONE_HOUR) -> tuple[bool, str]:
    """Compare a measured deployment time with its limit; say how it compares."""
    if seconds <= limit:
        return True, f"{seconds:.0f} s, within the limit of {limit:.0f} s"
    return False, f"{seconds:.0f} s exceeds the limit of {limit:.0f} s"
