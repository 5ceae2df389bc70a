"""Benchmark measurements, budgets judged with their noise, release comparison.

The benchmark scripts live in ``benchmarks/`` (run by ``nox -s bench``); they
measure with `measure` and store one JSON record per release. Budgets come from
``gates.yaml`` (`budget_checks`); `compare` puts a release next to the previous
one recorded in ``benchmarks/history/`` and flags regressions.

Record format (``build/bench/<version>.json``, kept in ``benchmarks/history/``)
------------------------------------------------------------------------------
``format`` (2), ``release``, ``date``, ``python``, ``machine``, ``platform``,
``cpus``, ``partial`` (``--only``, or other scaling settings than gates.yaml's:
never stored in the history), ``results`` and ``comparison`` (`compare`). Each
result:

- ``name`` (``cli-startup``, ``usecase:<name>``, ``overhead:spectrum-1d``,
  ``scaling:survey``, ``quicklook``, ``check``, ``datavolume:agreement``) and
  ``kind`` (what `budget_checks` knows);
- ``metrics``: ``{name: number}``. Where the benchmark repeats a measurement the
  metric is the **median** of its samples, never the fastest run;
- ``samples`` (optional): ``{metric: [value, ...]}``, one value per interleaved
  pair or repeat (e.g. the overhead of each ctao-sat/plain-Gammapy pair): the
  interval of a budget comes from them (`median_interval`);
- ``error`` (optional): why the benchmark could not measure (its budgets FAIL);
- the raw measurements, for the report and for a reader's own analysis: every
  `measure` dict (wall and CPU time, peak memory, exit code,
  ``background_cores``: the CPU other processes used meanwhile), in ``pairs``
  (overhead) or ``rows`` (scaling: one per process, with its repeat, position,
  reduction wall and CPU time, ON/OFF counts, load); ``intervals`` (scaling:
  `median_interval` of every sample list, informational);
- ``checks``: one per budget, as `budget_checks` returns them:
  ``metric``, ``value``, ``limit``, ``unit``, ``op`` (``"<="`` or ``">="``),
  ``interval`` (``[low, high]`` of the median, or None for a single
  measurement), ``confidence`` (the interval's coverage, None without one),
  ``n`` (samples), ``verdict`` (``PASS``, ``FAIL`` or ``NOT RESOLVABLE``),
  ``reason`` (one line) and ``ok`` (``verdict == "PASS"``, as in format 1).

Verdicts (`judge`): with samples, PASS only when the whole interval meets the
budget, FAIL when the whole interval misses it, NOT RESOLVABLE when the budget
lies inside the interval (the budget is finer than the measured noise) or when
there are too few samples for an interval of the required ``noise_confidence``
(gates.yaml). Wall-time ratios (the scaling speedups) are also NOT RESOLVABLE
when other processes used more than ``max_background_cores`` of the machine
while they were measured: a busy machine biases a speedup, not only blurs it.
NOT RESOLVABLE is never PASS (``ok`` is false): the benchmarks gate does not pass
it. A single measurement (a use case's wall time, the operations) is judged on
its value.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

from packaging.version import InvalidVersion, Version

__all__ = [
    "FAIL",
    "HIGHER_IS_BETTER",
    "LOWER_IS_BETTER",
    "NOT_RESOLVABLE",
    "PASS",
    "RECORD_FORMAT",
    "Budget",
    "budget_checks",
    "compare",
    "describe",
    "expected_benchmarks",
    "judge",
    "load_history",
    "machine_busy_s",
    "measure",
    "median_interval",
    "previous_record",
]

RECORD_FORMAT = 2
PASS, FAIL, NOT_RESOLVABLE = "PASS", "FAIL", "NOT RESOLVABLE"
# The metrics compared across releases: where a larger value is worse...
LOWER_IS_BETTER = {
    "ctao_sat_help_cpu_s": "s",
    "wall_time_s": "s",
    "cpu_time_s": "s",
    "peak_rss_mib": "MiB",
    "ctao_sat_cpu_s": "s",
    "plain_gammapy_cpu_s": "s",
    "max_run_cpu_s": "s",
    "serial_cpu_per_run_s": "s",
    "jupyter_added_mb": "MB",
    "lab_ready_s": "s",
}
# ... and where a smaller value is worse (the scaling speedups; plain Gammapy's
# too: both are compared release to release, e.g. when the Gammapy pin moves).
HIGHER_IS_BETTER = {
    "reduction_speedup": "",
    "plain_gammapy_speedup": "",
    "speedup_vs_plain": "",
    "end_to_end_speedup": "",
    "cpu_speedup_bound": "",
}
OVERHEAD_USECASE = "spectrum-1d"
# benchmarks/scaling.py: the survey's runs, ctao-sat and plain Gammapy.
SCALING = "scaling:survey"
SCALING_USECASE = "survey"
# benchmarks/operations.py: quick look and checks per run, data volume agreement.
OPERATIONS = ("quicklook", "check", "datavolume:agreement")


# Runs the measured command and reports its rusage. A child's peak RSS includes
# the memory of the process that spawned it (Linux records the old address space's
# high-water mark at exec): spawned from this small interpreter, the command's
# peak is its own, whatever the size of the caller (a benchmark script, pytest).
# A command still running after the timeout (argv[2], seconds; 0: none) is killed,
# and reported as such, so that a hung run cannot hang the benchmarks.
_SPAWNER = """
import json, os, subprocess, sys, threading, time
start = time.perf_counter()
process = subprocess.Popen(sys.argv[3:])
timeout = float(sys.argv[2])
timer = threading.Timer(timeout, process.kill) if timeout else None
if timer:
    timer.start()
_, status, usage = os.wait4(process.pid, 0)
wall = time.perf_counter() - start
killed = bool(timer) and not timer.is_alive() and wall >= timeout
if timer:
    timer.cancel()
with open(sys.argv[1], "w") as out:
    json.dump([wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss,
               os.waitstatus_to_exitcode(status), killed], out)
"""


def machine_busy_s() -> float | None:
    """CPU seconds every process of the machine has used since boot (None: unknown).

    From ``/proc/stat`` (Linux): user, nice, system, irq, softirq and steal time
    of all CPUs (steal: time the hypervisor gave to other machines).
    """
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def measure(command: list[str], timeout_s: float | None = None, **popen) -> dict:
    """Run ``command`` once; return its wall and CPU time, peak memory, exit code.

    The numbers are those of the command's own process (``os.wait4`` on it, with
    the children it waited for): ``resource.getrusage(RUSAGE_CHILDREN)`` would
    give the maximum over every child waited for so far, letting one use case
    hide the next one's. ``background_cores`` is the CPU the *other* processes of
    the machine used meanwhile, in cores (0 on a quiet machine; None where
    ``/proc/stat`` does not exist).

    Parameters
    ----------
    command : list of str
        The program and its arguments.
    timeout_s : float, optional
        Kill the command if it runs longer (``timed_out`` true, exit code -9).
    **popen
        Passed to `subprocess.Popen` (``env``, ``cwd``, ``stdout``...).
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="sat-measure-") as scratch:
        report = Path(scratch, "rusage.json")
        spawner = [sys.executable, "-I", "-S", "-c", _SPAWNER, str(report)]
        spawner.append(str(timeout_s or 0))
        busy = machine_busy_s()
        subprocess.run([*spawner, *command], check=False, **popen)
        after = machine_busy_s()
        if not report.is_file():
            raise RuntimeError(f"could not run {command[0]!r}: see the error above")
        wall, cpu, maxrss_kib, code, killed = json.loads(report.read_text())
    background = None
    if busy is not None and after is not None and wall > 0:
        background = round(max(0.0, after - busy - cpu) / wall, 3)
    return {
        "wall_time_s": round(wall, 3),
        # CPU time does not grow with the load of a shared machine; wall time does.
        "cpu_time_s": round(cpu, 3),
        # Linux reports ru_maxrss in KiB.
        "peak_rss_mib": round(maxrss_kib / 1024, 1),
        "exit_code": code,
        "background_cores": background,
        "timed_out": killed,
    }


# ---------------------------------------------------------------- noise


def median_interval(samples, confidence: float) -> dict:
    """Median of ``samples`` and a distribution-free confidence interval of it.

    The interval is ``[x(k), x(n+1-k)]`` of the sorted samples: it holds the true
    median with probability ``1 - 2 P(B <= k-1)``, ``B ~ Binomial(n, 1/2)``,
    whatever the distribution of the noise (order statistics; no normality, which
    timings on a shared machine do not have). ``k`` is the largest giving at
    least ``confidence``; with too few samples even ``[min, max]`` (coverage
    ``1 - 2^(1-n)``: 94 % for 5 samples, 75 % for 3) falls short, and the returned
    ``confidence`` says so.

    Returns
    -------
    dict
        ``median``, ``low``, ``high``, ``confidence`` (the interval's coverage)
        and ``n``.
    """
    values = sorted(float(value) for value in samples)
    n = len(values)
    if not n:
        raise ValueError("no samples")

    def coverage(k: int) -> float:
        return 1 - 2 * sum(math.comb(n, i) for i in range(k)) / 2**n

    k = 1
    while k + 1 <= (n + 1) // 2 and coverage(k + 1) >= confidence:
        k += 1
    return {
        "median": statistics.median(values),
        "low": values[k - 1],
        "high": values[n - k],
        "confidence": round(coverage(k), 4),
        "n": n,
    }


def judge(
    value: float | None,
    limit: float,
    op: str,
    interval: dict | None = None,
    confidence: float = 0.9,
    busy: str = "",
) -> tuple[str, str]:
    """Verdict and reason of one budget.

    Parameters
    ----------
    value : float or None
        The figure (None: not measured, a FAIL).
    limit : float
        The budget.
    op : {"<=", ">="}
        How ``value`` must compare with ``limit``.
    interval : dict, optional
        `median_interval` of the samples; without it ``value`` is judged alone.
    confidence : float
        The coverage the interval needs to decide anything.
    busy : str
        Why the machine was too busy to measure this figure ("" when it was not).
    """
    meets = (lambda x: x <= limit) if op == "<=" else (lambda x: x >= limit)
    budget = f"budget {op} {limit:g}"
    if value is None:
        return FAIL, f"not measured ({budget})"
    if busy:
        return NOT_RESOLVABLE, f"{value:.4g}: {busy}"
    if interval is None:
        return (PASS if meets(value) else FAIL), f"{value:.4g} ({budget})"
    low, high = interval["low"], interval["high"]
    span = (
        f"median {value:.4g}, {100 * interval['confidence']:.1f} % interval "
        f"[{low:.4g}, {high:.4g}] of {interval['n']} samples"
    )
    if interval["confidence"] < confidence:
        return NOT_RESOLVABLE, (
            f"{span}: too few samples for a {100 * confidence:.0f} % interval "
            f"({budget})"
        )
    if meets(low) and meets(high):
        return PASS, f"{span} meets the {budget}"
    if not meets(low) and not meets(high):
        return FAIL, f"{span} misses the {budget}"
    return NOT_RESOLVABLE, (
        f"{span} straddles the {budget}: the noise is larger than the budget's "
        "margin (measure on a quiet machine, or with more repeats)"
    )


def describe(name: str, check: dict) -> str:
    """One line for a check: ``name: metric VERDICT: reason``."""
    return f"{name}: {check['metric']} {check['verdict']}: {check['reason']}"


# ---------------------------------------------------------------- budgets


def _limit(table, name: str) -> float:
    # A per-use-case table: {"default": x, "name": y}.
    return table.get(name, table["default"]) if isinstance(table, dict) else table


class Budget(NamedTuple):
    """One budget of a benchmark: ``metric op limit``.

    ``wall_ratio``: a ratio of wall times (a speedup), which other processes on
    the machine bias; it is judged only when the machine was quiet enough.
    """

    metric: str
    limit: float
    unit: str = ""
    op: str = "<="
    wall_ratio: bool = False


def _budgets(result: dict, thresholds: dict) -> list[Budget]:
    """Every budget of ``result``, from the ``benchmarks`` section of gates.yaml."""
    kind = result["kind"]
    if kind == "startup":
        return [Budget("ctao_sat_help_cpu_s", thresholds["cli_startup_s"], "s")]
    if kind == "usecase":
        name = result["usecase"]
        return [
            Budget("wall_time_s", _limit(thresholds["usecase_wall_time_s"], name), "s"),
            Budget(
                "peak_rss_mib",
                _limit(thresholds["usecase_peak_rss_mib"], name),
                "MiB",
            ),
            Budget("exit_code", 0),
        ]
    if kind == "overhead":
        return [Budget("overhead_fraction", thresholds["overhead_max_fraction"])]
    if kind in ("quicklook", "check"):
        return [Budget("max_run_cpu_s", thresholds[f"{kind}_run_cpu_s"], "s")]
    if kind == "datavolume":
        # The tolerances of the model's own validation on real DL3 (one home:
        # `ctao-sat datavolume` judges the same runs with them; each justified
        # there): event bytes, 1DC background events (sigma), real runs' events.
        from sat.datavolume import BYTES_TOLERANCE, POISSON_SIGMA, TEMPLATE_FACTOR

        return [
            Budget("max_events_bytes_deviation", BYTES_TOLERANCE),
            Budget("max_background_sigma", POISSON_SIGMA),
            Budget("max_events_factor", TEMPLATE_FACTOR),
        ]
    if kind == "scaling":
        return [
            Budget(
                "reduction_speedup",
                thresholds["scaling_min_speedup"],
                op=">=",
                wall_ratio=True,
            ),
            Budget(
                "speedup_vs_plain",
                thresholds["scaling_min_speedup_vs_plain"],
                op=">=",
                wall_ratio=True,
            ),
        ]
    if kind == "jupyter":  # docker/jupyter.py, in the container session (issue 17)
        return [
            Budget("jupyter_added_mb", thresholds["jupyter_added_mb"], "MB"),
            Budget("lab_ready_s", thresholds["jupyter_lab_ready_s"], "s"),
        ]
    raise ValueError(f"benchmark {result['name']!r}: unknown kind {kind!r}")


def _busy(result: dict, thresholds: dict) -> str:
    """Why the machine was too busy for the wall-time ratios of ``result``, or ""."""
    used = result["metrics"].get("background_cores")
    limit = thresholds.get("max_background_cores")
    if used is None or limit is None or used <= limit:
        return ""
    return (
        f"the machine was busy: other processes used {used:.2f} cores during "
        f"the runs (median; a wall-time ratio needs at most {limit:g})"
    )


def budget_checks(result: dict, thresholds: dict) -> list[dict]:
    """Check one benchmark result against its budgets in ``gates.yaml``.

    Parameters
    ----------
    result : dict
        ``{"name", "kind", "metrics", "samples" (optional), ...}`` as the
        benchmark scripts write it.
    thresholds : dict
        The ``benchmarks`` section of ``gates.yaml`` (``noise_confidence``,
        ``max_background_cores`` and the budgets).

    Returns
    -------
    list of dict
        One check per budget (keys in this module's docstring).
    """
    metrics, samples = result["metrics"], result.get("samples") or {}
    confidence = thresholds.get("noise_confidence", 0.9)
    busy = _busy(result, thresholds)
    checks = []
    for budget in _budgets(result, thresholds):
        value = None if result.get("error") else metrics.get(budget.metric)
        interval = None
        if value is not None and samples.get(budget.metric):
            interval = median_interval(samples[budget.metric], confidence)
        verdict, reason = judge(
            value,
            budget.limit,
            budget.op,
            interval,
            confidence,
            busy if budget.wall_ratio else "",
        )
        checks.append(
            {
                "metric": budget.metric,
                "value": value,
                "limit": budget.limit,
                "unit": budget.unit,
                "op": budget.op,
                "interval": [interval["low"], interval["high"]] if interval else None,
                "confidence": interval["confidence"] if interval else None,
                "n": interval["n"] if interval else (0 if value is None else 1),
                "verdict": verdict,
                "reason": reason,
                "ok": verdict == PASS,
            }
        )
    return checks


def expected_benchmarks(usecases) -> list[str]:
    """Name every benchmark a release must have, given the registered use cases."""
    names = ["cli-startup", *(f"usecase:{name}" for name in usecases)]
    if OVERHEAD_USECASE in usecases:
        names.append(f"overhead:{OVERHEAD_USECASE}")
    if SCALING_USECASE in usecases:
        names.append(SCALING)
    return [*names, *OPERATIONS]


# ---------------------------------------------------------------- history


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


def _interval(result: dict, metric: str) -> list[float] | None:
    samples = (result.get("samples") or {}).get(metric)
    if not samples:
        return None
    interval = median_interval(samples, 0.9)
    return [interval["low"], interval["high"]]


def compare(record: dict, previous: dict | None, regression_ratio: float) -> dict:
    """Compare a release's benchmarks with the previous release's.

    A metric is a regression when it is more than ``regression_ratio`` times
    worse (a speedup more than that many times smaller) and, where both
    releases recorded samples, their 90 % intervals of the median do not
    overlap: a change within the noise is not flagged.

    Parameters
    ----------
    record, previous : dict
        Benchmark records (``previous`` None when there is no earlier release).
    regression_ratio : float
        How many times worse a metric must be to be flagged.

    Returns
    -------
    dict
        ``{"previous": version or None, "regression_ratio", "rows": [...]}``,
        one row per metric present in both: ``benchmark``, ``metric``, ``unit``,
        ``better`` (``"lower"``/``"higher"``), ``previous``, ``current``,
        ``ratio`` (current / previous), the intervals where samples exist
        (``previous_interval``, ``current_interval``) and ``regression``.
    """
    comparison = {"previous": None, "regression_ratio": regression_ratio, "rows": []}
    if previous is None:
        return comparison
    comparison["previous"] = previous["release"]
    before = {result["name"]: result for result in previous["results"]}
    directions = [
        *((m, u, "lower") for m, u in LOWER_IS_BETTER.items()),
        *((m, u, "higher") for m, u in HIGHER_IS_BETTER.items()),
    ]
    for result in record["results"]:
        old_result = before.get(result["name"], {"metrics": {}})
        for metric, unit, better in directions:
            old = old_result["metrics"].get(metric)
            new = result["metrics"].get(metric)
            if not old or new is None:
                continue
            ratio = new / old
            worse = (
                ratio > regression_ratio
                if better == "lower"
                else (ratio < 1 / regression_ratio)
            )
            old_interval = _interval(old_result, metric)
            new_interval = _interval(result, metric)
            if worse and old_interval and new_interval:
                worse = (
                    new_interval[0] > old_interval[1]
                    if better == "lower"
                    else new_interval[1] < old_interval[0]
                )
            comparison["rows"].append(
                {
                    "benchmark": result["name"],
                    "metric": metric,
                    "unit": unit,
                    "better": better,
                    "previous": old,
                    "current": new,
                    "ratio": round(ratio, 3),
                    "previous_interval": old_interval,
                    "current_interval": new_interval,
                    "regression": worse,
                }
            )
    return comparison
