"""``ctao-sat run spectrum-1d`` against a plain Gammapy script doing the same analysis.

Both run as whole processes, interleaved, ``overhead_repeats`` times each (from
gates.yaml); the fastest run of each counts. The overhead is measured on CPU time
(user + system, of each process): ``ctao_sat_cpu_s / plain_gammapy_cpu_s - 1``,
budget in gates.yaml. On a shared machine wall time mostly measures the other
processes (a run of 20 s of CPU took 60 s of wall time on 2 cores at load 10);
the wall-time overhead is recorded too.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from sat.usecases.registry import usecases
from satdev.benchmarks import OVERHEAD_USECASE, measure
from satdev.gates import load_thresholds

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
    best = {
        key: (min(m[key] for m in ours), min(m[key] for m in plain))
        for key in ("cpu_time_s", "wall_time_s")
    }
    (ours_cpu, plain_cpu), (ours_wall, plain_wall) = best.values()
    print(
        f"  overhead: ctao-sat {ours_cpu:.1f} s CPU ({ours_wall:.1f} s wall), "
        f"plain {plain_cpu:.1f} s CPU ({plain_wall:.1f} s wall)"
        + (f", ERROR {error}" if error else ""),
        flush=True,
    )
    result = {
        "name": f"overhead:{OVERHEAD_USECASE}",
        "kind": "overhead",
        "metrics": {
            "ctao_sat_cpu_s": ours_cpu,
            "plain_gammapy_cpu_s": plain_cpu,
            "overhead_fraction": None if error else round(ours_cpu / plain_cpu - 1, 4),
            "ctao_sat_wall_s": ours_wall,
            "plain_gammapy_wall_s": plain_wall,
            "overhead_wall_fraction": round(ours_wall / plain_wall - 1, 4),
            "parameter_difference_sigma": difference,
            "repeats": repeats,
            "runs": {"ctao_sat": ours, "plain_gammapy": plain},
        },
    }
    if error:
        result["error"] = error
    return result
