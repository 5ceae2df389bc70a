"""``python -m satdev verify|release``: what the nox sessions call.

``verify`` runs the tests (JUnit and coverage XML), ruff (JSON) and the
benchmarks (which run every registered use case once), evaluates the gates of
``gates.yaml`` and writes the report to ``<build>/report``; it exits 1 naming each
failed gate with its figure and threshold. ``--reuse-tests`` takes the outputs of
``nox -s tests`` instead of running the suite again; ``--reuse-bench`` those of
``nox -s bench``.

``release`` makes ``<build>/release`` from the verified build (see
`satdev.release`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sat.errors import SatError
from satdev.evidence import EVIDENCE_DIR
from satdev.provenance import current_stamp

# Where `nox -s tests` leaves its outputs (noxfile.py), for --reuse-tests.
TESTS_JUNIT = Path("test-reports", "junit-tests.xml")
TESTS_COVERAGE = Path("coverage.xml")


def _reused(path: Path, session: str) -> Path:
    if not path.is_file():
        raise SatError(
            f"{path} is missing: run nox -s {session} first, or drop --reuse"
        )
    return path


def verify(args) -> int:
    """Run the checks, evaluate the gates, write the report; 1 if a gate blocks.

    A gate that failed only on accepted non-conformances (`satdev.waivers`)
    leaves the verdict FAIL but does not stop the release.
    """
    from sat import __version__
    from satdev.aiv import write_aiv
    from satdev.report import render, write_report
    from satdev.verify import (
        Inputs,
        evaluate,
        run_benchmarks,
        run_lint,
        run_tests,
    )

    root, build = args.root.resolve(), args.build.resolve()
    # Before verify writes anything (or this run's first stamp, nox -s release).
    provenance = current_stamp(root, build)
    work = build / "verify"
    if args.reuse_tests:
        inputs = Inputs(
            junit=_reused(build / TESTS_JUNIT, "tests"),
            coverage=_reused(build / TESTS_COVERAGE, "tests"),
        )
    else:
        print("verify: running the test suite", flush=True)
        inputs = run_tests(root, work, args.pytest_args)
    # A step that cannot run fails its gate (named in the report), not the others.
    print("verify: running ruff", flush=True)
    try:
        inputs.lint, inputs.unformatted = run_lint(root, work)
    except SatError as error:
        inputs.errors["lint"] = str(error)
    inputs.usecases = build / "usecases"
    inputs.evidence = build / EVIDENCE_DIR
    if args.reuse_bench:
        inputs.bench = _reused(build / "bench" / f"{__version__}.json", "bench")
    else:
        print("verify: running the benchmarks and every use case", flush=True)
        try:
            inputs.bench = run_benchmarks(
                root, build / "bench", inputs.usecases, python=args.bench_python
            )
        except SatError as error:
            inputs.errors["benchmarks"] = str(error)
    verification = evaluate(inputs)
    report = build / "report"
    content = write_report(verification, report, provenance=provenance)
    # The AIV report in CTAO's form (satdev/aiv): its files and the PDF, read back.
    print("verify: writing the AIV report (pdfLaTeX)", flush=True)
    try:
        aiv = write_aiv(content, report, root)
        render(content, report)
    except SatError as error:
        aiv = error
    for gate in verification.gates:
        print(gate)
        if not gate.passed:
            for line in gate.details:
                print(f"    {line}")
        for line in gate.warnings:
            print(f"    warning: {line}")
    print(f"verify: report in {report / 'index.html'}")
    if isinstance(aiv, SatError):
        print(f"Error: no AIV report: {aiv}", file=sys.stderr)
        return 1
    print(
        f"verify: AIV report {aiv.pdf} ({aiv.pages} pages, {aiv.findings} "
        f"non-conformance(s); pdfLaTeX {aiv.seconds:.1f} s, {aiv.passes} passes)"
    )
    for waiver in verification.waivers:
        print(
            f"verify: waiver {waiver.benchmark} {waiver.metric} "
            f"({waiver.record}): {waiver.status}: {waiver.note}"
        )
    if verification.blocking:
        failed = "; ".join(
            f"{g.name}: {g.figure} (threshold {g.threshold})"
            for g in verification.blocking
        )
        print(
            f"Error: {len(verification.blocking)} gate(s) failed: {failed}",
            file=sys.stderr,
        )
        return 1
    if not verification.passed:
        print(
            "verify: verdict FAIL on accepted non-conformances only "
            f"({', '.join(g.name for g in verification.failed)}): the release "
            "may proceed and lists them"
        )
    return 0


def release(args) -> int:
    """Make the release folder from the verified build."""
    from satdev.release import check_sums, make_release

    out = make_release(args.root.resolve(), args.build.resolve(), args.require)
    problems = check_sums(out)
    print(f"release: {out} ({len(list(out.rglob('*')))} entries), SHA256SUMS verified")
    for record in sorted((out / "bench").glob("*.json")):
        print(
            f"release: commit the benchmark record, the next release's baseline: "
            f"cp {record} {args.root.resolve() / 'benchmarks' / 'history'}/"
        )
    return 1 if problems else 0


def main(argv=None) -> int:
    """Parse the command line and run ``verify`` or ``release``."""
    parser = argparse.ArgumentParser(prog="python -m satdev", description=__doc__)
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="source tree")
    parser.add_argument(
        "--build", type=Path, default=Path("build"), help="build folder"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="run the checks and write the report")
    check.add_argument("--reuse-tests", action="store_true")
    check.add_argument("--reuse-bench", action="store_true")
    check.add_argument(
        "--bench-python",
        type=Path,
        help="the release environment's python to run the benchmarks with "
        "(default: this one)",
    )
    check.add_argument(
        "--pytest-args", nargs=argparse.REMAINDER, default=[], help="passed to pytest"
    )
    make = commands.add_parser("release", help="make the release folder")
    make.add_argument(
        "--require",
        action="append",
        default=[],
        metavar="SESSION",
        help="an artifact session that ran (conda, container, docs)",
    )
    args = parser.parse_args(argv)
    try:
        return {"verify": verify, "release": release}[args.command](args)
    except SatError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
