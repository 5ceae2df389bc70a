"""Stacking DL3 observations into one dataset with Gammapy's `DatasetsMaker`.

`StackingMaker` is `sat.reduction.ObservationsMaker` (bad files named in a
`DataError`, progress callback, serial or parallel) stacking every run into the
reference dataset as it finishes, so the cubes of all runs are never held at once.
A run whose cutout misses the map is skipped (Gammapy logs it) instead of failing;
`stacked_runs` says which runs made it into a stacked dataset.

This module imports Gammapy at the top: import it inside a use case's ``run``.
"""

from __future__ import annotations

from gammapy.makers import DatasetsMaker

from sat.errors import reading
from sat.reduction import ObservationsMaker

__all__ = ["StackingMaker", "stacked_runs"]


class StackingMaker(ObservationsMaker):
    """`ObservationsMaker` that stacks all runs into the reference dataset.

    Parameters
    ----------
    makers : list of `gammapy.makers.Maker`
        The makers to chain for every observation.
    files : dict
        ``{obs_id: [files]}`` (from `sat.reduction.verify_files`), named when a
        read fails.
    progress : callable, optional
        Called with no argument each time an observation is done.
    **kwargs
        Passed to `DatasetsMaker` (``n_jobs``, ``parallel_backend``, ``cutout_mode``).
    """

    def __init__(self, makers, files: dict, progress=None, **kwargs):
        super().__init__(makers, files, progress=progress, **kwargs)
        self.stack_datasets = True

    def reduce_observation(self, dataset, observation):
        """Reduce one observation (None when it does not overlap the map)."""
        obs_id = int(observation.obs_id)
        where = ", ".join(map(str, self.files.get(obs_id, []))) or f"run {obs_id}"
        with reading(where):
            # Stacking needs no per-run name; Gammapy returns None for a run
            # outside the map and skips it when stacking.
            return DatasetsMaker.make_dataset(self, dataset, observation)


def stacked_runs(dataset) -> list[int]:
    """Return the observation ids stacked into ``dataset`` (from its meta table)."""
    import numpy as np

    table = dataset.meta_table
    if table is None or "OBS_ID" not in table.colnames:
        return []
    return [int(obs_id) for obs_id in np.ravel(table["OBS_ID"].data)]
