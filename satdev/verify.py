"""``nox -s verify``: run every check, evaluate the gates, keep the evidence.

The steps run the real tools in subprocesses (pytest with JUnit and coverage XML,
ruff with JSON output, the benchmarks, which run every registered use case once
with ``ctao-sat run``) and keep their outputs; `evaluate` turns the outputs into
gates and traceability. A missing tool is an error naming it, never a skip.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from sat.errors import SatError
from satdev import gates as G
from satdev.catalogue import load_catalogue
from satdev.evidence import current_run_id, read_evidence
from satdev.inspection import read_inspections
from satdev.junit import read_junit
from satdev.traceability import Sources, trace, unknown_traced_ids

__all__ = [
    "Inputs",
    "Verification",
    "evaluate",
    "run_benchmarks",
    "run_lint",
    "run_tests",
]


class MissingTool(SatError):
    """A tool a verification step needs is not installed."""


@dataclass
class Inputs:
    """The outputs of the checks that the gates read.

    Attributes
    ----------
    junit, coverage : Path or None
        JUnit XML and coverage.xml of the test run.
    pytest_exit : int or None
        pytest's exit code, when the run was ours.
    pytest_error : str
        The tail of pytest's output, quoted when it stopped early.
    lint : Path or None
        ``ruff check`` JSON output.
    unformatted : list of str or None
        Files ``ruff format --check`` would reformat.
    usecases : Path or None
        Folder of the use cases' outputs (``<name>/result.json``).
    bench : Path or None
        The benchmark record of this release.
    waivers : Path or None
        The folder of the waiver records (`satdev.waivers`; default
        ``satdev/waivers``).
    evidence : Path or None
        The artifact sessions' evidence folder (``build/evidence``).
    errors : dict
        ``{gate name: why its input is missing}`` (a tool that is not installed,
        a step that crashed): shown first in that gate's details.
    """

    junit: Path | None = None
    coverage: Path | None = None
    pytest_exit: int | None = None
    pytest_error: str = ""
    lint: Path | None = None
    unformatted: list[str] | None = None
    usecases: Path | None = None
    bench: Path | None = None
    evidence: Path | None = None
    errors: dict[str, str] = field(default_factory=dict)
    waivers: Path | None = None


@dataclass
class Verification:
    """Everything the report shows: gates, traceability, use cases, benchmarks.

    ``sessions`` holds the artifact sessions' evidence read from
    ``build/evidence`` (`satdev.evidence.read_evidence`) and ``run_id`` the nox
    run it was judged against; ``waivers`` what became of each accepted
    non-conformance of the release (`satdev.waivers.Disposition`).
    """

    version: str
    gates: list
    traces: list
    tests: list
    usecases: dict
    bench: dict | None
    inputs: Inputs
    registered: dict = field(default_factory=dict)
    sessions: dict = field(default_factory=dict)
    run_id: str = ""
    waivers: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every gate passed (the verdict: PASS or FAIL)."""
        return all(gate.passed for gate in self.gates)

    @property
    def failed(self) -> list:
        """The gates that failed."""
        return [gate for gate in self.gates if not gate.passed]

    @property
    def blocking(self) -> list:
        """The failed gates that block a release: not only accepted ones."""
        return [gate for gate in self.gates if gate.blocking]


def _tool(name: str, why: str) -> str:
    # The console scripts of this environment first, then PATH.
    local = Path(sys.executable).parent / name
    path = str(local) if local.exists() else shutil.which(name)
    if path is None:
        raise MissingTool(f"{name} is not installed ({why}): pip install {name}")
    return path


def run_tests(
    root: Path, out: Path, args=(), package: str | None = None, echo: bool = True
):
    """Run pytest in ``root`` with JUnit and coverage XML written to ``out``.

    Parameters
    ----------
    root : Path
        The project to test (pytest runs there, with its configuration).
    out : Path
        Folder for ``junit.xml`` and ``coverage.xml``.
    args : sequence of str
        Extra pytest arguments (test paths, options).
    package : str, optional
        Package to measure; default from ``gates.yaml`` (``sat``).
    echo : bool
        Print pytest's output as it runs.

    Returns
    -------
    Inputs
        With ``junit``, ``coverage``, ``pytest_exit`` and ``pytest_error``.
    """
    out.mkdir(parents=True, exist_ok=True)
    package = package or G.load_thresholds()["coverage"]["package"]
    junit, coverage = out / "junit.xml", out / "coverage.xml"
    for stale in (junit, coverage):
        stale.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "pytest",
        f"--junitxml={junit}",
        f"--cov={package}",
        f"--cov-report=xml:{coverage}",
        "--cov-report=term",
        *args,
    ]
    # Stream pytest's output (a long run must show progress); keep its tail.
    tail: deque[str] = deque(maxlen=60)
    with subprocess.Popen(
        command,
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        for line in process.stdout:
            tail.append(line)
            if echo:
                sys.stdout.write(line)
                sys.stdout.flush()
    return Inputs(
        junit=junit if junit.is_file() else None,
        coverage=coverage if coverage.is_file() else None,
        pytest_exit=process.returncode,
        pytest_error="".join(tail),
    )


def run_lint(root: Path, out: Path, paths=(".",)) -> tuple[Path, list[str]]:
    """Run ``ruff check`` (JSON to ``out/lint.json``) and ``ruff format --check``.

    Returns
    -------
    tuple
        The JSON path and the files ruff would reformat.
    """
    ruff = _tool("ruff", "the lint gate")
    out.mkdir(parents=True, exist_ok=True)
    lint = out / "lint.json"
    done = subprocess.run(
        [ruff, "check", "--output-format", "json", "--exit-zero", *paths],
        cwd=root,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SatError(f"ruff check failed to run: {done.stderr.strip()}")
    # Paths relative to the project, so the report does not depend on the clone.
    violations = json.loads(done.stdout or "[]")
    for violation in violations:
        filename = Path(violation["filename"])
        if filename.is_relative_to(root.resolve()):
            violation["filename"] = str(filename.relative_to(root.resolve()))
    lint.write_text(json.dumps(violations, indent=2) + "\n", encoding="utf-8")
    done = subprocess.run(
        [ruff, "format", "--check", "--output-format", "json", *paths],
        cwd=root,
        capture_output=True,
        text=True,
    )
    if done.returncode not in (0, 1):
        raise SatError(f"ruff format failed to run: {done.stderr.strip()}")
    unformatted = sorted(
        {
            str(Path(entry["filename"]).resolve().relative_to(root.resolve()))
            for entry in json.loads(done.stdout or "[]")
        }
    )
    return lint, unformatted


def run_benchmarks(
    root: Path, bench: Path, usecases: Path, args=(), python: Path | None = None
) -> Path:
    """Run ``benchmarks/run.py`` (which runs every use case into ``usecases``).

    ``python`` is the interpreter of the environment to measure (default: this
    one); ``nox -s verify`` gives a separate one holding only the release.

    Returns
    -------
    Path
        The benchmark record of this release (``bench/<version>.json``).
    """
    from sat import __version__

    script = root / "benchmarks" / "run.py"
    if not script.is_file():
        raise MissingTool(f"{script} is missing: run verify from a ctao-sat clone")
    done = subprocess.run(
        [
            str(python or sys.executable),
            str(script),
            "--output",
            str(bench),
            "--usecase-output",
            str(usecases),
            *args,
        ],
        cwd=root,
    )
    record = bench / f"{__version__}.json"
    if done.returncode != 0 or not record.is_file():
        raise SatError(f"benchmarks/run.py failed (exit {done.returncode}): see above")
    return record


def benchmark_checks(record: dict | None) -> dict[str, dict]:
    """``{benchmark name: {"checks": budget checks, "error": ...}}`` of a record."""
    from satdev.benchmarks import budget_checks

    if record is None:
        return {}
    thresholds = G.load_thresholds()["benchmarks"]
    return {
        result["name"]: {
            "checks": budget_checks(result, thresholds),
            "error": result.get("error"),
        }
        for result in record["results"]
    }


def evaluate(inputs: Inputs) -> Verification:
    """Evaluate every gate on ``inputs`` and trace the catalogue to its evidence."""
    from sat import __version__
    from sat.usecases.registry import usecases
    from satdev.waivers import WAIVERS, accepted_budgets, dispositions, read_waivers

    registered = usecases()
    catalogue = load_catalogue()
    tests = read_junit(inputs.junit) if inputs.junit else None
    usecase_results = (
        G.read_usecase_results(inputs.usecases, registered)
        if inputs.usecases
        else dict.fromkeys(registered)
    )
    record = (
        json.loads(inputs.bench.read_text(encoding="utf-8"))
        if inputs.bench and inputs.bench.is_file()
        else None
    )
    gates = [
        G.tests_gate(tests, inputs.pytest_exit, inputs.pytest_error),
        G.coverage_gate(inputs.coverage),
        G.lint_gate(inputs.lint, inputs.unformatted),
        G.pins_gate(),
    ]
    usecase_gate = G.usecases_gate(usecase_results, __version__)
    # Accepted non-conformances of this release: budgets waived while within
    # their accepted figures (satdev.waivers); their failures stay FAIL.
    waivers = dispositions(
        read_waivers(__version__, inputs.waivers or WAIVERS),
        (record or {}).get("results", []),
        G.load_thresholds()["benchmarks"],
    )
    accepted = accepted_budgets(waivers)
    bench_gate = G.benchmarks_gate(record, registered, accepted)
    sources = Sources(
        tests=tests or [],
        gates={
            gate.name: (gate.passed, gate.figure) for gate in (usecase_gate, bench_gate)
        },
        benchmarks=benchmark_checks(record),
        sessions=read_evidence(inputs.evidence) if inputs.evidence else {},
        run_id=current_run_id(),
        inspections=read_inspections(),
        version=__version__,
        accepted=accepted,
        waived_gates={g.name for g in (bench_gate,) if not g.passed and not g.blocking},
    )
    validated = {
        name: None
        if result is None
        else G.usecases_gate({name: result}, __version__).passed
        for name, result in usecase_results.items()
    }
    traces = trace(catalogue, sources, set(registered), validated)
    unknown = unknown_traced_ids(catalogue, sources)
    gates += [G.requirements_gate(traces, unknown), usecase_gate, bench_gate]
    for gate in gates:
        if gate.name in inputs.errors:
            gate.details.insert(0, inputs.errors[gate.name])
    return Verification(
        version=__version__,
        gates=gates,
        traces=traces,
        tests=sources.tests,
        usecases=usecase_results,
        bench=record,
        inputs=inputs,
        registered={name: case.usecase_id for name, case in registered.items()},
        sessions=sources.sessions,
        run_id=sources.run_id,
        waivers=waivers,
    )
