"""Which runs of a data store an analysis uses, and where it points.

Runs are selected by target name (the obs-index's TARGET_NAME, TARGET_TAG or
OBJECT, matched without case, spaces or dashes), by ids, or by Gammapy's own
``observations`` block (``obs_ids``, ``obs_file``, ``obs_cone``, ``obs_time``,
``required_irf``, as its ``Analysis`` reads them); the position of a target comes
from the obs-index. Every failure is one line a user can act on.
"""

from __future__ import annotations

import re

from sat.errors import DataError, reading

__all__ = [
    "run_target",
    "runs_of",
    "select_observations",
    "source_position",
    "target_names",
    "target_position",
]

_TARGET_COLUMNS = ("TARGET_NAME", "TARGET_TAG", "OBJECT")


def _normalise(name: str) -> str:
    return re.sub(r"[\s_\-()]+", "", str(name)).lower()


def _targets(table) -> list[str]:
    column = "TARGET_NAME" if "TARGET_NAME" in table.colnames else "OBJECT"
    return sorted({str(name) for name in table[column]})


def runs_of(store, target_name: str) -> list[int]:
    """Return the obs ids of ``store`` whose TARGET_NAME is ``target_name``."""
    table = store.obs_table
    if "TARGET_NAME" not in table.colnames:
        return []
    return [int(row["OBS_ID"]) for row in table if row["TARGET_NAME"] == target_name]


def target_names(store, obs_ids) -> set[str]:
    """Return the TARGET_NAME of the runs ``obs_ids`` of ``store`` (none: empty)."""
    table = store.obs_table
    if "TARGET_NAME" not in table.colnames:
        return set()
    wanted = set(obs_ids)
    return {str(row["TARGET_NAME"]) for row in table if int(row["OBS_ID"]) in wanted}


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


def run_target(store, obs_id: int):
    """Return ``(position, name)`` of run ``obs_id``'s target, or None.

    From the obs-index's RA_OBJ and DEC_OBJ (and OBJECT), when it has them.
    """
    from astropy.coordinates import SkyCoord

    table = store.obs_table
    row = table[table["OBS_ID"] == obs_id]
    if not {"RA_OBJ", "DEC_OBJ"} <= set(table.colnames) or not len(row):
        return None
    name = str(row["OBJECT"][0]) if "OBJECT" in table.colnames else "object"
    return SkyCoord(row["RA_OBJ"][0], row["DEC_OBJ"][0], unit="deg"), name


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
