"""Method-true verdicts: each requirement is verified only by the evidence it names.

The evidence is real: JUnit XML of real pytest runs, artifact-session evidence
written by the sessions' own writer (`satdev.evidence.write_junit`), a real
``ctao-sat doctor`` run in an environment that lacks one pin. Each deliberately
broken artifact turns its requirement FAIL (or NOT VERIFIED) and the release
refuses, naming it (issue 15's acceptance (b), (c) and (d); (a), an image whose
user is root, is tests/test_dockerfile.py's with the container session).
"""

import dataclasses
import os
import shutil
import subprocess
import sys
import textwrap
from datetime import date

import pytest

from recipe import CondaError
from recipe import build as conda_build
from sat import __version__, stack
from sat.errors import SatError
from satdev.catalogue import load_catalogue, read_catalogue
from satdev.evidence import RUN_ID_ENV, Check, read_evidence, write_junit
from satdev.inspection import read_inspections
from satdev.junit import read_junit
from satdev.release import make_release
from satdev.report import read_report, write_report
from satdev.traceability import Sources, trace, unknown_traced_ids, unreleasable
from satdev.verify import evaluate, run_tests
from tests.conftest import REPO

pytestmark = pytest.mark.verifies_requirement("C-SAT-0160")

RUN = "run-under-test"
RELEASE_DAY = date(*map(int, __version__.split(".")[:2]), 15)
# A small catalogue: one requirement of each method, and one use case.
CATALOGUE = """
requirements:
  - {id: C-SAT-0160, level: C, text: Traced., source: t, method: test,
     evidence: tests}
  - {id: B-SUSS-1530, level: B, text: Deployable within one hour., source: t,
     method: demonstration,
     evidence: {session: container, figure: deploy_s, max: 3600}}
  - {id: C-SAT-0100, level: C, text: Conda., source: t, method: test,
     evidence: {session: conda}}
  - {id: C-SAT-0230, level: C, text: Licences fit redistribution., source: t,
     method: inspection, evidence: inspection}
usecases:
  - {id: SUSS-UC-SAT-040, name: joint-crab, text: Joint fit.}
"""
TRACED = """
import pytest

@pytest.mark.verifies_requirement("C-SAT-0160")
@pytest.mark.verifies_requirement("B-SUSS-1530")
@pytest.mark.verifies_requirement("C-SAT-0230")
def test_passes():
    pass
"""


@pytest.fixture(scope="module")
def tiny_junit(tmp_path_factory):
    """JUnit XML of a real pytest run: one passing test traced to three ids."""
    root = tmp_path_factory.mktemp("tiny")
    (root / "pytest.ini").write_text("[pytest]\naddopts = -p pytest_requirements\n")
    (root / "test_tiny.py").write_text(textwrap.dedent(TRACED))
    (root / "sat").mkdir()
    (root / "sat" / "__init__.py").write_text("")
    inputs = run_tests(root, root / "out", echo=False)
    assert inputs.pytest_exit == 0, inputs.pytest_error
    return inputs


@pytest.fixture(scope="module")
def verify_report(tiny_junit, tmp_path_factory):
    """verify's report of the tiny run, keeping the gates that passed."""
    verification = evaluate(tiny_junit)
    passed = [gate for gate in verification.gates if gate.passed]
    verification = dataclasses.replace(verification, gates=passed)
    folder = tmp_path_factory.mktemp("report") / "report"
    write_report(verification, folder)
    return folder


def release_build(tmp_path, verify_report):
    build = tmp_path / "build"
    shutil.copytree(verify_report, build / "report")
    return build


def verdicts(sources, catalogue=None):
    catalogue = catalogue or read_catalogue(CATALOGUE)
    return {t.id: t for t in trace(catalogue, sources)}


def test_a_passing_test_never_promotes_a_demonstration_or_an_inspection(
    tiny_junit, monkeypatch
):
    monkeypatch.setenv(RUN_ID_ENV, RUN)
    traces = verdicts(Sources(tests=read_junit(tiny_junit.junit), run_id=RUN))
    assert traces["C-SAT-0160"].verdict == "VERIFIED"
    assert traces["C-SAT-0160"].sources == ["test_tiny::test_passes"]
    demonstration = traces["B-SUSS-1530"]
    assert demonstration.label == "NOT VERIFIED (no evidence of this run)"
    assert demonstration.note == (
        "no evidence of session container in this build (build/evidence/container.xml)"
    )
    # The passing test is shown with the requirement, and never counted.
    assert [t.test for t in demonstration.tests] == ["test_tiny::test_passes"]
    assert demonstration.sources == []
    assert traces["C-SAT-0230"].label == "NOT VERIFIED (inspection pending)"
    # The catalogue itself refuses evidence that does not fit the method.
    for method, evidence in (
        ("demonstration", "tests"),
        ("inspection", "tests"),
        ("inspection", "{session: docs}"),
        ("analysis", "tests"),
    ):
        text = CATALOGUE.replace(
            "method: inspection, evidence: inspection",
            f"method: {method}, evidence: {evidence}",
        )
        with pytest.raises(ValueError, match=f"C-SAT-0230: method {method} cannot"):
            read_catalogue(text)
    with pytest.raises(
        ValueError, match="C-SAT-0230: method inspection needs evidence"
    ):
        read_catalogue(CATALOGUE.replace(", evidence: inspection", ""))
    # A test requirement without evidence rests on its tests, and on nothing else.
    plain = read_catalogue(CATALOGUE.replace(",\n     evidence: tests}", "}", 1))
    assert plain.evidence["C-SAT-0160"].kind == "tests"


def test_the_real_catalogue_names_the_evidence_of_each_requirement():
    catalogue = load_catalogue()
    kinds = {rid: e.kind for rid, e in catalogue.evidence.items()}
    # The artifacts are verified by their sessions, never by tests of their files.
    assert catalogue.evidence["C-SAT-0100"].sources == ("conda",)
    assert catalogue.evidence["C-SAT-0110"].sources == ("container",)
    assert catalogue.evidence["C-SAT-0130"].sources == ("docs",)
    assert catalogue.evidence["C-SAT-0010"].sources == (
        "python-3.11",
        "python-3.12",
        "python-3.13",
    )
    deploy = catalogue.evidence["B-SUSS-1530"]
    assert (deploy.kind, deploy.sources, deploy.figure, deploy.limit) == (
        "session",
        ("container",),
        "deploy_s",
        3600.0,
    )
    for rid, entry in catalogue.requirements.items():
        if entry["method"] in ("demonstration", "inspection"):
            assert kinds[rid] != "tests", rid


def test_artifact_evidence_counts_only_when_it_is_of_this_run(tmp_path):
    evidence = tmp_path / "evidence"
    checks = [
        Check("build", True, ("C-SAT-0100",), seconds=1.5),
        Check("doctor_in_prefix", True, ("C-SAT-0100", "C-SAT-0020")),
    ]
    os.environ[RUN_ID_ENV] = RUN
    try:
        write_junit(evidence / "conda.xml", "conda", checks, root=REPO)
    finally:
        del os.environ[RUN_ID_ENV]
    sessions = read_evidence(evidence)
    assert sessions["conda"].run_id == RUN and len(sessions["conda"].commit) == 40
    traces = verdicts(Sources(sessions=sessions, run_id=RUN))
    assert traces["C-SAT-0100"].verdict == "VERIFIED"
    assert traces["C-SAT-0100"].sources == [
        "conda::build passed",
        "conda::doctor_in_prefix passed",
    ]
    assert traces["C-SAT-0100"].figure == "2 check(s) passed"
    # Evidence of an earlier run is stale.
    stale = verdicts(Sources(sessions=sessions, run_id="a-later-run"))["C-SAT-0100"]
    assert stale.label == "NOT VERIFIED (no evidence of this run)"
    assert stale.note == (
        f"evidence of session conda is from run {RUN}, not this run a-later-run"
    )
    # Outside nox there is no run for any evidence to belong to.
    outside = verdicts(Sources(sessions=sessions, run_id=""))["C-SAT-0100"]
    assert outside.note == "no run id (CTAO_SAT_RUN_ID): run it through nox"
    # A session that checked nothing of the requirement does not verify it.
    (evidence / "conda.xml").unlink()
    os.environ[RUN_ID_ENV] = RUN
    try:
        write_junit(
            evidence / "conda.xml", "conda", [Check("x", True, ("C-SAT-0160",))]
        )
    finally:
        del os.environ[RUN_ID_ENV]
    none = verdicts(Sources(sessions=read_evidence(evidence), run_id=RUN))
    assert none["C-SAT-0100"].note == "session conda recorded no check of C-SAT-0100"
    # A file that is not the session's evidence is named, never dropped.
    (evidence / "conda.xml").write_text(
        "<testsuites><testsuite name='docs'/></testsuites>"
    )
    broken = verdicts(Sources(sessions=read_evidence(evidence), run_id=RUN))
    assert "holds the suite 'docs'" in broken["C-SAT-0100"].note
    (evidence / "conda.xml").write_text("not xml")
    assert (
        "unreadable"
        in verdicts(Sources(sessions=read_evidence(evidence), run_id=RUN))[
            "C-SAT-0100"
        ].note
    )


def test_a_failing_artifact_check_fails_every_requirement_it_traces_to(tmp_path):
    os.environ[RUN_ID_ENV] = RUN
    try:
        write_junit(
            tmp_path / "conda.xml",
            "conda",
            [
                Check("build", True, ("C-SAT-0100",)),
                Check(
                    "doctor_in_prefix",
                    False,
                    ("C-SAT-0100", "C-SAT-0160"),
                    message="no",
                ),
                Check("typo", True, ("C-SAT-9999",)),
                Check(
                    "usecase_joint_crab",
                    False,
                    usecases=("SUSS-UC-SAT-040",),
                    message="joint-crab did not validate",
                ),
            ],
        )
    finally:
        del os.environ[RUN_ID_ENV]
    sources = Sources(sessions=read_evidence(tmp_path), run_id=RUN)
    traces = verdicts(sources)
    assert traces["C-SAT-0100"].verdict == "FAIL"
    assert traces["C-SAT-0100"].note == "conda check doctor_in_prefix: no"
    # Contrary evidence counts whatever the method: C-SAT-0160 rests on tests.
    assert traces["C-SAT-0160"].verdict == "FAIL"
    # And for use cases: an artifact's failed run of joint-crab fails it.
    assert traces["SUSS-UC-SAT-040"].note == (
        "conda check usecase_joint_crab: joint-crab did not validate"
    )
    unknown = unknown_traced_ids(read_catalogue(CATALOGUE), sources)
    assert unknown == ["conda::typo: C-SAT-9999"]


def _deploy(build, seconds=None, passed=True):
    figures = {} if seconds is None else {"deploy_s": seconds}
    check = Check(
        "deploy_released_archive_on_fresh_store",
        passed,
        ("B-SUSS-1530",),
        message="" if passed else "doctor failed in the deployed image",
        figures=figures,
    )
    write_junit(build / "evidence" / "container.xml", "container", [check])


def test_a_demonstration_over_its_limit_fails_and_the_release_refuses(
    tmp_path, verify_report, monkeypatch
):
    monkeypatch.setenv(RUN_ID_ENV, RUN)
    build = release_build(tmp_path, verify_report)
    catalogue = read_catalogue(CATALOGUE)

    def deploy(seconds=None, passed=True):
        _deploy(build, seconds, passed)
        sources = Sources(sessions=read_evidence(build / "evidence"), run_id=RUN)
        return verdicts(sources, catalogue)["B-SUSS-1530"]

    within = deploy(3599.0)
    assert (within.verdict, within.figure) == ("VERIFIED", "deploy_s = 3599 <= 3600")
    over = deploy(3700.0)
    assert (over.verdict, over.note) == (
        "FAIL",
        "deploy_s = 3700 > 3600: over its limit",
    )
    assert deploy(None).label == "NOT VERIFIED (no deploy_s figure)"
    assert deploy(100.0, passed=False).verdict == "FAIL"
    deploy(3700.0)
    with pytest.raises(SatError) as error:
        make_release(REPO, build, [], today=RELEASE_DAY, catalogue=catalogue)
    message = str(error.value)
    assert message.startswith("no release: ")
    assert (
        "B-SUSS-1530 (demonstration, session container (deploy_s <= 3600)): FAIL: "
        "deploy_s = 3700 > 3600: over its limit"
    ) in message
    assert not (build / "release").exists()
    # The report says why, with the figure, at the release stage.
    report = read_report(build / "report" / "report.json")
    assert (report.stage, report.verdict) == ("release", "FAIL")
    row = next(t for t in report.traceability if t.id == "B-SUSS-1530")
    assert (row.figure, row.label) == ("deploy_s = 3700 > 3600", "FAIL")
    assert (
        "deploy_released_archive_on_fresh_store"
        in (build / "report" / "index.html").read_text()
    )


def test_the_release_judges_the_requirements_gate_again_with_late_evidence(
    tmp_path, verify_report, monkeypatch
):
    """Evidence that arrives after verify (the docs session) updates the gate too.

    Before, the release document showed the requirement VERIFIED in its table
    and, from verify's gate, "awaiting evidence ... the release refuses it".
    """
    from satdev.gates import requirements_gate
    from satdev.release import fold_evidence
    from satdev.report import GateRow

    monkeypatch.setenv(RUN_ID_ENV, RUN)
    build = release_build(tmp_path, verify_report)
    catalogue = read_catalogue(CATALOGUE)
    report = read_report(build / "report" / "report.json")
    # verify's gate, judged before the container session wrote its evidence.
    awaiting = requirements_gate(list(verdicts(Sources(run_id=RUN)).values()), [])
    assert any(w.startswith("B-SUSS-1530: NOT VERIFIED") for w in awaiting.warnings)
    report.gates = [g for g in report.gates if g.name != awaiting.name]
    report.gates.append(GateRow(**awaiting.as_dict()))
    _deploy(build, 100.0)
    folded, _, _ = fold_evidence(build, report, catalogue)
    (gate,) = [g for g in folded.gates if g.name == "requirements"]
    assert not any("B-SUSS-1530" in w for w in gate.warnings), gate.warnings
    # Still awaiting: the conda session and the inspection record.
    assert "3 awaiting" in awaiting.figure and "2 awaiting" in gate.figure
    row = next(t for t in folded.traceability if t.id == "B-SUSS-1530")
    assert row.label == "VERIFIED"


def test_an_inspection_needs_a_record_for_this_version(
    tmp_path, verify_report, monkeypatch
):
    monkeypatch.setenv(RUN_ID_ENV, RUN)
    build = release_build(tmp_path, verify_report)
    _deploy(build, 1200.0)
    write_junit(
        build / "evidence" / "conda.xml", "conda", [Check("x", True, ("C-SAT-0100",))]
    )
    catalogue = read_catalogue(CATALOGUE)
    records = tmp_path / "inspections"
    records.mkdir()
    with pytest.raises(SatError) as error:
        make_release(
            REPO,
            build,
            [],
            today=RELEASE_DAY,
            catalogue=catalogue,
            inspections=records,
        )
    assert (
        "C-SAT-0230 (inspection, recorded inspection): "
        "NOT VERIFIED (inspection pending): no inspection recorded for "
        f"{__version__}: record it in satdev/inspections/C-SAT-0230.yaml"
    ) in str(error.value)
    # Only C-SAT-0230 blocks it: the deploy and the conda session are verified.
    assert str(error.value).count("\n  ") == 1

    def record(version, result="PASS", by="Jane Doe <jane@example.org>"):
        (records / "C-SAT-0230.yaml").write_text(
            f"requirement: C-SAT-0230\nversion: {version}\n"
            "inspected: the licences in build/release/sbom.cdx.json\n"
            f"by: {by}\ndate: 2026-12-05\nresult: {result}\nnotes: GPL in a test tool\n"
        )
        sources = Sources(inspections=read_inspections(records), version=__version__)
        return verdicts(sources, catalogue)["C-SAT-0230"]

    old = record("2026.1.0")
    assert old.label == "NOT VERIFIED (inspection pending)"
    assert "(the record is for 2026.1.0)" in old.note
    done = record(__version__)
    assert done.verdict == "VERIFIED"
    assert done.sources == [
        "inspected by Jane Doe <jane@example.org> on 2026-12-05: "
        "the licences in build/release/sbom.cdx.json"
    ]
    failed = record(__version__, "FAIL")
    assert (failed.verdict, failed.note) == (
        "FAIL",
        "the inspection failed: GPL in a test tool",
    )
    with pytest.raises(
        ValueError, match=r"C-SAT-0230\.yaml: inspection record without by"
    ):
        record(__version__, by="")


@pytest.mark.verifies_requirement("C-SAT-0100")
def test_a_conda_environment_missing_a_pin_fails_and_the_release_refuses(
    tmp_path, verify_report, monkeypatch
):
    """The conda session's doctor step, for real, in an environment without naima."""
    uv = shutil.which("uv")
    assert uv, "uv is a test dependency (pyproject [test] extra)"
    prefix = tmp_path / "env"
    subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(prefix)], check=True)
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    install = [uv, "pip", "install", "-q", "-p", str(prefix / "bin" / "python")]
    pins = [p.requirement for p in stack.load_pins() if p.name != "naima"]
    subprocess.run([*install, *pins], check=True, env=env)
    subprocess.run([*install, "--no-deps", str(REPO)], check=True, env=env)
    recorder = conda_build.Recorder()
    with pytest.raises(CondaError, match="ctao-sat doctor` exited 1"):
        conda_build.check_doctor(recorder, prefix)
    (check,) = recorder.checks
    assert (check.name, check.passed) == ("doctor_in_prefix", False)
    assert "FAIL  naima" in check.message and "expected 0.10.4" in check.message
    monkeypatch.setenv(RUN_ID_ENV, RUN)
    build = release_build(tmp_path, verify_report)
    write_junit(build / "evidence" / "conda.xml", "conda", recorder.checks, root=REPO)
    sources = Sources(sessions=read_evidence(build / "evidence"), run_id=RUN)
    traces = trace(load_catalogue(), sources)
    (conda,) = [t for t in traces if t.id == "C-SAT-0100"]
    assert conda.verdict == "FAIL" and "FAIL  naima" in conda.note
    # doctor is evidence against C-SAT-0020 too: contrary evidence always counts.
    assert next(t for t in traces if t.id == "C-SAT-0020").verdict == "FAIL"
    assert any(line.startswith("C-SAT-0100 ") for line in unreleasable(traces))
    _deploy(build, 1200.0)
    with pytest.raises(SatError, match=r"C-SAT-0100 \(test, session conda\): FAIL"):
        make_release(
            REPO, build, [], today=RELEASE_DAY, catalogue=read_catalogue(CATALOGUE)
        )


@pytest.mark.verifies_requirement("C-SAT-0010")
def test_an_interpreter_that_cannot_install_fails_c_sat_0010(tmp_path, monkeypatch):
    """The interpreter matrix's own code, on a CPython this machine does not have."""
    from satdev import matrix

    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "never")  # as the noxfile sets it
    assert matrix.main(["3.99", "--build", str(tmp_path)]) == 1
    (check,) = read_junit(tmp_path / "evidence" / "python-3.99.xml")
    assert (check.test, check.outcome) == ("python-3.99::install_from_pins", "failed")
    assert check.requirements == ("C-SAT-0010",)
    assert check.message.startswith("uv venv exited 2: ")
    monkeypatch.setenv(RUN_ID_ENV, RUN)
    sessions = read_evidence(tmp_path / "evidence")
    sessions["python-3.99"].run_id = RUN  # as if written under this run
    catalogue = read_catalogue(
        CATALOGUE.replace(
            "usecases:",
            "  - {id: C-SAT-0010, level: C, text: CPython., source: t, method: test,\n"
            "     evidence: {session: [python-3.12, python-3.99]}}\nusecases:",
        )
    )
    traces = {t.id: t for t in trace(catalogue, Sources(sessions=sessions, run_id=RUN))}
    assert traces["C-SAT-0010"].verdict == "FAIL"
    assert "python-3.99 check install_from_pins: uv venv exited 2" in (
        traces["C-SAT-0010"].note
    )
