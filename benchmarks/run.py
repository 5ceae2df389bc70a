"""Run every benchmark, check the budgets, compare with the previous release.

Results go to ``<output>/<release version>.json`` with the budgets of
``satdev/gates.yaml`` checked and a comparison with the newest earlier
release in ``benchmarks/history/``; ``--record`` stores this release there (the
``release`` session does) so that the next release is compared with it.
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
    budget_checks,
    compare,
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
        "--scaling",
        action="store_true",
        help="also the scaling benchmark (survey, serial vs 2 workers; ~30 min)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    thresholds = load_thresholds()["benchmarks"]
    compile_bytecode()
    results = [
        startup.run(args.repeat),
        *usecases.run(args.usecase_output.absolute(), args.only),
    ]
    if not args.only:
        results.append(overhead.run())
    if args.operations or not args.only:
        results += operations.run()
    if args.scaling:
        results.append(scaling.run(args.output / "scaling"))
    results = [result for result in results if result is not None]
    for result in results:
        result["checks"] = budget_checks(result, thresholds)
    record = {
        "release": sat.__version__,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "partial": bool(args.only),
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
            verdict = "ok  " if check["ok"] else "OVER"
            print(
                f"  {verdict} {result['name']}: {check['metric']} = {check['value']}"
                f" (budget {check['limit']} {check['unit']})"
            )
    for row in record["comparison"]["rows"]:
        flag = "REGRESSION" if row["regression"] else ""
        print(
            f"  vs {record['comparison']['previous']}: {row['benchmark']} "
            f"{row['metric']} x{row['ratio']} {flag}"
        )
    if args.record:
        if args.only:
            raise SystemExit("--record needs every benchmark: drop --only")
        args.history.mkdir(parents=True, exist_ok=True)
        (args.history / path.name).write_text(path.read_text())
        print(f"recorded {args.history / path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
