"""A GADF data store: its two index tables, opened with Gammapy's `DataStore`.

A folder is a data store when it holds an obs-index (one row per run) and an
hdu-index (where each HDU of a run is): `OBS_INDEX` and `HDU_INDEX`, the only
place their names are spelled.
"""

from __future__ import annotations

from pathlib import Path

from sat.errors import DataError, reading

__all__ = [
    "HDU_INDEX",
    "INDEX_TABLES",
    "OBS_INDEX",
    "events_file",
    "index_files",
    "is_store",
    "observation_files",
    "open_store",
    "run_ids",
]

OBS_INDEX = "obs-index.fits.gz"
HDU_INDEX = "hdu-index.fits.gz"
INDEX_TABLES = (OBS_INDEX, HDU_INDEX)


def is_store(folder) -> bool:
    """Whether ``folder`` holds an obs-index (what makes a folder a data store)."""
    return Path(folder, OBS_INDEX).is_file()


def index_files(folder) -> list[Path]:
    """Return the index tables of the store in ``folder`` (provenance inputs)."""
    return [Path(folder, name) for name in INDEX_TABLES]


def open_store(folder):
    """Open the GADF data store in ``folder`` (its obs-index and hdu-index).

    Raises
    ------
    DataError
        One line naming the index table that is missing or cannot be read.
    """
    from astropy.io import fits
    from gammapy.data import DataStore

    folder = Path(folder)
    for path in index_files(folder):
        if not path.is_file():
            raise DataError(
                f"{folder} is not a data store: it has no {path.name} (a data store "
                f"holds {' and '.join(INDEX_TABLES)})"
            )
        # Read each through first: DataStore.from_dir's error would not say which.
        with reading(path), fits.open(path) as hdus:
            if len(hdus) < 2 or hdus[1].data is None:
                raise DataError(f"{path} holds no index table")
    with reading(folder / OBS_INDEX):
        return DataStore.from_dir(folder)


def observation_files(store, obs_id: int) -> dict[Path, list[str]]:
    """Return the files holding run ``obs_id`` and the HDU names in each.

    Parameters
    ----------
    store : `gammapy.data.DataStore`
        The data store (its hdu-index says which file holds which HDU).
    obs_id : int
        The run.

    Returns
    -------
    dict
        ``{file: [HDU names]}`` (events, GTI and IRFs), files sorted.
    """
    table = store.hdu_table
    hdus: dict[Path, list[str]] = {}
    for row in table[table["OBS_ID"] == obs_id]:
        path = Path(table.base_dir) / row["FILE_DIR"] / row["FILE_NAME"]
        hdus.setdefault(path, []).append(str(row["HDU_NAME"]))
    return dict(sorted(hdus.items()))


def run_ids(store) -> list[int]:
    """Return the observation ids of ``store``, in obs-index order."""
    return [int(obs_id) for obs_id in store.obs_table["OBS_ID"]]


def events_file(store, obs_id: int) -> Path:
    """Return the file holding the events of run ``obs_id`` (from the hdu-index)."""
    return Path(store.hdu_table.hdu_location(obs_id, "events").path())
