"""Writing the index tables of a data store: obs-index and hdu-index.

A folder of DL3 files becomes a Gammapy ``DataStore`` with two index tables:

- `write_indexes` writes them from what the files say about themselves: the HDU
  types of their GADF headers (`sat.dl3.hdus`) give the hdu-index, the EVENTS
  header the obs-index, the target name comes from the caller (an archive knows
  it better than the OBJECT keyword). Gammapy's ``DataStore.from_events_files``
  assumes the CTA 1DC HDU names and a CALDB, so it does not fit H.E.S.S. or CTAO
  files; the hdu-index goes first, the obs-index last, each atomically: a folder
  with an obs-index is complete.
- `index_simulated` indexes event files simulated by Gammapy with the IRF file
  they were simulated with (`sat.simulate`), through ``from_events_files``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from sat.dl3.hdus import hdu_type
from sat.dl3.store import HDU_INDEX, OBS_INDEX
from sat.errors import DataError

__all__ = ["Run", "hdu_rows", "index_simulated", "write_indexes"]

_GADF_META = {
    "HDUCLASS": "GADF",
    "HDUDOC": "https://github.com/open-gamma-ray-astro/gamma-astro-data-formats",
    "HDUVERS": "0.2",
    "HDUCLAS1": "INDEX",
}
# obs-index columns copied from the EVENTS header: name, unit, kind.
_OBS_COLUMNS = (
    ("RA_PNT", "deg", float),
    ("DEC_PNT", "deg", float),
    ("ALT_PNT", "deg", float),
    ("AZ_PNT", "deg", float),
    ("OBJECT", None, str),
    ("RA_OBJ", "deg", float),
    ("DEC_OBJ", "deg", float),
    ("ONTIME", "s", float),
    ("LIVETIME", "s", float),
    ("DEADC", None, float),
    ("TSTART", "s", float),
    ("TSTOP", "s", float),
    ("DATE-OBS", None, str),
    ("TIME-OBS", None, str),
    ("DATE-END", None, str),
    ("TIME-END", None, str),
    ("OBS_MODE", None, str),
    ("N_TELS", None, int),
    ("TELLIST", None, str),
    ("QUALITY", None, int),
    ("MUONEFF", None, float),
    ("TELESCOP", None, str),
    ("INSTRUME", None, str),
)
# Time reference of TSTART/TSTOP: must be the same for every run of the table.
_TIME_KEYS = ("MJDREFI", "MJDREFF", "TIMEUNIT", "TIMESYS", "TIMEREF")
_SITE_KEYS = ("GEOLON", "GEOLAT", "ALTITUDE")


@dataclass(frozen=True)
class Run:
    """A downloaded run: its file (relative to the folder) and archive metadata."""

    file: str
    target: str


def hdu_rows(folder: Path, file: str) -> tuple[int, list[dict], object]:
    """Return (OBS_ID, hdu-index rows, EVENTS header) of one DL3 file.

    Parameters
    ----------
    folder : Path
        The data store folder.
    file : str
        The file, relative to ``folder``.
    """
    from astropy.io import fits

    path = Path(folder, file)
    with fits.open(path, memmap=False) as hdus:
        events = hdus["EVENTS"].header.copy()
        obs_id = int(events["OBS_ID"])
        rows = []
        for hdu in hdus[1:]:
            kind = hdu_type(hdu.header, hdu.name)
            if kind is None:
                continue
            rows.append(
                {
                    "OBS_ID": obs_id,
                    "HDU_TYPE": kind[0],
                    "HDU_CLASS": kind[1],
                    "FILE_DIR": os.path.dirname(file) or ".",
                    "FILE_NAME": os.path.basename(file),
                    "HDU_NAME": hdu.name,
                }
            )
    return obs_id, rows, events


def _obs_row(obs_id: int, header, target: str, present: set) -> dict:
    row = {"OBS_ID": obs_id}
    for name, _, kind in _OBS_COLUMNS:
        if name in present:
            row[name] = kind(header[name])
    if "ALT_PNT" in present:
        row["ZEN_PNT"] = 90.0 - float(header["ALT_PNT"])
    row["EVENT_COUNT"] = int(header["NAXIS2"])
    row["TARGET_NAME"] = target
    return row


def _write(table, path: Path) -> None:
    # Atomic: a reader never sees half an index. (The temporary name keeps the
    # .gz ending: astropy compresses by the name.)
    part = path.with_name(f".part-{path.name}")
    table.write(part, format="fits", overwrite=True)
    os.replace(part, path)


def write_indexes(folder: Path, runs: list[Run]) -> tuple[Path, Path]:
    """Write the hdu-index and then the obs-index of ``runs`` into ``folder``.

    Returns
    -------
    tuple of Path
        The obs-index and hdu-index files.

    Raises
    ------
    DataError
        A file is not GADF (no EVENTS HDU or OBS_ID) or the runs use different
        time references.
    """
    from astropy.table import Table

    folder = Path(folder)
    headers, hdu_table_rows = {}, []
    for run in runs:
        try:
            obs_id, rows, header = hdu_rows(folder, run.file)
        except (OSError, KeyError, ValueError) as error:
            raise DataError(
                f"{folder / run.file} is not a GADF DL3 file: {error}"
            ) from None
        headers[obs_id] = (header, run.target)
        hdu_table_rows.extend(rows)
    first = next(iter(headers.values()))[0]
    reference = {k: first.get(k) for k in _TIME_KEYS}
    for obs_id, (header, _) in headers.items():
        if {k: header.get(k) for k in _TIME_KEYS} != reference:
            raise DataError(
                f"run {obs_id} has another time reference than the other runs "
                f"({', '.join(_TIME_KEYS)}): fetch it into another folder"
            )
    present = set.intersection(
        *(
            {name for name, _, _ in _OBS_COLUMNS if name in h}
            for h, _ in headers.values()
        )
    )
    obs_rows = [
        _obs_row(obs_id, header, target, present)
        for obs_id, (header, target) in sorted(headers.items())
    ]
    obs_table = Table(rows=obs_rows)
    for name, unit, _ in _OBS_COLUMNS:
        if name in obs_table.colnames and unit:
            obs_table[name].unit = unit
    if "ZEN_PNT" in obs_table.colnames:
        obs_table["ZEN_PNT"].unit = "deg"
    obs_table.meta.update(
        {k: v for k, v in reference.items() if v is not None},
        **{k: first[k] for k in _SITE_KEYS if k in first},
        **_GADF_META,
        HDUCLAS2="OBS",
        EXTNAME="OBS_INDEX",
    )
    hdu_table = Table(rows=hdu_table_rows)
    hdu_table.meta.update(_GADF_META, HDUCLAS2="HDU", EXTNAME="HDU_INDEX")
    obs_path, hdu_path = folder / OBS_INDEX, folder / HDU_INDEX
    # The hdu-index first: the obs-index is what makes the folder a data store.
    _write(hdu_table, hdu_path)
    _write(obs_table, obs_path)
    return obs_path, hdu_path


def index_simulated(event_files, irf_file, folder) -> list[Path]:
    """Index simulated event files so that Gammapy's `DataStore` reads them.

    The IRF file is copied next to the events (one copy for all observations) and
    the index tables refer to files by paths relative to ``folder``, so the folder
    can be moved as a whole.

    Parameters
    ----------
    event_files : list of Path
        Event files inside ``folder`` (from `Observation.write` without IRFs).
    irf_file : Path
        The GADF IRF file the events were simulated with.
    folder : Path
        The data-store folder.

    Returns
    -------
    list of Path
        The IRF copy, ``hdu-index.fits.gz`` and ``obs-index.fits.gz``.
    """
    from gammapy.data import DataStore

    folder = Path(folder)
    irf_copy = folder / "irf" / Path(irf_file).name
    irf_copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(irf_file, irf_copy)
    store = DataStore.from_events_files(
        [Path(path) for path in event_files], irfs_paths=[irf_copy] * len(event_files)
    )
    hdu_table = store.hdu_table
    # DataStoreMaker stores absolute folders; the GADF index allows relative ones.
    hdu_table["FILE_DIR"] = [
        Path(directory).relative_to(folder.absolute()).as_posix()
        if Path(directory).is_absolute()
        else directory
        for directory in hdu_table["FILE_DIR"]
    ]
    obs_table = store.obs_table
    for column in ("EVENTS_FILENAME", "IRF_FILENAME"):
        if column in obs_table.colnames:
            obs_table.remove_column(column)
    hdu_index, obs_index = folder / HDU_INDEX, folder / OBS_INDEX
    hdu_table.write(hdu_index, format="fits", overwrite=True)
    obs_table.write(obs_index, format="fits", overwrite=True)
    return [irf_copy, hdu_index, obs_index]
