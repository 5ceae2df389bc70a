"""Reduction of DL3 observations with Gammapy's makers, naming any unreadable file.

`ObservationsMaker` is Gammapy's `DatasetsMaker` (the loop over observations, serial
or parallel) with a one-line `DataError` naming the file when an observation cannot
be read, per-observation dataset names and a progress callback. `verify_files`
reads every file of the selected observations first: Gammapy reads HDUs lazily and
turns a missing HDU of a truncated file into ``None``, so without it a truncated
file surfaces much later as an unrelated ``AttributeError``.

This module imports Gammapy at the top: import it inside a use case's ``run``.
"""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

from gammapy.makers import DatasetsMaker

from sat.errors import SatError
from sat.observations import reading

__all__ = ["ObservationsMaker", "verify_files"]

_CHUNK = 1 << 20


def _verify_file(path: Path, hdu_names: list[str]) -> None:
    from astropy.io import fits

    with reading(path):
        if path.suffix == ".gz":
            # A truncated gzip stream is the usual damage: say so, not "HDU missing".
            with gzip.open(path) as stream:
                while stream.read(_CHUNK):
                    pass
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with fits.open(path, memmap=False) as hdus:
                    for name in hdu_names:
                        hdus[name]  # KeyError names a missing HDU
                    for hdu in hdus:
                        _ = hdu.data  # reading to the end finds a truncation
            finally:
                # astropy only warns that a file is short, then fails obscurely
                # (or not at all): the warning is the diagnosis to report.
                for warning in caught:
                    if "truncated" in str(warning.message):
                        raise OSError(str(warning.message))


def verify_files(store, obs_ids) -> dict[int, list[Path]]:
    """Check that every file of the observations reads completely.

    Parameters
    ----------
    store : `gammapy.data.DataStore`
        The data store (its HDU index says which file holds which HDU).
    obs_ids : iterable of int
        The observations to check.

    Returns
    -------
    dict
        ``{obs_id: [files]}``, the files holding each observation.

    Raises
    ------
    DataError
        A file is missing, truncated or corrupt, or lacks an HDU the index lists;
        the message names the file.
    """
    table = store.hdu_table
    files = {}
    for obs_id in obs_ids:
        hdus: dict[Path, list[str]] = {}
        for row in table[table["OBS_ID"] == obs_id]:
            path = Path(table.base_dir) / row["FILE_DIR"] / row["FILE_NAME"]
            hdus.setdefault(path, []).append(str(row["HDU_NAME"]))
        for path, names in hdus.items():
            _verify_file(path, names)
        files[int(obs_id)] = sorted(hdus)
    return files


class ObservationsMaker(DatasetsMaker):
    """Gammapy's `DatasetsMaker`, one dataset per observation, naming bad files.

    Parameters
    ----------
    makers : list of `gammapy.makers.Maker`
        The makers to chain for every observation.
    files : dict
        ``{obs_id: [files]}`` (from `verify_files`), named when a read fails.
    progress : callable, optional
        Called with no argument each time an observation is done.
    **kwargs
        Passed to `DatasetsMaker` (``n_jobs``, ``parallel_backend``).
    """

    def __init__(self, makers, files: dict, progress=None, **kwargs):
        super().__init__(makers, stack_datasets=False, **kwargs)
        self.files = files
        self.progress = progress
        self.failures: list[BaseException] = []

    def __getstate__(self):
        # Worker processes get a copy of the maker: a progress bar does not pickle.
        return {**self.__dict__, "progress": None}

    def make_dataset(self, dataset, observation):
        """Reduce one observation into a dataset named ``obs_<id>``."""
        obs_id = int(observation.obs_id)
        where = ", ".join(map(str, self.files.get(obs_id, []))) or f"run {obs_id}"
        with reading(where):
            made = super().make_dataset(dataset, observation)
        return made.copy(name=f"obs_{obs_id}")

    def callback(self, dataset):
        """Collect a finished dataset (in the main process) and report progress."""
        super().callback(dataset)
        if self.progress is not None:
            self.progress()

    def error_callback(self, error):
        """Keep a worker's error so that `run` can raise it instead of a bare one."""
        self.failures.append(error)
        super().error_callback(error)

    def run(self, dataset, observations, datasets=None):
        """Reduce ``observations`` into `Datasets`, in the order of ``observations``.

        Raises
        ------
        DataError
            An input file cannot be read (named), also from a worker process.
        """
        try:
            return super().run(dataset, observations, datasets)
        except RuntimeError:
            user_errors = [e for e in self.failures if isinstance(e, SatError)]
            if user_errors:
                raise user_errors[0] from None
            raise
