"""``ctao-sat run spectrum-1d`` against a plain Gammapy script doing the same analysis.

Both run as whole processes, interleaved, ``overhead_repeats`` times each (from
gates.yaml); the fastest run of each counts, which damps the noise of a shared
machine. The overhead is ``ctao_sat_s / plain_gammapy_s - 1`` (budget in gates.yaml).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from sat.usecases.registry import usecases
from sat.verification.benchmarks import OVERHEAD_USECASE, measure
from sat.verification.gates import load_thresholds

PLAIN = Path(__file__).resolve().parent / "plain_spectrum_1d.py"


def same_analysis(ours: Path, plain: Path) -> float:
    """Check both runs fitted the same power law; return the largest difference.

    The difference is in units of the fitted error; more than 0.01 sigma means the
    plain script no longer does the use case's analysis.
    """
    fitted = json.loads((ours / "result.json").read_text())["parameters"]
    reference = json.loads((plain / "parameters.json").read_text())
    difference = max(
        abs(fitted[name]["value"] - reference[name]["value"]) / fitted[name]["error"]
        for name in ("index", "amplitude")
    )
    if difference > 0.01:
        raise SystemExit(
            f"overhead: the plain script fitted another power law than "
            f"{OVERHEAD_USECASE} ({difference:.3g} sigma): update {PLAIN.name}"
        )
    return round(difference, 6)


def run() -> dict | None:
    """Measure the overhead, or return None while spectrum-1d is not registered."""
    if OVERHEAD_USECASE not in usecases():
        print(f"overhead: no {OVERHEAD_USECASE} use case registered yet", flush=True)
        return None
    if not PLAIN.is_file():
        raise SystemExit(f"overhead: {PLAIN} is missing")
    repeats = load_thresholds()["benchmarks"]["overhead_repeats"]
    ctao_sat = Path(sys.executable).parent / "ctao-sat"
    ours, plain = [], []
    with tempfile.TemporaryDirectory(prefix="sat-overhead-") as scratch:
        for attempt in range(repeats):
            output = Path(scratch, f"sat-{attempt}")
            command = [
                str(ctao_sat),
                "run",
                OVERHEAD_USECASE,
                "--output",
                str(output),
                "-q",
            ]
            ours.append(measure(command))
            command = [
                sys.executable,
                str(PLAIN),
                "--output",
                str(Path(scratch, f"plain-{attempt}")),
            ]
            plain.append(measure(command))
        failed = [m for m in ours + plain if m["exit_code"] != 0]
        if failed:
            raise SystemExit(f"overhead: a run failed: {failed}")
        difference = same_analysis(Path(scratch, "sat-0"), Path(scratch, "plain-0"))
    best_ours = min(m["wall_time_s"] for m in ours)
    best_plain = min(m["wall_time_s"] for m in plain)
    print(
        f"  overhead: ctao-sat {best_ours:.2f} s, plain {best_plain:.2f} s", flush=True
    )
    return {
        "name": f"overhead:{OVERHEAD_USECASE}",
        "kind": "overhead",
        "metrics": {
            "ctao_sat_s": best_ours,
            "plain_gammapy_s": best_plain,
            "overhead_fraction": round(best_ours / best_plain - 1, 4),
            "parameter_difference_sigma": difference,
            "repeats": repeats,
            "ctao_sat_runs_s": [m["wall_time_s"] for m in ours],
            "plain_gammapy_runs_s": [m["wall_time_s"] for m in plain],
        },
    }
