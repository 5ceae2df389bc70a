"""Checking the observations of data stores and DL3 files: the orchestration.

Each observation (a run of a GADF data store, or a DL3 FITS file) has its HDUs
located (`sat.dl3.hdus`), its files read through (`sat.dl3.files.damage`), then
the checks of its events (`sat.quality.events`) and of its pointing and IRFs
(`sat.quality.irfs`). A file that cannot be read is a FAIL naming it, never a
traceback: every step runs inside `sat.quality.report.guarded`, which turns an
exception into a reason.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from sat.config import BaseConfig
from sat.dl3.files import damage
from sat.dl3.hdus import hdus_of_file, hdus_of_store, read_hdu
from sat.dl3.store import HDU_INDEX, INDEX_TABLES, OBS_INDEX
from sat.quality.events import check_deadtime, check_events, check_gti, check_times
from sat.quality.irfs import check_irfs, check_pointing, gammapy_checks
from sat.quality.report import FAIL, WARN, ObservationReport, guarded

__all__ = ["CheckConfig", "check_paths"]


class CheckConfig(BaseConfig):
    """What ``ctao-sat check`` checks: data store folders or DL3 FITS files."""

    paths: list[str] = Field(min_length=1)


# HDUs: required ones FAIL when missing (no analysis without them), others WARN.
REQUIRED_HDUS = ("events", "gti", "aeff", "edisp")
OPTIONAL_HDUS = ("psf", "bkg")


def _check_observation(report, hdus, single_file=False):
    """Run every check of one observation, whose HDUs are ``hdus``."""
    files = sorted({path for path, *_ in hdus.values() if path.is_file()})
    for path in files:
        problem = guarded(report, "read", str(path), damage, path)
        if problem is not None:
            report.add(FAIL, "read", f"cannot read {path}: {problem}")
    if report.verdict == FAIL:
        return report
    hint = " (IRFs in another file? check the data store folder)" if single_file else ""
    for kind in REQUIRED_HDUS:
        if kind not in hdus:
            report.add(
                FAIL,
                "hdus",
                f"no {kind.upper()} HDU{hint if kind not in ('events', 'gti') else ''}",
            )
    for kind in OPTIONAL_HDUS:
        if kind not in hdus:
            report.add(WARN, "hdus", f"no {kind.upper()} HDU")
    for kind, (path, *_) in hdus.items():
        if not path.is_file():
            report.add(FAIL, "read", f"{kind} file {path} does not exist")
    hdus = {k: v for k, v in hdus.items() if v[0].is_file()}
    events = gti_table = None
    if "events" in hdus:
        path, name, _ = hdus["events"]
        read = guarded(report, "read", f"EVENTS of {path}", read_hdu, path, name)
        if read is not None:
            header, events, units = read
            if report.obs_id is None and "OBS_ID" in header:
                report.obs_id = int(header["OBS_ID"])
            check_events(report, header, events, units)
    if "gti" in hdus:
        path, name, _ = hdus["gti"]
        read = guarded(report, "read", f"GTI of {path}", read_hdu, path, name)
        if read is not None:
            gti_table = check_gti(report, *read)
    if events is not None:
        check_deadtime(report, header, gti_table)
        check_times(report, header, events, gti_table)
    irfs = check_irfs(report, hdus)
    if events is not None:
        irf_file = hdus["aeff"][0] if "aeff" in hdus else None
        guarded(
            report,
            "pointing",
            "the pointing",
            check_pointing,
            report,
            header,
            events,
            irfs,
            irf_file,
        )
    if {"gti", "aeff", "edisp"} <= set(hdus) and report.verdict != FAIL:
        guarded(
            report,
            "gammapy",
            "the observation with Gammapy",
            gammapy_checks,
            report,
            hdus,
        )
    return report


def check_paths(paths, progress=None) -> list[ObservationReport]:
    """Check every observation in ``paths``.

    Parameters
    ----------
    paths : list of path-like
        Data store folders (with their obs-index and hdu-index)
        or DL3 FITS files (events and GTI, IRFs in the same file or reported missing).
    progress : callable, optional
        ``progress(iterable, desc)`` wrapper (a tqdm bar).

    Returns
    -------
    list of ObservationReport
        One per observation, in the order found; a path that cannot be read at all
        gives one FAIL report naming it.
    """
    jobs = []
    reports = []
    for path in map(Path, paths):
        if not path.exists():  # one bad argument: named, the others checked
            report = ObservationReport(None, str(path))
            report.add(
                FAIL,
                "read",
                f"{path} does not exist: give a data store folder or DL3 files",
            )
            reports.append(report)
            continue
        if path.is_dir():
            if not all((path / name).is_file() for name in INDEX_TABLES):
                report = ObservationReport(None, str(path))
                report.add(FAIL, "read", f"{path} has no {OBS_INDEX} / {HDU_INDEX}")
                reports.append(report)
                continue
            store = guarded(
                report := ObservationReport(None, str(path)),
                "read",
                f"the index tables of {path}",
                lambda p: list(hdus_of_store(p)),
                path,
            )
            if store is None:
                reports.append(report)
                continue
            for obs_id, hdus in store:
                if hdus is None:
                    report = ObservationReport(obs_id, str(path))
                    report.add(
                        WARN,
                        "hdus",
                        f"in {HDU_INDEX} but not in {OBS_INDEX}: a DataStore "
                        "cannot select it",
                    )
                    reports.append(report)
                else:
                    jobs.append((obs_id, str(path), hdus, False))
        else:
            report = ObservationReport(None, str(path))
            hdus = guarded(report, "read", str(path), hdus_of_file, path)
            if hdus is None:
                reports.append(report)
                continue
            jobs.append((None, str(path), hdus, True))
    iterable = progress(jobs, "checking") if progress else jobs
    for obs_id, source, hdus, single_file in iterable:
        report = ObservationReport(obs_id, source)
        reports.append(_check_observation(report, hdus, single_file))
    return reports
