"""Traceability: each requirement and use case, what verifies it, and its verdict.

A requirement's verdict is taken from the evidence its catalogue entry names
(`satdev.catalogue.Evidence`) and from nothing else:

- ``tests``: the test-suite cases tracing to it (VERIFIED: one passed, none failed);
- ``session``: the checks of the named artifact sessions of *this* run
  (``build/evidence/<session>.xml`` carrying the current ``CTAO_SAT_RUN_ID``)
  tracing to it, and the figure they recorded against its limit;
- ``gate`` / ``benchmark``: the gate of ``nox -s verify`` or the benchmark's
  budget checks in this release's record;
- ``inspection``: a recorded inspection for this version.

Any check of this run that traces to a requirement and failed (a test, an
artifact check) makes it FAIL whatever its method: contrary evidence always
counts, supporting evidence only when it is the method's own. Missing, stale or
unreadable evidence gives NOT VERIFIED with the reason.

A FAIL whose every cause is a budget waived for this release (`satdev.waivers`:
a benchmark budget, an artifact goal check measuring it, the benchmarks gate
failing only on those) stays FAIL, shown as ``FAIL (accepted
non-conformance)``; `unreleasable` does not count it. A failed test, a failed
validation or missing evidence is never waived.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from satdev.catalogue import Catalogue, Evidence
from satdev.junit import TestResult

__all__ = [
    "FAIL",
    "NOT_IMPLEMENTED",
    "NOT_VERIFIED",
    "NOT_YET",
    "VERIFIED",
    "Sources",
    "Trace",
    "trace",
    "unknown_traced_ids",
    "unreleasable",
    "write_csv",
]

VERIFIED = "VERIFIED"
FAIL = "FAIL"
NOT_VERIFIED = "NOT VERIFIED"
NOT_YET = "NOT YET VERIFIED"  # catalogue status: not claimed by this release
NOT_IMPLEMENTED = "NOT IMPLEMENTED"  # a catalogued use case nobody registered
# The label of a FAIL that rests only on waived budgets (satdev.waivers).
ACCEPTED_WHY = "accepted non-conformance"
CSV_COLUMNS = (
    "id",
    "kind",
    "level",
    "method",
    "evidence",
    "catalogue_status",
    "verdict",
    "figure",
    "test",
    "outcome",
    "message",
)


@dataclass
class Sources:
    """Everything a verdict can rest on, for one run.

    Attributes
    ----------
    tests : list of TestResult
        The test suite's cases (JUnit XML of the run).
    gates : dict
        ``{gate name: (passed, figure)}`` of ``nox -s verify``.
    benchmarks : dict
        ``{benchmark name: {"checks": [budget checks], "error": str or None}}``
        of this release's record.
    sessions : dict
        ``{session: satdev.evidence.SessionEvidence}`` read from
        ``build/evidence/``.
    run_id : str
        The current nox run: session evidence of another run is stale.
    inspections : dict
        ``{requirement id: satdev.inspection.Inspection}``.
    version : str
        The release being verified (inspections must be for it).
    accepted : dict
        ``{(benchmark, metric): satdev.waivers.Disposition}`` of the waivers
        that apply in this run (`satdev.waivers.accepted_budgets`).
    waived_gates : set of str
        The gates that failed only on accepted non-conformances.
    """

    tests: list[TestResult] = field(default_factory=list)
    gates: dict[str, tuple[bool, str]] = field(default_factory=dict)
    benchmarks: dict[str, dict] = field(default_factory=dict)
    sessions: dict = field(default_factory=dict)
    run_id: str = ""
    inspections: dict = field(default_factory=dict)
    version: str = ""
    accepted: dict = field(default_factory=dict)
    waived_gates: set[str] = field(default_factory=set)

    def current(self, session: str):
        """Return the evidence of ``session`` if it is of this run, else a reason."""
        evidence = self.sessions.get(session)
        if evidence is None:
            return None, (
                f"no evidence of session {session} in this build "
                f"(build/evidence/{session}.xml)"
            )
        if evidence.error:
            return (
                None,
                f"evidence of session {session} is unreadable: {evidence.error}",
            )
        if not self.run_id:
            return None, "no run id (CTAO_SAT_RUN_ID): run it through nox"
        if evidence.run_id != self.run_id:
            return None, (
                f"evidence of session {session} is from run "
                f"{evidence.run_id or '(none)'}, not this run {self.run_id}"
            )
        return evidence, ""


@dataclass
class Trace:
    """One requirement or use case, what its verdict rests on, and the verdict.

    Attributes
    ----------
    id, kind : str
        Catalogue id; ``"requirement"`` or ``"usecase"``.
    text : str
        What is required.
    level, method, status : str
        Catalogue level (B, C; "" for use cases), verification method and status.
    evidence : str
        What the verdict rests on, in words (``session conda``).
    evidence_kind : str
        Its kind (`satdev.catalogue.Evidence.kind`; ``usecase`` for use cases).
    sources : list of str
        The evidence itself: the test ids, artifact checks, gate, benchmark or
        inspection record the verdict was taken from.
    figure : str
        The figure that evidence gives (``deploy_s = 232.6 <= 3600``,
        ``12 passing tests``).
    tests : list of TestResult
        Every test-suite case tracing to the id (the evidence of ``tests``
        requirements; for other methods only shown, never counted).
    checks : list of TestResult
        Every artifact check of this run tracing to the id (``session::check``).
    verdict : str
        VERIFIED, FAIL, NOT VERIFIED, NOT YET VERIFIED or NOT IMPLEMENTED.
    why : str
        For NOT VERIFIED: the short reason (``inspection pending``).
    note : str
        The explanation: what failed, what is missing, what to do.
    waived : list of str
        For a FAIL resting only on accepted non-conformances: its causes.
    """

    id: str
    kind: str
    text: str
    level: str = ""
    method: str = "test"
    status: str = ""
    evidence: str = ""
    evidence_kind: str = ""
    sources: list[str] = field(default_factory=list)
    figure: str = ""
    tests: list[TestResult] = field(default_factory=list)
    checks: list[TestResult] = field(default_factory=list)
    verdict: str = ""
    why: str = ""
    note: str = ""
    waived: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The verdict as shown: ``NOT VERIFIED (inspection pending)``."""
        return f"{self.verdict} ({self.why})" if self.why else self.verdict

    def judge(self, verdict: str, note: str = "", why: str = "") -> Trace:
        """Set the verdict, the reason and the explanation; return self."""
        self.verdict, self.note, self.why = verdict, note, why
        return self

    def accept(self, causes: list[str]) -> Trace:
        """FAIL on ``causes``, each an accepted non-conformance; return self."""
        self.waived = list(causes)
        return self.judge(FAIL, "; ".join(causes), ACCEPTED_WHY)


def _by_id(results: list[TestResult], attribute: str) -> dict[str, list[TestResult]]:
    traced: dict[str, list[TestResult]] = {}
    for result in results:
        for identifier in getattr(result, attribute):
            traced.setdefault(identifier, []).append(result)
    return traced


def _checks(sources: Sources, identifier: str, ids: str) -> list[TestResult]:
    """Return the artifact checks of this run whose ``ids`` name ``identifier``."""
    found = []
    for name in sorted(sources.sessions):
        evidence, _ = sources.current(name)
        if evidence is not None:
            found += [r for r in evidence.results if identifier in getattr(r, ids)]
    return found


def _failed(results) -> list[TestResult]:
    return [r for r in results if r.outcome in ("failed", "error")]


def _contrary(item: Trace, sources: Sources) -> tuple[list[str], list[str]]:
    """Every check of this run tracing to ``item`` that failed: (blocking, waived).

    Waived: an artifact goal check of a budget whose waiver applies
    (`satdev.waivers.covers_check`). A failed test is never waived.
    """
    from satdev.waivers import covers_check

    failed = [f"test {t.test}: {t.message}" for t in _failed(item.tests)]
    waived = []
    for r in _failed(item.checks):
        line = f"{r.test.replace('::', ' check ', 1)}: {r.message}"
        waiver = covers_check(sources.accepted, r.figures)
        if waiver is None:
            failed.append(line)
            continue
        waived.append(f"{line} (waived: {waiver.record})")
        if r.test not in waiver.covers:
            waiver.covers.append(r.test)
    return failed, waived


def _from_tests(item: Trace, sources: Sources) -> Trace:
    passed = [t for t in item.tests if t.outcome == "passed"]
    if not passed:
        return item.judge(
            NOT_VERIFIED, "no test traced to it passed", "no passing test"
        )
    item.sources = [t.test for t in passed]
    item.figure = f"{len(passed)} passing test(s)"
    return item.judge(VERIFIED, item.figure)


def _from_sessions(item: Trace, evidence: Evidence, sources: Sources) -> Trace:
    missing, checks = [], []
    for session in evidence.sources:
        found, reason = sources.current(session)
        if found is None:
            missing.append(reason)
            continue
        own = [r for r in found.results if item.id in r.requirements]
        if not own:
            missing.append(f"session {session} recorded no check of {item.id}")
        checks += [(session, r) for r in own]
    if missing:
        return item.judge(NOT_VERIFIED, "; ".join(missing), "no evidence of this run")
    item.sources = [f"{s}::{r.test.split('::')[-1]} {r.outcome}" for s, r in checks]
    item.figure = f"{sum(r.outcome == 'passed' for _, r in checks)} check(s) passed"
    if evidence.figure:
        values = [
            r.figures[evidence.figure]
            for _, r in checks
            if evidence.figure in r.figures
        ]
        if not values or not all(isinstance(v, float) for v in values):
            return item.judge(
                NOT_VERIFIED,
                f"no check recorded the figure {evidence.figure}",
                f"no {evidence.figure} figure",
            )
        value = max(values)
        within = value <= evidence.limit
        sign = "<=" if within else ">"
        item.figure = f"{evidence.figure} = {value:g} {sign} {evidence.limit:g}"
        if not within:
            return item.judge(FAIL, f"{item.figure}: over its limit")
    return item.judge(VERIFIED, item.figure)


def _from_gate(item: Trace, evidence: Evidence, sources: Sources) -> Trace:
    (gate,) = evidence.sources
    if gate not in sources.gates:
        return item.judge(NOT_VERIFIED, f"gate {gate} was not run", "gate not run")
    passed, figure = sources.gates[gate]
    item.sources, item.figure = [f"gate {gate}"], figure
    if not passed and gate in sources.waived_gates:
        return item.accept([f"gate {gate} failed on accepted non-conformances"])
    if not passed:
        return item.judge(FAIL, f"gate {gate} failed: {figure}")
    return item.judge(VERIFIED, f"gate {gate} passed")


def _from_benchmark(item: Trace, evidence: Evidence, sources: Sources) -> Trace:
    (name,) = evidence.sources
    record = sources.benchmarks.get(name)
    if record is None:
        return item.judge(
            NOT_VERIFIED,
            f"benchmark {name} is not in this release's record",
            "not measured",
        )
    item.sources = [f"benchmark {name}"]
    item.figure = "; ".join(
        f"{c['metric']} = {c['value']} (budget {c.get('op', '<=')} {c['limit']} "
        f"{c['unit']})".replace(" )", ")")
        for c in record["checks"]
    )
    # A budget the noise cannot resolve is no pass (satdev.benchmarks).
    bad = [
        f"{c['metric']} {c.get('verdict', 'FAIL')}"
        for c in record["checks"]
        if not c["ok"]
    ]
    waived = [
        f"benchmark {name} {c['metric']} {c.get('verdict', 'FAIL')}"
        for c in record["checks"]
        if not c["ok"] and (name, c["metric"]) in sources.accepted
    ]
    if bad and len(waived) == len(bad) and not record.get("error"):
        return item.accept(waived)
    if record.get("error") or bad or not record["checks"]:
        why = record.get("error") or ("; ".join(bad) if bad else "no budget checked")
        return item.judge(FAIL, f"benchmark {name}: {why}")
    return item.judge(VERIFIED, f"benchmark {name} within its budgets")


def _from_inspection(item: Trace, sources: Sources) -> Trace:
    record = sources.inspections.get(item.id)
    if record is None or record.version != sources.version:
        found = f" (the record is for {record.version})" if record else ""
        return item.judge(
            NOT_VERIFIED,
            f"no inspection recorded for {sources.version}{found}: record it in "
            f"satdev/inspections/{item.id}.yaml",
            "inspection pending",
        )
    item.sources = [f"inspected by {record.by} on {record.date}: {record.inspected}"]
    item.figure = f"inspection {record.result}"
    if record.result != "PASS":
        return item.judge(FAIL, f"the inspection failed: {record.notes}")
    return item.judge(VERIFIED, f"inspected by {record.by} on {record.date}")


def judge_requirement(item: Trace, evidence: Evidence, sources: Sources) -> Trace:
    """Give ``item`` (a requirement) its verdict from ``evidence`` alone."""
    contrary, waived = _contrary(item, sources)
    if contrary:
        return item.judge(FAIL, "; ".join(contrary + waived))
    if waived:
        # Failed goal checks, all waived: what its own evidence says comes next,
        # and a blocking verdict there (missing evidence, a test) still blocks.
        judged = _judge_by_method(item, evidence, sources)
        if judged.verdict in (VERIFIED, NOT_YET) or judged.waived:
            return item.accept(waived + judged.waived)
        return item.judge(FAIL, "; ".join([*waived, judged.note]))
    return _judge_by_method(item, evidence, sources)


def _judge_by_method(item: Trace, evidence: Evidence, sources: Sources) -> Trace:
    """Judge ``item`` by the evidence its method names; return it."""
    if item.status == NOT_YET.lower():
        passed = sum(t.outcome == "passed" for t in item.tests)
        note = "catalogue status: not yet verified"
        if passed:
            note += f" ({passed} passing test(s) already trace to it)"
        return item.judge(NOT_YET, note)
    if evidence.kind == "tests":
        return _from_tests(item, sources)
    if evidence.kind == "session":
        return _from_sessions(item, evidence, sources)
    if evidence.kind == "gate":
        return _from_gate(item, evidence, sources)
    if evidence.kind == "benchmark":
        return _from_benchmark(item, evidence, sources)
    return _from_inspection(item, sources)


def judge_usecase(
    item: Trace, name: str, registered: bool, validated: bool | None, sources: Sources
) -> Trace:
    """Give ``item`` (a use case) its verdict: its release run, its tests.

    A use case's validation is never waived: any failed check of it blocks.

    Parameters
    ----------
    name : str
        The use case's name.
    registered : bool
        Whether a use case of that name is registered.
    validated : bool or None
        Whether its run for this release validated (None: it did not run).
    sources : Sources
        For the failing checks of this run tracing to it (tests, artifacts).
    """
    contrary, waived = _contrary(item, sources)
    if contrary or waived:
        return item.judge(FAIL, "; ".join(contrary + waived))
    if not registered:
        return item.judge(NOT_IMPLEMENTED, f"no use case {name!r} is registered yet")
    if validated is None:
        return item.judge(NOT_VERIFIED, "it did not run for this release", "no run")
    item.sources = [
        f"its release run ({'validated' if validated else 'not validated'})"
    ]
    item.sources += [t.test for t in item.tests if t.outcome == "passed"]
    if not validated:
        return item.judge(FAIL, "its run did not validate (see the use-case gate)")
    return item.judge(VERIFIED, "its release run validated")


def trace(
    catalogue: Catalogue,
    sources: Sources,
    registered: set[str] | None = None,
    validated: dict[str, bool | None] | None = None,
) -> list[Trace]:
    """Trace every catalogue entry to its evidence and give each a verdict.

    Parameters
    ----------
    catalogue : Catalogue
        The requirements and use cases.
    sources : Sources
        Everything of this run a verdict can rest on.
    registered : set of str, optional
        Names of the registered use cases (default: every catalogued one).
    validated : dict, optional
        ``{use case name: its release run validated}``; a name missing (or None)
        did not run.
    """
    validated = validated or {}
    traces = []
    by_requirement = _by_id(sources.tests, "requirements")
    for identifier, entry in catalogue.requirements.items():
        evidence = catalogue.evidence[identifier]
        item = Trace(
            id=identifier,
            kind="requirement",
            text=" ".join(entry["text"].split()),
            level=entry.get("level", ""),
            method=entry["method"],
            status=entry.get("status", ""),
            evidence=evidence.describe(),
            evidence_kind=evidence.kind,
            tests=by_requirement.get(identifier, []),
            checks=_checks(sources, identifier, "requirements"),
        )
        traces.append(judge_requirement(item, evidence, sources))
    by_usecase = _by_id(sources.tests, "usecases")
    for identifier, entry in catalogue.usecases.items():
        name = entry["name"]
        item = Trace(
            id=identifier,
            kind="usecase",
            text=f"{name}: {entry['text']}",
            method="test",
            evidence=f"release run of {name} validated",
            evidence_kind="usecase",
            tests=by_usecase.get(identifier, []),
            checks=_checks(sources, identifier, "usecases"),
        )
        known = registered is None or name in registered
        traces.append(judge_usecase(item, name, known, validated.get(name), sources))
    return traces


# Evidence `nox -s verify` produces itself: missing, it fails verify's requirements
# gate. The other kinds (artifact sessions, some of which run after verify, and
# inspections) are judged by the release, which refuses anything not verified.
VERIFY_EVIDENCE = ("tests", "gate", "benchmark")


def unreleasable(traces: list[Trace]) -> list[str]:
    """Every claimed requirement the release cannot stand on (FAIL, NOT VERIFIED).

    ``status: not yet verified`` requirements are not claimed and never block;
    nor does a FAIL resting only on accepted non-conformances (``waived``).
    """
    return [
        f"{t.id} ({t.method}, {t.evidence}): {t.label}: {t.note}"
        for t in traces
        if t.kind == "requirement"
        and t.verdict in (FAIL, NOT_VERIFIED)
        and not (t.verdict == FAIL and t.waived)
    ]


def unknown_traced_ids(catalogue: Catalogue, sources: Sources) -> list[str]:
    """List ``"test: id"`` for every traced id of the JUnit XML not in the catalogue.

    The test session already refuses such markers; this catches a JUnit XML made
    elsewhere (another conftest, an old run) and the artifact sessions' evidence.
    """
    known_requirements = catalogue.ids("requirements")
    known_usecases = catalogue.ids("usecases")
    results = list(sources.tests)
    for evidence in sources.sessions.values():
        results += evidence.results
    return [
        f"{result.test}: {identifier}"
        for result in results
        for identifier, known in [
            *((i, known_requirements) for i in result.requirements),
            *((i, known_usecases) for i in result.usecases),
        ]
        if identifier not in known
    ]


def write_csv(traces: list[Trace], path: str | Path) -> Path:
    """Write the traceability matrix: a row per (id, test or artifact check), or per id.

    Columns: `CSV_COLUMNS`. The verdict column holds the label (``NOT VERIFIED
    (inspection pending)``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(CSV_COLUMNS)
        for item in traces:
            head = [item.id, item.kind, item.level, item.method, item.evidence]
            head += [item.status, item.label, item.figure]
            rows = [
                (t.test, t.outcome, t.message) for t in [*item.tests, *item.checks]
            ] or [("", "", item.note)]
            for test, outcome, message in rows:
                writer.writerow([*head, test, outcome, message])
    return path
