"""The quality gates on real outputs: pytest runs of tiny suites, ruff, a real fit.

Each tiny suite is a real pytest run (JUnit XML and coverage.xml written by
pytest and pytest-cov, exactly as `nox -s verify` runs the real suite); the gates
must fail with the gate's name, its figure and its threshold.
"""

import json
import textwrap
from pathlib import Path

import pytest

from sat.errors import ValidationFailed
from sat.stack import load_pins
from sat.usecases.runner import run_usecase
from satdev import gates as G
from satdev.catalogue import load_catalogue
from satdev.junit import read_junit, summarise
from satdev.traceability import Sources, trace, unknown_traced_ids, write_csv
from satdev.verify import run_lint, run_tests

pytestmark = pytest.mark.verifies_requirement("C-SAT-0160")

# The real guard of tests/conftest.py; `satdev` lives in the repository, not in the
# environment, so the tiny project finds it there.
CONFTEST_GUARD = textwrap.dedent(
    f"""
    import sys
    sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})

    import pytest
    from satdev import unknown_ids

    def pytest_collection_modifyitems(items):
        problems = unknown_ids(items)
        if problems:
            raise pytest.UsageError(
                "tests trace to ids missing from requirements.yaml: "
                + ", ".join(problems)
            )
    """
)


def tiny_project(pytester, tests: str, covered: bool = True, guard: bool = False):
    """A project with a package named ``sat`` (as the gate measures) and tests.

    With ``guard``, the project has the real conftest guard against unknown ids
    (and no package of its own, so that the real `sat` is the one imported).
    """
    pytester.makefile(".ini", pytest="[pytest]\naddopts = -p pytest_requirements\n")
    pytester.makepyfile(test_tiny=textwrap.dedent(tests))
    if guard:
        pytester.makeconftest(CONFTEST_GUARD)
        return pytester.path
    package = pytester.path / "sat"
    package.mkdir(exist_ok=True)
    body = "def add(a, b):\n    return a + b\n"
    if not covered:
        body += "".join(
            f"\n\ndef unused_{i}(x):\n    if x:\n        return {i}\n    return -{i}\n"
            for i in range(4)
        )
    (package / "__init__.py").write_text(body)
    return pytester.path


PASSING = """
import pytest
from sat import add

pytestmark = pytest.mark.verifies_requirement("C-SAT-0160")

@pytest.mark.verifies_usecase("SUSS-UC-SAT-040")
def test_add():
    assert add(1, 2) == 3
"""

BROKEN = (
    PASSING
    + """
@pytest.mark.verifies_requirement("C-SAT-0090")
def test_add_is_broken():
    assert add(2, 2) == 5, "two and two make four"
"""
)


def test_passing_suite_passes_the_tests_and_coverage_gates(pytester, tmp_path):
    root = tiny_project(pytester, PASSING)
    inputs = run_tests(root, tmp_path / "out", echo=False)
    assert inputs.pytest_exit == 0
    results = read_junit(inputs.junit)
    assert summarise(results)["passed"] == 1
    assert results[0].requirements == ("C-SAT-0160",)
    assert results[0].usecases == ("SUSS-UC-SAT-040",)
    gate = G.tests_gate(results, inputs.pytest_exit)
    assert gate.passed, gate
    assert str(gate).startswith("PASS tests: 1 passed, 0 failed")
    gate = G.coverage_gate(inputs.coverage)
    assert gate.passed, gate
    assert gate.figure == "100.0 % of sat/"


def test_a_broken_test_fails_the_tests_gate(pytester, tmp_path):
    root = tiny_project(pytester, BROKEN)
    inputs = run_tests(root, tmp_path / "out", echo=False)
    assert inputs.pytest_exit == 1
    results = read_junit(inputs.junit)
    gate = G.tests_gate(results, inputs.pytest_exit)
    assert not gate.passed
    assert str(gate) == (
        "FAIL tests: 1 passed, 1 failed, 0 errors, 0 skipped "
        "(threshold <= 0 failed, >= 1 passed)"
    )
    assert gate.details == [
        "failed: test_tiny::test_add_is_broken: AssertionError: two and two make four"
    ]
    # The requirement the broken test traces to is FAIL in the traceability.
    traces = {t.id: t for t in trace(load_catalogue(), Sources(tests=results))}
    assert traces["C-SAT-0090"].verdict == "FAIL"
    assert "test_add_is_broken" in traces["C-SAT-0090"].note
    # The module's marker traces the broken test to C-SAT-0160 as well.
    assert traces["C-SAT-0160"].verdict == "FAIL"
    assert traces["C-SAT-0020"].label == "NOT VERIFIED (no passing test)"


def test_coverage_below_the_threshold_fails_the_coverage_gate(pytester, tmp_path):
    root = tiny_project(pytester, PASSING, covered=False)
    inputs = run_tests(root, tmp_path / "out", echo=False)
    assert inputs.pytest_exit == 0
    coverage = G.read_coverage(inputs.coverage)
    assert 0 < coverage["percent"] < 50
    gate = G.coverage_gate(inputs.coverage)
    assert not gate.passed
    threshold = G.load_thresholds()["coverage"]["min_percent"]
    assert str(gate) == (
        f"FAIL coverage: {coverage['percent']:.1f} % of sat/ "
        f"(threshold >= {threshold:g} % of sat/)"
    )
    assert gate.details[0].startswith("least covered: ")


def test_coverage_of_another_package_is_refused(pytester, tmp_path):
    root = tiny_project(pytester, PASSING)
    inputs = run_tests(root, tmp_path / "out", package="test_tiny", echo=False)
    gate = G.coverage_gate(inputs.coverage)
    assert not gate.passed
    assert "does not measure the package 'sat'" in gate.details[0]


def test_a_marker_with_an_unknown_id_stops_verify(pytester, tmp_path):
    tests = "import pytest\n" + (
        "\n@pytest.mark.verifies_requirement('C-SAT-9999')\n"
        "def test_traced_to_nothing():\n    pass\n"
    )
    root = tiny_project(pytester, tests, guard=True)
    inputs = run_tests(root, tmp_path / "out", echo=False)
    assert inputs.pytest_exit == pytest.ExitCode.USAGE_ERROR
    gate = G.tests_gate(
        read_junit(inputs.junit) if inputs.junit else None,
        inputs.pytest_exit,
        inputs.pytest_error,
    )
    assert not gate.passed
    assert gate.figure == "pytest stopped: exit 4 (usage error)"
    assert any(
        "test_traced_to_nothing" in line and "C-SAT-9999" in line
        for line in gate.details
    )


def test_an_unknown_id_in_junit_fails_the_requirements_gate(pytester, tmp_path):
    # A JUnit XML written without the project's conftest guard.
    tests = PASSING + (
        "\n@pytest.mark.verifies_usecase('SUSS-UC-SAT-999')\n"
        "def test_traced_to_nothing():\n    pass\n"
    )
    inputs = run_tests(tiny_project(pytester, tests), tmp_path / "out", echo=False)
    sources = Sources(tests=read_junit(inputs.junit))
    catalogue = load_catalogue()
    unknown = unknown_traced_ids(catalogue, sources)
    assert unknown == ["test_tiny::test_traced_to_nothing: SUSS-UC-SAT-999"]
    gate = G.requirements_gate(trace(catalogue, sources), unknown)
    assert not gate.passed
    assert (
        "unknown id in JUnit XML: test_tiny::test_traced_to_nothing: SUSS-UC-SAT-999"
        in gate.details
    )


def test_requirements_gate_needs_a_passing_test_per_test_requirement(
    pytester, tmp_path
):
    catalogue = load_catalogue()
    testable = sorted(
        rid
        for rid, entry in catalogue.requirements.items()
        if catalogue.evidence[rid].kind == "tests" and not entry.get("status")
    )
    # One real passing test per `tests` requirement, except the first one.
    tests = "import pytest\n" + "".join(
        f"\n@pytest.mark.verifies_requirement({rid!r})\ndef test_{i}():\n    pass\n"
        for i, rid in enumerate(testable[1:])
    )
    inputs = run_tests(tiny_project(pytester, tests), tmp_path / "out", echo=False)
    within = {
        "checks": [
            {"metric": "m", "value": 0.1, "limit": 0.15, "unit": "", "ok": True}
        ],
        "error": None,
    }
    sources = Sources(
        tests=read_junit(inputs.junit),
        gates={"usecases": (True, "9/9 use cases passed"), "benchmarks": (False, "x")},
        benchmarks={"datavolume:agreement": within, "scaling:survey": within},
    )
    traces = trace(catalogue, sources, registered={"joint-crab"})
    by_id = {t.id: t for t in traces}
    gate = G.requirements_gate(traces, [])
    assert not gate.passed
    # The one left out, and the analysis requirement whose evidence gate failed.
    assert [line.split(" ")[0] for line in gate.details] == sorted(
        [testable[0], "C-SAT-0140"]
    )
    assert by_id[testable[0]].label == "NOT VERIFIED (no passing test)"
    assert by_id["C-SAT-0080"].verdict == "VERIFIED"  # evidence: use cases passed
    assert by_id["C-SAT-0080"].figure == "9/9 use cases passed"
    assert by_id["C-SAT-0140"].note == "gate benchmarks failed: x"
    assert by_id["C-SAT-0200"].verdict == "VERIFIED"
    assert by_id["C-SAT-0200"].figure == "m = 0.1 (budget <= 0.15)"
    # `not yet verified` is reported as such, never failed.
    assert by_id["B-SUSS-1620"].verdict == "NOT YET VERIFIED"
    assert "B-SUSS-1620: not yet verified" in gate.warnings
    # Artifact-session requirements wait for the release, which refuses them.
    assert by_id["C-SAT-0130"].label == "NOT VERIFIED (no evidence of this run)"
    assert any(w.startswith("C-SAT-0130: NOT VERIFIED") for w in gate.warnings)
    assert by_id["SUSS-UC-SAT-020"].verdict == "NOT IMPLEMENTED"
    # The CSV has a row per (id, test) and one for each untested id.
    rows = write_csv(traces, tmp_path / "trace.csv").read_text().splitlines()
    assert rows[0] == (
        "id,kind,level,method,evidence,catalogue_status,verdict,figure,test,"
        "outcome,message"
    )
    ids = {row.split(",")[0] for row in rows[1:]}
    assert ids == set(catalogue.requirements) | set(catalogue.usecases)
    # With the missing test added and the evidence met, the gate passes.
    tests += (
        f"\n@pytest.mark.verifies_requirement({testable[0]!r})\n"
        "def test_last():\n    pass\n"
    )
    inputs = run_tests(tiny_project(pytester, tests), tmp_path / "out2", echo=False)
    sources.tests = read_junit(inputs.junit)
    sources.gates["benchmarks"] = (True, "32/32 budgets met")
    gate = G.requirements_gate(trace(catalogue, sources), [])
    assert gate.passed, gate.details


def test_lint_gate_on_real_ruff_output(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.ruff]\nline-length = 88\n[tool.ruff.lint]\nselect = ["F"]\n'
    )
    (tmp_path / "clean.py").write_text('"""Clean."""\n\nVALUE = 1\n')
    lint, unformatted = run_lint(tmp_path, tmp_path / "out")
    assert json.loads(lint.read_text()) == [] and unformatted == []
    assert G.lint_gate(lint, unformatted).passed
    (tmp_path / "dirty.py").write_text("import os\nx = {'a':1}\n")
    lint, unformatted = run_lint(tmp_path, tmp_path / "out")
    gate = G.lint_gate(lint, unformatted)
    assert not gate.passed
    assert str(gate) == (
        "FAIL lint: 1 violations, 1 unformatted files "
        "(threshold <= 0 violations, <= 0 unformatted files)"
    )
    assert gate.details == [
        "dirty.py:1: F401 `os` imported but unused",
        "would reformat: dirty.py",
    ]
    assert not G.lint_gate(None, None).passed


def test_pins_gate_on_this_environment():
    gate = G.pins_gate()
    assert gate.passed, gate.details
    closure = G.runtime_closure()
    assert closure["gammapy"] == "2.1"
    assert {pin.name for pin in load_pins()} <= set(closure)
    # Against other pins, the same environment drifts and has unpinned packages.
    pins = {pin.name: pin.version for pin in load_pins()}
    pins["numpy"] = "1.0"
    del pins["tqdm"]
    gate = G.pins_gate(pins=pins)
    assert not gate.passed
    assert gate.details == [
        f"unpinned: tqdm {closure['tqdm']}",
        f"drifting: numpy: installed {closure['numpy']}, pinned 1.0",
    ]
    assert not G.pins_gate("not-a-distribution").passed


@pytest.fixture(scope="module")
def failed_fit(tmp_path_factory):
    """A real spectrum-1d run that must fail: no PSF containment correction.

    Without it the Crab flux drops by about a third, 4 sigma from the paper.
    """
    folder = tmp_path_factory.mktemp("usecases")
    config = {
        "datasets": {"containment_correction": False},
        "spectral_models": ["power-law"],
    }
    with pytest.raises(ValidationFailed, match="validation failed for amplitude"):
        run_usecase("spectrum-1d", config, folder / "spectrum-1d", quiet=True)
    return folder


def test_usecases_gate_names_the_failed_check(failed_fit):
    from sat import __version__

    results = G.read_usecase_results(failed_fit, ["spectrum-1d", "joint-crab"])
    assert results["joint-crab"] is None
    gate = G.usecases_gate(results, __version__)
    assert not gate.passed
    assert gate.figure.startswith("0/2 use cases passed (2 validation checks)")
    amplitude = results["spectrum-1d"]["parameters"]["amplitude"]["value"]
    failed = [line for line in gate.details if "amplitude" in line]
    assert len(failed) == 1
    assert failed[0].startswith(
        f"spectrum-1d: amplitude = {amplitude:.4g}, reference 1.629e-11 ± 8.8e-13: "
    )
    assert failed[0].endswith("sigma > 2.0")
    assert gate.details[-1] == (
        "joint-crab: no result.json (it did not run, or stopped early)"
    )
    stale = G.usecases_gate({"spectrum-1d": results["spectrum-1d"]}, "2000.1.0")
    assert stale.details[0] == f"spectrum-1d: result of release {__version__}"
    assert not G.usecases_gate({}, __version__).passed
    # In the traceability, the use case of a run that did not validate is FAILED.
    traces = trace(
        load_catalogue(),
        Sources(),
        registered={"joint-crab"},
        validated={"joint-crab": False},
    )
    joint = next(t for t in traces if t.id == "SUSS-UC-SAT-040")
    assert (joint.verdict, joint.note) == (
        "FAIL",
        "its run did not validate (see the use-case gate)",
    )


def test_missing_inputs_fail_their_gates_saying_why():
    from satdev.verify import Inputs, MissingTool, _tool, evaluate

    with pytest.raises(MissingTool, match=r"no-such-tool is not installed \(x\)"):
        _tool("no-such-tool", "x")
    why = "ruff is not installed (the lint gate): pip install ruff"
    verification = evaluate(Inputs(errors={"lint": why}))
    gates = {gate.name: gate for gate in verification.gates}
    assert not verification.passed
    assert gates["tests"].details == ["no JUnit XML: the tests did not run"]
    assert gates["coverage"].details == ["no coverage.xml at None"]
    assert gates["lint"].details == [why, "no ruff output at None"]
    assert gates["benchmarks"].details == ["no benchmark record"]
    assert gates["pins"].passed
    assert [g.name for g in verification.failed] == [
        "tests",
        "coverage",
        "lint",
        "requirements",
        "usecases",
        "benchmarks",
    ]
