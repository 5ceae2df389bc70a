"""Use cases taking their observations from an archive query or a fetched folder.

A use-case config names its data store as Gammapy does, or an archive (see
`ArchiveSource`)::

    observations:
      datastore: crab-dl3      # a folder made by `ctao-sat archive fetch`
    # or
    archive:
      url: http://127.0.0.1:8080/tap
      collection: hess-dl3-dr1  # optional
      dest: crab-dl3            # optional (default: a cache folder per archive)

and calls `observations_folder` for the data store folder to read. With
``archive``, the runs of the use case's target (by name, or within ``radius_deg``
of its position) are searched on the archive and fetched first; runs already in
the folder are not downloaded again. A ``datastore`` that is a registered dataset
under ``$GAMMAPY_DATA`` (Gammapy's default ``$GAMMAPY_DATA/hess-dl3-dr1``) is
checked as that dataset (`sat.data.require`), with its download hint.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from pydantic import Field

from sat.config import BaseConfig

__all__ = [
    "CACHE_ENV",
    "ArchiveSource",
    "cache_folder",
    "is_dataset",
    "local_datasets",
    "observations_folder",
]

CACHE_ENV = "CTAO_SAT_ARCHIVE_CACHE"


class ArchiveSource(BaseConfig):
    """Where a use case fetches its runs: an IVOA archive (TAP/ObsCore)."""

    url: str = Field(description="TAP service of the archive")
    collection: str | None = Field(default=None, description="obs_collection")
    radius_deg: float | None = Field(
        default=None,
        gt=0,
        description="search runs pointed within this radius of the position "
        "instead of by target name",
    )
    dest: str | None = Field(
        default=None, description="data store folder (default: a cache folder)"
    )
    timeout_s: float = Field(
        default=60, gt=0, description="seconds to wait for the archive to answer"
    )


def cache_folder(url: str) -> Path:
    """Return the default data store folder for runs fetched from ``url``.

    ``$CTAO_SAT_ARCHIVE_CACHE`` or ``~/.cache/ctao-sat/archive``, then one folder
    per archive address.
    """
    root = os.environ.get(CACHE_ENV) or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache",
        "ctao-sat",
        "archive",
    )
    host = re.sub(r"[^A-Za-z0-9.]+", "_", url.split("//")[-1].split("/")[0])
    return Path(root, f"{host}-{hashlib.sha256(url.encode()).hexdigest()[:10]}")


def is_dataset(datastore, dataset: str) -> bool:
    """Whether ``datastore`` is the folder of registered ``dataset``.

    Either spelled ``$GAMMAPY_DATA/<folder>`` (GAMMAPY_DATA unset) or that folder
    under ``$GAMMAPY_DATA``, as Gammapy's ``make_path`` expands it.
    """
    from sat.data import datasets

    folder = datasets()[dataset].path
    if Path(datastore) == Path("$GAMMAPY_DATA", folder):
        return True
    root = os.environ.get("GAMMAPY_DATA")
    return bool(root) and Path(datastore).absolute() == Path(root, folder).absolute()


def local_datasets(datastore, dataset: str, archive=None) -> tuple[str, ...]:
    """Return ``(dataset,)`` when the runs are read from it, else ``()``."""
    return (dataset,) if archive is None and is_dataset(datastore, dataset) else ()


def observations_folder(
    datastore,
    archive: ArchiveSource | None,
    *,
    dataset: str,
    target: str | None = None,
    position: tuple[float, float] | None = None,
    obs_ids=(),
    context=None,
) -> Path:
    """Return the data store folder a use case reads its runs from.

    Parameters
    ----------
    datastore : str or Path
        The data store folder of the config (Gammapy's
        ``observations.datastore``): registered ``dataset`` by default.
    archive : ArchiveSource or None
        Fetch the runs from this archive first (``datastore`` must then be the
        default).
    dataset : str
        The registered dataset of the default datastore (`sat.data.require`).
    target : str, optional
        Target name searched in the archive.
    position : tuple of float, optional
        (RA, Dec) in deg, for a cone search with ``archive.radius_deg``.
    obs_ids : iterable of int
        Restrict the search to these runs.
    context : RunContext, optional
        For a progress message.

    Raises
    ------
    SatError
        The folder is not a data store, or the archive search or fetch failed
        (one line from `sat.archive`).
    """
    from sat.data import require
    from sat.dl3.store import OBS_INDEX, is_store
    from sat.errors import ConfigError

    default = is_dataset(datastore, dataset)
    if archive is None and default:
        return require(dataset)
    if archive is None:
        folder = Path(datastore).expanduser()
        if not is_store(folder):
            raise ConfigError(
                f"key 'observations.datastore': {folder} has no {OBS_INDEX}: give a "
                "folder made by ctao-sat archive fetch (or any GADF data store)"
            )
        return folder
    if not default:
        raise ConfigError(
            "keys 'observations.datastore' and 'archive': give one of them, the "
            "archive fetches into archive.dest"
        )
    from sat.archive.fetch import datastore as fetch_datastore
    from sat.archive.query import ObsQuery

    cone = archive.radius_deg is not None and position is not None
    query = ObsQuery(
        target=None if cone else target,
        ra=position[0] if cone else None,
        dec=position[1] if cone else None,
        radius=archive.radius_deg if cone else 2.0,
        collection=archive.collection,
        obs_ids=tuple(str(i) for i in obs_ids),
    )
    if not cone and not target and not obs_ids:
        raise ConfigError(
            "key 'archive': give a target, obs_ids, or radius_deg and a position"
        )
    folder = (
        Path(archive.dest).expanduser() if archive.dest else cache_folder(archive.url)
    )
    report = fetch_datastore(archive.url, query, folder, timeout=archive.timeout_s)
    if context is not None:
        context.log(
            f"archive {archive.url}: {len(report.downloaded)} runs fetched, "
            f"{len(report.skipped)} already in {folder}"
        )
    return folder
