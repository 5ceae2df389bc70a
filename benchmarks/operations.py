"""Observatory operations: quick-look and quality-check time per run; data volume.

- ``quicklook``: `sat.quicklook.run_quicklook` on each of the 4 H.E.S.S. DR1 Crab
  runs and the 2 CTA 1DC GPS runs, one run at a time, in this process: wall and
  CPU time per run. One run is looked at first and not counted: it pays the
  imports and the caches, which a quick look of a night's runs pays once.
- ``check``: `sat.quality.check_paths` on the same runs: time per run.
- ``datavolume:agreement``: the data volume model checked against reality, as in
  tests/test_datavolume.py: CTAO runs of several live times and offsets are
  simulated (`sat.datavolume.simulate_runs`), bytes per event are measured on
  the first, and the event counts and file sizes of the others are predicted
  from the IRF rates and compared with the files written.

Budgets in gates.yaml (``quicklook_run_cpu_s``, ``check_run_cpu_s``,
``datavolume_max_bytes_deviation``).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

CRAB_RUNS = (23523, 23526, 23559, 23592)
# Live time (h) and offset (deg) of the simulated runs: the first calibrates
# bytes per event; the others are predicted.
VOLUME_CASES = ((0.1, 0.5), (0.2, 0.5), (0.3, 0.8), (0.5, 0.2))
VOLUME_IRF = "prod5-south-z20-50h"
VOLUME_HALF_WIDTH_DEG = 1.0
VOLUME_CRAB_FRACTION = 0.1


def _stores() -> list[tuple[str, Path, list[int]]]:
    data = Path(os.environ["GAMMAPY_DATA"])
    cta = data / "cta-1dc/index/gps"
    from astropy.table import Table

    cta_runs = [int(i) for i in Table.read(cta / "obs-index.fits.gz")["OBS_ID"]]
    return [
        ("H.E.S.S. DR1", data / "hess-dl3-dr1", list(CRAB_RUNS)),
        ("CTA 1DC", cta, cta_runs),
    ]


def _timed(function, *args, **kwargs) -> tuple[object, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - wall, time.process_time() - cpu


def _summary(name: str, kind: str, runs: list[dict]) -> dict:
    print(
        f"  {name}: {len(runs)} runs, "
        + ", ".join(f"{r['obs_id']} {r['wall_s']:.1f} s" for r in runs),
        flush=True,
    )
    return {
        "name": name,
        "kind": kind,
        "metrics": {
            "max_run_cpu_s": round(max(r["cpu_s"] for r in runs), 3),
            "mean_run_cpu_s": round(sum(r["cpu_s"] for r in runs) / len(runs), 3),
            "max_run_wall_s": round(max(r["wall_s"] for r in runs), 3),
            "runs": runs,
        },
    }


def quicklook(scratch: Path) -> dict:
    """Time `run_quicklook` on every run, one at a time."""
    from sat.quicklook import run_quicklook

    stores = _stores()
    _, first, ids = stores[0]
    run_quicklook(first, scratch / "warm-up", obs_ids=[ids[0]])
    runs = []
    for label, folder, obs_ids in stores:
        for obs_id in obs_ids:
            (summary,), wall, cpu = _timed(
                run_quicklook, folder, scratch / f"ql-{obs_id}", obs_ids=[obs_id]
            )
            runs.append(
                {
                    "data": label,
                    "obs_id": obs_id,
                    "wall_s": round(wall, 3),
                    "cpu_s": round(cpu, 3),
                    "n_events": summary["n_events"],
                }
            )
    return _summary("quicklook", "quicklook", runs)


def check() -> dict:
    """Time `check_paths` on every run: the H.E.S.S. files, the CTA 1DC store.

    A H.E.S.S. DR1 file holds a whole run (events and IRFs); a CTA 1DC run needs
    its store (the IRFs are in the CALDB). One call checks them all; the progress
    hook times each observation's checks.
    """
    from sat.quality import check_paths

    (_, hess, crab_runs), (_, cta, _) = _stores()
    files = [hess / "data" / _hess_file(obs_id) for obs_id in crab_runs]
    check_paths(files[:1])  # warm-up
    times = []

    def timed(jobs, desc):
        for job in jobs:
            wall, cpu = time.perf_counter(), time.process_time()
            yield job  # the caller checks this observation before asking again
            times.append((time.perf_counter() - wall, time.process_time() - cpu))

    reports = check_paths([*files, cta], progress=timed)
    # One report per checked observation, after any report of an unreadable path.
    checked = reports[len(reports) - len(times) :]
    runs = [
        {
            "data": "H.E.S.S. DR1" if Path(report.source) in files else "CTA 1DC",
            "obs_id": report.obs_id,
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
            "verdict": report.verdict,
            "reasons": [finding.reason for finding in report.findings],
        }
        for report, (wall, cpu) in zip(checked, times, strict=True)
    ]
    return _summary("check", "check", runs)


def _hess_file(obs_id: int) -> str:
    return f"hess_dl3_dr1_obs_id_{obs_id:06d}.fits.gz"


def datavolume(scratch: Path) -> dict:
    """Predict the event counts and sizes of simulated runs; compare with the files."""
    from sat.datavolume import (
        check_against_files,
        event_rate,
        measure_dl3,
        simulate_runs,
    )

    folder = scratch / "volume"
    folder.mkdir()
    files = simulate_runs(
        VOLUME_IRF,
        VOLUME_CASES,
        folder,
        VOLUME_HALF_WIDTH_DEG,
        VOLUME_CRAB_FRACTION,
    )
    rates = []
    for (_, offset), (_, livetime) in zip(VOLUME_CASES, files, strict=True):
        rate = event_rate(
            VOLUME_IRF,
            VOLUME_HALF_WIDTH_DEG,
            crab_fraction=VOLUME_CRAB_FRACTION,
            offset=offset,
        )
        rates.append((rate["background_hz"] + rate["gamma_hz"], livetime))
    measured = measure_dl3([files[0][0]])
    rows = check_against_files([f for f, _ in files[1:]], rates[1:], measured)
    for row, (livetime_h, offset) in zip(rows, VOLUME_CASES[1:], strict=True):
        row.update(
            {key: float(value) for key, value in row.items() if key != "file"},
            file=Path(row["file"]).name,
            livetime_h=livetime_h,
            offset_deg=offset,
        )
    deviation = max(abs(row["bytes_ratio"] - 1) for row in rows)
    print(
        "  datavolume: written / predicted bytes "
        + ", ".join(f"{row['bytes_ratio']:.3f}" for row in rows),
        flush=True,
    )
    return {
        "name": "datavolume:agreement",
        "kind": "datavolume",
        "metrics": {
            "max_bytes_deviation": round(deviation, 4),
            "max_events_deviation": round(
                max(abs(row["events_ratio"] - 1) for row in rows), 4
            ),
            "max_poisson_sigma": round(
                max(abs(row["poisson_sigma"]) for row in rows), 3
            ),
            "irf": VOLUME_IRF,
            "runs": rows,
        },
    }


def run() -> list[dict]:
    """Run the three operations benchmarks."""
    with tempfile.TemporaryDirectory(prefix="sat-operations-") as scratch:
        scratch = Path(scratch)
        return [quicklook(scratch), check(), datavolume(scratch)]
