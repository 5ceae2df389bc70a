"""The runs of a reflected-regions analysis: selected, reduced, ready to fit.

spectrum-1d and lightcurve start alike: the runs of their ``observations`` block
and ``target`` are opened and checked (`sat.reduction.checked_runs`), reduced into
per-run ON/OFF spectra with reflected OFF regions on the configured backend, and
the runs without OFF regions or safe energies are dropped (named). `ReflectedRuns`
holds what they need afterwards: the usable spectra, their stack, where the
analysis points and the per-run statistics of ``result.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

__all__ = ["ReflectedRuns", "apply_fit_range", "reflected_regions_runs"]


@dataclass
class ReflectedRuns:
    """Reduced runs of a reflected-regions analysis.

    Attributes
    ----------
    datasets : `gammapy.datasets.Datasets`
        The usable per-run ON/OFF spectra (``obs_<id>``), in obs-index order.
    label : str
        The target name, or the position given.
    target_names : set of str
        The obs-index TARGET_NAME of the selected runs.
    obs_ids : list of int
        Every selected run (usable or not).
    dropped : list of str
        Runs without OFF regions or safe energies.
    failed : list of str
        Runs that could not be reduced or read (with ``general.skip_failed``).
    outside : list of str
        Runs left out before the reduction: the ON region is outside their field
        of view (`sat.fov.covering_runs`), each with why.
    observations : list of `gammapy.data.Observation`
        The runs of ``datasets`` (what the figures say they show).
    """

    datasets: object
    label: str
    target_names: set[str]
    obs_ids: list[int]
    dropped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    observations: list = field(default_factory=list)

    @cached_property
    def summary(self):
        """The `sat.plots.ObservationSummary` of the usable runs."""
        from sat.plots import ObservationSummary

        return ObservationSummary.from_observations(self.observations)

    @cached_property
    def stacked(self):
        """The usable spectra stacked into one (``stacked``)."""
        return self.datasets.stack_reduce(name="stacked")

    def fit_datasets(self, stack: bool):
        """Return the datasets to fit: the per-run spectra, or their stack."""
        from gammapy.datasets import Datasets

        return Datasets([self.stacked]) if stack else self.datasets

    @cached_property
    def info_tables(self):
        """Gammapy's info tables of the runs: per run and cumulative.

        Computed once: the statistics and the figure of the runs both read them.
        """
        return (
            self.datasets.info_table(cumulative=False),
            self.datasets.info_table(cumulative=True),
        )

    def statistics(self) -> dict:
        """Return per-run and stacked numbers, dropped and failed runs."""
        runs, cumulative = self.info_tables
        total = cumulative[-1]
        return {
            "runs": [_run_row(runs, i, d) for i, d in enumerate(self.datasets)],
            "dropped_runs": self.dropped,
            "failed_runs": self.failed,
            "outside_fov_runs": self.outside,
            "observations": self.summary.as_dict(),
            "stacked": {
                "livetime_s": float(cumulative["livetime"].quantity[-1].to_value("s")),
                "n_on": int(total["counts"]),
                "n_off": int(total["counts_off"]),
                "excess": float(total["excess"]),
                "significance": float(total["sqrt_ts"]),
            },
        }


def reflected_regions_runs(
    config, context, dataset: str, archive=None, minimum: int = 1
) -> ReflectedRuns:
    """Select, check and reduce the runs of a reflected-regions analysis.

    Parameters
    ----------
    config : `sat.usecases.options.DL3Config`
        ``observations``, ``target``, ``datasets``, ``exclusion_regions`` and
        ``general``.
    context : `sat.usecases.base.RunContext`
        The run.
    dataset : str
        The registered dataset the runs are in by default.
    archive : `sat.archive.usecase.ArchiveSource`, optional
        Fetch the runs from an archive first.
    minimum : int
        How many usable runs the analysis needs.

    Raises
    ------
    DataError
        Fewer than ``minimum`` runs have OFF regions and a safe energy range.
    """
    from gammapy.datasets import Datasets

    from sat.archive.usecase import observations_folder
    from sat.dl3.makers import sky_coord
    from sat.dl3.runs import checked_runs
    from sat.dl3.select import source_position, target_names
    from sat.errors import DataError
    from sat.reduction import reflected_regions_spectra

    block = config.observations
    given = sky_coord(config.datasets.on_region)
    root = observations_folder(
        block.datastore,
        archive,
        dataset=dataset,
        target=config.target,
        position=None if given is None else (given.icrs.ra.deg, given.icrs.dec.deg),
        obs_ids=block.obs_ids,
        context=context,
    )
    selection = checked_runs(
        context,
        root,
        config.target,
        block=block,
        skip_failed=config.general.skip_failed,
    )
    store = selection.store
    position, label = source_position(store, config.target, given)
    observations, outside = _in_field_of_view(config, selection, position, given)
    reduction, usable, dropped = reflected_regions_spectra(
        context, config, position, observations, selection.files
    )
    if not usable:
        raise DataError(
            f"no run of {label} has OFF regions and a safe energy range: "
            "shrink the exclusion regions or the on region"
        )
    if len(usable) < minimum:
        raise DataError(
            f"{len(usable)} run(s) of {label} with OFF regions and a safe energy "
            f"range: the analysis needs at least {minimum}"
        )
    return ReflectedRuns(
        datasets=Datasets(usable),
        label=label,
        target_names=target_names(store, selection.obs_ids),
        obs_ids=selection.obs_ids,
        dropped=dropped,
        failed=[
            *selection.failures,
            *(failure.message for failure in reduction.maker.failures),
        ],
        outside=outside,
        observations=[
            obs
            for obs in selection.observations
            if f"obs_{obs.obs_id}" in {dataset.name for dataset in usable}
        ],
    )


def _in_field_of_view(config, selection, position, given):
    """Return the runs whose field of view holds the ON region; check exclusions.

    Before any reduction: an ON region outside every run's field of view would
    make Gammapy's reflected-regions finder build a mask out to it at 0.01 deg
    (past 24 GB 60 deg away) or fit noise a few degrees away.
    """
    from sat.dl3.makers import circle
    from sat.fov import check_memory, check_within, covering_runs
    from sat.fov import spectrum_datasets_bytes as spectra_bytes

    axes = config.datasets.geom.axes
    n_energy = axes.energy.nbins
    n_true = axes.energy_true.nbins or n_energy
    check_memory(
        spectra_bytes(len(selection.observations), n_energy, n_true),
        "datasets.geom.axes",
        f"{len(selection.observations)} spectra of {n_energy} energy bins "
        f"({n_true} true) with their energy dispersion",
        "use fewer energy bins",
    )
    radius = config.datasets.on_region.radius.to_value("deg")
    key = "datasets.on_region" if given is not None else "target"
    observations, outside = covering_runs(
        selection.observations, position, radius, key, "the ON region"
    )
    regions = [circle(c, position) for c in config.exclusion_regions]
    check_within(
        observations,
        [
            (f"exclusion_regions.{i}", region.center, region.radius.to_value("deg"))
            for i, region in enumerate(regions)
        ],
    )
    return observations, outside


def apply_fit_range(datasets, fit) -> None:
    """Restrict the fit to Gammapy's ``fit.fit_range``, as its ``Analysis`` does."""
    low, high = fit.fit_range.min, fit.fit_range.max
    if low is None and high is None:
        return
    for dataset in datasets:
        dataset.mask_fit = dataset.counts.geom.energy_mask(low, high)


def _run_row(runs, index: int, dataset) -> dict:
    """Statistics of run ``index`` of the info table ``runs``, for result.json."""
    low, high = dataset.energy_range_safe
    row = runs[index]
    return {
        "obs_id": int(dataset.name.removeprefix("obs_")),
        "livetime_s": float(runs["livetime"].quantity[index].to_value("s")),
        "n_on": int(row["counts"]),
        "n_off": int(row["counts_off"]),
        "alpha": float(row["alpha"]),
        "excess": float(row["excess"]),
        "significance": float(row["sqrt_ts"]),
        "safe_energy_tev": [
            float(low.quantity.to_value("TeV").item()),
            float(high.quantity.to_value("TeV").item()),
        ],
    }
