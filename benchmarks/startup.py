"""CLI start-up: ``ctao-sat --help`` next to ``gammapy --help``, in the same run."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from sat.verification.gates import load_thresholds


def wall_time(command: list[str], repeat: int = 5) -> float:
    """Median wall time of ``command`` over ``repeat`` runs (after one warm-up)."""
    subprocess.run(command, capture_output=True, check=True)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _script(name: str) -> str:
    # The console script of the environment running the benchmark.
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is not installed in {sys.prefix}")
    return found


def run(repeat: int = 5) -> dict:
    """Measure both start-ups (median of ``repeat`` runs each) and their ratio."""
    ours = wall_time([_script("ctao-sat"), "--help"], repeat)
    gammapy = wall_time([_script("gammapy"), "--help"], repeat)
    return {
        "name": "cli-startup",
        "kind": "startup",
        "metrics": {
            "ctao_sat_help_s": round(ours, 4),
            "gammapy_help_s": round(gammapy, 4),
            "ratio": round(ours / gammapy, 4),
            "repeat": repeat,
        },
    }


if __name__ == "__main__":
    result = run()["metrics"]
    print(
        f"ctao-sat --help {result['ctao_sat_help_s']:.3f} s | "
        f"gammapy --help {result['gammapy_help_s']:.3f} s | "
        f"ratio {result['ratio']:.2f} | "
        f"budget {load_thresholds()['benchmarks']['cli_startup_s']} s"
    )
