"""Benchmark measurements, budgets and the comparison with the previous release.

The benchmark scripts live in ``benchmarks/`` (run by ``nox -s bench``); they
measure with `measure` and store one JSON record per release. Budgets come from
``gates.yaml`` (`budget_checks`); `compare` puts a release next to the previous
one recorded in ``benchmarks/history/`` and flags regressions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from packaging.version import InvalidVersion, Version

__all__ = [
    "LOWER_IS_BETTER",
    "budget_checks",
    "compare",
    "expected_benchmarks",
    "load_history",
    "measure",
    "previous_record",
]

# The metrics where a larger value is worse (compared across releases).
LOWER_IS_BETTER = {
    "ctao_sat_help_cpu_s": "s",
    "wall_time_s": "s",
    "cpu_time_s": "s",
    "peak_rss_mib": "MiB",
    "ctao_sat_cpu_s": "s",
    "plain_gammapy_cpu_s": "s",
    "max_run_cpu_s": "s",
    "parallel_wall_ratio": "",
}
# Scaling benchmark (benchmarks/scaling.py): the reduction with 2 workers must take
# at most this fraction of the serial wall time (a speedup of at least 1.8).
SCALING_WALL_RATIO = round(1 / 1.8, 3)
OVERHEAD_USECASE = "spectrum-1d"
# benchmarks/operations.py: quick look and checks per run, data volume agreement.
OPERATIONS = ("quicklook", "check", "datavolume:agreement")


# Runs the measured command and reports its rusage. A child's peak RSS includes
# the memory of the process that spawned it (Linux records the old address space's
# high-water mark at exec): spawned from this small interpreter, the command's
# peak is its own, whatever the size of the caller (a benchmark script, pytest).
_SPAWNER = """
import json, os, subprocess, sys, time
start = time.perf_counter()
process = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(process.pid, 0)
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as out:
    json.dump([wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss,
               os.waitstatus_to_exitcode(status)], out)
"""


def measure(command: list[str], **popen) -> dict:
    """Run ``command`` once; return its wall and CPU time, peak memory, exit code.

    The numbers are those of the command's own process (``os.wait4`` on it):
    ``resource.getrusage(RUSAGE_CHILDREN)`` would give the maximum over every
    child waited for so far, letting one use case hide the next one's.

    Parameters
    ----------
    command : list of str
        The program and its arguments.
    **popen
        Passed to `subprocess.Popen` (``env``, ``cwd``, ``stdout``...).
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="sat-measure-") as scratch:
        report = Path(scratch, "rusage.json")
        spawner = [sys.executable, "-I", "-S", "-c", _SPAWNER, str(report)]
        subprocess.run([*spawner, *command], check=False, **popen)
        if not report.is_file():
            raise RuntimeError(f"could not run {command[0]!r}: see the error above")
        wall, cpu, maxrss_kib, code = json.loads(report.read_text())
    return {
        "wall_time_s": round(wall, 3),
        # CPU time does not grow with the load of a shared machine; wall time does.
        "cpu_time_s": round(cpu, 3),
        # Linux reports ru_maxrss in KiB.
        "peak_rss_mib": round(maxrss_kib / 1024, 1),
        "exit_code": code,
    }


def _limit(table, name: str) -> float:
    # A per-use-case table: {"default": x, "name": y}.
    return table.get(name, table["default"]) if isinstance(table, dict) else table


def budget_checks(result: dict, thresholds: dict) -> list[dict]:
    """Check one benchmark result against its budgets in ``gates.yaml``.

    Parameters
    ----------
    result : dict
        ``{"name", "kind", "metrics", ...}`` as the benchmark scripts write it.
    thresholds : dict
        The ``benchmarks`` section of ``gates.yaml``.

    Returns
    -------
    list of dict
        ``{"metric", "value", "limit", "unit", "ok"}`` for every budget.
    """
    metrics, kind = result["metrics"], result["kind"]
    budgets = []
    if kind == "startup":
        budgets.append(("ctao_sat_help_cpu_s", thresholds["cli_startup_s"], "s"))
    elif kind == "usecase":
        name = result["usecase"]
        budgets += [
            ("wall_time_s", _limit(thresholds["usecase_wall_time_s"], name), "s"),
            ("peak_rss_mib", _limit(thresholds["usecase_peak_rss_mib"], name), "MiB"),
            ("exit_code", 0, ""),
        ]
    elif kind == "overhead":
        budgets.append(("overhead_fraction", thresholds["overhead_max_fraction"], ""))
    elif kind in ("quicklook", "check"):
        budgets.append(("max_run_cpu_s", thresholds[f"{kind}_run_cpu_s"], "s"))
    elif kind == "datavolume":
        limit = thresholds["datavolume_max_bytes_deviation"]
        budgets.append(("max_bytes_deviation", limit, ""))
    elif kind == "scaling":
        limit = thresholds.get("scaling_parallel_wall_ratio", SCALING_WALL_RATIO)
        budgets.append(("parallel_wall_ratio", limit, ""))
    else:
        raise ValueError(f"benchmark {result['name']!r}: unknown kind {kind!r}")
    return [
        {
            "metric": metric,
            "value": metrics.get(metric),
            "limit": limit,
            "unit": unit,
            "ok": metrics.get(metric) is not None and metrics[metric] <= limit,
        }
        for metric, limit, unit in budgets
    ]


def expected_benchmarks(usecases) -> list[str]:
    """Name every benchmark a release must have, given the registered use cases."""
    names = ["cli-startup", *(f"usecase:{name}" for name in usecases)]
    if OVERHEAD_USECASE in usecases:
        names.append(f"overhead:{OVERHEAD_USECASE}")
    return [*names, *OPERATIONS]


def load_history(folder: str | Path) -> dict[Version, dict]:
    """Read every release record of ``folder`` (``<version>.json``), by version."""
    records = {}
    for path in sorted(Path(folder).glob("*.json")):
        try:
            version = Version(path.stem)
        except InvalidVersion:
            continue
        records[version] = json.loads(path.read_text(encoding="utf-8"))
    return records


def previous_record(history: dict[Version, dict], release: str) -> dict | None:
    """Return the newest record of a release before ``release``, or None."""
    older = [version for version in history if version < Version(release)]
    return history[max(older)] if older else None


def compare(record: dict, previous: dict | None, regression_ratio: float) -> dict:
    """Compare a release's benchmarks with the previous release's.

    Parameters
    ----------
    record, previous : dict
        Benchmark records (``previous`` None when there is no earlier release).
    regression_ratio : float
        A metric more than this ratio worse is flagged as a regression.

    Returns
    -------
    dict
        ``{"previous": version or None, "regression_ratio", "rows": [...]}``,
        one row per metric present in both: previous, current, ratio, regression.
    """
    comparison = {"previous": None, "regression_ratio": regression_ratio, "rows": []}
    if previous is None:
        return comparison
    comparison["previous"] = previous["release"]
    before = {result["name"]: result["metrics"] for result in previous["results"]}
    for result in record["results"]:
        for metric, unit in LOWER_IS_BETTER.items():
            old = before.get(result["name"], {}).get(metric)
            new = result["metrics"].get(metric)
            if not old or new is None:
                continue
            ratio = new / old
            comparison["rows"].append(
                {
                    "benchmark": result["name"],
                    "metric": metric,
                    "unit": unit,
                    "previous": old,
                    "current": new,
                    "ratio": round(ratio, 3),
                    "regression": ratio > regression_ratio,
                }
            )
    return comparison
