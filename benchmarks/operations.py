"""Observatory operations: quick-look and quality-check time per run; data volume.

- ``quicklook``: `sat.quicklook.run_quicklook` on each of the 4 H.E.S.S. DR1 Crab
  runs and the 2 CTA 1DC GPS runs, one run at a time, in this process: wall and
  CPU time per run. One run is looked at first and not counted: it pays the
  imports and the caches, which a quick look of a night's runs pays once.
- ``check``: `sat.quality.check_paths` on the same runs: time per run.
- ``datavolume:agreement``: the data volume model's per-run predictions checked
  on DL3 it did not make (`sat.datavolume.check_real_runs`, as ``ctao-sat
  datavolume`` and tests/test_datavolume.py do): every H.E.S.S. DR1 and CTA 1DC
  run in GAMMAPY_DATA, its events predicted from its live time and background
  IRF, its event bytes from its event count with the row width and compression
  of the OTHER runs of its release, against the file on disk.

Budgets: gates.yaml (``quicklook_run_cpu_s``, ``check_run_cpu_s``); the data
volume is judged with the tolerances of `sat.datavolume` (`real_run_checks`:
one home for the figures the tool itself reports).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

CRAB_RUNS = (23523, 23526, 23559, 23592)
# What the record keeps of each `check_real_runs` row (the report plots them).
VOLUME_KEYS = (
    "release",
    "obs_id",
    "file",
    "livetime_s",
    "events",
    "predicted_events",
    "events_ratio",
    "background_events",
    "background_sigma",
    "events_in_file",
    "row_bytes",
    "compression",
    "events_bytes",
    "predicted_events_bytes",
    "events_bytes_ratio",
    "bytes",
    "predicted_bytes",
    "bytes_ratio",
)


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


def datavolume() -> dict:
    """The volume model's per-run predictions on the H.E.S.S. DR1 and 1DC runs."""
    from sat.datavolume import check_real_runs
    from sat.dl3.store import open_store

    releases = {label: open_store(folder) for label, folder, _ in _stores()}
    result = volume_result(check_real_runs(releases))
    print(
        "  datavolume: event bytes in file / predicted "
        + ", ".join(
            f"{r['events_bytes_ratio']:.3f}" for r in result["metrics"]["runs"]
        ),
        flush=True,
    )
    return result


def _worst(values: list[float], digits: int) -> float | None:
    return round(max(values), digits) if values else None


def volume_result(rows: list[dict]) -> dict:
    """The ``datavolume:agreement`` result of `check_real_runs` rows.

    Its metrics are the worst run of each `real_run_checks` check, judged by
    `satdev.benchmarks.budget_checks` with the same tolerances; the checks
    themselves (quantity, why, verdict) go to ``validation``.
    """
    from sat.datavolume import real_run_checks

    simulated = [r for r in rows if r["background_sigma"] is not None]
    real = [r for r in rows if r["background_sigma"] is None]
    return {
        "name": "datavolume:agreement",
        "kind": "datavolume",
        "metrics": {
            # Budgets: event bytes, 1DC background events, real runs' events
            # (None when no run of that kind was checked: the budget fails).
            "max_events_bytes_deviation": _worst(
                [abs(r["events_bytes_ratio"] - 1) for r in rows], 4
            ),
            "max_background_sigma": _worst(
                [abs(r["background_sigma"]) for r in simulated], 3
            ),
            "max_events_factor": _worst(
                [max(r["events_ratio"], 1 / r["events_ratio"]) for r in real], 3
            ),
            # Not a budget: whole files, IRFs included (averaged over the others).
            "max_bytes_deviation": _worst([abs(r["bytes_ratio"] - 1) for r in rows], 4),
            "runs_checked": {
                name: sum(r["release"] == name for r in rows)
                for name in dict.fromkeys(r["release"] for r in rows)
            },
            "runs": [{key: row[key] for key in VOLUME_KEYS} for row in rows],
        },
        "validation": [check.model_dump() for check in real_run_checks(rows)],
    }


def run() -> list[dict]:
    """Run the three operations benchmarks."""
    with tempfile.TemporaryDirectory(prefix="sat-operations-") as scratch:
        scratch = Path(scratch)
        return [quicklook(scratch), check(), datavolume()]
