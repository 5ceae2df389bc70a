"""The quality gates of a release, with their thresholds from ``gates.yaml``.

Each gate function reads real outputs (JUnit XML, coverage.xml, ruff's JSON, the
installed metadata, the use cases' result.json, the benchmark record) and returns
a `Gate`: passed or not, its figure and its threshold, and what exactly failed.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import metadata, resources
from pathlib import Path

from sat.result import RESULT, Result
from satdev.benchmarks import (
    NOT_RESOLVABLE,
    budget_checks,
    describe,
    expected_benchmarks,
)
from satdev.junit import TestResult, summarise
from satdev.traceability import (
    FAIL,
    NOT_VERIFIED,
    NOT_YET,
    VERIFIED,
    VERIFY_EVIDENCE,
    Trace,
)

__all__ = [
    "GATES",
    "Gate",
    "benchmarks_gate",
    "blocks",
    "coverage_gate",
    "lint_gate",
    "load_thresholds",
    "pins_gate",
    "read_coverage",
    "read_usecase_results",
    "requirements_gate",
    "runtime_closure",
    "tests_gate",
    "usecases_gate",
]

# The gates, in report order (their sections in gates.yaml).
GATES = ("tests", "coverage", "lint", "pins", "requirements", "usecases", "benchmarks")
PYTEST_EXIT = {
    2: "interrupted",
    3: "internal error",
    4: "usage error",
    5: "no tests collected",
}


@dataclass
class Gate:
    """The verdict of one quality gate.

    Attributes
    ----------
    name : str
        Gate name (a section of ``gates.yaml``).
    passed : bool
        True when the figure meets the threshold.
    figure, threshold : str
        What was measured and what it must meet, e.g. ``"87.3 %"``, ``">= 90 %"``.
    details : list of str
        What failed, one line each (the failing tests, files, use cases...).
    warnings : list of str
        What is worth a look but does not fail the gate.
    waived : list of str
        The lines of ``details`` that are accepted non-conformances
        (`satdev.waivers`): they fail the gate, they do not block the release.
    """

    name: str
    passed: bool
    figure: str
    threshold: str
    details: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    waived: list[str] = field(default_factory=list)

    @property
    def blocking(self) -> bool:
        """True when the gate failed on anything but accepted non-conformances."""
        return blocks(self)

    def __str__(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        if not self.passed and not self.blocking:
            verdict = "FAIL (accepted non-conformance)"
        return f"{verdict} {self.name}: {self.figure} (threshold {self.threshold})"

    def as_dict(self) -> dict:
        """Return the gate as a JSON-ready dict."""
        return asdict(self)


def blocks(gate) -> bool:
    """Whether a failed gate (a `Gate` or its report row) blocks the release.

    A gate blocks unless every line of what failed is an accepted
    non-conformance (and at least one line says what failed).
    """
    if gate.passed:
        return False
    return not gate.details or any(line not in gate.waived for line in gate.details)


@cache
def load_thresholds() -> dict:
    """Load ``gates.yaml``: ``{gate name: its thresholds}``."""
    import yaml

    text = resources.files("satdev").joinpath("gates.yaml").read_text(encoding="utf-8")
    thresholds = yaml.safe_load(text)
    missing = [name for name in GATES if name not in thresholds]
    if missing:
        raise ValueError(f"gates.yaml has no section for gate(s) {missing}")
    return thresholds


def _missing(name: str, threshold: str, what: str) -> Gate:
    return Gate(name, False, "no input", threshold, [what])


def tests_gate(
    results: list[TestResult] | None, exit_code: int | None = None, error: str = ""
) -> Gate:
    """Gate on the test results: no failure or error, and tests really ran.

    Parameters
    ----------
    results : list of TestResult or None
        From the JUnit XML; None when pytest wrote none.
    exit_code : int, optional
        pytest's exit code when known; 2-5 mean it stopped before a real run.
    error : str
        pytest's error output, quoted when it stopped (e.g. an unknown id).
    """
    limits = load_thresholds()["tests"]
    threshold = f"<= {limits['max_failed']} failed, >= {limits['min_passed']} passed"
    if exit_code in PYTEST_EXIT:
        reason = f"pytest stopped: exit {exit_code} ({PYTEST_EXIT[exit_code]})"
        lines = [line for line in error.strip().splitlines() if line.strip()]
        return Gate("tests", False, reason, threshold, lines[-12:])
    if results is None:
        return _missing("tests", threshold, "no JUnit XML: the tests did not run")
    counts = summarise(results)
    failed = counts["failed"] + counts["error"]
    figure = (
        f"{counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['error']} errors, {counts['skipped']} skipped"
    )
    details = [
        f"{r.outcome}: {r.test}: {r.message}"
        for r in results
        if r.outcome in ("failed", "error")
    ]
    passed = failed <= limits["max_failed"] and counts["passed"] >= limits["min_passed"]
    if counts["passed"] < limits["min_passed"]:
        details.append(f"only {counts['passed']} test(s) passed")
    return Gate("tests", passed, figure, threshold, details)


def read_coverage(path: str | Path) -> dict:
    """Read a Cobertura coverage.xml (coverage.py's XML report).

    Returns
    -------
    dict
        ``percent`` (lines and branches together, as coverage.py's total), the
        line and branch counts, ``sources`` and ``files`` (``{filename: percent}``
        of lines).
    """
    root = ET.parse(path).getroot()
    if root.tag != "coverage":
        raise ValueError(f"{path} is not a coverage.xml (root element <{root.tag}>)")
    counts = {
        key: int(root.get(key, 0))
        for key in (
            "lines-valid",
            "lines-covered",
            "branches-valid",
            "branches-covered",
        )
    }
    total = counts["lines-valid"] + counts["branches-valid"]
    covered = counts["lines-covered"] + counts["branches-covered"]
    files = {
        cls.get("filename"): round(100 * float(cls.get("line-rate", 0)), 1)
        for cls in root.iter("class")
    }
    return {
        "percent": 100.0 * covered / total if total else 0.0,
        **counts,
        "sources": [source.text or "" for source in root.iter("source")],
        "files": files,
    }


def coverage_gate(path: str | Path | None) -> Gate:
    """Gate on the coverage of the package named in ``gates.yaml`` (``sat``)."""
    limits = load_thresholds()["coverage"]
    threshold = f">= {limits['min_percent']:g} % of {limits['package']}/"
    if path is None or not Path(path).is_file():
        return _missing("coverage", threshold, f"no coverage.xml at {path}")
    data = read_coverage(path)
    package = limits["package"]
    if not any(Path(source).name == package for source in data["sources"]):
        return Gate(
            "coverage",
            False,
            f"measures {data['sources']}",
            threshold,
            [f"{path} does not measure the package {package!r}"],
        )
    passed = round(data["percent"], 2) >= limits["min_percent"]
    lowest = sorted(data["files"].items(), key=lambda item: item[1])[:5]
    details = (
        [f"least covered: {name} {percent} %" for name, percent in lowest]
        if not passed
        else []
    )
    figure = f"{data['percent']:.1f} % of {package}/"
    return Gate("coverage", passed, figure, threshold, details)


def lint_gate(lint_json: str | Path | None, unformatted: list[str] | None) -> Gate:
    """Gate on ruff: no lint violation (its JSON output), no file to reformat.

    Parameters
    ----------
    lint_json : path
        ``ruff check --output-format json`` output.
    unformatted : list of str or None
        Files ``ruff format --check`` would reformat (None when it did not run).
    """
    limits = load_thresholds()["lint"]
    threshold = (
        f"<= {limits['max_violations']} violations, "
        f"<= {limits['max_unformatted']} unformatted files"
    )
    if lint_json is None or not Path(lint_json).is_file() or unformatted is None:
        return _missing("lint", threshold, f"no ruff output at {lint_json}")
    violations = json.loads(Path(lint_json).read_text(encoding="utf-8"))
    details = [
        f"{v['filename']}:{v['location']['row']}: {v['code']} {v['message']}"
        for v in violations
    ] + [f"would reformat: {name}" for name in unformatted]
    passed = (
        len(violations) <= limits["max_violations"]
        and len(unformatted) <= limits["max_unformatted"]
    )
    figure = f"{len(violations)} violations, {len(unformatted)} unformatted files"
    return Gate("lint", passed, figure, threshold, details[:50])


def runtime_closure(distribution: str = "ctao-sat") -> dict[str, str | None]:
    """Every distribution ``distribution`` needs at run time, with its version.

    Follows the installed metadata (``Requires-Dist``, markers evaluated, extras
    only where a requirement asks for them); a required but missing distribution
    maps to None.
    """
    from packaging.requirements import Requirement

    from sat.stack import canonical_name

    found: dict[str, str | None] = {}
    todo = [(distribution, ())]
    while todo:
        name, extras = todo.pop()
        key = canonical_name(name)
        if key in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            found[key] = None
            continue
        found[key] = dist.version
        for line in dist.requires or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker and not any(
                marker.evaluate({"extra": extra}) for extra in ("", *extras)
            ):
                continue
            todo.append((requirement.name, tuple(requirement.extras)))
    return found


def pins_gate(distribution: str = "ctao-sat", pins: dict | None = None) -> Gate:
    """Gate on the environment: nothing unpinned, nothing drifting from the pins.

    Parameters
    ----------
    distribution : str
        The released distribution whose run-time closure is checked.
    pins : dict, optional
        ``{name: version}``; default the release pins of ``sat/pins.toml``.
    """
    from sat.stack import canonical_name, load_pins

    limits = load_thresholds()["pins"]
    threshold = (
        f"<= {limits['max_unpinned']} unpinned, <= {limits['max_drifting']} drifting"
    )
    closure = runtime_closure(distribution)
    if closure.get(canonical_name(distribution)) is None:
        return _missing("pins", threshold, f"{distribution} is not installed")
    if pins is None:
        pins = {pin.name: pin.version for pin in load_pins()}
    own = canonical_name(distribution)
    unpinned = sorted(name for name in closure if name not in pins and name != own)
    drifting = sorted(
        f"{name}: installed {closure.get(name)}, pinned {version}"
        for name, version in pins.items()
        if closure.get(name, metadata_version(name)) != version
    )
    details = [f"unpinned: {name} {closure[name]}" for name in unpinned] + [
        f"drifting: {line}" for line in drifting
    ]
    passed = (
        len(unpinned) <= limits["max_unpinned"]
        and len(drifting) <= limits["max_drifting"]
    )
    figure = (
        f"{len(closure) - 1} run-time distributions: {len(unpinned)} unpinned, "
        f"{len(drifting)} drifting"
    )
    return Gate("pins", passed, figure, threshold, details)


def metadata_version(name: str) -> str | None:
    """Return the installed version of ``name`` or None (pins outside the closure)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def requirements_gate(traces: list[Trace], unknown: list[str]) -> Gate:
    """Gate on traceability: nothing FAIL, verify's own evidence complete.

    A requirement fails the gate when its verdict is FAIL, or NOT VERIFIED for
    want of evidence verify itself produces (tests, gates, benchmarks). Evidence
    from elsewhere (artifact sessions, some of which run after verify, and
    recorded inspections) that is missing is a warning here: `make_release`
    refuses any claimed requirement that is not VERIFIED.

    Parameters
    ----------
    traces : list of Trace
        From `satdev.traceability.trace`.
    unknown : list of str
        Traced ids missing from the catalogue (``"test: id"``).
    """
    limits = load_thresholds()["requirements"]
    threshold = f"<= {limits['max_unverified']} unverified, 0 unknown ids"
    requirements = [t for t in traces if t.kind == "requirement"]
    bad = [
        t
        for t in requirements
        if t.verdict == FAIL
        or (t.verdict == NOT_VERIFIED and t.evidence_kind in VERIFY_EVIDENCE)
    ]
    later = [t for t in requirements if t.verdict == NOT_VERIFIED and t not in bad]
    not_yet = [t for t in requirements if t.verdict == NOT_YET]
    verified = [t for t in requirements if t.verdict == VERIFIED]
    details = [f"{t.id} ({t.method}): {t.label}: {t.note}" for t in bad]
    # A FAIL that rests only on accepted non-conformances stays a FAIL here.
    waived = [line for t, line in zip(bad, details, strict=True) if t.waived]
    details += [f"unknown id in JUnit XML: {line}" for line in unknown]
    figure = (
        f"{len(verified)} verified, {len(bad)} failed or unverified, "
        f"{len(later)} awaiting artifact or inspection evidence, "
        f"{len(not_yet)} not yet verified, {len(unknown)} unknown ids"
    )
    warnings = [f"{t.id}: {t.label}: {t.note} (the release refuses it)" for t in later]
    warnings += [f"{t.id}: not yet verified" for t in not_yet]
    passed = len(bad) <= limits["max_unverified"] and not unknown
    return Gate("requirements", passed, figure, threshold, details, warnings, waived)


def read_usecase_results(folder: str | Path, names) -> dict[str, Result | None]:
    """Read ``<folder>/<name>/result.json`` for every use case (None if absent)."""
    results = {}
    for name in names:
        path = Path(folder, name, RESULT)
        results[name] = Result.read(path) if path.is_file() else None
    return results


def usecases_gate(results: dict[str, dict | None], version: str) -> Gate:
    """Gate on the use cases: each ran for this release and every check passed.

    Parameters
    ----------
    results : dict
        ``{use case name: result.json content or None}`` for every registered one.
    version : str
        The release version the results must come from.
    """
    limits = load_thresholds()["usecases"]
    threshold = f"<= {limits['max_failed']} failed use cases"
    details, checks, failed_cases = [], 0, set()
    for name, result in results.items():
        if result is None:
            details.append(f"{name}: no result.json (it did not run, or stopped early)")
            failed_cases.add(name)
            continue
        if result.get("ctao_sat") != version:
            details.append(f"{name}: result of release {result.get('ctao_sat')}")
            failed_cases.add(name)
        if not result["validation"]:
            details.append(f"{name}: no validation check")
            failed_cases.add(name)
        for check in result["validation"]:
            checks += 1
            if check["verdict"] != "PASS":
                failed_cases.add(name)
                fit = f"{check['fit']} " if check.get("fit") else ""
                details.append(
                    f"{name}: {fit}{check['quantity']} = "
                    f"{check['measured']:.4g}, reference {check['value']:.4g} ± "
                    f"{check['error']:.2g}: {check['deviation_sigma']} sigma > "
                    f"{check['n_sigma']}"
                )
    if not results:
        details.append("no use case is registered")
    figure = f"{len(results) - len(failed_cases)}/{len(results)} use cases passed"
    figure += f" ({checks} validation checks)"
    passed = bool(results) and len(failed_cases) <= limits["max_failed"]
    return Gate("usecases", passed, figure, threshold, details)


def benchmarks_gate(record: dict | None, usecases, accepted=()) -> Gate:
    """Gate on the benchmarks: every expected one ran and met its budgets.

    Parameters
    ----------
    record : dict or None
        The benchmark record of this release (``build/bench/<version>.json``).
    usecases : iterable of str
        The registered use cases (each must have been benchmarked).
    accepted : collection of (str, str)
        ``(benchmark, metric)`` budgets whose waiver applies in this run
        (`satdev.waivers.accepted_budgets`): their failures stay in ``details``
        and are listed in ``waived`` too.
    """
    thresholds = load_thresholds()["benchmarks"]
    threshold = "every budget of gates.yaml [benchmarks]"
    if record is None:
        return _missing("benchmarks", threshold, "no benchmark record")
    by_name = {result["name"]: result for result in record["results"]}
    details, waived, total, ok, unresolved = [], [], 0, 0, 0
    for name in expected_benchmarks(list(usecases)):
        if name not in by_name:
            details.append(f"{name}: not measured")
    for result in record["results"]:
        if result.get("error"):
            details.append(f"{result['name']}: {result['error']}")
        for check in budget_checks(result, thresholds):
            total += 1
            ok += check["ok"]
            unresolved += check["verdict"] == NOT_RESOLVABLE
            if not check["ok"]:  # FAIL or NOT RESOLVABLE: never a pass
                details.append(describe(result["name"], check))
                if (result["name"], check["metric"]) in accepted:
                    waived.append(details[-1])
    comparison = record.get("comparison") or {}
    warnings = [
        f"regression vs {comparison['previous']}: {row['benchmark']} {row['metric']} "
        f"x{row['ratio']} ({row['previous']} -> {row['current']} {row['unit']})"
        for row in comparison.get("rows", [])
        if row["regression"]
    ]
    figure = f"{ok}/{total} budgets met"
    if unresolved:
        figure += f", {unresolved} not resolvable (noise larger than the budget)"
    if waived:
        figure += f", {len(waived)} accepted non-conformance(s)"
    return Gate("benchmarks", not details, figure, threshold, details, warnings, waived)
