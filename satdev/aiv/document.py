"""The AIV document's content, taken from the verification report's model.

`build_document` reads a `satdev.report.Report` (and the project's
``aiv-config.yml``) and arranges what CTAO's AIV report shows: the sign-off and
change log, the verification plan, the links between use cases and requirements,
the test results, the non-conformances, the unlinked tests and the performance
verification. Nothing here judges anything: every verdict is the report's; this
module only gathers, for the non-conformances, everything the report says is
not right (and the dependency and document findings it shows but does not
count).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from satdev.aiv.config import AivConfig, Person
from satdev.report import Report, TestRow, TraceRow
from satdev.traceability import FAIL, NOT_IMPLEMENTED, NOT_VERIFIED, NOT_YET

__all__ = [
    "AivDocument",
    "Change",
    "Finding",
    "build_document",
    "change_log",
    "dependency_findings",
    "findings",
    "links",
]

ROLES = {
    "preparer": "Prepared by",
    "reviewers": "Reviewed by",
    "approver": "Approved by",
}
# towncrier's title_format (pyproject.toml): one heading per released version.
RELEASED = re.compile(r"^## ctao-sat (?P<version>\S+) \((?P<date>[^)]*)\)", re.M)


@dataclass(frozen=True)
class Finding:
    """One non-conformance: which part of the report found it, about what, why."""

    module: str
    subject: str
    description: str


@dataclass(frozen=True)
class Change:
    """One entry of the document's change log."""

    issue: str
    date: str
    description: str


@dataclass
class AivDocument:
    """Everything the AIV PDF shows (the template's context).

    Attributes
    ----------
    report : satdev.report.Report
        The verification report: verdicts, evidence, figures, environment.
    config : satdev.aiv.config.AivConfig
        ``aiv-config.yml``.
    signoff : dict
        ``{role: [Person]}`` for preparer, reviewers and approver ([] unset).
    changes : list of Change
        The change log, oldest first; the last entry is this document.
    requirements, usecases : list of TraceRow
        The report's traceability, split by kind.
    usecases_of, requirements_of : dict
        ``{requirement id: [use case ids]}`` and ``{use case id: [requirement
        ids]}``: linked when a test or artifact check traces to both.
    findings : list of Finding
        The non-conformances.
    tests : list of TestRow
        Every test-suite case the report holds, once each.
    """

    report: Report
    config: AivConfig
    signoff: dict[str, list[Person]]
    changes: list[Change]
    requirements: list[TraceRow]
    usecases: list[TraceRow]
    usecases_of: dict[str, list[str]]
    requirements_of: dict[str, list[str]]
    findings: list[Finding]
    tests: list[TestRow] = field(default_factory=list)

    @property
    def roles(self) -> dict[str, str]:
        """``{role: heading}`` of the sign-off table."""
        return ROLES

    @property
    def unlinked(self) -> list[TestRow]:
        """Test-suite cases tracing to no requirement."""
        return self.report.unlinked

    def by_module(self) -> dict[str, list[Finding]]:
        """Group the findings by the part of the report that found them."""
        grouped: dict[str, list[Finding]] = {}
        for finding in self.findings:
            grouped.setdefault(finding.module, []).append(finding)
        return grouped


def _evidence_names(row: TraceRow) -> set[str]:
    return {t.test for t in row.tests} | {c.test for c in row.checks}


def links(report: Report) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Link use cases and requirements through the tests that trace to both.

    A test (or an artifact check) marked with a use case and a requirement links
    them: that is where the project records which requirement a use case
    exercises (pytest-requirements markers), as CTAO's matrix links them in Jama.

    Returns
    -------
    tuple of dict
        ``{requirement id: [use case ids]}``, ``{use case id: [requirement ids]}``.
    """
    requirements = [r for r in report.traceability if r.kind == "requirement"]
    usecases = [r for r in report.traceability if r.kind == "usecase"]
    names = {row.id: _evidence_names(row) for row in report.traceability}
    usecases_of = {
        r.id: [u.id for u in usecases if names[u.id] & names[r.id]]
        for r in requirements
    }
    requirements_of = {
        u.id: [r.id for r in requirements if names[u.id] & names[r.id]]
        for u in usecases
    }
    return usecases_of, requirements_of


def change_log(root: Path, report: Report) -> list[Change]:
    """Return the change log: each earlier release, then this document.

    Earlier releases are the headings towncrier writes into ``CHANGES.md`` when a
    release is made; this document is the report of ``report.release``.
    """
    changes = []
    changelog = Path(root) / "CHANGES.md"
    if changelog.is_file():
        for match in RELEASED.finditer(changelog.read_text(encoding="utf-8")):
            if match["version"] != report.release:
                changes.append(
                    Change(
                        match["version"],
                        match["date"],
                        f"Release {match['version']} (CHANGES.md)",
                    )
                )
    changes.sort(key=lambda change: change.date)
    provenance = report.provenance
    source = "an unstamped tree"
    if provenance is not None and provenance.commit:
        source = f"commit {provenance.commit[:12]}"
        if not provenance.clean:
            source += " with uncommitted changes"
    changes.append(
        Change(
            report.release,
            report.created[:10],
            f"Verification report of release {report.release} ({report.stage} "
            f"stage, run {report.run_id or 'outside nox'}) from {source}",
        )
    )
    return changes


def _is_unreleased(version: str) -> str:
    """Why ``version`` is not a final release ("" if it is one)."""
    from packaging.version import InvalidVersion, Version

    try:
        parsed = Version(version)
    except InvalidVersion:
        return "not a release version"
    if parsed.is_devrelease:
        return "development version"
    if parsed.is_prerelease:
        return "pre-release"
    if parsed.local:
        return "local build"
    return ""


def dependency_findings(environment: dict) -> list[Finding]:
    """Pins not installed at their version, pre-release pins, pre-releases installed.

    Parameters
    ----------
    environment : dict
        `satdev.environment.describe_environment` (``pins``, ``distributions``).
    """
    found = []
    pinned = set()
    for pin in environment.get("pins", []):
        pinned.add(pin["name"])
        if pin["installed"] is None:
            found.append(
                Finding(
                    "Dependencies",
                    pin["name"],
                    f"pinned {pin['pinned']}, not installed in the verification "
                    "environment",
                )
            )
        elif pin["installed"] != pin["pinned"]:
            found.append(
                Finding(
                    "Dependencies",
                    pin["name"],
                    f"installed {pin['installed']}, pinned {pin['pinned']}: the "
                    "verified environment is not the release's",
                )
            )
        why = _is_unreleased(pin["pinned"])
        if why:
            found.append(
                Finding("Dependencies", pin["name"], f"pinned to {why} {pin['pinned']}")
            )
    for name, version in environment.get("distributions", {}).items():
        why = _is_unreleased(version)
        if why and name not in pinned:
            found.append(
                Finding(
                    "Dependencies",
                    name,
                    f"{why} {version} installed in the verification environment "
                    "(not a release pin)",
                )
            )
    return found


def _test_findings(tests: list[TestRow]) -> list[Finding]:
    # CI fails, never skips: a skipped test is a non-conformance too.
    return [
        Finding("Tests", t.test, f"{t.outcome}: {t.message}".rstrip(": "))
        for t in tests
        if t.outcome != "passed"
    ]


def _trace_findings(report: Report) -> list[Finding]:
    found = []
    for row in report.traceability:
        if row.verdict in (FAIL, NOT_VERIFIED, NOT_IMPLEMENTED):
            found.append(Finding("Traceability", row.id, f"{row.label}: {row.note}"))
        elif row.verdict == NOT_YET:
            found.append(
                Finding(
                    "Goals",
                    row.id,
                    f"not claimed by release {report.release} (catalogue status "
                    f"not yet verified): {row.text}",
                )
            )
    return found


def _session_findings(report: Report) -> list[Finding]:
    found = []
    for session in report.sessions:
        if session.error:
            found.append(Finding("Artifact sessions", session.session, session.error))
        elif not session.current:
            found.append(
                Finding(
                    "Artifact sessions",
                    session.session,
                    f"evidence of run {session.run_id or '(none)'}, not of this "
                    f"run {report.run_id or '(none)'}: not counted",
                )
            )
        for check in session.checks:
            if check.outcome != "passed":
                found.append(
                    Finding(
                        "Artifact sessions",
                        f"{session.session}::{check.test}",
                        f"{check.outcome}: {check.message}".rstrip(": "),
                    )
                )
    return found


def _usecase_findings(report: Report) -> list[Finding]:
    found = []
    for name, case in report.usecases.items():
        if not case.ran:
            found.append(
                Finding("Use-case validation", name, "did not run for this release")
            )
        for check in case.checks:
            if check.verdict != "PASS":
                found.append(
                    Finding(
                        "Use-case validation",
                        f"{name}: {check.quantity}",
                        f"{check.verdict}: measured {check.measured:.4g}, "
                        f"reference {check.reference:.4g} +- "
                        f"{check.reference_error:.3g} {check.unit}".rstrip(),
                    )
                )
    return found


def _bench_findings(report: Report) -> list[Finding]:
    found = []
    bench = report.benchmarks or {}
    for result in bench.get("results", []):
        if result.get("error"):
            found.append(Finding("Performance", result["name"], result["error"]))
        for check in result.get("checks", []):
            if check["verdict"] != "PASS":
                found.append(
                    Finding(
                        "Performance",
                        f"{result['name']} {check['metric']}",
                        f"{check['verdict']}: {check['reason']}",
                    )
                )
    comparison = bench.get("comparison") or {}
    for row in comparison.get("rows", []):
        if row.get("regression"):
            found.append(
                Finding(
                    "Performance",
                    f"{row['benchmark']} {row['metric']}",
                    f"{row['ratio']:.3g} times release {comparison['previous']} "
                    f"(more than {comparison.get('regression_ratio', 0):g}): a "
                    "regression (a warning, not a gate)",
                )
            )
    return found


def _document_findings(report: Report, signoff: dict) -> list[Finding]:
    found = [
        Finding(
            "Document",
            ROLES[role],
            f"nobody named: set REPORT_{role.upper()} in aiv-config.yml",
        )
        for role, people in signoff.items()
        if not people
    ]
    provenance = report.provenance
    if provenance is None or not provenance.commit:
        found.append(
            Finding("Document", "provenance", "the source tree was not stamped")
        )
    elif not provenance.clean:
        found.append(
            Finding(
                "Document",
                "provenance",
                "verified from a tree with uncommitted changes: "
                + "; ".join(provenance.dirty),
            )
        )
    return found


def _details(details: list[str], shown: int = 5) -> str:
    """Return the first details of a gate (the others are in the report)."""
    if not details:
        return ""
    more = len(details) - shown
    tail = f"; and {more} more" if more > 0 else ""
    return ": " + "; ".join(details[:shown]) + tail


def findings(report: Report, signoff: dict, tests: list[TestRow]) -> list[Finding]:
    """Every non-conformance of the report, grouped by the part that found it.

    Failed gates, requirements and use cases FAIL, NOT VERIFIED or NOT
    IMPLEMENTED, tests not passed (skipped included), artifact evidence stale or
    failed, use-case checks not passed, benchmark budgets FAIL or NOT
    RESOLVABLE and regressions, dependencies not released or not at their pin,
    goals not claimed (NOT YET VERIFIED), and the document's own gaps (sign-off,
    provenance).
    """
    gates = [
        Finding(
            "Gates",
            g.name,
            f"FAIL: {g.figure} (threshold {g.threshold})" + _details(g.details),
        )
        for g in report.gates
        if not g.passed
    ]
    return [
        *gates,
        *_trace_findings(report),
        *_test_findings(tests),
        *_session_findings(report),
        *_usecase_findings(report),
        *_bench_findings(report),
        *dependency_findings(report.environment),
        *_document_findings(report, signoff),
    ]


def build_document(report: Report, config: AivConfig, root: Path) -> AivDocument:
    """Arrange ``report`` as CTAO's AIV document.

    Parameters
    ----------
    report : satdev.report.Report
        The verification report (verify's, or the release's after it folded in
        the artifact sessions).
    config : satdev.aiv.config.AivConfig
        ``aiv-config.yml``.
    root : Path
        The repository (for ``CHANGES.md``).
    """
    signoff = {role: config.people(role) for role in ROLES}
    tests: dict[str, TestRow] = {}
    for row in report.traceability:
        for test in row.tests:
            tests.setdefault(test.test, test)
    for test in report.unlinked:
        tests.setdefault(test.test, test)
    usecases_of, requirements_of = links(report)
    return AivDocument(
        report=report,
        config=config,
        signoff=signoff,
        changes=change_log(root, report),
        requirements=[r for r in report.traceability if r.kind == "requirement"],
        usecases=[r for r in report.traceability if r.kind == "usecase"],
        usecases_of=usecases_of,
        requirements_of=requirements_of,
        findings=findings(report, signoff, list(tests.values())),
        tests=sorted(tests.values(), key=lambda t: t.test),
    )
