"""Each registered use case: wall time and peak memory of ``ctao-sat run NAME``.

Every use case runs once, in its own process, with its default configuration, into
``<usecase output>/<name>``: the same layout as ``ctao-sat run --all``, so
``nox -s verify`` validates these very runs instead of running them twice.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sat.usecases.registry import usecases
from satdev.benchmarks import measure


def run_one(name: str, output: Path) -> dict:
    """Run use case ``name`` into ``output / name`` and measure it."""
    ctao_sat = Path(sys.executable).parent / "ctao-sat"
    command = [str(ctao_sat), "run", name, "--output", str(output / name), "--quiet"]
    command.append("--overwrite")  # the previous benchmark's result is ours
    print(f"benchmark: {' '.join(command[1:])}", flush=True)
    metrics = measure(command)
    print(
        f"  {name}: {metrics['wall_time_s']:.1f} s "
        f"({metrics['cpu_time_s']:.1f} s CPU), "
        f"{metrics['peak_rss_mib']:.0f} MiB, exit {metrics['exit_code']}",
        flush=True,
    )
    return {
        "name": f"usecase:{name}",
        "kind": "usecase",
        "usecase": name,
        "metrics": metrics,
    }


def run(output: Path, only=None) -> list[dict]:
    """Benchmark every registered use case (or those named in ``only``)."""
    names = list(usecases())
    unknown = sorted(set(only or ()) - set(names))
    if unknown:
        raise SystemExit(f"unknown use case(s) {unknown}; registered: {names}")
    return [run_one(name, output) for name in names if not only or name in only]
