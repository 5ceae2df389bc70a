"""Selecting DL3 observations from a data store, with errors a user can act on."""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

from sat.errors import DataError

__all__ = [
    "cause",
    "observation_files",
    "open_store",
    "reading",
    "runs_of",
    "select_observations",
    "source_position",
    "target_position",
]

_TARGET_COLUMNS = ("TARGET_NAME", "TARGET_TAG", "OBJECT")


def _normalise(name: str) -> str:
    return re.sub(r"[\s_\-()]+", "", str(name)).lower()


@contextmanager
def reading(path):
    """Turn a failure to read ``path`` (corrupt, truncated) into a `DataError`."""
    try:
        yield
    except (OSError, EOFError, ValueError, KeyError, TypeError) as error:
        raise DataError(f"cannot read {path}: {cause(error)}") from None


# What astropy adds for Python programmers, not for users of a command line.
_ADVICE = re.compile(r"\s*If this is really a FITS file, try with \w+=True\.?")


def cause(error: BaseException) -> str:
    """Return the cause of a read failure in one line, without a path repeated."""
    if isinstance(error, OSError) and error.strerror and error.filename:
        return error.strerror  # "[Errno 2] No such file or directory: 'PATH'"
    message = " ".join(str(error).split()) or type(error).__name__
    return _ADVICE.sub("", message)


INDEX_TABLES = ("obs-index.fits.gz", "hdu-index.fits.gz")


def open_store(folder: Path):
    """Open the GADF data store in ``folder`` (its obs-index and hdu-index).

    Raises
    ------
    DataError
        One line naming the index table that is missing or cannot be read.
    """
    from astropy.io import fits
    from gammapy.data import DataStore

    folder = Path(folder)
    for name in INDEX_TABLES:
        path = folder / name
        if not path.is_file():
            raise DataError(
                f"{folder} is not a data store: it has no {name} (a data store "
                f"holds {' and '.join(INDEX_TABLES)})"
            )
        # Read each through first: DataStore.from_dir's error would not say which.
        with reading(path), fits.open(path) as hdus:
            if len(hdus) < 2 or hdus[1].data is None:
                raise DataError(f"{path} holds no index table")
    with reading(folder / INDEX_TABLES[0]):
        return DataStore.from_dir(folder)


def _targets(table) -> list[str]:
    column = "TARGET_NAME" if "TARGET_NAME" in table.colnames else "OBJECT"
    return sorted({str(name) for name in table[column]})


def runs_of(table, target_name: str) -> list[int]:
    """Return the obs ids of obs-index ``table`` with TARGET_NAME ``target_name``."""
    if "TARGET_NAME" not in table.colnames:
        return []
    return [int(row["OBS_ID"]) for row in table if row["TARGET_NAME"] == target_name]


def _block_ids(store, block) -> list[int] | None:
    """Return the obs ids a Gammapy ``observations`` block selects (None: all).

    As Gammapy's ``Analysis.get_observations``: ``obs_ids`` or the ids of
    ``obs_file``, then the runs pointed within ``obs_cone``.
    """
    if block.obs_ids and block.obs_file is not None:
        raise DataError(
            "key 'observations': give obs_ids or obs_file, not both (as in Gammapy)"
        )
    ids = [int(i) for i in block.obs_ids] or None
    if block.obs_file is not None:
        from astropy.table import Table

        with reading(block.obs_file):
            table = Table.read(block.obs_file, format="ascii", data_start=0)
        ids = [int(i) for i in table.columns[0]]
    if block.obs_cone.lon is not None:
        cone = block.obs_cone
        table = store.obs_table if ids is None else store.obs_table.select_obs_id(ids)
        inside = table.select_observations(
            {
                "type": "sky_circle",
                "frame": cone.frame,
                "lon": cone.lon,
                "lat": cone.lat,
                "radius": cone.radius,
                "border": "0 deg",
            }
        )
        ids = [int(i) for i in inside["OBS_ID"]]
    return ids


def select_observations(store, target: str | None = None, obs_ids=None, block=None):
    """Select observations by target name, observation ids or a Gammapy block.

    Parameters
    ----------
    store : `gammapy.data.DataStore`
        Where the observations are.
    target : str, optional
        Target name, matched without case, spaces or dashes against the
        TARGET_NAME, TARGET_TAG and OBJECT columns of the obs-index.
    obs_ids : list of int, optional
        Observation ids (with ``target``: those of the target among them).
    block : `gammapy.analysis.config.ObservationsConfig`, optional
        Gammapy's ``observations`` block: ``obs_ids``, ``obs_file``,
        ``obs_cone``, ``obs_time`` and ``required_irf`` select as in Gammapy's
        ``Analysis`` (with ``target``: the target's runs among them).

    Returns
    -------
    `gammapy.data.Observations`
        The selected observations, in obs-index order.

    Raises
    ------
    DataError
        No observation matches (the message lists the targets there are), an id
        is not in the store, or a file cannot be read (named).
    """
    table = store.obs_table
    ids = [int(i) for i in table["OBS_ID"]]
    if block is not None:
        obs_ids = _block_ids(store, block)
    elif not obs_ids:
        obs_ids = None  # no id given: every run (of the target)
    selected = ids
    if obs_ids is not None:
        missing = sorted(set(obs_ids) - set(ids))
        if missing:
            raise DataError(
                f"observation ids {missing} are not in {store.hdu_table.base_dir}"
            )
        selected = [i for i in ids if i in set(obs_ids)]
    if target:
        wanted = _normalise(target)
        matches = {
            int(row["OBS_ID"])
            for row in table
            for column in _TARGET_COLUMNS
            if column in table.colnames and _normalise(row[column]) == wanted
        }
        selected = [i for i in selected if i in matches]
    if not selected:
        raise DataError(
            f"no observation matches target={target!r} obs_ids={obs_ids}; "
            f"targets there: {', '.join(_targets(table))}"
        )
    # Files are read lazily by the makers; `reading` names them when they fail.
    required = "full-enclosure" if block is None else list(block.required_irf)
    observations = store.get_observations(selected, required_irf=required)
    if block is not None and block.obs_time.start is not None:
        observations = _in_time(observations, block.obs_time)
    return observations


def _in_time(observations, obs_time):
    """Return the parts of ``observations`` in Gammapy's ``obs_time`` intervals."""
    start, stop = obs_time.start, obs_time.stop
    intervals = (
        [(start, stop)] if start.isscalar else list(zip(start, stop, strict=True))
    )
    selected = observations.select_time(intervals)
    if not len(selected):
        raise DataError(
            f"key 'observations.obs_time': no selected run observed between "
            f"{start} and {stop}"
        )
    return selected


def target_position(store, target: str):
    """Return the sky position of ``target`` from the obs-index (RA_OBJ, DEC_OBJ)."""
    from astropy.coordinates import SkyCoord

    table = store.obs_table
    wanted = _normalise(target)
    for row in table:
        if any(
            column in table.colnames and _normalise(row[column]) == wanted
            for column in _TARGET_COLUMNS
        ):
            return SkyCoord(row["RA_OBJ"], row["DEC_OBJ"], unit="deg", frame="icrs")
    raise DataError(
        f"target {target!r} is not in the obs-index; targets there: "
        f"{', '.join(_targets(table))}"
    )


def source_position(store, target: str | None, position=None):
    """Return where the analysis points and a label naming it.

    Parameters
    ----------
    store : `gammapy.data.DataStore`
        Where ``target`` is looked up.
    target : str or None
        Target name in the obs-index.
    position : `~astropy.coordinates.SkyCoord`, optional
        Given by the user: it wins over the target's position.

    Returns
    -------
    position : `~astropy.coordinates.SkyCoord`
        The position.
    label : str
        The target name, or the coordinates when there is none.
    """
    if position is None:
        position = target_position(store, target)
    label = target or f"RA {position.ra.deg:.3f} Dec {position.dec.deg:.3f}"
    return position, label


def observation_files(store, obs_id: int) -> list[Path]:
    """Return the files holding observation ``obs_id`` (events, GTI and IRFs)."""
    table = store.hdu_table
    rows = table[table["OBS_ID"] == obs_id]
    return sorted(
        {Path(table.base_dir) / row["FILE_DIR"] / row["FILE_NAME"] for row in rows}
    )
