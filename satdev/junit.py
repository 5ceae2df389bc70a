"""Test results read from JUnit XML, with the ids each test traces to.

pytest-requirements writes a test's markers into the JUnit XML as ``requirement_id``
and ``usecase_id`` properties; this module reads them back, so the traceability and
the gates work from the same file CTAO's AIV report consumes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["OUTCOMES", "TestResult", "read_junit", "summarise"]

# Every outcome a test case can have, in the order they are reported.
OUTCOMES = ("passed", "failed", "error", "skipped")


@dataclass(frozen=True)
class TestResult:
    """One test case of a JUnit XML file.

    Attributes
    ----------
    test : str
        ``classname::name`` (the pytest node id with dots for the path).
    outcome : str
        One of `OUTCOMES`.
    time_s : float
        Duration in seconds.
    message : str
        First line of the failure, error or skip message ("" when passed).
    requirements, usecases : tuple of str
        Ids of the ``verifies_requirement`` and ``verifies_usecase`` markers.
    figures : dict
        ``{name: value}`` of the ``figure:<name>`` properties (what an artifact
        session measured, `satdev.evidence`); numbers where they parse.
    """

    __test__ = False  # not a pytest test class despite its name

    test: str
    outcome: str
    time_s: float
    message: str = ""
    requirements: tuple[str, ...] = field(default=())
    usecases: tuple[str, ...] = field(default=())
    figures: dict = field(default_factory=dict, compare=False)


def _outcome(case: ET.Element) -> tuple[str, str]:
    # A test that failed in its body and errored in teardown has both elements:
    # the error wins, as pytest counts it.
    tags = (("error", "error"), ("failure", "failed"), ("skipped", "skipped"))
    for tag, outcome in tags:
        element = case.find(tag)
        if element is not None:
            message = element.get("message") or (element.text or "")
            return outcome, message.strip().splitlines()[0] if message.strip() else ""
    return "passed", ""


def _number(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def read_junit(path: str | Path) -> list[TestResult]:
    """Read every test case of a JUnit XML file.

    Parameters
    ----------
    path : str or Path
        A JUnit XML file as written by ``pytest --junitxml``.

    Raises
    ------
    ValueError
        The file is not JUnit XML (names the file and what is wrong).
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as error:
        raise ValueError(f"{path} is not valid XML: {error}") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise ValueError(f"{path} is not JUnit XML (root element <{root.tag}>)")
    results = []
    for case in root.iter("testcase"):
        outcome, message = _outcome(case)
        properties = [
            (prop.get("name"), prop.get("value")) for prop in case.iter("property")
        ]
        classname, name = case.get("classname", ""), case.get("name", "")
        results.append(
            TestResult(
                test=f"{classname}::{name}" if classname else name,
                outcome=outcome,
                time_s=float(case.get("time") or 0.0),
                message=message,
                requirements=tuple(v for k, v in properties if k == "requirement_id"),
                usecases=tuple(v for k, v in properties if k == "usecase_id"),
                figures={
                    k.removeprefix("figure:"): _number(v)
                    for k, v in properties
                    if k.startswith("figure:")
                },
            )
        )
    return results


def summarise(results: list[TestResult]) -> dict[str, int]:
    """Count the results by outcome (every outcome present, zeros included)."""
    counts = Counter(result.outcome for result in results)
    return {"total": len(results), **{outcome: counts[outcome] for outcome in OUTCOMES}}
