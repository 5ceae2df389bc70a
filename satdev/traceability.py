"""Traceability: each requirement and use case, the tests tracing to it, the result.

Built from the catalogue (`requirements.yaml`) and the JUnit XML of the test run,
plus the verdicts of the gates that serve as evidence for requirements verified by
analysis (``evidence: <gate>`` in the catalogue). Written as the CSV that CTAO's
AIV report consumes.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from satdev.catalogue import Catalogue
from satdev.junit import TestResult

__all__ = [
    "FAILING",
    "Trace",
    "trace",
    "unknown_traced_ids",
    "write_csv",
]

NOT_YET = "not yet verified"
# Verdicts that make the requirements gate fail (for a `test` requirement).
FAILING = ("FAILED", "NO PASSING TEST")
CSV_COLUMNS = (
    "id",
    "kind",
    "level",
    "method",
    "catalogue_status",
    "verdict",
    "test",
    "outcome",
    "message",
)


@dataclass
class Trace:
    """One requirement or use case and how it is verified.

    Attributes
    ----------
    id, kind : str
        Catalogue id; ``"requirement"`` or ``"usecase"``.
    text : str
        What is required.
    level, method, status : str
        Catalogue level (B, C, "" for use cases), verification method and status.
    tests : list of TestResult
        Every test case tracing to the id.
    verdict : str
        VERIFIED, FAILED, NO PASSING TEST, NOT YET VERIFIED, NOT IMPLEMENTED or
        BY <METHOD> (not verified by a test or a gate: reported, never failed).
    note : str
        Why that verdict (gate evidence, failing tests...).
    """

    id: str
    kind: str
    text: str
    level: str = ""
    method: str = "test"
    status: str = ""
    tests: list[TestResult] = field(default_factory=list)
    verdict: str = ""
    note: str = ""

    @property
    def gated(self) -> bool:
        """True when a failing verdict fails the requirements gate."""
        return self.kind == "requirement" and self.verdict in FAILING


def _by_id(results: list[TestResult], attribute: str) -> dict[str, list[TestResult]]:
    traced: dict[str, list[TestResult]] = {}
    for result in results:
        for identifier in getattr(result, attribute):
            traced.setdefault(identifier, []).append(result)
    return traced


def _verdict(entry: Trace, evidence: dict[str, bool] | None) -> tuple[str, str]:
    passed = [t for t in entry.tests if t.outcome == "passed"]
    broken = [t for t in entry.tests if t.outcome in ("failed", "error")]
    if broken:
        return "FAILED", f"{len(broken)} failing test(s): " + ", ".join(
            t.test for t in broken
        )
    if entry.status == NOT_YET:
        note = "catalogue status: not yet verified"
        if passed:
            note += f" ({len(passed)} passing test(s) already trace to it)"
        return "NOT YET VERIFIED", note
    if evidence is not None:
        gate, ok = next(iter(evidence.items()))
        return (
            ("VERIFIED", f"gate {gate} passed")
            if ok
            else (
                "FAILED",
                f"gate {gate} failed",
            )
        )
    if entry.method == "test" or entry.kind == "usecase":
        if passed:
            return "VERIFIED", f"{len(passed)} passing test(s)"
        return "NO PASSING TEST", "no test traced to it passed"
    if passed:
        return "VERIFIED", f"{len(passed)} passing test(s); method {entry.method}"
    return f"BY {entry.method.upper()}", f"verified by {entry.method}, not by a test"


def trace(
    catalogue: Catalogue,
    results: list[TestResult],
    gates: dict[str, bool] | None = None,
    registered: set[str] | None = None,
    validated: dict[str, bool] | None = None,
) -> list[Trace]:
    """Trace every catalogue entry to its tests and give each a verdict.

    Parameters
    ----------
    catalogue : Catalogue
        The requirements and use cases.
    results : list of TestResult
        The test cases of the run (from JUnit XML).
    gates : dict, optional
        ``{gate name: passed}``; a requirement with ``evidence: <gate>`` takes its
        verdict from that gate (and its tests).
    registered : set of str, optional
        Names of the registered use cases; a catalogue use case not among them
        and without tests is NOT IMPLEMENTED (reported, not failed).
    validated : dict, optional
        ``{use case name: its validation passed}``: a use case whose run did not
        validate is FAILED whatever its tests say.
    """
    gates = gates or {}
    traces = []
    by_requirement = _by_id(results, "requirements")
    for identifier, entry in catalogue.requirements.items():
        item = Trace(
            id=identifier,
            kind="requirement",
            text=" ".join(entry["text"].split()),
            level=entry.get("level", ""),
            method=entry["method"],
            status=entry.get("status", ""),
            tests=by_requirement.get(identifier, []),
        )
        gate = entry.get("evidence")
        evidence = {gate: gates[gate]} if gate in gates else None
        if gate and evidence is None:
            item.verdict, item.note = "NO PASSING TEST", f"gate {gate} was not run"
        else:
            item.verdict, item.note = _verdict(item, evidence)
        traces.append(item)
    by_usecase = _by_id(results, "usecases")
    for identifier, entry in catalogue.usecases.items():
        item = Trace(
            id=identifier,
            kind="usecase",
            text=f"{entry['name']}: {entry['text']}",
            tests=by_usecase.get(identifier, []),
        )
        if registered is not None and entry["name"] not in registered:
            if not item.tests:
                item.verdict = "NOT IMPLEMENTED"
                item.note = f"no use case {entry['name']!r} is registered yet"
                traces.append(item)
                continue
        item.verdict, item.note = _verdict(item, None)
        if validated and validated.get(entry["name"]) is False:
            item.verdict = "FAILED"
            item.note = "its run did not validate (see the use-case gate)"
        traces.append(item)
    return traces


def unknown_traced_ids(catalogue: Catalogue, results: list[TestResult]) -> list[str]:
    """List ``"test: id"`` for every traced id of the JUnit XML not in the catalogue.

    The test session already refuses such markers; this catches a JUnit XML made
    elsewhere (another conftest, an old run).
    """
    known_requirements = catalogue.ids("requirements")
    known_usecases = catalogue.ids("usecases")
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
    """Write the traceability matrix: one row per (id, test), or per id if untested.

    Columns: ``id, kind, level, method, catalogue_status, verdict, test, outcome,
    message``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(CSV_COLUMNS)
        for item in traces:
            head = [item.id, item.kind, item.level, item.method, item.status]
            rows = [(t.test, t.outcome, t.message) for t in item.tests] or [
                ("", "", item.note)
            ]
            for test, outcome, message in rows:
                writer.writerow([*head, item.verdict, test, outcome, message])
    return path
