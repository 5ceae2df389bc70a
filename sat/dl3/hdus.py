"""What each HDU of a DL3 file is: its GADF type and class, from its header.

The GADF headers say it (``HDUCLAS1`` EVENTS, GTI, POINTING or RESPONSE; for a
response ``HDUCLAS2`` the IRF and ``HDUCLAS4`` its class, e.g. ``AEFF_2D``);
files that lack them are typed by their extension name (EVENTS, GTI). The HDUs of
a run are found in its file (`hdus_of_file`) or through a store's hdu-index
(`hdus_of_store`).
"""

from __future__ import annotations

from pathlib import Path

from sat.dl3.store import HDU_INDEX, OBS_INDEX
from sat.errors import cause

__all__ = ["file_obs_id", "hdu_type", "hdus_of_file", "hdus_of_store", "read_hdu"]

# RESPONSE HDUs: HDUCLAS2 (or else HDUCLAS4) -> the hdu-index HDU_TYPE.
_RESPONSE_TYPES = {
    "EFF_AREA": "aeff",
    "EDISP": "edisp",
    "RPSF": "psf",
    "BKG": "bkg",
    "RAD_MAX": "rad_max",
}
_IRF_CLASSES = {
    "AEFF_2D": "aeff",
    "EDISP_2D": "edisp",
    "PSF_TABLE": "psf",
    "PSF_3GAUSS": "psf",
    "PSF_KING": "psf",
    "BKG_2D": "bkg",
    "BKG_3D": "bkg",
    "RAD_MAX_2D": "rad_max",
}
_DATA_TYPES = ("EVENTS", "GTI", "POINTING")


def _keyword(header, key: str) -> str:
    return str(header.get(key, "")).strip().upper()


def hdu_type(header, name: str = "") -> tuple[str, str] | None:
    """Return ``(HDU_TYPE, HDU_CLASS)`` of an HDU, or None for other HDUs.

    Parameters
    ----------
    header : `astropy.io.fits.Header`
        The HDU's header.
    name : str
        Its extension name, for a file without GADF classes.

    Returns
    -------
    tuple of str or None
        The hdu-index type (``events``, ``gti``, ``pointing``, ``aeff``,
        ``edisp``, ``psf``, ``bkg``, ``rad_max``) and class (for an IRF its
        ``HDUCLAS4``, lower case, as Gammapy's IRF registry knows it).
    """
    class1 = _keyword(header, "HDUCLAS1")
    if class1 in _DATA_TYPES:
        return class1.lower(), class1.lower()
    class4 = _keyword(header, "HDUCLAS4")
    kind = None
    if class1 == "RESPONSE":
        kind = _RESPONSE_TYPES.get(_keyword(header, "HDUCLAS2"))
    kind = kind or _IRF_CLASSES.get(class4)
    if kind:
        return kind, (class4 or kind.upper()).lower()
    extname = name.strip().upper()
    if extname in _DATA_TYPES:
        return extname.lower(), extname.lower()
    return None


def hdus_of_file(path) -> dict[str, tuple[Path, str, str]]:
    """Return ``{HDU type: (file, extension name, class)}`` of a DL3 file.

    The first HDU of each type counts.
    """
    from astropy.io import fits

    found = {}
    with fits.open(path) as hdus:
        for hdu in hdus[1:]:
            typed = hdu_type(hdu.header, hdu.name)
            if typed and typed[0] not in found:
                found[typed[0]] = (Path(path), hdu.name, typed[1])
    return found


def read_hdu(path, name: str):
    """Return the header, table and column units of HDU ``name`` of ``path``.

    The table is read fully, so that a truncated file shows here.
    """
    from astropy.io import fits
    from astropy.table import Table

    with fits.open(path) as hdus:
        hdu = hdus[name]
        header = hdu.header.copy()
        table = Table(hdu.data.copy()) if hdu.data is not None else Table()
        units = {c.name: (c.unit or "").strip() for c in hdu.columns}
    return header, table, units


def file_obs_id(path) -> int | None:
    """Return the OBS_ID in the headers of DL3 file ``path`` (None: unreadable)."""
    import warnings

    from astropy.io import fits

    try:
        # A damaged file's warnings say less than the error its run gets later.
        with warnings.catch_warnings(), fits.open(path) as hdus:
            warnings.simplefilter("ignore")
            for hdu in hdus:
                if "OBS_ID" in hdu.header:
                    return int(hdu.header["OBS_ID"])
    except (OSError, ValueError, EOFError, KeyError, TypeError):
        return None
    return None


def _table(folder: Path, name: str):
    from astropy.table import Table

    # FITS, named: astropy's guess of a damaged file's format lists them all.
    try:
        return Table.read(folder / name, format="fits")
    except Exception as error:
        raise ValueError(f"{name}: {cause(error)}") from None


def hdus_of_store(folder):
    """Yield ``(obs_id, {HDU type: (file, extension, class)})`` for a store's runs.

    Runs of the hdu-index missing from the obs-index come last, with None (the
    consistency check of Gammapy's `DataStoreChecker`, per run).

    Raises
    ------
    ValueError
        An index table cannot be read (named).
    """
    folder = Path(folder)
    hdu_table = _table(folder, HDU_INDEX)
    obs_table = _table(folder, OBS_INDEX)
    base = Path(hdu_table.meta.get("BASE_DIR", folder))
    base = base if base.is_absolute() and base.is_dir() else folder
    for obs_id in obs_table["OBS_ID"]:
        rows = hdu_table[hdu_table["OBS_ID"] == obs_id]
        hdus = {}
        for row in rows:
            path = base / str(row["FILE_DIR"]).strip() / str(row["FILE_NAME"]).strip()
            hdus[str(row["HDU_TYPE"]).strip()] = (
                path,
                str(row["HDU_NAME"]).strip(),
                str(row["HDU_CLASS"]).strip(),
            )
        yield int(obs_id), hdus
    orphans = set(map(int, hdu_table["OBS_ID"])) - set(map(int, obs_table["OBS_ID"]))
    for obs_id in sorted(orphans):
        yield obs_id, None
