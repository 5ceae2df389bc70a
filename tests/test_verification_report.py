"""Benchmarks, the verification report and the release, on real runs.

One real benchmark run (CLI start-up and the joint-crab use case, as
``nox -s bench`` runs them) and one real pytest run of a tiny suite feed the
report, which must open in a browser with its plots, and the release.
"""

import csv
import dataclasses
import importlib.util
import json
import shutil
import subprocess
import sys
from datetime import date

import pytest

from sat import __version__, datavolume, validation
from sat.errors import SatError
from satdev import gates as G
from satdev.__main__ import main
from satdev.benchmarks import (
    budget_checks,
    compare,
    load_history,
    measure,
    previous_record,
)
from satdev.release import (
    ARTIFACTS,
    check_calver,
    check_sums,
    check_version,
    collect,
    make_release,
    release_document,
    release_notes,
    write_sums,
)
from satdev.report import _check_row, read_report, write_report
from satdev.sbom import sbom
from satdev.verify import evaluate, run_lint, run_tests
from tests.conftest import REPO

pytestmark = pytest.mark.verifies_requirement("C-SAT-0160")
# A day of the month the version names (CalVer): the release accepts it whatever
# the date the tests run on.
RELEASE_DAY = date(*map(int, __version__.split(".")[:2]), 15)
bench = pytest.mark.verifies_requirement("C-SAT-0140")
release = pytest.mark.verifies_requirement("C-SAT-0210")


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    """``benchmarks/run.py`` for real: start-up, joint-crab and the operations."""
    root = tmp_path_factory.mktemp("bench")
    command = [
        sys.executable,
        str(REPO / "benchmarks" / "run.py"),
        "--only",
        "joint-crab",
        "--operations",
        "--repeat",
        "1",
        "--output",
        str(root / "bench"),
        "--usecase-output",
        str(root / "usecases"),
        "--history",
        str(root / "history"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    record = root / "bench" / f"{__version__}.json"
    return root, record, json.loads(record.read_text())


@pytest.fixture(scope="module")
def tiny_tests(tmp_path_factory):
    """JUnit and coverage XML of a real pytest run (one passing traced test)."""
    root = tmp_path_factory.mktemp("tiny")
    (root / "pytest.ini").write_text("[pytest]\naddopts = -p pytest_requirements\n")
    (root / "sat").mkdir()
    (root / "sat" / "__init__.py").write_text("def one():\n    return 1\n")
    (root / "test_tiny.py").write_text(
        "import pytest\nfrom sat import one\n\n"
        "@pytest.mark.verifies_requirement('C-SAT-0160')\n"
        "@pytest.mark.verifies_usecase('SUSS-UC-SAT-040')\n"
        "def test_one():\n    assert one() == 1\n"
    )
    return run_tests(root, root / "out", echo=False)


@pytest.fixture(scope="module")
def report(bench_run, tiny_tests, tmp_path_factory):
    """The verification report of the tiny suite, ruff on the repo, the bench run."""
    root, record, _ = bench_run
    inputs = tiny_tests
    inputs.lint, inputs.unformatted = run_lint(REPO, root / "lint")
    inputs.usecases = root / "usecases"
    inputs.bench = record
    verification = evaluate(inputs)
    out = tmp_path_factory.mktemp("report") / "report"
    content = write_report(verification, out)
    return verification, content, out


@bench
def test_each_usecase_is_measured_in_its_own_process(bench_run):
    root, _, record = bench_run
    by_name = {result["name"]: result for result in record["results"]}
    assert set(by_name) == {
        "cli-startup",
        "usecase:joint-crab",
        "quicklook",
        "check",
        "datavolume:agreement",
    }
    assert record["partial"] is True
    metrics = by_name["usecase:joint-crab"]["metrics"]
    assert metrics["exit_code"] == 0
    # A Python process with Gammapy fitting ten spectra: hundreds of MiB.
    assert 100 < metrics["peak_rss_mib"] < 4096
    assert metrics["wall_time_s"] > 1
    # Its run is the use case's result, validated by the use-case gate.
    result = json.loads((root / "usecases" / "joint-crab" / "result.json").read_text())
    assert result["usecase"] == "joint-crab"
    assert G.usecases_gate({"joint-crab": result}, __version__).passed
    startup = by_name["cli-startup"]["metrics"]
    # gammapy --help imports the scientific stack; ctao-sat --help must not.
    assert startup["gammapy_help_cpu_s"] > 2 * startup["ctao_sat_help_cpu_s"] > 0
    assert startup["gammapy_help_s"] > startup["ctao_sat_help_s"] > 0
    budgets = G.load_thresholds()["benchmarks"]
    (check,) = by_name["cli-startup"]["checks"]
    assert check["metric"] == "ctao_sat_help_cpu_s"
    assert (check["value"], check["limit"]) == (
        startup["ctao_sat_help_cpu_s"],
        budgets["cli_startup_s"],
    )
    # One timed run (--repeat 1) has no interval: its budget cannot be resolved,
    # whatever the figure.
    assert by_name["cli-startup"]["samples"]["ctao_sat_help_cpu_s"] == [check["value"]]
    assert (check["verdict"], check["ok"], check["n"]) == ("NOT RESOLVABLE", False, 1)
    assert "too few samples" in check["reason"]
    assert record["comparison"] == {
        "previous": None,
        "regression_ratio": budgets["regression_ratio"],
        "rows": [],
    }


@pytest.mark.verifies_requirement("C-SAT-0190")
@pytest.mark.verifies_requirement("C-SAT-0200")
def test_operations_are_timed_per_run_and_the_volume_model_checked(bench_run):
    _, _, record = bench_run
    by_name = {result["name"]: result for result in record["results"]}
    budgets = G.load_thresholds()["benchmarks"]
    for kind in ("quicklook", "check"):
        metrics = by_name[kind]["metrics"]
        runs = metrics["runs"]
        # The 4 Crab runs of H.E.S.S. DR1 and the CTA 1DC GPS runs, one by one.
        assert [r["data"] for r in runs][:4] == ["H.E.S.S. DR1"] * 4
        assert {r["data"] for r in runs[4:]} == {"CTA 1DC"} and len(runs) > 4
        assert all(0 < r["cpu_s"] and 0 < r["wall_s"] for r in runs)
        assert metrics["max_run_cpu_s"] == max(r["cpu_s"] for r in runs)
        (budget,) = by_name[kind]["checks"]
        assert budget["limit"] == budgets[f"{kind}_run_cpu_s"]
    assert all(r["n_events"] > 1000 for r in by_name["quicklook"]["metrics"]["runs"])
    assert {r["verdict"] for r in by_name["check"]["metrics"]["runs"]} <= {
        "PASS",
        "WARN",
    }
    # The volume model on real DL3 it did not make: every run of both releases.
    volume = by_name["datavolume:agreement"]
    metrics = volume["metrics"]
    rows = metrics["runs"]
    assert metrics["runs_checked"] == {"H.E.S.S. DR1": 30, "CTA 1DC": 2}
    assert all(r["events_in_file"] > 1000 for r in rows)
    assert "offset_deg" not in rows[0] and "livetime_h" not in rows[0]
    # The record rounds to 4 (3) decimals: agree to within that rounding.
    worst_bytes = max(abs(r["events_bytes_ratio"] - 1) for r in rows)
    assert metrics["max_events_bytes_deviation"] == pytest.approx(worst_bytes, abs=5e-5)
    cta = [r for r in rows if r["release"] == "CTA 1DC"]
    worst_sigma = max(abs(r["background_sigma"]) for r in cta)
    assert metrics["max_background_sigma"] == pytest.approx(worst_sigma, abs=5e-4)
    hess = [r for r in rows if r["release"] == "H.E.S.S. DR1"]
    worst = max(max(r["events_ratio"], 1 / r["events_ratio"]) for r in hess)
    assert metrics["max_events_factor"] == pytest.approx(worst, abs=5e-4)
    # Judged with the tolerances the model's own validation uses, one check each.
    checks = {check["metric"]: check for check in volume["checks"]}
    assert {m: (c["limit"], c["op"]) for m, c in checks.items()} == {
        "max_events_bytes_deviation": (datavolume.BYTES_TOLERANCE, "<="),
        "max_background_sigma": (datavolume.POISSON_SIGMA, "<="),
        "max_events_factor": (datavolume.TEMPLATE_FACTOR, "<="),
    }
    assert [c["quantity"] for c in volume["validation"]] == [
        c["quantity"] for c in datavolume.real_run_checks(rows)
    ]
    for metric, check in checks.items():
        assert check["value"] == metrics[metric]
        # One measurement, judged on its value.
        verdict = (check["verdict"], check["ok"], check["interval"])
        assert verdict == ("PASS", True, None)


@pytest.mark.verifies_requirement("C-SAT-0200")
@pytest.mark.parametrize(
    ("release", "wrong", "failing"),
    [
        # The H.E.S.S. row width (28 bytes) taken for the 1DC format (36, 40).
        ("CTA 1DC", {"events_bytes_ratio": 36 / 28}, "max_events_bytes_deviation"),
        # ONTIME taken for LIVETIME (1800 s for 1764 s): 2 % more events predicted.
        ("CTA 1DC", {"predicted_events": 1800 / 1764}, "max_background_sigma"),
        # Real runs predicted from a background 3 times too high.
        ("H.E.S.S. DR1", {"predicted_events": 3.0}, "max_events_factor"),
        # No simulated run checked at all: its budget is not met, it fails.
        ("CTA 1DC", None, "max_background_sigma"),
    ],
)
def test_a_wrong_volume_model_fails_its_budget(bench_run, release, wrong, failing):
    _, _, record = bench_run
    (volume,) = [r for r in record["results"] if r["name"] == "datavolume:agreement"]
    rows = []
    for row in volume["metrics"]["runs"]:
        if row["release"] == release and wrong is None:
            continue  # the release left out
        row = dict(row)
        if row["release"] == release and wrong:
            if "events_bytes_ratio" in wrong:
                row["events_bytes_ratio"] *= wrong["events_bytes_ratio"]
            else:
                row["predicted_events"] *= wrong["predicted_events"]
                row["events_ratio"] = row["events"] / row["predicted_events"]
                if row["background_events"] is not None:
                    row["background_sigma"] = (
                        row["background_events"] - row["predicted_events"]
                    ) / row["predicted_events"] ** 0.5
        rows.append(row)
    result = _operations().volume_result(rows)
    checks = budget_checks(result, G.load_thresholds()["benchmarks"])
    assert [c["metric"] for c in checks if c["verdict"] == "FAIL"] == [failing]


def _operations():
    """benchmarks/operations.py (a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(
        "bench_operations", REPO / "benchmarks" / "operations.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@bench
def test_peak_memory_is_per_process():
    # RUSAGE_CHILDREN would report the first (larger) child for the second too,
    # and a child spawned from this (large) pytest process would start with its
    # memory: each figure must be the command's own.
    big = measure(
        [
            sys.executable,
            "-c",
            "b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096])",
        ]
    )
    small = measure([sys.executable, "-c", "pass"])
    assert big["peak_rss_mib"] > 300
    assert 0 < big["cpu_time_s"] <= big["wall_time_s"] * 2  # at most 2 cores busy
    assert small["peak_rss_mib"] < 100
    assert measure([sys.executable, "-c", "raise SystemExit(3)"])["exit_code"] == 3
    with pytest.raises(RuntimeError, match="could not run '/no/such/program'"):
        measure(["/no/such/program"], stderr=subprocess.DEVNULL)


@bench
def test_a_slower_release_is_flagged_against_the_previous_one(bench_run, tmp_path):
    _, _, record = bench_run
    history = tmp_path / "history"
    history.mkdir()
    # The previous release, twice as fast on every metric; and an older one.
    for version, scale in (("2026.9.0", 0.1), ("2026.10.0", 0.5)):
        older = json.loads(json.dumps(record))
        older["release"] = version
        for result in older["results"]:
            result["metrics"] = {
                k: v * scale if isinstance(v, float) else v
                for k, v in result["metrics"].items()
            }
        (history / f"{version}.json").write_text(json.dumps(older))
    (history / "notes.json").write_text("{}")  # not a release: ignored
    previous = previous_record(load_history(history), __version__)
    assert previous["release"] == "2026.10.0"
    comparison = compare(record, previous, regression_ratio=1.25)
    assert comparison["previous"] == "2026.10.0"
    rows = {(r["benchmark"], r["metric"]): r for r in comparison["rows"]}
    row = rows[("usecase:joint-crab", "wall_time_s")]
    assert row["ratio"] == pytest.approx(2.0, rel=1e-3)
    assert row["regression"]
    assert not compare(record, record, 1.25)["rows"][0]["regression"]
    assert previous_record(load_history(history), "2026.9.0") is None
    # A regression is a warning of the benchmarks gate, never silent.
    flagged = {**record, "comparison": comparison}
    gate = G.benchmarks_gate(flagged, ["joint-crab"])
    assert any(
        "regression vs 2026.10.0: usecase:joint-crab wall_time_s x2.0" in w
        for w in gate.warnings
    )


def test_jupyter_image_figures_have_their_budgets():
    # docker/jupyter.py's result: the goals, read from gates.yaml.
    thresholds = G.load_thresholds()["benchmarks"]
    assert thresholds["jupyter_added_mb"] == 150
    assert thresholds["jupyter_lab_ready_s"] == 10
    result = {
        "name": "container:jupyter",
        "kind": "jupyter",
        "metrics": {"jupyter_added_mb": 228.0, "lab_ready_s": 9.5},
    }
    checks = {c["metric"]: c for c in budget_checks(result, thresholds)}
    assert not checks["jupyter_added_mb"]["ok"] and checks["lab_ready_s"]["ok"]
    result["metrics"]["lab_ready_s"] = None  # not measured is not within budget
    assert not budget_checks(result, thresholds)[1]["ok"]


@bench
def test_benchmarks_gate_fails_over_budget_or_unmeasured(bench_run):
    _, _, record = bench_run
    result = next(r for r in record["results"] if r["kind"] == "usecase")
    thresholds = {
        **G.load_thresholds()["benchmarks"],
        "usecase_wall_time_s": {"default": 1000, "joint-crab": 0.5},
    }
    checks = {c["metric"]: c for c in budget_checks(result, thresholds)}
    assert not checks["wall_time_s"]["ok"]
    assert checks["wall_time_s"]["limit"] == 0.5
    assert checks["peak_rss_mib"]["ok"]
    with pytest.raises(ValueError, match="unknown kind"):
        budget_checks({"name": "x", "kind": "other", "metrics": {}}, thresholds)
    gate = G.benchmarks_gate(record, ["joint-crab", "spectrum-1d"])
    assert not gate.passed
    assert "usecase:spectrum-1d: not measured" in gate.details
    assert "overhead:spectrum-1d: not measured" in gate.details
    without = {
        **record,
        "results": [r for r in record["results"] if r["kind"] != "check"],
    }
    assert "check: not measured" in G.benchmarks_gate(without, []).details
    assert not G.benchmarks_gate(None, []).passed


def test_report_holds_gates_traceability_validation_benchmarks(report):
    verification, content, out = report
    assert content.verdict == "FAIL"  # a tiny suite cannot verify the release
    by_gate = {g.name: g for g in content.gates}
    assert list(by_gate) == list(G.GATES)
    assert by_gate["tests"].passed and by_gate["tests"].figure.startswith("1 passed")
    assert by_gate["pins"].passed
    # The report's gates are the verification's, with figures and thresholds.
    for gate in verification.gates:
        assert by_gate[gate.name].figure == gate.figure
        assert by_gate[gate.name].threshold == gate.threshold
    joint = content.usecases["joint-crab"]
    assert joint.ran and len(joint.checks) == 18
    assert all(check.verdict == "PASS" for check in joint.checks)
    assert joint.plots == ["plots/usecases/joint-crab/sed.png"]
    # Every row says what its verdict rests on.
    rows = {t.id: t for t in content.traceability}
    assert rows["C-SAT-0160"].evidence == "tests traced to it"
    assert rows["C-SAT-0160"].sources == ["test_tiny::test_one"]
    assert rows["C-SAT-0080"].evidence == "gate usecases"
    assert rows["C-SAT-0200"].evidence == "benchmark datavolume:agreement"
    assert rows["C-SAT-0200"].verdict == "VERIFIED", rows["C-SAT-0200"].note
    assert rows["C-SAT-0200"].figure.startswith("max_events_bytes_deviation = ")
    assert rows["B-SUSS-1530"].evidence == "session container (deploy_s <= 3600)"
    assert rows["SUSS-UC-SAT-040"].verdict == "VERIFIED"  # its run validated
    # Every AIV input is there and is what the tools wrote.
    for name in ("junit.xml", "coverage.xml", "lint.json", "traceability.csv"):
        assert (out / "aiv" / name).is_file(), name
    assert G.read_coverage(out / "aiv" / "coverage.xml")["percent"] == 100.0
    rows = list(csv.DictReader((out / "aiv" / "traceability.csv").open()))
    traced = [r for r in rows if r["test"]]
    assert {(r["id"], r["test"], r["outcome"]) for r in traced} == {
        ("C-SAT-0160", "test_tiny::test_one", "passed"),
        ("SUSS-UC-SAT-040", "test_tiny::test_one", "passed"),
    }
    assert {r["id"] for r in rows} == {t.id for t in content.traceability}
    # report.json is the model: it reads back to the same content.
    assert read_report(out / "report.json") == content
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["gates"] == [g.model_dump() for g in content.gates]
    markdown = (out / "report.md").read_text()
    assert "| coverage | PASS | 100.0 % of sat/ |" in markdown
    assert "## Use-case validation" in markdown and "### joint-crab" in markdown
    assert (
        "| C-SAT-0130 | test | session docs |  | "
        "NOT VERIFIED (no evidence of this run) |"
    ) in markdown
    environment = content.environment
    assert environment["release"] == __version__
    assert {p["name"]: p["installed"] for p in environment["pins"]}["gammapy"] == "2.1"


def _referenced_images(html: str) -> list[str]:
    import re

    return re.findall(r'<img src="([^"]+)"', html)


def test_report_html_opens_in_a_browser_with_its_plots(report, tmp_path):
    _, _, out = report
    html = (out / "index.html").read_text()
    images = _referenced_images(html)
    assert "plots/usecases/joint-crab/sed.png" in images
    assert "plots/bench-usecases.png" in images and "plots/bench-startup.png" in images
    assert "plots/bench-operations.png" in images
    for image in images:
        data = (out / image).read_bytes()
        assert data.startswith(b"\x89PNG"), image
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is missing: apt-get install chromium (nox -s tests does)"
    shot = tmp_path / "report.png"
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--hide-scrollbars",
            "--window-size=1280,4000",
            f"--screenshot={shot}",
            (out / "index.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1280, 4000)
        pixels = image.convert("L")
        histogram = pixels.histogram()
    # Not blank: many dark pixels (text, tables) and several grey levels (plots).
    assert sum(histogram[:128]) > 5000
    assert sum(1 for count in histogram if count > 50) > 20
    shutil.copyfile(shot, out.parent / "screenshot.png")


def test_verify_command_fails_naming_each_gate(bench_run, tiny_tests, tmp_path, capsys):
    root, record, _ = bench_run
    build = tmp_path / "build"
    (build / "test-reports").mkdir(parents=True)
    shutil.copyfile(tiny_tests.junit, build / "test-reports" / "junit-tests.xml")
    shutil.copyfile(tiny_tests.coverage, build / "coverage.xml")
    (build / "bench").mkdir()
    shutil.copyfile(record, build / "bench" / record.name)
    shutil.copytree(root / "usecases", build / "usecases")
    arguments = ["--root", str(REPO), "--build", str(build), "verify"]
    code = main([*arguments, "--reuse-tests", "--reuse-bench"])
    captured = capsys.readouterr()
    assert code == 1
    assert "PASS tests: 1 passed, 0 failed, 0 errors, 0 skipped" in captured.out
    assert "FAIL requirements: " in captured.out
    assert captured.err.startswith("Error: ")
    assert "gate(s) failed: " in captured.err and "requirements: " in captured.err
    assert (build / "report" / "index.html").is_file()
    shutil.rmtree(build / "bench")
    assert main([*arguments, "--reuse-tests", "--reuse-bench"]) == 1
    assert f"bench/{__version__}.json is missing: run nox -s bench first" in (
        capsys.readouterr().err.replace(str(build) + "/", "")
    )


@release
def test_sbom_is_valid_cyclonedx_with_licences():
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    document = sbom()
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(document))
    assert errors is None, errors
    assert document["metadata"]["component"]["name"] == "ctao-sat"
    assert document["metadata"]["component"]["version"] == __version__
    components = {c["name"]: c for c in document["components"]}
    from sat.stack import load_pins

    for pin in load_pins():
        assert components[pin.name]["version"] == pin.version
        assert components[pin.name]["purl"] == f"pkg:pypi/{pin.name}@{pin.version}"
    assert "pytest" not in components  # test tools are not released
    assert components["gammapy"]["licenses"] == [{"expression": "BSD-3-Clause"}]
    unlicensed = [name for name, c in components.items() if not c.get("licenses")]
    assert unlicensed == []
    graph = {d["ref"]: d["dependsOn"] for d in document["dependencies"]}
    assert "pkg:pypi/regions@0.11" in graph["pkg:pypi/gammapy@2.1"]


@release
def test_checksums_verify_and_catch_tampering(tmp_path):
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "a.whl").write_bytes(b"wheel")
    (tmp_path / "notes.md").write_text("notes")
    write_sums(tmp_path)
    assert check_sums(tmp_path) == []
    done = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0 and "dist/a.whl: OK" in done.stdout
    (tmp_path / "notes.md").write_text("changed")
    (tmp_path / "extra.txt").write_text("x")
    (tmp_path / "dist" / "a.whl").unlink()
    assert sorted(check_sums(tmp_path)) == [
        "dist/a.whl: missing",
        "extra.txt: not in SHA256SUMS",
        "notes.md: checksum differs",
    ]


@release
def test_release_notes_and_calver():
    notes = release_notes(REPO, __version__)
    assert notes.startswith(f"## ctao-sat {__version__} (")
    assert "(#7)" in notes
    check_version(__version__)
    for bad in ("1.0", "2026.13.0", "2026.11", "26.11.0"):
        with pytest.raises(SatError, match="not CalVer"):
            check_version(bad)
    # The version names the month it is released in; another month is refused
    # naming the fix.
    check_calver("2026.12.0", date(2026, 12, 31))
    with pytest.raises(SatError) as error:
        check_calver("2026.11.0", date(2026, 12, 5))
    assert str(error.value) == (
        "release version 2026.11.0 is not of this month (2026-12): set "
        '[release] version = "2026.12.0" in sat/pins.toml and run nox -s pins'
    )
    with pytest.raises(SatError, match=r'version = "2027\.1\.0"'):
        check_calver("2026.12.3", date(2027, 1, 2))


@release
def test_release_refuses_a_failed_gate_or_missing_artifacts(report, tmp_path):
    _, content, out = report
    build = tmp_path / "build"
    shutil.copytree(out, build / "report")
    with pytest.raises(SatError, match=r"no release: gate\(s\) failed: ") as error:
        make_release(REPO, build, [], today=RELEASE_DAY)
    failed = [g for g in content.gates if not g.passed]
    for gate in failed:
        assert f"{gate.name} {gate.figure} (threshold {gate.threshold})" in str(
            error.value
        )
    with pytest.raises(SatError, match="no verification report"):
        make_release(REPO, tmp_path / "nothing", [], today=RELEASE_DAY)
    with pytest.raises(
        SatError, match=r"no conda packages under .*: the conda session built nothing"
    ):
        collect(build, tmp_path / "release", ["conda"])
    assert {a.session for a in ARTIFACTS} == {"conda", "container", "chart", "docs"}


# A catalogue small enough for a tiny suite to verify: one requirement by tests,
# one by an artifact session, one not claimed yet, one use case.
SMALL_CATALOGUE = """
requirements:
  - {id: C-SAT-0160, level: C, text: Traced., source: t, method: test,
     evidence: tests}
  - {id: C-SAT-0130, level: C, text: Docs., source: t, method: test,
     evidence: {session: docs}}
  - {id: B-SUSS-1620, level: B, text: Event classes., source: t, method: test,
     evidence: tests, status: not yet verified}
usecases:
  - {id: SUSS-UC-SAT-040, name: joint-crab, text: Joint fit.}
"""


@release
@pytest.mark.verifies_requirement("C-SAT-0322")
def test_release_from_a_clean_clone_says_clean_and_writes_nothing_there(
    report, bench_run, tmp_path, monkeypatch
):
    from satdev.catalogue import read_catalogue
    from satdev.evidence import RUN_ID_ENV, Check, write_junit
    from satdev.provenance import write_stamp

    verification, _, _ = report
    _, record, _ = bench_run
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    monkeypatch.setenv(RUN_ID_ENV, "run-under-test")
    build = tmp_path / "build"
    write_stamp(clone, build)  # what the provenance session does first
    # The release of a build whose gates passed (here: the gates that passed).
    passed = [gate for gate in verification.gates if gate.passed]
    verification = dataclasses.replace(verification, gates=passed)
    write_report(verification, build / "report")
    (build / "bench").mkdir()
    shutil.copyfile(record, build / "bench" / record.name)
    (build / "docs" / "html").mkdir(parents=True)
    (build / "docs" / "html" / "index.html").write_text("<html>docs</html>")
    write_junit(
        build / "evidence" / "docs.xml",
        "docs",
        [Check("sphinx_build", True, ("C-SAT-0130",), figures={"warnings": 0})],
        root=clone,
    )
    monkeypatch.setenv("UV_OFFLINE", "1")  # the build backend is in uv's cache
    out = make_release(
        clone,
        build,
        ["docs"],
        today=RELEASE_DAY,
        catalogue=read_catalogue(SMALL_CATALOGUE),
    )
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert f"dist/ctao_sat-{__version__}-py3-none-any.whl" in names
    assert f"dist/ctao_sat-{__version__}.tar.gz" in names
    assert f"docs/ctao-sat-docs-{__version__}.tar.gz" in names
    assert {"SHA256SUMS", "sbom.cdx.json", "RELEASE.md", "RELEASE_NOTES.md"} <= names
    assert f"bench/{__version__}.json" in names
    assert "verification/index.html" in names and "verification/aiv/junit.xml" in names
    assert "verification/aiv/evidence/docs.xml" in names
    # The AIV report in CTAO's form, at the top for the review (tests/test_aiv.py).
    assert f"ctao-sat-{__version__}-aiv-report.pdf" in names
    assert "verification/aiv/SUSS_Requirements_Traceability_Matrix.csv" in names
    assert check_sums(out) == []
    listed = (out / "SHA256SUMS").read_text().splitlines()
    assert len(listed) == len(names) - 1
    done = subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=out)
    assert done.returncode == 0
    commit = subprocess.run(
        ["git", "-C", str(clone), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    document = (out / "RELEASE.md").read_text()
    assert document.startswith(f"# ctao-sat {__version__}")
    assert f"from commit `{commit}` (clean tree, stamped " in document
    assert "The run left the tree as it found it." in document
    assert "## Verification: PASS" in document
    assert "| C-SAT-0130 | test | session docs | 1 check(s) passed | VERIFIED |" in (
        document
    )
    assert "B-SUSS-1620 (requirement, test): NOT YET VERIFIED" in document
    assert "| docs | `docs/ctao-sat-docs-" in document
    assert f"| aiv | `ctao-sat-{__version__}-aiv-report.pdf` |" in document
    # A partial benchmark record (--only) is no baseline, and says so.
    assert "a partial record (not every benchmark ran), not a baseline" in document
    final = read_report(out / "verification" / "report.json")
    # A complete one stays in build/: the maintainer is told to commit it.
    complete = tmp_path / "bench" / record.name
    complete.parent.mkdir()
    complete.write_text(
        json.dumps({**json.loads(record.read_text()), "partial": False})
    )
    text = release_document(final, {}, tmp_path, "notes", complete)
    assert f"`cp build/release/bench/{__version__}.json benchmarks/history/`" in text
    assert (final.stage, final.verdict, final.blocking) == ("release", "PASS", [])
    assert final.provenance.clean and final.provenance.commit == commit
    # The release wrote nothing into the tree it was made from.
    status = subprocess.run(
        ["git", "-C", str(clone), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True,
        text=True,
    )
    assert status.stdout == ""
    # The wheel is the runtime package: the release tooling stays out of it.
    import zipfile

    with zipfile.ZipFile(
        out / "dist" / f"ctao_sat-{__version__}-py3-none-any.whl"
    ) as wheel:
        files = set(wheel.namelist())
    assert "sat/pins.toml" in files
    # Only `sat`: no satdev, nor docker/, recipe/ or benchmarks/ (release tooling).
    assert {name.split("/")[0] for name in files} == {
        "sat",
        f"ctao_sat-{__version__}.dist-info",
    }
    # The notebooks ship with the wheel (built from the sdist): ctao-sat notebooks
    # works outside the image.
    from sat import notebooks

    assert {f"sat/notebooks/{name}" for name in notebooks.shipped()} <= files


@release
def test_a_modified_tree_is_named_in_the_stamp(tmp_path):
    from satdev.provenance import stamp

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    assert stamp(clone)["clean"]
    (clone / "README.md").write_text("changed\n")
    (clone / "sat" / "stray.py").write_text("")
    found = stamp(clone)
    assert not found["clean"]
    assert found["dirty"] == [" M README.md", "?? sat/stray.py"]
    assert stamp(tmp_path / "nowhere")["dirty"][0].startswith("not a git clone")


@release
def test_collect_places_each_sessions_files(tmp_path):
    # The layout the conda and container sessions write (recipe/, docker/).
    build = tmp_path / "build"
    channel = build / "conda" / "noarch"
    channel.mkdir(parents=True)
    (channel / f"ctao-sat-{__version__}-py_0.conda").write_bytes(b"package")
    (channel / "repodata.json").write_text("{}")
    (build / "conda" / f"ctao-sat-{__version__}.lock").write_text("lock")
    (build / "conda" / "bld" / "work").mkdir(parents=True)  # build folders stay out
    (build / "conda" / "bld" / "work" / "x.conda").write_bytes(b"work")
    (build / "container").mkdir()
    image = build / "container" / f"ctao-sat-{__version__}.oci.tar"
    image.write_bytes(b"image")
    (build / "container" / "deploy.json").write_text("{}")
    jupyter = build / "container" / f"ctao-sat-{__version__}-jupyter.oci.tar"
    jupyter.write_bytes(b"jupyter image")
    (build / "container" / "jupyter.json").write_text("{}")
    (build / "container" / "rootfs").mkdir()  # work folders stay out
    out = tmp_path / "release"
    found = collect(build, out, ["conda", "container"])
    assert {
        k: sorted(p.relative_to(out).as_posix() for p in v) for k, v in found.items()
    } == {
        "conda": [
            f"conda/ctao-sat-{__version__}.lock",
            f"conda/noarch/ctao-sat-{__version__}-py_0.conda",
            "conda/noarch/repodata.json",
        ],
        "container": [
            f"container/ctao-sat-{__version__}-jupyter.oci.tar",
            f"container/ctao-sat-{__version__}.oci.tar",
            "container/deploy.json",
            "container/jupyter.json",
        ],
    }
    # Without the Jupyter image's archive there is no release.
    jupyter.unlink()
    with pytest.raises(SatError, match="no Jupyter container image"):
        collect(build, tmp_path / "again", ["container"])
    # Multi-GB images are hard links, not copies.
    assert (out / "container" / image.name).stat().st_ino == image.stat().st_ino


def test_a_check_of_a_run_with_one_fit_is_a_report_row():
    # The gates read typed results: a single fit's Check has fit None (the
    # release's verify crashed on it, building the report).
    reference = validation.Reference("index", 2.6, 0.1, "", "a paper", 2.0, "why")
    check = validation.compare(reference, 2.7, 0.05)
    assert check.fit is None
    row = _check_row(check)
    assert row.fit == "" and row.quantity == "index" and row.verdict == "PASS"
    named = validation.compare(reference, 2.7, 0.05, fit="hess")
    assert _check_row(named).fit == "hess"
