"""CLI start-up: ``ctao-sat --help`` next to ``gammapy --help``, in the same run.

Each command runs ``repeat`` times after one warm-up; the medians of wall time and
of CPU time (user + system) are kept. The budget (gates.yaml) is on CPU time: on
an idle machine it is the wall time, and on a shared one it does not grow with the
neighbours' load.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
from pathlib import Path

# Run standalone too: `satdev` (the verification tooling) is in the repository only.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from satdev.benchmarks import measure
from satdev.gates import load_thresholds


def timings(command: list[str], repeat: int = 5) -> tuple[float, float]:
    """Median wall and CPU time of ``command`` over ``repeat`` runs, after a warm-up."""
    subprocess.run(command, capture_output=True, check=True)
    runs = [
        measure(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(repeat)
    ]
    failed = [run for run in runs if run["exit_code"] != 0]
    if failed:
        raise SystemExit(f"{' '.join(command)} failed: {failed}")
    return (
        statistics.median(run["wall_time_s"] for run in runs),
        statistics.median(run["cpu_time_s"] for run in runs),
    )


def _script(name: str) -> str:
    # The console script of the environment running the benchmark.
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is not installed in {sys.prefix}")
    return found


def run(repeat: int = 5) -> dict:
    """Measure both start-ups (medians of ``repeat`` runs each) and their ratio."""
    ours_wall, ours_cpu = timings([_script("ctao-sat"), "--help"], repeat)
    gammapy_wall, gammapy_cpu = timings([_script("gammapy"), "--help"], repeat)
    return {
        "name": "cli-startup",
        "kind": "startup",
        "metrics": {
            "ctao_sat_help_cpu_s": round(ours_cpu, 4),
            "gammapy_help_cpu_s": round(gammapy_cpu, 4),
            "ratio_cpu": round(ours_cpu / gammapy_cpu, 4),
            "ctao_sat_help_s": round(ours_wall, 4),
            "gammapy_help_s": round(gammapy_wall, 4),
            "ratio": round(ours_wall / gammapy_wall, 4),
            "repeat": repeat,
        },
    }


if __name__ == "__main__":
    result = run()["metrics"]
    print(
        f"ctao-sat --help {result['ctao_sat_help_cpu_s']:.3f} s CPU "
        f"({result['ctao_sat_help_s']:.3f} s wall) | "
        f"gammapy --help {result['gammapy_help_cpu_s']:.3f} s CPU "
        f"({result['gammapy_help_s']:.3f} s wall) | "
        f"budget {load_thresholds()['benchmarks']['cli_startup_s']} s CPU"
    )
