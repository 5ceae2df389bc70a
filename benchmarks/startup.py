"""CLI start-up: ``ctao-sat --help`` next to ``gammapy --help``, in the same run.

Each command runs ``repeat`` times after one warm-up, the two commands in turn;
the medians of wall time and of CPU time (user + system) are kept, and every
run's CPU time of ``ctao-sat --help`` in ``samples`` (the interval its budget is
judged on). The budget (gates.yaml) is on CPU time: on an idle machine it is the
wall time, and on a shared one it does not grow with the neighbours' load.
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


def timings(commands: list[list[str]], repeat: int = 5) -> list[list[dict]]:
    """``repeat`` measurements of each command, interleaved, after a warm-up each."""
    for command in commands:
        subprocess.run(command, capture_output=True, check=True)
    runs = [[] for _ in commands]
    for _ in range(repeat):
        for command, measured in zip(commands, runs, strict=True):
            measured.append(
                measure(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
    for command, measured in zip(commands, runs, strict=True):
        failed = [run for run in measured if run["exit_code"] != 0]
        if failed:
            raise SystemExit(f"{' '.join(command)} failed: {failed}")
    return runs


def _median(runs: list[dict], key: str) -> float:
    return round(statistics.median(run[key] for run in runs), 4)


def _script(name: str) -> str:
    # The console script of the environment running the benchmark.
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is not installed in {sys.prefix}")
    return found


def run(repeat: int = 5) -> dict:
    """Measure both start-ups (medians of ``repeat`` runs each) and their ratio."""
    ours, gammapy = timings(
        [[_script("ctao-sat"), "--help"], [_script("gammapy"), "--help"]], repeat
    )
    ours_cpu, gammapy_cpu = _median(ours, "cpu_time_s"), _median(gammapy, "cpu_time_s")
    ours_wall = _median(ours, "wall_time_s")
    gammapy_wall = _median(gammapy, "wall_time_s")
    return {
        "name": "cli-startup",
        "kind": "startup",
        "metrics": {
            "ctao_sat_help_cpu_s": ours_cpu,
            "gammapy_help_cpu_s": gammapy_cpu,
            "ratio_cpu": round(ours_cpu / gammapy_cpu, 4),
            "ctao_sat_help_s": ours_wall,
            "gammapy_help_s": gammapy_wall,
            "ratio": round(ours_wall / gammapy_wall, 4),
            "repeat": repeat,
        },
        "samples": {"ctao_sat_help_cpu_s": [run["cpu_time_s"] for run in ours]},
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
