"""The runs of an analysis: opened, selected, every file of them checked.

`checked_runs` is how a use case starts on DL3 data: open the store, select its
runs (`sat.dl3.select`), read every file of them through (`sat.dl3.files`: a
damaged file is named before any work), and record the index tables and the
files as the inputs of the run's provenance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sat.dl3.files import verify_files
from sat.dl3.select import select_observations
from sat.dl3.store import index_files, open_store
from sat.errors import DataError

__all__ = ["Runs", "checked_runs"]


@dataclass(frozen=True)
class Runs:
    """Runs selected in a data store, every file of them checked.

    Attributes
    ----------
    store : `gammapy.data.DataStore`
        The data store.
    observations : `gammapy.data.Observations`
        The selected runs, in obs-index order.
    files : dict
        ``{obs_id: [files]}`` (`verify_files`).
    failures : tuple of str
        Runs left out because a file is damaged (``skip_failed``), each named.
    """

    store: object
    observations: object
    files: dict[int, list[Path]]
    failures: tuple[str, ...] = ()

    @property
    def obs_ids(self) -> list[int]:
        """The selected observation ids, in obs-index order."""
        return list(self.files)


def checked_runs(
    context, folder, target=None, obs_ids=None, block=None, skip_failed=False
) -> Runs:
    """Open a data store, select runs, check their files; record them as inputs.

    Parameters
    ----------
    context : `sat.usecases.base.RunContext`
        The run: the indexes and every file of the runs go into its provenance.
    folder : path-like
        The data store folder (obs-index.fits.gz, hdu-index.fits.gz).
    target : str, optional
        Target name in the obs-index (`sat.dl3.select.select_observations`).
    obs_ids : list of int, optional
        Observation ids.
    block : `gammapy.analysis.config.ObservationsConfig`, optional
        Gammapy's ``observations`` block, instead of ``obs_ids``.
    skip_failed : bool
        Leave out the runs with a missing or damaged file (named in
        ``Runs.failures``) instead of failing.

    Returns
    -------
    Runs
        The store, the runs and their files.

    Raises
    ------
    DataError
        No run matches, or a file is missing or damaged (named; with
        ``skip_failed``, when every run is).
    """
    folder = Path(folder)
    store = open_store(folder)
    context.add_inputs(*index_files(folder))
    observations = select_observations(store, target, obs_ids, block)
    ids = [int(observation.obs_id) for observation in observations]
    files, failures = {}, []
    with context.step(f"checking the files of {len(ids)} runs"):
        for obs_id in ids:
            try:
                files.update(verify_files(store, [obs_id]))
            except DataError as error:
                if not skip_failed:
                    raise DataError(
                        f"{error} (set general.skip_failed: true or pass "
                        "--skip-failed to go on without the run)"
                    ) from None
                failures.append(f"run {obs_id}: {error}")
    if not files:
        raise DataError(f"no run can be read: {'; '.join(failures)}")
    if failures:
        from gammapy.data import Observations

        observations = Observations([o for o in observations if int(o.obs_id) in files])
    context.add_inputs(*(path for paths in files.values() for path in paths))
    return Runs(store, observations, files, tuple(failures))
