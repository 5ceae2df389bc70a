"""Offline operation: nothing the stack would download may be fetched at run time.

`configure` switches astropy's downloads off (IERS tables come from the pinned
``astropy-iers-data`` package); `configure_pint` makes PINT run from staged clock
files and the DE421 ephemeris of ``skyfield-data``; `status` reports whether
everything the stack would otherwise download is staged locally.

Why `configure_pint` seeds astropy's download cache
---------------------------------------------------
PINT (``pint.observatory.find_clock_file``) reads a clock file from
``$PINT_CLOCK_OVERRIDE`` when it is there, but it *also* always builds
``global_clock_corrections.Index()``, which asks astropy's download cache for
``<repository>/index.txt`` and re-downloads it when the cached copy is older than
one day; for each file the index lists it then builds a ``GlobalClockFile``, which
takes the cached copy of ``<repository>/<T2runtime|tempo>/clock/<name>`` or
downloads it. Offline that fails (or, with an expired index, only warns and goes
on). So the staged IPTA repository snapshot is imported into astropy's cache under
the exact URLs PINT asks for (``astropy.utils.data.import_file_to_cache``): the
index on every call (a fresh copy is what PINT's one-day check wants), each clock
file when its cached copy is missing or differs. PINT then finds everything in
the cache and never reaches for the network, and ``$PINT_CLOCK_OVERRIDE`` makes it
evaluate the staged files themselves (their paths show in `pint_clock_files`).
"""

from __future__ import annotations

import filecmp
import os
import warnings
from pathlib import Path

__all__ = [
    "CLOCK_DATASET",
    "configure",
    "configure_pint",
    "de421_path",
    "pint_clock_files",
    "seed_pint_clock_cache",
    "status",
]

# The dataset (sat/data/datasets.yaml) holding the staged clock files.
CLOCK_DATASET = "pulsar-clock-corrections"
PINT_CLOCK_ENV = "PINT_CLOCK_OVERRIDE"


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

            folder = Path(get_skyfield_data_path())
    except ImportError:
        return None
    path = folder / "de421.bsp"
    return path if path.is_file() else None


def _cached_copy_is(url: str, path: Path) -> bool:
    # True when astropy's cache holds exactly the content of ``path`` under ``url``.
    from astropy.utils.data import download_file, is_url_in_cache

    if not is_url_in_cache(url):
        return False
    # sources=[]: look in the cache only, never on the network.
    cached = download_file(url, cache=True, sources=[])
    return filecmp.cmp(cached, path, shallow=False)


def seed_pint_clock_cache(clock_dir) -> dict:
    """Import the staged clock repository into astropy's cache under PINT's URLs.

    Parameters
    ----------
    clock_dir : str or Path
        Flattened snapshot of the IPTA clock repository, with its ``index.txt``.

    Returns
    -------
    dict
        ``url_base`` (PINT's repository address), ``cache`` (astropy's cache
        folder), ``seeded`` (names of the clock files PINT will find in the cache)
        and ``missing`` (index entries the snapshot lacks: PINT cannot use them
        offline).
    """
    from astropy.config.paths import get_cache_dir
    from astropy.utils.data import import_file_to_cache
    from pint.observatory import global_clock_corrections as gcc

    clock_dir = Path(clock_dir)
    base = gcc.global_clock_correction_url_base
    # Always re-import the index: PINT re-fetches it when the copy is > 1 day old.
    import_file_to_cache(
        base + gcc.index_name, str(clock_dir / gcc.index_name), replace=True
    )
    # PINT's own parser maps a file name to its repository path (later entries
    # win, as in PINT). "if_missing" reads the cached copy; PINT's "never" would
    # still try to download a file it found.
    index = gcc.Index(download_policy="if_missing")
    seeded, missing = [], []
    for name, entry in sorted(index.files.items()):
        staged = clock_dir / name
        if not staged.is_file():
            missing.append(name)
            continue
        url = base + entry.file
        if not _cached_copy_is(url, staged):
            import_file_to_cache(url, str(staged), replace=True)
        seeded.append(name)
    return {
        "url_base": base,
        "cache": get_cache_dir(),
        "seeded": seeded,
        "missing": missing,
    }


def configure_pint(clock_dir, ephemeris=None) -> dict:
    """Make PINT run offline: staged clock files, DE421, no download attempt.

    Parameters
    ----------
    clock_dir : str or Path
        The staged clock files (dataset ``pulsar-clock-corrections``).
    ephemeris : str or Path, optional
        A JPL ephemeris file to load as ``de421``; default `de421_path`.

    Returns
    -------
    dict
        ``clock_dir``, ``ephemeris`` (the file PINT loaded) and the cache seeding
        summary of `seed_pint_clock_cache`.

    Raises
    ------
    DataError
        The clock files or the ephemeris are missing (one line saying what to do).
    """
    from sat.errors import DataError

    configure()
    clock_dir = Path(clock_dir).absolute()
    if not (clock_dir / "index.txt").is_file():
        raise DataError(
            f"PINT clock corrections not found: no {clock_dir / 'index.txt'}; "
            f"run: ctao-sat data download {CLOCK_DATASET}"
        )
    ephemeris = Path(ephemeris) if ephemeris is not None else de421_path()
    if ephemeris is None or not ephemeris.is_file():
        raise DataError(
            f"JPL DE421 ephemeris not found ({ephemeris or 'skyfield-data'}): "
            "install the skyfield-data package, which ships de421.bsp"
        )
    os.environ[PINT_CLOCK_ENV] = str(clock_dir)
    seeding = seed_pint_clock_cache(clock_dir)

    from pint import solar_system_ephemerides as sse

    # A str: astropy takes a path string, not a Path, as a kernel.
    loaded = sse.load_kernel("de421", path=str(ephemeris))
    if Path(loaded) != ephemeris:
        # PINT keeps the first kernel it loaded for a name: it must be ours.
        raise DataError(
            f"PINT already loaded another de421 ({loaded}) in this process, "
            f"not {ephemeris}"
        )
    return {"clock_dir": str(clock_dir), "ephemeris": str(ephemeris), **seeding}


def pint_clock_files() -> list[str]:
    """Return the clock files PINT has read in this process.

    PINT's own ``pint.observatory.topo_obs.export_all_clock_files`` walks the same
    objects: the GPS and BIPM clocks and every observatory's clock chain. A file
    read from ``$PINT_CLOCK_OVERRIDE`` is named by its path; one from PINT's
    global repository (the astropy cache) only by its bare name.
    """
    import pint.observatory as observatory
    from pint.observatory import Observatory, get_observatory

    clocks = [observatory._gps_clock, *observatory._bipm_clock_versions.values()]
    for name in Observatory.names():
        clocks.extend(getattr(get_observatory(name), "_clock", None) or [])
    return sorted({str(clock.filename) for clock in clocks if clock and clock.filename})


def _staged_clock_dir(gammapy_data: str) -> str:
    # Where `ctao-sat data download` puts the clock files under GAMMAPY_DATA.
    from sat.data import datasets

    dataset = datasets().get(CLOCK_DATASET)
    return str(Path(gammapy_data, dataset.path)) if dataset else ""


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
    clock = os.environ.get(PINT_CLOCK_ENV, "")
    if not clock and gammapy_data:
        clock = _staged_clock_dir(gammapy_data)
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
            "ready": bool(clock) and Path(clock, "index.txt").is_file(),
            "where": clock or f"{PINT_CLOCK_ENV} and GAMMAPY_DATA not set",
        },
        "GAMMAPY_DATA": {
            "ready": bool(gammapy_data) and Path(gammapy_data).is_dir(),
            "where": gammapy_data or "not set",
        },
    }
