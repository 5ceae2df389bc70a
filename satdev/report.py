"""The verification report: one content model, rendered by templates.

`build_report` turns a `Verification` into a `Report` (pydantic): the gates, the
traceability with what each verdict rests on, the artifact sessions' evidence,
the use-case validation, the benchmarks, the environment and the provenance.
`render` writes it into ``<out>/`` through the jinja2 templates of
``satdev/templates``:

- ``index.html`` for people, ``report.md`` and ``report.json`` (the model itself,
  read back by the release and the docs' readiness matrix);
- ``aiv/``: what CTAO's AIV report consumes: ``junit.xml``, ``coverage.xml``,
  ``traceability.csv``, ``lint.json`` and the artifact sessions' ``evidence/``;
- ``plots/``: the use cases' PNGs and the benchmark plots.

The AIV PDF (issue 16) is meant as a third renderer of the same model.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from satdev.benchmarks import budget_checks
from satdev.gates import blocks, load_thresholds
from satdev.junit import summarise
from satdev.traceability import NOT_VERIFIED, VERIFIED, Trace, write_csv
from satdev.waivers import Disposition

__all__ = [
    "Report",
    "build_report",
    "read_report",
    "render",
    "write_report",
]

TITLE = "ctao-sat {version}: verification report"
TEMPLATES = Path(__file__).resolve().parent / "templates"


class _Model(BaseModel):
    # A failed fit may give NaN or inf: report.json keeps them (JSON constants,
    # as Python's json module reads and writes them) instead of null.
    model_config = ConfigDict(ser_json_inf_nan="constants")


class GateRow(_Model):
    """One quality gate (`satdev.gates.Gate`)."""

    name: str
    passed: bool
    figure: str
    threshold: str
    details: list[str] = []
    warnings: list[str] = []
    # The lines of `details` that are accepted non-conformances (satdev.waivers).
    waived: list[str] = []


class TestRow(_Model):
    """One test case or artifact check tracing to an id."""

    __test__ = False  # not a pytest test class despite its name

    test: str
    outcome: str
    message: str = ""
    figures: dict[str, float | str] = {}


class TraceRow(_Model):
    """One requirement or use case: method, evidence, figure, verdict."""

    id: str
    kind: str
    level: str = ""
    method: str
    status: str = ""
    text: str
    evidence: str
    evidence_kind: str
    sources: list[str] = []
    figure: str = ""
    verdict: str
    why: str = ""
    label: str
    note: str = ""
    # A FAIL resting only on accepted non-conformances: its causes.
    waived: list[str] = []
    tests: list[TestRow] = []
    checks: list[TestRow] = []


class SessionRow(_Model):
    """The evidence one artifact session left, and whether it is of this run."""

    session: str
    current: bool
    run_id: str = ""
    commit: str = ""
    checks: list[TestRow] = []
    error: str = ""

    @property
    def passed(self) -> int:
        """How many of its checks passed."""
        return sum(check.outcome == "passed" for check in self.checks)


class CheckRow(_Model):
    """One validation check of a use case's run."""

    fit: str = ""
    quantity: str
    measured: float
    measured_error: float = 0.0
    reference: float
    reference_error: float
    unit: str = ""
    deviation_sigma: float | None = None
    n_sigma: float | None = None
    verdict: str
    source: str = ""
    why: str = ""


class UseCaseRow(_Model):
    """One registered use case's run for this release."""

    usecase_id: str = ""
    ran: bool
    summary: list[str] = []
    checks: list[CheckRow] = []
    plots: list[str] = []
    wall_time_s: float | None = None


class Provenance(_Model):
    """The tree the verification ran from, stamped before anything was written."""

    commit: str = ""
    clean: bool = False
    dirty: list[str] = []
    stamped: str = ""
    run_id: str = ""


class Report(_Model):
    """Everything the report shows; ``report.json`` is this model."""

    title: str
    release: str
    created: str
    stage: str = "verify"
    verdict: str
    run_id: str = ""
    provenance: Provenance | None = None
    gates: list[GateRow]
    blocking: list[str] = []
    traceability: list[TraceRow]
    sessions: list[SessionRow] = []
    # `satdev.junit.summarise` of the test suite: total and each outcome.
    tests: dict[str, int]
    # Test-suite cases tracing to no requirement (CTAO's "unlinked tests").
    unlinked: list[TestRow] = []
    usecases: dict[str, UseCaseRow]
    benchmarks: dict | None = None
    # Accepted non-conformances (satdev/waivers/<version>.yaml): each waiver with
    # its figure, what became of it (ACCEPTED, EXCEEDED...) and its disposition.
    waivers: list[Disposition] = []
    environment: dict
    aiv: dict[str, str] = {}
    plots: dict[str, str] = Field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Count the requirements and use cases by verdict label."""
        found: dict[str, int] = {}
        for row in self.traceability:
            found[row.label] = found.get(row.label, 0) + 1
        return dict(sorted(found.items()))


def trace_row(item: Trace) -> TraceRow:
    """Return the report row of one `Trace`."""
    return TraceRow(
        id=item.id,
        kind=item.kind,
        level=item.level,
        method=item.method,
        status=item.status,
        text=item.text,
        evidence=item.evidence,
        evidence_kind=item.evidence_kind,
        sources=item.sources,
        figure=item.figure,
        verdict=item.verdict,
        why=item.why,
        label=item.label,
        note=item.note,
        waived=item.waived,
        tests=[
            TestRow(test=r.test, outcome=r.outcome, message=r.message)
            for r in item.tests
        ],
        checks=[
            TestRow(
                test=r.test, outcome=r.outcome, message=r.message, figures=r.figures
            )
            for r in item.checks
        ],
    )


def session_rows(sessions: dict, run_id: str) -> list[SessionRow]:
    """Return the report rows of the artifact sessions' evidence."""
    rows = []
    for name, evidence in sorted(sessions.items()):
        rows.append(
            SessionRow(
                session=name,
                current=bool(run_id)
                and evidence.run_id == run_id
                and not evidence.error,
                run_id=evidence.run_id,
                commit=evidence.commit,
                checks=[
                    TestRow(
                        test=r.test.split("::")[-1],
                        outcome=r.outcome,
                        message=r.message,
                        figures=r.figures,
                    )
                    for r in evidence.results
                ],
                error=evidence.error,
            )
        )
    return rows


def _check_row(check) -> CheckRow:
    # A typed sat.result.Check (dict-readable): a run with a single fit has
    # ``fit`` None, which result.json leaves out.
    return CheckRow(
        fit=check.get("fit") or "",
        quantity=check["quantity"],
        measured=check["measured"],
        measured_error=check.get("measured_error", 0.0),
        reference=check["value"],
        reference_error=check["error"],
        unit=check.get("unit", ""),
        deviation_sigma=check["deviation_sigma"],
        n_sigma=check["n_sigma"],
        verdict=check["verdict"],
        source=check.get("source", ""),
        why=check.get("why", ""),
    )


def build_report(
    verification, environment: dict, provenance: dict | None = None
) -> Report:
    """Build the report content from a `Verification`.

    Parameters
    ----------
    verification : satdev.verify.Verification
        The gates, traces and inputs of the run.
    environment : dict
        `satdev.environment.describe_environment`.
    provenance : dict, optional
        `satdev.provenance.stamp` of the tree (commit, clean, dirty files).
    """
    thresholds = load_thresholds()["benchmarks"]
    bench = verification.bench
    benchmarks = None
    if bench is not None:
        benchmarks = {
            **{k: v for k, v in bench.items() if k != "results"},
            "results": [
                {**result, "checks": budget_checks(result, thresholds)}
                for result in bench["results"]
            ],
        }
    usecases = {}
    for name, result in verification.usecases.items():
        result = result or {}
        usecases[name] = UseCaseRow(
            usecase_id=verification.registered.get(name, ""),
            ran=bool(result),
            summary=result.get("summary", []),
            checks=[_check_row(c) for c in result.get("validation", [])],
            wall_time_s=(result.get("provenance") or {}).get("wall_time_s"),
        )
    return Report(
        title=TITLE.format(version=verification.version),
        release=verification.version,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        verdict="PASS" if verification.passed else "FAIL",
        run_id=verification.run_id,
        provenance=Provenance(**provenance) if provenance else None,
        gates=[GateRow(**gate.as_dict()) for gate in verification.gates],
        traceability=[trace_row(t) for t in verification.traces],
        sessions=session_rows(verification.sessions, verification.run_id),
        tests=summarise(verification.tests),
        unlinked=[
            TestRow(test=r.test, outcome=r.outcome, message=r.message)
            for r in verification.tests
            if not r.requirements
        ],
        usecases=usecases,
        benchmarks=benchmarks,
        waivers=verification.waivers,
        environment=environment,
    )


# ---------------------------------------------------------------- rendering


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _interval(check: dict) -> str:
    """Format the interval of a benchmark check with its coverage ("" if none)."""
    if not check.get("interval"):
        return ""
    low, high = check["interval"]
    return (
        f"[{low:.4g}, {high:.4g}] ({100 * check['confidence']:.0f} %, n={check['n']})"
    )


def _md_cell(value) -> str:
    return _fmt(value).replace("|", "\\|").replace("\n", " ")


def _gate_verdict(gate) -> str:
    """PASS, FAIL, or FAIL (accepted non-conformance) when it does not block."""
    if gate.passed:
        return "PASS"
    return "FAIL" if blocks(gate) else "FAIL (accepted non-conformance)"


def _css(verdict: str) -> str:
    # "NOT VERIFIED" -> "NOT-VERIFIED"; PASS/FAIL/VERIFIED as they are.
    return verdict.replace(" ", "-")


@cache
def _templates():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(fmt=_fmt, md=_md_cell, css=_css, interval=_interval)
    environment.filters.update(gate_verdict=_gate_verdict)
    environment.tests.update(blocks=blocks)
    environment.globals.update(VERIFIED=VERIFIED, NOT_VERIFIED=NOT_VERIFIED)
    return environment


def render_text(report: Report, template: str, **context) -> str:
    """Render ``report`` (and ``context``) with a template of ``satdev/templates``."""
    return _templates().get_template(template).render(report=report, **context)


def render(report: Report, out: str | Path) -> Report:
    """Write ``report.json``, ``report.md`` and ``index.html`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(
        report.model_dump_json(indent=2) + "\n", encoding="utf-8"
    )
    (out / "report.md").write_text(
        render_text(report, "report.md.j2"), encoding="utf-8"
    )
    (out / "index.html").write_text(
        render_text(report, "report.html.j2"), encoding="utf-8"
    )
    return report


def read_report(path: str | Path) -> Report:
    """Read a ``report.json`` back into the model."""
    return Report.model_validate_json(Path(path).read_text(encoding="utf-8"))


# ---------------------------------------------------------------- files


def _copy_aiv(verification, report: Report, out: Path) -> None:
    aiv = out / "aiv"
    aiv.mkdir(parents=True, exist_ok=True)
    inputs = verification.inputs
    for name, source in (
        ("junit.xml", inputs.junit),
        ("coverage.xml", inputs.coverage),
        ("lint.json", inputs.lint),
    ):
        if source is not None and Path(source).is_file():
            shutil.copyfile(source, aiv / name)
            report.aiv[name] = f"aiv/{name}"
    for _, evidence in sorted(verification.sessions.items()):
        target = aiv / "evidence" / evidence.path.name
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(evidence.path, target)
        report.aiv[f"evidence/{evidence.path.name}"] = f"aiv/evidence/{target.name}"
    write_csv(verification.traces, aiv / "traceability.csv")
    report.aiv["traceability.csv"] = "aiv/traceability.csv"


def _copy_usecase_plots(verification, report: Report, out: Path) -> None:
    folder = verification.inputs.usecases
    for name, result in verification.usecases.items():
        if result is None or folder is None:
            continue
        for product in result.get("products", []):
            source = Path(folder, name, product)
            if source.suffix.lower() == ".png" and source.is_file():
                target = Path("plots", "usecases", name, product)
                (out / target).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, out / target)
                report.usecases[name].plots.append(target.as_posix())


def write_report(
    verification,
    out: str | Path,
    environment: dict | None = None,
    provenance: dict | None = None,
) -> Report:
    """Write the report of ``verification`` into ``out`` (replacing an old one).

    Parameters
    ----------
    verification : Verification
        From `satdev.verify.evaluate`.
    out : str or Path
        The report folder (``build/report``).
    environment : dict, optional
        From `satdev.environment.describe_environment` (default: this
        environment).
    provenance : dict, optional
        The tree's stamp (`satdev.provenance`).

    Returns
    -------
    Report
        The report content (as in ``report.json``).
    """
    from satdev.environment import describe_environment
    from satdev.plots import bench_plots

    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    report = build_report(
        verification, environment or describe_environment(), provenance
    )
    _copy_aiv(verification, report, out)
    _copy_usecase_plots(verification, report, out)
    report.plots.update(bench_plots(report.benchmarks, out))
    return render(report, out)
