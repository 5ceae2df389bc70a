"""Scaling benchmark: the survey use case reduced serially and with N workers.

Simulates the largest size once (`sat.usecases.survey.simulate`), then runs
``ctao-sat run survey`` on the first ``size`` runs of that folder for every size,
serially and with ``--backend multiprocessing --n-jobs N`` (and Ray with
``--ray``); at the largest size also N independent serial processes side by side,
each on size / N runs: the speedup the machine itself allows. The speedup is the
ratio of the reduction wall times (result.json ``reduction.wall_s``: the parallel
part, not the start-up or the joint fit). Next
to it, in the same run and so under the same load: plain Gammapy's
`DatasetsMaker` on the 20 MSH 15-52 runs (``plain_reduction.py``) with
``n_jobs=1`` and ``N``. The load average of the machine is recorded around every
measurement, and CPU time next to wall time (CPU time does not grow with load).

Usage: ``python benchmarks/scaling.py --output build/scaling [--sizes 50 100 200]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
NAME = "scaling:survey"
SIZES = (50, 100, 200)
LIVETIME_S = 120.0
REPEATS = 2


def _ctao_sat() -> str:
    return str(Path(sys.executable).with_name("ctao-sat"))


def simulate(folder: Path, n_runs: int) -> Path:
    """Simulate ``n_runs`` survey runs into ``folder`` once; return the DL3 folder."""
    from sat import offline
    from sat.usecases.base import RunContext
    from sat.usecases.survey import SurveyConfig, simulate

    dl3 = folder / "dl3"
    if (dl3 / "obs-index.fits.gz").is_file():
        from astropy.table import Table

        if len(Table.read(dl3 / "obs-index.fits.gz")) >= n_runs:
            return dl3
    offline.configure()
    simulate(SurveyConfig(n_runs=n_runs, livetime_s=LIVETIME_S), RunContext(folder))
    return dl3


def _ray_environment() -> dict:
    """Environment for Ray runs on a loaded machine (see tests/test_backends.py)."""
    stub = Path(tempfile.mkdtemp(prefix="ray-stub-"))
    (stub / "rfc3987_syntax.py").write_text('raise ImportError("ray#65983")\n')
    path = os.pathsep.join(filter(None, [str(stub), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def survey(dl3: Path, size: int, backend: str, n_jobs: int, output: Path) -> dict:
    """Reduce and fit the first ``size`` runs; return measurements and reduction."""
    # Run standalone: `satdev` (the verification tooling) is in the repository only.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from satdev.benchmarks import measure

    output.parent.mkdir(parents=True, exist_ok=True)
    config = output.with_suffix(".yaml")
    config.write_text(
        yaml.safe_dump(
            {"n_runs": size, "livetime_s": LIVETIME_S, "datastore": str(dl3)}
        )
    )
    command = [_ctao_sat(), "run", "survey", "--config", str(config), "-q"]
    command += ["--output", str(output), "--backend", backend]
    if backend != "serial":
        command += ["--n-jobs", str(n_jobs)]
    env = _ray_environment() if backend == "ray" else None
    load = os.getloadavg()[0]
    measured = measure(command, env=env)
    if measured["exit_code"] != 0:
        raise SystemExit(
            f"scaling: {' '.join(command[1:])} failed "
            f"(exit {measured['exit_code']}): see its message above"
        )
    result = json.loads((output / "result.json").read_text())
    return {
        "size": size,
        "backend": backend,
        "n_jobs": n_jobs if backend != "serial" else 1,
        "load_1min": round((load + os.getloadavg()[0]) / 2, 2),
        "process": measured,
        "reduction": result["reduction"],
        "index": result["parameters"]["index"]["value"],
    }


def independent(dl3: Path, size: int, n_jobs: int, output: Path) -> dict:
    """``n_jobs`` serial runs of ``size / n_jobs`` runs each, side by side.

    No parallel machinery at all: the speedup this machine allows for this work.
    On shared or virtual cores, memory-bound work costs more CPU when every core
    is busy, so the bound can be well below ``n_jobs``; the parallel backends are
    judged against it as well as against ``n_jobs``.
    """
    from concurrent.futures import ThreadPoolExecutor

    share = size // n_jobs
    with ThreadPoolExecutor(n_jobs) as pool:
        rows = list(
            pool.map(
                lambda i: survey(dl3, share, "serial", 1, output / f"part-{i}"),
                range(n_jobs),
            )
        )
    wall = max(row["reduction"]["wall_s"] for row in rows)
    return {
        "size": share * n_jobs,
        "processes": n_jobs,
        "wall_s": wall,
        "cpu_s": sum(row["reduction"]["worker_cpu_s"] for row in rows),
        "load_1min": max(row["load_1min"] for row in rows),
    }


def plain_gammapy(n_jobs: int, folder: Path) -> dict:
    """Plain Gammapy's DatasetsMaker on the 20 MSH 15-52 runs with ``n_jobs``."""
    import subprocess

    out = folder / f"plain-{n_jobs}.json"
    load = os.getloadavg()[0]
    script = str(HERE / "plain_reduction.py")
    command = [sys.executable, script, "--n-jobs", str(n_jobs), "--output", str(out)]
    subprocess.run(command, check=True)
    return {
        "n_jobs": n_jobs,
        "load_1min": round((load + os.getloadavg()[0]) / 2, 2),
        **json.loads(out.read_text()),
    }


def _fastest(rows: list[dict]) -> dict:
    return min(rows, key=lambda row: row["reduction"]["wall_s"])


def run(
    output: Path,
    sizes=SIZES,
    n_jobs: int = 2,
    ray: bool = False,
    plain: bool = True,
    repeats: int = REPEATS,
) -> dict:
    """Run the scaling benchmark; return its record (``kind: scaling``).

    Every measurement is repeated ``repeats`` times, interleaved, and the fastest
    counts: on a shared or virtual machine the same work takes up to 25 % more
    CPU from one minute to the next, which no single pair of runs can resolve.
    """
    output = Path(output).absolute()
    output.mkdir(parents=True, exist_ok=True)
    dl3 = simulate(output / "runs", max(sizes))
    backends = [("serial", 1), ("multiprocessing", n_jobs)]
    if ray:
        backends.append(("ray", n_jobs))
    rows = []
    for size in sizes:
        tries = {backend: [] for backend, _ in backends}
        for attempt in range(repeats):
            for backend, jobs in backends:
                folder = output / f"{backend}-{size}-{attempt}" / "out"
                tries[backend].append(survey(dl3, size, backend, jobs, folder))
                print(json.dumps(tries[backend][-1]), flush=True)
        rows += [{**_fastest(runs), "repeats": len(runs)} for runs in tries.values()]
    speedups = {}
    for size in sizes:
        serial = next(r for r in rows if r["size"] == size and r["backend"] == "serial")
        for row in rows:
            if row["size"] == size and row["backend"] != "serial":
                speedup = serial["reduction"]["wall_s"] / row["reduction"]["wall_s"]
                speedups[f"{row['backend']}-{size}"] = round(speedup, 2)
    record = {
        "name": NAME,
        "kind": "scaling",
        "n_jobs": n_jobs,
        "cpus": os.cpu_count(),
        "rows": rows,
        "speedups": speedups,
    }
    largest = max(sizes)
    serial = next(r for r in rows if r["size"] == largest and r["backend"] == "serial")
    bound = min(
        (
            independent(dl3, largest, n_jobs, output / f"independent-{largest}-{i}")
            for i in range(repeats)
        ),
        key=lambda row: row["wall_s"],
    )
    bound["speedup"] = round(serial["reduction"]["wall_s"] / bound["wall_s"], 2)
    record["independent"] = bound
    print(json.dumps({"independent": bound}), flush=True)
    if plain:
        tries = [
            [plain_gammapy(jobs, output) for jobs in (1, n_jobs)]
            for _ in range(repeats)
        ]
        plain_rows = [
            min(runs, key=lambda row: row["wall_s"])
            for runs in zip(*tries, strict=True)
        ]
        record["plain_gammapy"] = {
            "rows": plain_rows,
            "speedup": round(plain_rows[0]["wall_s"] / plain_rows[1]["wall_s"], 2),
        }
    record["metrics"] = {
        # Lower is better: wall time with N workers over the serial wall time.
        "parallel_wall_ratio": round(1 / speedups[f"multiprocessing-{largest}"], 3),
    }
    (output / "scaling.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def main(argv=None) -> int:
    """Command line: run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("build/scaling"))
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--ray", action="store_true", help="also the Ray backend")
    parser.add_argument("--no-plain", action="store_true", help="skip plain Gammapy")
    parser.add_argument(
        "--repeats", type=int, default=REPEATS, help="runs of each; the fastest counts"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    record = run(
        args.output, args.sizes, args.n_jobs, args.ray, not args.no_plain, args.repeats
    )
    print(
        f"{'runs':>5} {'backend':<16} {'wall_s':>7} {'runs/s':>7} {'cpu_s':>7} "
        f"{'peak MiB/worker':<20} load"
    )
    for row in record["rows"]:
        red = row["reduction"]
        # Serially the main process is the worker: count its CPU once.
        cpu = red["worker_cpu_s"] + (red["main_cpu_s"] if red["workers"] > 1 else 0)
        print(
            f"{row['size']:>5} {row['backend']:<16} {red['wall_s']:>7.1f} "
            f"{red['runs_per_s']:>7.2f} {cpu:>7.1f} "
            f"{red['peak_rss_mib_per_worker']!s:<20} {row['load_1min']}"
        )
    print("speedups (survey):", record["speedups"])
    bound = record["independent"]
    print(
        f"{bound['processes']} independent serial processes of "
        f"{bound['size'] // bound['processes']} runs each: speedup {bound['speedup']} "
        "(what this machine allows for this work)"
    )
    if "plain_gammapy" in record:
        print("plain Gammapy, 20 MSH 15-52 runs:", json.dumps(record["plain_gammapy"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
