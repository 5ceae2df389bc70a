"""The runs to look at: a data store's, or DL3 files holding events and IRFs.

Each run is opened when its turn comes, so that a damaged one is named and the
others go on (`failure`).
"""

from __future__ import annotations

from pathlib import Path

# What a quick look needs of a run's IRFs: exposure, background, energy dispersion.
REQUIRED_IRFS = ("aeff", "edisp", "bkg")


def read_observations(files, obs_ids=None):
    """Read observations from DL3 files that hold events, GTI and IRFs.

    Parameters
    ----------
    files : list of path-like
        One DL3 file per run (GADF: events, GTI and the IRF HDUs, as in H.E.S.S.
        DR1); Gammapy finds the HDUs by their HDUCLAS keywords.
    obs_ids : list of int, optional
        Keep only these runs.

    Returns
    -------
    `gammapy.data.Observations`
        The runs, in the order of ``files``.

    Raises
    ------
    DataError
        A file cannot be read or lacks an IRF a quick look needs (named), or an
        asked run is not among the files.
    """
    from gammapy.data import Observations

    runs = file_runs(files, obs_ids)
    return Observations([run.open() for run in runs])


class Run:
    """One run to look at: its id, where it is, and how to open it (may fail)."""

    def __init__(self, obs_id, where: str, opener):
        self.obs_id = obs_id
        self.where = where
        self.open = opener


def read_file(path: Path):
    """Read the observation of one DL3 file, its content checked first."""
    from gammapy.data import Observation

    from sat.dl3.files import verify_file
    from sat.errors import DataError, reading

    verify_file(path)  # a truncated file is named as such, not as missing IRFs
    with reading(path):
        observation = Observation.read(path)
    missing = [irf for irf in REQUIRED_IRFS if irf not in observation.available_irfs]
    if missing:
        raise DataError(
            f"{path} has no {', '.join(missing)} IRF: a quick look needs them; "
            "give the data store folder whose hdu-index links the run's IRFs"
        )
    return observation


def file_runs(files, obs_ids=None) -> list[Run]:
    """Return the runs of DL3 files (those of ``obs_ids`` only, when given)."""
    from sat.dl3.hdus import file_obs_id
    from sat.errors import DataError

    runs = []
    for path in map(Path, files):
        if not path.is_file():
            raise DataError(f"{path} does not exist: give DL3 files or a data store")
        obs_id = file_obs_id(path)
        runs.append(Run(obs_id, str(path), lambda path=path: read_file(path)))
    if obs_ids:
        present = [run.obs_id for run in runs if run.obs_id is not None]
        absent = sorted(set(obs_ids) - set(present))
        if absent:
            raise DataError(
                f"runs {absent} are not in the files given; they hold {present}"
            )
        # An unreadable file may hold one of them: it stays, to be named.
        runs = [run for run in runs if run.obs_id in obs_ids or run.obs_id is None]
    return runs


def store_runs(where: Path, obs_ids=None, target=None) -> tuple[object, list[Run]]:
    """Return the data store in ``where`` and its runs (``target``, ``obs_ids``)."""
    from sat.dl3.files import verify_files
    from sat.dl3.select import select_observations
    from sat.dl3.store import open_store

    store = open_store(where)  # not a data store: one line naming what it lacks
    observations = select_observations(store, target=target, obs_ids=obs_ids)

    def opener(observation):
        def open_run():
            # Every file of the run read through first: Gammapy reads HDUs lazily
            # and a truncated file would surface as a missing IRF.
            verify_files(store, [int(observation.obs_id)])
            return observation

        return open_run

    runs = [
        Run(int(o.obs_id), f"observation {o.obs_id} of {where}", opener(o))
        for o in observations
    ]
    return store, runs


def failure(run: Run, error: BaseException) -> dict:
    """Return the entry of a run that could not be looked at, with its cause."""
    from sat.errors import SatError

    message = " ".join(str(error).split()) or type(error).__name__
    if not isinstance(error, SatError):  # a Gammapy failure on this run's content
        message = f"{run.where}: {type(error).__name__}: {message}"
    return {"obs_id": run.obs_id, "source": run.where, "error": message}
