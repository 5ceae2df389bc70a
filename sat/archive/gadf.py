"""GADF index tables (obs-index, hdu-index) for DL3 files, from their headers.

A folder of DL3 files becomes a Gammapy ``DataStore`` with two index tables. We
write them from what the files say about themselves: the HDU classes of the
GADF headers (``HDUCLAS1``..``HDUCLAS4``) give the hdu-index, the EVENTS header
gives the obs-index. (Gammapy's ``DataStore.from_events_files`` assumes the CTA
1DC HDU names and a CALDB, so it does not fit H.E.S.S. or CTAO files.) The target
name comes from the archive, which knows it better than the OBJECT keyword.

Also: `check_dl3_file`, the content check of a downloaded file (gzip CRC, FITS
checksums when present, every HDU readable, an EVENTS HDU).
"""

from __future__ import annotations

import gzip
import os
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

from sat.errors import DataError

__all__ = ["Run", "check_dl3_file", "hdu_rows", "write_indexes"]

OBS_INDEX = "obs-index.fits.gz"
HDU_INDEX = "hdu-index.fits.gz"
_CHUNK = 1 << 20
_GADF_META = {
    "HDUCLASS": "GADF",
    "HDUDOC": "https://github.com/open-gamma-ray-astro/gamma-astro-data-formats",
    "HDUVERS": "0.2",
    "HDUCLAS1": "INDEX",
}
# RESPONSE HDUs: HDUCLAS2 -> the hdu-index HDU_TYPE (HDU_CLASS is HDUCLAS4).
_RESPONSE_TYPES = {
    "EFF_AREA": "aeff",
    "EDISP": "edisp",
    "RPSF": "psf",
    "BKG": "bkg",
    "RAD_MAX": "rad_max",
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


def check_dl3_file(path: Path) -> None:
    """Check that ``path`` is a complete, readable DL3 file with an EVENTS HDU.

    A gzip file is read to its end, which checks its CRC-32 and length; FITS
    CHECKSUM/DATASUM keywords are verified when present; every HDU is read.

    Raises
    ------
    DataError
        Saying what is wrong (without the file name: the caller names it).
    """
    from astropy.io import fits

    path = Path(path)
    try:
        with open(path, "rb") as stream:
            compressed = stream.read(2) == b"\x1f\x8b"
        if compressed:
            with gzip.open(path) as stream:
                while stream.read(_CHUNK):
                    pass
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with fits.open(path, memmap=False, checksum=True) as hdus:
                names = [hdu.name for hdu in hdus]
                for hdu in hdus:
                    hdu.data  # noqa: B018 -- reading to the end finds truncation
    except (OSError, EOFError, ValueError, zlib.error) as error:
        kind = "gzip stream" if compressed else "FITS file"
        message = " ".join(str(error).split()) or type(error).__name__
        raise DataError(f"not a valid {kind} ({message})") from None
    problems = [
        str(w.message)
        for w in caught
        if "checksum" in str(w.message).lower() or "truncat" in str(w.message)
    ]
    if problems:
        raise DataError(" ".join(problems[0].split()))
    if "EVENTS" not in names:
        raise DataError(f"no EVENTS HDU (HDUs: {', '.join(names)})")


def _hdu_type(header) -> tuple[str, str] | None:
    """Return (HDU_TYPE, HDU_CLASS) of a GADF HDU, or None for other HDUs."""
    if header.get("HDUCLASS", "").strip() != "GADF":
        return None
    class1 = header.get("HDUCLAS1", "").strip().upper()
    if class1 in ("EVENTS", "GTI", "POINTING"):
        return class1.lower(), class1.lower()
    if class1 == "RESPONSE":
        kind = _RESPONSE_TYPES.get(header.get("HDUCLAS2", "").strip().upper())
        if kind:
            return kind, header.get("HDUCLAS4", kind).strip().lower()
    return None


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
            kind = _hdu_type(hdu.header)
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
