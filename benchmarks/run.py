"""Run every benchmark, check the budgets, compare with the previous release.

Results go to ``<output>/<release version>.json`` (format: `satdev.benchmarks`)
with the budgets of ``satdev/gates.yaml`` checked and a comparison with the
newest earlier release in ``benchmarks/history/``; ``--record`` stores this
release there (the ``release`` session does) so that the next release is
compared with it.

What each part costs on 2 quiet cores (estimated from the CPU times measured
for 2026.11.0 and, for the new parts, on a loaded machine in 2026.12): CLI
start-up ~0.5 min (warm-ups and 5 interleaved runs of each); every use case
once, ~5 min for the nine of 2026.11.0 (survey alone 2.5 min; its 200 simulated
runs are reused by the scaling benchmark), plus the use cases added since; the
overhead ~2.5 min (5 pairs of ~16 s + ~15 s of CPU); the operations ~1 min;
scaling ~19 min (measured in release 2026.12 on 100 runs: ctao-sat's pair ~65 s
a repeat, 11 repeats; plain Gammapy's ~85 s, 5 repeats); before, estimated from
the CPU times measured on 50: ~240 s of CPU and ~180-225 s of wall time per repeat.
Per process on 50 runs: ctao-sat 26 s serial, 28 s with 2 workers; plain
Gammapy 21 s serial, 39 s with n_jobs=2. The reductions cost ~0.33 s of CPU per
run and the processes' fixed parts stay; plain Gammapy's n_jobs=2 adds CPU that
grows as the square of the runs (it pickles the results so far with every task:
~0.25 s on 6 runs, ~20 s on 50, so ~80 s on 100). About 25-29 min in all before
the new use cases.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import sys
import sysconfig
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The benchmark modules beside this file, and the development package `satdev`
# (verification tooling, not installed: it lives in the repository only).
sys.path[:0] = [str(HERE), str(HERE.parent)]

import operations  # noqa: E402
import overhead  # noqa: E402
import scaling  # noqa: E402
import startup  # noqa: E402
import usecases  # noqa: E402

import sat  # noqa: E402
from satdev.benchmarks import (  # noqa: E402
    RECORD_FORMAT,
    SCALING_USECASE,
    budget_checks,
    compare,
    describe,
    load_history,
    previous_record,
)
from satdev.gates import load_thresholds  # noqa: E402


def compile_bytecode() -> None:
    """Compile the environment's bytecode once, before anything is timed.

    pip and conda compile bytecode at install time, so a deployed environment has
    it; uv does not by default, and PYTHONDONTWRITEBYTECODE (set on some machines)
    stops Python from caching it, so every timed run would recompile the whole
    stack (gammapy --help: 12 s of CPU instead of 1-2 s).
    """
    paths = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    for path in sorted(paths):
        compileall.compile_dir(path, quiet=1, workers=0)


def _survey_runs(results: list[dict], usecase_output: Path) -> Path | None:
    """The DL3 runs the survey use case simulated in this run (reused), or None."""
    ran = any(
        result["name"] == f"usecase:{SCALING_USECASE}"
        and result["metrics"]["exit_code"] == 0
        for result in results
    )
    return usecase_output / SCALING_USECASE / "dl3" if ran else None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("build/bench"))
    parser.add_argument(
        "--usecase-output",
        type=Path,
        default=Path("build/usecases"),
        help="where the benchmarked use cases write their results",
    )
    parser.add_argument("--history", type=Path, default=HERE / "history")
    parser.add_argument(
        "--only", nargs="+", metavar="USECASE", help="benchmark only these use cases"
    )
    parser.add_argument(
        "--record", action="store_true", help="store this release in --history"
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="timed runs of each CLI start-up"
    )
    parser.add_argument(
        "--operations",
        action="store_true",
        help="quick-look, checks and data volume also with --only (always without)",
    )
    parser.add_argument(
        "--container-record",
        type=Path,
        default=Path("build/container/jupyter.json"),
        help="the Jupyter image's figures (nox -s container), added when present",
    )
    parser.add_argument(
        "--scaling",
        action="store_true",
        help="the scaling benchmark also with --only (always without)",
    )
    parser.add_argument(
        "--scaling-runs",
        type=int,
        help="survey runs per scaling measurement (default: gates.yaml; another "
        "value makes the record partial)",
    )
    parser.add_argument(
        "--scaling-repeats",
        type=int,
        help="interleaved scaling repeats (default: gates.yaml; another value "
        "makes the record partial)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    thresholds = load_thresholds()["benchmarks"]
    compile_bytecode()
    usecase_output = args.usecase_output.absolute()
    results = [startup.run(args.repeat), *usecases.run(usecase_output, args.only)]
    if not args.only:
        results.append(overhead.run())
    if args.operations or not args.only:
        results += operations.run()
    if args.scaling or not args.only:
        results.append(
            scaling.run(
                args.output.absolute() / "scaling",
                _survey_runs(results, usecase_output),
                args.scaling_runs,
                args.scaling_repeats,
            )
        )
    if args.container_record.is_file():  # sizes and start-up of the Jupyter image
        record = json.loads(args.container_record.read_text())
        if record.get("version") == sat.__version__ and "bench" in record:
            results.append(record["bench"])
    results = [result for result in results if result is not None]
    for result in results:
        result["checks"] = budget_checks(result, thresholds)
    settings = (args.scaling_runs, args.scaling_repeats)
    standard = (thresholds["scaling_runs"], thresholds["scaling_repeats"])
    record = {
        "format": RECORD_FORMAT,
        "release": sat.__version__,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "partial": bool(args.only)
        or any(s not in (None, d) for s, d in zip(settings, standard, strict=True)),
        "results": results,
    }
    previous = previous_record(load_history(args.history), sat.__version__)
    record["comparison"] = compare(record, previous, thresholds["regression_ratio"])
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / f"{sat.__version__}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {path}")
    for result in results:
        for check in result["checks"]:
            print(f"  {describe(result['name'], check)}")
    for row in record["comparison"]["rows"]:
        flag = "REGRESSION" if row["regression"] else ""
        print(
            f"  vs {record['comparison']['previous']}: {row['benchmark']} "
            f"{row['metric']} x{row['ratio']} {flag}"
        )
    if args.record:
        if record["partial"]:
            raise SystemExit(
                "--record needs every benchmark with the settings of gates.yaml: "
                "drop --only, --scaling-runs and --scaling-repeats"
            )
        args.history.mkdir(parents=True, exist_ok=True)
        (args.history / path.name).write_text(path.read_text())
        print(f"recorded {args.history / path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
