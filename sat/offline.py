"""Offline operation: nothing the stack would download may be fetched at run time.

`configure` switches astropy's downloads off (IERS tables come from the pinned
``astropy-iers-data`` package); `status` reports whether everything the stack would
otherwise download is staged locally.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

__all__ = ["configure", "de421_path", "status"]


def configure() -> None:
    """Make astropy work offline: bundled IERS tables, no download attempts."""
    from astropy.utils import iers
    from astropy.utils.data import conf as data_conf

    iers.conf.auto_download = False
    iers.conf.auto_max_age = None
    data_conf.allow_internet = False


def de421_path() -> Path | None:
    """Return the JPL DE421 ephemeris shipped by ``skyfield-data``, if installed."""
    try:
        with warnings.catch_warnings():
            # It warns that its Earth-orientation table expired; we use only DE421.
            warnings.simplefilter("ignore", RuntimeWarning)
            from skyfield_data import get_skyfield_data_path
    except ImportError:
        return None
    path = Path(get_skyfield_data_path()) / "de421.bsp"
    return path if path.is_file() else None


def status() -> dict[str, dict]:
    """Report, for each thing the stack would download, where it is found offline.

    Returns
    -------
    dict
        ``{item: {"ready": bool, "where": str}}`` for the IERS tables, the JPL
        ephemeris, the PINT clock corrections and ``GAMMAPY_DATA``.
    """
    from importlib.util import find_spec

    gammapy_data = os.environ.get("GAMMAPY_DATA", "")
    clock = os.environ.get("PINT_CLOCK_OVERRIDE", "")
    ephemeris = de421_path()
    iers_data = find_spec("astropy_iers_data")
    return {
        "IERS tables": {
            "ready": iers_data is not None,
            "where": "astropy-iers-data package" if iers_data else "not installed",
        },
        "JPL DE421 ephemeris": {
            "ready": ephemeris is not None,
            "where": str(ephemeris) if ephemeris else "skyfield-data not installed",
        },
        "PINT clock corrections": {
            "ready": bool(clock) and Path(clock).is_dir(),
            "where": clock or "PINT_CLOCK_OVERRIDE not set",
        },
        "GAMMAPY_DATA": {
            "ready": bool(gammapy_data) and Path(gammapy_data).is_dir(),
            "where": gammapy_data or "not set",
        },
    }
