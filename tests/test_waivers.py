"""Accepted non-conformances (satdev/waivers.py): one rule per test.

A waiver of a benchmark budget, recorded for one version, lets the release proceed
over that budget's failure while every verdict stays FAIL; it never covers a test,
a validation, an unmeasured benchmark or missing evidence, never another version,
and never a figure beyond the accepted one.
"""

from datetime import date

import pytest
import yaml

from sat.errors import SatError
from satdev import gates as G
from satdev.benchmarks import budget_checks
from satdev.catalogue import read_catalogue
from satdev.environment import describe_environment
from satdev.evidence import RUN_ID_ENV, Check, read_evidence, write_junit
from satdev.junit import TestResult
from satdev.release import fold_evidence, make_release
from satdev.report import (
    GateRow,
    Provenance,
    Report,
    read_report,
    render,
    render_text,
    trace_row,
)
from satdev.traceability import FAIL, VERIFIED, Sources, trace, unreleasable
from satdev.waivers import (
    ACCEPTED,
    EXCEEDED,
    NOT_APPLICABLE,
    UNUSED,
    accepted_budgets,
    dispositions,
    read_waivers,
)
from tests.conftest import REPO

pytestmark = pytest.mark.verifies_requirement("C-SAT-0210")

VERSION = "2026.12.0"
RUN = "run-under-test"
THRESHOLDS = G.load_thresholds()["benchmarks"]
ENVIRONMENT = describe_environment()
SIZE = THRESHOLDS["jupyter_added_mb"]  # the budget waived in these tests
WAIVER = {
    "benchmark": "container:jupyter",
    "metric": "jupyter_added_mb",
    "accepted": SIZE + 35,
    "reason": "JupyterLab's and the Hub's wheels, every cut made",
    "accepted_by": "Lead Maintainer <lead@example.org>",
    "date": date(2026, 12, 5),
    "disposition": "re-measured every release; trimmed again in 2027.01",
}
CATALOGUE = """
requirements:
  - {id: C-SAT-0274, level: C, text: Jupyter size., source: t, method: analysis,
     evidence: {session: jupyter}}
  - {id: C-SAT-0140, level: C, text: Budgets., source: t, method: analysis,
     evidence: {gate: benchmarks}}
  - {id: C-SAT-0200, level: C, text: Volume., source: t, method: analysis,
     evidence: {benchmark: "datavolume:agreement"}}
usecases:
  - {id: SUSS-UC-SAT-040, name: joint-crab, text: Joint fit.}
"""


def jupyter_result(added_mb, lab_ready_s=(4.9, 5.0, 5.1, 5.3, 5.5)):
    """The ``container:jupyter`` result docker/jupyter.py gives the bench record."""
    return {
        "name": "container:jupyter",
        "kind": "jupyter",
        "samples": {"lab_ready_s": list(lab_ready_s)},
        "metrics": {"jupyter_added_mb": added_mb, "lab_ready_s": 5.1},
    }


def volume_result(error=None):
    return {
        "name": "datavolume:agreement",
        "kind": "datavolume",
        "metrics": {
            "max_events_bytes_deviation": 0.018,
            "max_background_sigma": 0.61,
            "max_events_factor": 1.70,
        },
        **({"error": error} if error else {}),
    }


def record(added_mb):
    """A bench record of every benchmark of a release with joint-crab registered."""
    results = [
        {
            "name": "cli-startup",
            "kind": "startup",
            "samples": {"ctao_sat_help_cpu_s": [0.11, 0.12, 0.12, 0.13, 0.12]},
            "metrics": {"ctao_sat_help_cpu_s": 0.12},
        },
        {
            "name": "usecase:joint-crab",
            "kind": "usecase",
            "usecase": "joint-crab",
            "metrics": {"wall_time_s": 40.0, "peak_rss_mib": 600.0, "exit_code": 0},
        },
        {"name": "quicklook", "kind": "quicklook", "metrics": {"max_run_cpu_s": 3.0}},
        {"name": "check", "kind": "check", "metrics": {"max_run_cpu_s": 1.0}},
        volume_result(),
        jupyter_result(added_mb),
    ]
    return {"results": results}


def write_waivers(folder, version=VERSION, *entries, recorded=None):
    folder.mkdir(exist_ok=True)
    path = folder / f"{version}.yaml"
    text = {"version": recorded or version, "waivers": list(entries)}
    path.write_text(yaml.safe_dump(text, sort_keys=False))
    return folder


def judged(added_mb, waivers):
    return dispositions(waivers, record(added_mb)["results"], THRESHOLDS)


def jupyter_evidence(tmp_path, monkeypatch, added_mb, extra=()):
    """build/evidence/jupyter.xml of this run: the size goal check, measured."""
    monkeypatch.setenv(RUN_ID_ENV, RUN)
    checks = [
        Check("jupyter_image_builds", True, ("C-SAT-0274",)),
        Check(
            "jupyter_adds_within_size_budget",
            added_mb <= SIZE,
            ("C-SAT-0274",),
            message=f"the Jupyter image adds {added_mb} MB",
            figures={
                "benchmark": "container:jupyter",
                "metric": "jupyter_added_mb",
                "jupyter_added_mb": added_mb,
                "limit_mb": SIZE,
            },
        ),
        *extra,
    ]
    write_junit(tmp_path / "evidence" / "jupyter.xml", "jupyter", checks, root=REPO)
    return read_evidence(tmp_path / "evidence")


def traced(tmp_path, monkeypatch, added_mb, waivers, tests=(), extra=()):
    """Gates and traces of a run whose Jupyter image adds ``added_mb``."""
    found = judged(added_mb, waivers)
    accepted = accepted_budgets(found)
    bench = G.benchmarks_gate(record(added_mb), ["joint-crab"], accepted)
    sources = Sources(
        tests=list(tests),
        gates={"benchmarks": (bench.passed, bench.figure)},
        benchmarks={
            r["name"]: {"checks": budget_checks(r, THRESHOLDS), "error": r.get("error")}
            for r in record(added_mb)["results"]
        },
        sessions=jupyter_evidence(tmp_path, monkeypatch, added_mb, extra),
        run_id=RUN,
        version=VERSION,
        accepted=accepted,
        waived_gates={bench.name} if not bench.passed and not bench.blocking else set(),
    )
    traces = trace(read_catalogue(CATALOGUE), sources, {"joint-crab"})
    return found, bench, {t.id: t for t in traces}


def test_a_waiver_holds_only_for_its_own_version(tmp_path):
    folder = write_waivers(tmp_path / "waivers", "2026.11.0", WAIVER)
    # Last month's waiver is never read for this release: it has expired.
    assert read_waivers(VERSION, folder) == []
    (waiver,) = read_waivers("2026.11.0", folder)
    assert (waiver.version, waiver.accepted, waiver.date) == (
        "2026.11.0",
        SIZE + 35,
        date(2026, 12, 5),
    )
    # A record filed under this version but written for another is refused.
    write_waivers(folder, VERSION, WAIVER, recorded="2026.11.0")
    with pytest.raises(SatError, match=r"records version 2026.11.0, not 2026.12.0"):
        read_waivers(VERSION, folder)
    # Who accepted it, when, why and what is done about it are all required.
    for field in ("accepted_by", "date", "reason", "disposition", "accepted"):
        entry = {k: v for k, v in WAIVER.items() if k != field}
        write_waivers(folder, VERSION, entry)
        with pytest.raises(SatError, match=f"waiver 1 has no {field}"):
            read_waivers(VERSION, folder)
    write_waivers(folder, VERSION, {**WAIVER, "accepted": "about 185"})
    with pytest.raises(SatError, match="accepted must be a number"):
        read_waivers(VERSION, folder)


def test_a_waiver_applies_only_while_the_figure_stays_within_its_accepted_one(
    tmp_path,
):
    folder = write_waivers(tmp_path / "waivers", VERSION, WAIVER)
    waivers = read_waivers(VERSION, folder)
    (within,) = judged(SIZE + 30, waivers)
    assert (within.status, within.measured, within.verdict) == (
        ACCEPTED,
        SIZE + 30,
        "FAIL",
    )
    assert within.limit == SIZE and within.covers == [
        "benchmark container:jupyter jupyter_added_mb"
    ]
    (beyond,) = judged(SIZE + 36, waivers)
    assert (beyond.status, beyond.covers) == (EXCEEDED, [])
    assert "beyond the accepted" in beyond.note
    (met,) = judged(SIZE - 1, waivers)
    assert met.status == UNUSED
    # A repeated figure is judged at the worse end of its interval: a median
    # within the accepted figure whose interval reaches beyond it is EXCEEDED.
    start = {**WAIVER, "metric": "lab_ready_s", "accepted": 12}
    write_waivers(folder, VERSION, start)
    slow = jupyter_result(SIZE, lab_ready_s=(10.5, 11.0, 11.5, 12.0, 12.5))
    (noisy,) = dispositions(read_waivers(VERSION, folder), [slow], THRESHOLDS)
    assert (noisy.status, noisy.measured) == (EXCEEDED, 12.5)


def test_a_waived_budget_stays_fail_in_every_verdict_but_does_not_block(
    tmp_path, monkeypatch
):
    waivers = read_waivers(VERSION, write_waivers(tmp_path / "w", VERSION, WAIVER))
    found, bench, traces = traced(tmp_path, monkeypatch, SIZE + 30, waivers)
    # The budget check, its gate: FAIL, the failure listed, and accepted.
    assert not bench.passed and not bench.blocking
    assert bench.waived == bench.details and len(bench.details) == 1
    assert "container:jupyter: jupyter_added_mb FAIL" in bench.details[0]
    assert str(bench).startswith("FAIL (accepted non-conformance) benchmarks:")
    # The requirements: FAIL, labelled, and not what the release refuses.
    for rid in ("C-SAT-0274", "C-SAT-0140"):
        assert traces[rid].verdict == FAIL
        assert traces[rid].label == "FAIL (accepted non-conformance)"
        assert traces[rid].waived
    assert traces["C-SAT-0200"].verdict == VERIFIED
    assert unreleasable(list(traces.values())) == []
    requirements = G.requirements_gate(list(traces.values()), [])
    assert not requirements.passed and not requirements.blocking
    # The session check it covered is named in its disposition.
    (waiver,) = found
    assert "jupyter::jupyter_adds_within_size_budget" in waiver.covers


def test_an_exceeded_or_absent_waiver_fails_the_release_as_before(
    tmp_path, monkeypatch
):
    exceeded = read_waivers(
        VERSION,
        write_waivers(tmp_path / "w", VERSION, {**WAIVER, "accepted": SIZE + 20}),
    )
    for waivers in (exceeded, []):
        found, bench, traces = traced(tmp_path, monkeypatch, SIZE + 30, waivers)
        assert bench.blocking and bench.waived == []
        assert [t.id for t in traces.values() if t.verdict == FAIL] == [
            "C-SAT-0274",
            "C-SAT-0140",
        ]
        assert not any(t.waived for t in traces.values())
        assert len(unreleasable(list(traces.values()))) == 2
        assert [w.status for w in found] == [EXCEEDED] * len(waivers)


def test_a_waiver_never_covers_a_test_a_validation_or_missing_evidence(
    tmp_path, monkeypatch
):
    waivers = read_waivers(VERSION, write_waivers(tmp_path / "w", VERSION, WAIVER))
    # A failed test tracing to the same requirement blocks.
    failed = TestResult(
        "tests/test_x.py::test_lab", "failed", 0.1, "boom", ("C-SAT-0274",)
    )
    _, _, traces = traced(tmp_path, monkeypatch, SIZE + 30, waivers, tests=[failed])
    assert traces["C-SAT-0274"].verdict == FAIL and not traces["C-SAT-0274"].waived
    assert "test tests/test_x.py::test_lab: boom" in traces["C-SAT-0274"].note
    # A failed check that measures no waived budget (a functional check) blocks.
    broken = Check("lab_starts_read_only_offline_non_root", False, ("C-SAT-0274",))
    _, _, traces = traced(tmp_path, monkeypatch, SIZE + 30, waivers, extra=[broken])
    assert traces["C-SAT-0274"].verdict == FAIL and not traces["C-SAT-0274"].waived
    # Evidence of another run is missing evidence: the waived check cannot stand
    # in for it, and the requirement blocks.
    found = judged(SIZE + 30, waivers)
    sources = Sources(
        sessions=jupyter_evidence(tmp_path, monkeypatch, SIZE + 30),
        run_id="another-run",
        version=VERSION,
        accepted=accepted_budgets(found),
    )
    traces = {t.id: t for t in trace(read_catalogue(CATALOGUE), sources, set())}
    assert traces["C-SAT-0274"].verdict == "NOT VERIFIED"
    assert unreleasable([traces["C-SAT-0274"]])
    # A benchmark that could not measure is not a figure within any ceiling.
    volume = {
        **WAIVER,
        "benchmark": "datavolume:agreement",
        "metric": "max_events_factor",
    }
    results = [volume_result(error="GAMMAPY_DATA has no hess-dl3-dr1")]
    volume_waivers = read_waivers(
        VERSION, write_waivers(tmp_path / "v", VERSION, volume)
    )
    (unmeasured,) = dispositions(volume_waivers, results, THRESHOLDS)
    assert unmeasured.status == NOT_APPLICABLE and "not measured" in unmeasured.note
    # Nor is a name that is no budget of its benchmark (a validation, a test).
    other = {**WAIVER, "metric": "notebooks_execute_in_the_image"}
    other_waivers = read_waivers(VERSION, write_waivers(tmp_path / "o", VERSION, other))
    (unknown,) = judged(SIZE + 30, other_waivers)
    assert unknown.status == NOT_APPLICABLE and "has no budget" in unknown.note
    # A use case's validation is never waived, even by a goal check's figures.
    check = Check(
        "notebook_results_validate",
        False,
        usecases=("SUSS-UC-SAT-040",),
        figures={"benchmark": "container:jupyter", "metric": "jupyter_added_mb"},
    )
    _, _, traces = traced(tmp_path, monkeypatch, SIZE + 30, waivers, extra=[check])
    assert traces["SUSS-UC-SAT-040"].verdict == FAIL
    assert not traces["SUSS-UC-SAT-040"].waived


def report_of(tmp_path, monkeypatch, added_mb, waivers) -> Report:
    """verify's report of a run whose only failure is the Jupyter size."""
    found, bench, traces = traced(tmp_path, monkeypatch, added_mb, waivers)
    requirements = G.requirements_gate(list(traces.values()), [])
    return Report(
        title=f"ctao-sat {VERSION}: verification report",
        release=VERSION,
        created="2026-12-05T16:00:00+00:00",
        verdict="FAIL",
        run_id=RUN,
        provenance=Provenance(commit="0" * 40, clean=True, stamped="now"),
        gates=[GateRow(**g.as_dict()) for g in (requirements, bench)],
        traceability=[trace_row(t) for t in traces.values()],
        tests={"total": 0, "passed": 0},
        usecases={},
        benchmarks={
            "date": "2026-12-05",
            "platform": "Linux",
            "cpus": 2,
            "python": "3.12",
            "comparison": {"previous": None, "regression_ratio": 1.25, "rows": []},
            "results": [
                {**r, "checks": budget_checks(r, THRESHOLDS)}
                for r in record(added_mb)["results"]
            ],
        },
        waivers=found,
        environment=ENVIRONMENT,
    )


def test_the_release_proceeds_and_lists_its_accepted_nonconformances(
    tmp_path, monkeypatch
):
    import satdev.release

    waivers = read_waivers(VERSION, write_waivers(tmp_path / "w", VERSION, WAIVER))
    report = report_of(tmp_path, monkeypatch, SIZE + 30, waivers)
    build = tmp_path
    render(report, build / "report")
    text = (build / "report" / "report.md").read_text()
    assert "| benchmarks | FAIL (accepted non-conformance) |" in text
    assert "## Accepted non-conformances" in text
    assert f"| container:jupyter | jupyter_added_mb | <= {SIZE} MB |" in text
    assert "ACCEPTED" in text and WAIVER["disposition"] in text
    # The release folds the evidence again: nothing blocks, the verdict stays FAIL.
    folded, _, _ = fold_evidence(
        build, read_report(build / "report" / "report.json"), read_catalogue(CATALOGUE)
    )
    assert (folded.verdict, folded.blocking) == ("FAIL", [])
    # The whole release, its wheel build aside (tests of the clean-clone release).
    monkeypatch.setattr(satdev.release, "build_python", lambda root, out: [])
    out = make_release(
        REPO, build, [], today=date(2026, 12, 5), catalogue=read_catalogue(CATALOGUE)
    )
    document = (out / "RELEASE.md").read_text()
    assert "## Verification: FAIL" in document
    section = document.split("## Accepted non-conformances")[1].split("\n## ")[0]
    assert "container:jupyter jupyter_added_mb: ACCEPTED" in section
    assert f"jupyter_added_mb = {SIZE + 30:g} MB within the accepted" in section
    assert WAIVER["reason"] in section and WAIVER["disposition"] in section
    assert "requirements C-SAT-0274, C-SAT-0140" in section
    assert "gates requirements, benchmarks" in section
    # Exceeded: the release refuses, naming the gate.
    exceeded = read_waivers(
        VERSION,
        write_waivers(tmp_path / "w", VERSION, {**WAIVER, "accepted": SIZE + 20}),
    )
    render(report_of(tmp_path, monkeypatch, SIZE + 30, exceeded), build / "report")
    with pytest.raises(SatError, match=r"no release: gate\(s\) failed: requirements"):
        make_release(
            REPO,
            build,
            [],
            today=date(2026, 12, 5),
            catalogue=read_catalogue(CATALOGUE),
        )
    # Nothing waived: the report says so.
    assert "None: no waiver is recorded for 2026.12.0." in render_text(
        report_of(tmp_path, monkeypatch, SIZE - 1, []), "report.md.j2"
    )
