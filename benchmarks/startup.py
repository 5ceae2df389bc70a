"""CLI start-up: ``ctao-sat --help`` next to ``gammapy --help``, in the same run."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BUDGET_S = 0.3  # ctao-sat --help must not import the scientific stack


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
    return str(path) if path.exists() else shutil.which(name)


def run() -> dict:
    """Measure both start-ups and their ratio."""
    ours = wall_time([_script("ctao-sat"), "--help"])
    gammapy = wall_time([_script("gammapy"), "--help"])
    return {
        "name": "cli-startup",
        "ctao_sat_help_s": round(ours, 4),
        "gammapy_help_s": round(gammapy, 4),
        "ratio": round(ours / gammapy, 4),
        "budget_s": BUDGET_S,
        "within_budget": ours <= BUDGET_S,
    }


if __name__ == "__main__":
    result = run()
    print(
        f"ctao-sat --help {result['ctao_sat_help_s']:.3f} s | "
        f"gammapy --help {result['gammapy_help_s']:.3f} s | "
        f"ratio {result['ratio']:.2f} | budget {BUDGET_S} s"
    )
