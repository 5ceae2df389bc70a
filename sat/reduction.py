"""Reduction of DL3 observations with Gammapy's makers, naming any unreadable file.

`ObservationsMaker` is Gammapy's `DatasetsMaker` (the loop over observations, serial
or parallel) with a one-line `DataError` naming the file when an observation cannot
be read, per-observation dataset names and a progress callback. An observation
that fails to reduce (in the main process or in a worker of any backend) does not
stop the others: it is kept as a `ReductionFailure` and `run` raises one
`DataError` naming every failed observation, unless ``skip_failed``. The files of
the runs are read through before (`sat.dl3.runs.checked_runs`); the makers come
from `sat.dl3.makers`.

This module imports Gammapy at the top: import it inside a use case's ``run``.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import dataclass

from gammapy.datasets import SpectrumDataset
from gammapy.makers import DatasetsMaker

from sat import transport
from sat.dl3.files import damage
from sat.dl3.makers import circle, energy_axis, reflected_regions_makers
from sat.errors import DataError, SatError, reading

__all__ = [
    "ObservationsMaker",
    "Reduction",
    "ReductionFailure",
    "WorkerStats",
    "reduce_observations",
    "reflected_regions_spectra",
    "usable_spectra",
]


@dataclass(frozen=True)
class ReductionFailure:
    """An observation that could not be reduced (it pickles back from a worker).

    Attributes
    ----------
    obs_id : int
        The observation.
    message : str
        What went wrong, naming the file when it could not be read.
    """

    obs_id: int
    message: str


@dataclass(frozen=True)
class WorkerStats:
    """What reducing one observation cost, measured in the process that did it.

    Attributes
    ----------
    obs_id : int
        The observation.
    pid : int
        The process (the main one for the serial backend).
    cpu_s : float
        CPU time of the reduction (user + system) in that process.
    peak_rss_mib : float
        Peak resident memory of that process so far (MiB).
    """

    obs_id: int
    pid: int
    cpu_s: float
    peak_rss_mib: float


@dataclass(frozen=True)
class _Reduced:
    """A reduced dataset on its way back from a worker, with what it cost."""

    dataset: object
    stats: WorkerStats


def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# What forked workers find in their copy of the main process's memory: the maker
# and the reference dataset of the reduction running (`ObservationsMaker.run`),
# so that a task carries a key instead of both.
_INHERITED: dict[int, tuple] = {}


@dataclass(frozen=True)
class _Inherited:
    """Stands for the reference dataset in a task: the worker has it already."""

    key: int


class ObservationsMaker(DatasetsMaker):
    """Gammapy's `DatasetsMaker`, one dataset per observation, naming bad files.

    Parameters
    ----------
    makers : list of `gammapy.makers.Maker`
        The makers to chain for every observation.
    files : dict
        ``{obs_id: [files]}`` (`sat.dl3.files.verify_files`), named when a read
        fails.
    progress : callable, optional
        Called with no argument each time an observation is done.
    skip_failed : bool
        Go on without the observations that fail to reduce (listed in
        ``failures``) instead of raising.
    **kwargs
        Passed to `DatasetsMaker` (``n_jobs``, ``parallel_backend``).
    """

    def __init__(
        self, makers, files: dict, progress=None, skip_failed: bool = False, **kwargs
    ):
        super().__init__(makers, stack_datasets=False, **kwargs)
        self.files = files
        self.progress = progress
        self.skip_failed = skip_failed
        self.failures: list[ReductionFailure] = []
        self.stats: list[WorkerStats] = []
        self._crashes: list[BaseException] = []
        self._key: int | None = None  # in _INHERITED while a pool runs

    # What stays in the main process: the datasets collected so far (and the stack
    # of a StackingMaker), stats and failures, the progress bar (does not pickle).
    # "_datasets" and "_dataset" are where Gammapy's DatasetsMaker keeps them, an
    # internal: tests/test_upstream.py fails naming the attribute if it changes.
    _MAIN_ONLY = ("progress", "_datasets", "_dataset", "stats", "failures", "_crashes")

    def __getstate__(self):
        if self._key in _INHERITED:
            return {"_key": self._key}
        # Gammapy sends the bound method make_dataset, i.e. this maker, with every
        # observation: with the results collected so far that is a payload growing
        # with each run (quadratic in the number of runs) and serial work in the
        # main process that eats the speedup. Workers need only the makers.
        state = dict(self.__dict__)
        for name in self._MAIN_ONLY:
            state[name] = None
        return state

    def __setstate__(self, state):
        if set(state) == {"_key"}:
            state = dict(_INHERITED[state["_key"]][0].__dict__)
        self.__dict__.update(state)

    def reduce_observation(self, dataset, observation):
        """Reduce one observation into a dataset named ``obs_<id>``."""
        obs_id = int(observation.obs_id)
        with reading(self._where(obs_id)):
            made = DatasetsMaker.make_dataset(self, dataset, observation)
        name = f"obs_{obs_id}"
        if made.models is not None:  # models name their datasets: Gammapy's way
            return made.copy(name=name)
        # Gammapy names its copy of the reference at random and renames only by
        # copy(name=...), a deep copy of every map: 49 ms a H.E.S.S. run, 1.4 %
        # of spectrum-1d's CPU. The dataset is new and ours alone, nothing refers
        # to its name yet: set it in place (tests/test_upstream.py checks where).
        made._name = name
        return made

    def _where(self, obs_id: int) -> str:
        return ", ".join(map(str, self.files.get(obs_id, []))) or f"run {obs_id}"

    def make_dataset(self, dataset, observation):
        """Reduce one observation; a failure is returned, not raised.

        Returning it keeps the worker pool (and the serial loop) going, so one
        bad observation costs only itself on every backend.
        """
        from sat import interrupt, offline

        offline.configure()  # a fresh Ray worker has not run the CLI's setup
        interrupt.quiet_worker()  # Ctrl-C and SIGTERM: the main process stops us
        if isinstance(dataset, _Inherited):
            dataset = _INHERITED[dataset.key][1]
        obs_id = int(observation.obs_id)
        start = time.process_time()
        try:
            made = self.reduce_observation(dataset, observation)
        except SatError as error:
            return ReductionFailure(obs_id, f"run {obs_id}: {error}")
        except Exception as error:  # a Gammapy failure on this run's content
            # A damaged file often surfaces as an unrelated error (a lazily read
            # HDU is None): read the run's files to name the damage instead.
            for path in self.files.get(obs_id, []):
                if (problem := damage(path)) is not None:
                    return ReductionFailure(
                        obs_id, f"run {obs_id}: cannot read {path}: {problem}"
                    )
            message = " ".join(str(error).split()) or "no message"
            return ReductionFailure(
                obs_id,
                f"run {obs_id} ({self._where(obs_id)}) failed to reduce: "
                f"{type(error).__name__}: {message}",
            )
        cpu = time.process_time() - start
        return _Reduced(made, WorkerStats(obs_id, os.getpid(), cpu, _peak_rss_mib()))

    def callback(self, dataset):
        """Collect a finished dataset (in the main process) and report progress."""
        if isinstance(dataset, ReductionFailure):
            self.failures.append(dataset)
        else:
            self.stats.append(dataset.stats)
            super().callback(dataset.dataset)
        if self.progress is not None:
            self.progress()

    def error_callback(self, error):
        """Keep a worker's crash (e.g. out of memory) to re-raise it in `run`."""
        self._crashes.append(error)
        super().error_callback(error)

    def run(self, dataset, observations, datasets=None):
        """Reduce ``observations`` into `Datasets`, in the order of ``observations``.

        Raises
        ------
        DataError
            Observations failed to reduce (each named, with its file when it
            could not be read) and ``skip_failed`` is False.
        """
        self.failures, self.stats = [], []
        pool = (
            getattr(self.parallel_backend, "value", self.parallel_backend)
            == "multiprocessing"
            and min(self.n_jobs, len(observations)) > 1
        )
        if pool:
            transport.register()
        inherit = (
            pool
            and datasets is None
            # A map dataset is cut out around each run from the reference (Gammapy
            # does it when no datasets are given): only a spectrum has none to lose.
            and type(dataset) is SpectrumDataset
            and multiprocessing.get_start_method() == "fork"
        )
        if inherit:
            # The pool forks after this: its workers hold the maker and the
            # reference already. Pickled with every task, they cost the main
            # process ~4 ms a run while the workers wait for it (on 2 cores).
            self._key = id(self)
            _INHERITED[self._key] = (self, dataset)
            datasets = len(observations) * [_Inherited(self._key)]
        try:
            made = super().run(dataset, observations, datasets)
        except RuntimeError:
            user_errors = [e for e in self._crashes if isinstance(e, SatError)]
            if user_errors:
                raise user_errors[0] from None
            raise
        finally:
            _INHERITED.pop(self._key, None)
            self._key = None
        if self.failures and not self.skip_failed:
            self.failures.sort(key=lambda failure: failure.obs_id)
            n_done = len(observations) - len(self.failures)
            raise DataError(
                "; ".join(failure.message for failure in self.failures)
                + f" ({len(self.failures)} of {len(observations)} runs failed, "
                f"{n_done} reduced: set skip_failed: true or pass --skip-failed "
                "to go on without the failed runs)"
            )
        return made


@dataclass(frozen=True)
class Reduction:
    """What `reduce_observations` returns.

    Attributes
    ----------
    datasets : `gammapy.datasets.Datasets`
        What the maker returned (one dataset per run, or the stack).
    maker : ObservationsMaker
        After its run: ``stats`` per run and ``failures``.
    where : dict
        The backend, its number of jobs and the Ray address (`sat.parallel`).
    wall_s, cpu_s : float
        Wall-clock and main-process CPU time of the reduction itself.
    """

    datasets: object
    maker: ObservationsMaker
    where: dict
    wall_s: float
    cpu_s: float


def reduce_observations(
    context,
    config,
    makers,
    reference,
    observations,
    files: dict,
    step: str,
    maker_class=ObservationsMaker,
    **options,
) -> Reduction:
    """Reduce observations on the configured backend, as one step with a progress bar.

    Parameters
    ----------
    context : `sat.usecases.base.RunContext`
        The run (its step timer and progress bar).
    config : `sat.parallel.ParallelConfig`
        The ``general`` block: ``n_jobs``, ``parallel_backend``, ``skip_failed``.
    makers : list of `gammapy.makers.Maker`
        The makers to chain for every observation.
    reference : `gammapy.datasets.Dataset`
        The empty dataset every observation is reduced into.
    observations : `gammapy.data.Observations`
        The runs.
    files : dict
        ``{obs_id: [files]}``, named when a read fails.
    step : str
        What the step is called in the progress output.
    maker_class : type
        `ObservationsMaker` or a subclass (`sat.stacking.StackingMaker`).
    **options
        Further arguments of Gammapy's `DatasetsMaker` (``cutout_width``).
    """
    from sat.parallel import maker_options, parallel_session

    with context.step(step):
        bar = context.progress(None, "reducing runs", total=len(observations))
        try:
            maker = maker_class(
                makers,
                files,
                progress=bar.update,
                skip_failed=config.skip_failed,
                **maker_options(config),
                **options,
            )
            with parallel_session(config) as where:
                wall, cpu = time.perf_counter(), time.process_time()
                datasets = maker.run(reference, observations)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        finally:
            bar.close()
    return Reduction(datasets, maker, where, wall, cpu)


def reflected_regions_spectra(context, config, position, observations, files):
    """Reduce runs into ON/OFF spectra with reflected OFF regions.

    Parameters
    ----------
    context : `sat.usecases.base.RunContext`
        The run.
    config : `sat.usecases.options.DL3Config`
        Its ``datasets`` block (energy axes, ON region and the keys of
        `reflected_regions_makers`), ``exclusion_regions`` and ``general``
        (the backend) (spectrum-1d, lightcurve).
    position : `~astropy.coordinates.SkyCoord`
        The target: centre of the ON region.
    observations : `gammapy.data.Observations`
        The runs.
    files : dict
        ``{obs_id: [files]}`` (`sat.dl3.files.verify_files`).

    Returns
    -------
    reduction : Reduction
        Every run's spectrum and what the reduction cost.
    usable : list of `gammapy.datasets.SpectrumDatasetOnOff`
        The spectra a fit can use (`usable_spectra`).
    dropped : list of str
        The names of the others.
    """
    from gammapy.datasets import SpectrumDataset
    from gammapy.maps import RegionGeom

    axes = config.datasets.geom.axes
    reference = SpectrumDataset.create(
        geom=RegionGeom.create(
            region=circle(config.datasets.on_region, position),
            axes=[energy_axis(axes.energy)],
        ),
        energy_axis_true=energy_axis(axes.energy_true, "energy_true"),
    )
    reduction = reduce_observations(
        context,
        config.general,
        reflected_regions_makers(config, position, observations),
        reference,
        observations,
        files,
        f"reducing {len(observations)} runs (reflected regions)",
    )
    return (reduction, *usable_spectra(reduction.datasets))


def usable_spectra(datasets) -> tuple[list, list[str]]:
    """Split ON/OFF spectra into those a fit can use and the names of the others.

    A run is usable with OFF regions (none fit in the field of view when the
    exclusion regions or the ON region are too large) and a safe energy range.
    """
    usable = [
        d for d in datasets if d.counts_off is not None and d.mask_safe.data.any()
    ]
    dropped = sorted(set(datasets.names) - {d.name for d in usable})
    return usable, dropped
