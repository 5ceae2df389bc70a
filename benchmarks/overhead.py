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
    """Return the largest difference of the two fitted power laws, in sigma.

    More than 0.01 sigma means the plain script no longer does the use case's
    analysis (the benchmark then reports an error instead of an overhead).
    """
    fitted = json.loads((ours / "result.json").read_text())["parameters"]
    reference = json.loads((plain / "parameters.json").read_text())
    return round(
        max(
            abs(fitted[name]["value"] - reference[name]["value"])
            / fitted[name]["error"]
            for name in ("index", "amplitude")
        ),
        6,
    )


def run() -> dict | None:
    """Measure the overhead, or return None while spectrum-1d is not registered.

    A failed run or a plain script that fits another result gives a result with
    an ``error`` and no overhead: the benchmarks gate fails and says why.
    """
    if OVERHEAD_USECASE not in usecases():
        print(f"overhead: no {OVERHEAD_USECASE} use case registered yet", flush=True)
        return None
    repeats = load_thresholds()["benchmarks"]["overhead_repeats"]
    ctao_sat = Path(sys.executable).parent / "ctao-sat"
    ours, plain, error, difference = [], [], None, None
    with tempfile.TemporaryDirectory(prefix="sat-overhead-") as scratch:
        for attempt in range(repeats):
            output = Path(scratch, f"sat-{attempt}")
            command = [str(ctao_sat), "run", OVERHEAD_USECASE, "--output", str(output)]
            ours.append(measure([*command, "-q"]))
            output = Path(scratch, f"plain-{attempt}")
            plain.append(measure([sys.executable, str(PLAIN), "--output", str(output)]))
        failed = [m for m in ours + plain if m["exit_code"] != 0]
        if failed:
            error = f"a run failed: exit codes {[m['exit_code'] for m in failed]}"
        else:
            difference = same_analysis(Path(scratch, "sat-0"), Path(scratch, "plain-0"))
            if difference > 0.01:
                error = (
                    f"{PLAIN.name} fitted another power law than {OVERHEAD_USECASE} "
                    f"({difference:.3g} sigma): update it"
                )
    best_ours = min(m["wall_time_s"] for m in ours)
    best_plain = min(m["wall_time_s"] for m in plain)
    print(
        f"  overhead: ctao-sat {best_ours:.2f} s, plain {best_plain:.2f} s"
        + (f", ERROR {error}" if error else ""),
        flush=True,
    )
    result = {
        "name": f"overhead:{OVERHEAD_USECASE}",
        "kind": "overhead",
        "metrics": {
            "ctao_sat_s": best_ours,
            "plain_gammapy_s": best_plain,
            "overhead_fraction": None
            if error
            else round(best_ours / best_plain - 1, 4),
            "parameter_difference_sigma": difference,
            "repeats": repeats,
            "ctao_sat_runs_s": [m["wall_time_s"] for m in ours],
            "plain_gammapy_runs_s": [m["wall_time_s"] for m in plain],
        },
    }
    if error:
        result["error"] = error
    return result
