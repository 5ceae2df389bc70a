"""Many short simulated CTAO runs of a small survey field, reduced in parallel.

The scaling workload of ctao-sat: ``n_runs`` short observations (default 200 of
2 minutes) of a point source, pointed in turn at ``n_pointings`` positions on a
circle of radius ``offset_deg`` around it (a small survey field, wobble-like), are
simulated with Gammapy's `MapDatasetEventSampler` and a public CTAO IRF, written
as GADF DL3 and indexed (`sat.simulate`). They are then reduced one by one into
reflected-regions ON/OFF spectra by `sat.reduction.ObservationsMaker`, i.e.
Gammapy's `DatasetsMaker` with the configured ``general`` block (``n_jobs``,
``parallel_backend``: multiprocessing or Ray; `sat.parallel`), and a power law is
fitted jointly to all runs (WStat) in the main process.

Memory: a run's events are read inside the worker that reduces it and dropped
with it; only the small 1D spectra come back, so no backend holds all event
lists at once (`result.json` ``reduction`` gives each process's peak memory).
The files of a run are not checked up front (`sat.reduction.verify_files`):
that would read all runs once more, serially, in the main process; a run whose
file cannot be read fails alone, named with its file.

Validation: the jointly fitted index and amplitude against the simulated truth.
``datastore`` reduces an existing folder of runs instead of simulating (the
benchmark simulates once and reduces with every backend).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from sat import parallel
from sat.parallel import ParallelConfig
from sat.usecases.base import (
    Outcome,
    RunContext,
    UseCase,
    UseCaseConfig,
    fitted_parameters,
)
from sat.usecases.ctao_simulate import BINSZ_DEG, MARGIN_DEG, Spectrum
from sat.usecases.models import AMPLITUDE_UNIT
from sat.validation import Reference, compare

# A joint fit of many runs is one fit of the summed data: its pull against the
# truth is N(0, 1) if the fit is unbiased, so 3 sigma fails one run in 370 by
# chance and catches a bias larger than about 3 errors (e.g. a run reduced twice
# or a lost exposure, which shift the amplitude by many errors at 200 runs).
N_SIGMA = 3.0
WHY = (
    "simulated truth: the joint fit must recover it within its statistical "
    "error (3 sigma: one false alarm in 370)"
)


class SurveyConfig(UseCaseConfig):
    """Configuration of the survey scaling workload."""

    renamed: ClassVar[dict[str, str]] = parallel.RENAMED

    irf: str = "prod5-south-z20-50h"
    """CTAO IRF the runs are simulated with (ctao-sat irf list)."""
    n_runs: int = Field(default=200, ge=2)
    """Number of simulated runs."""
    livetime_s: float = Field(default=120.0, gt=0)
    """Live time of each run (s)."""
    ra_deg: float = Field(default=83.633, ge=0, lt=360)
    """RA of the point source (deg, ICRS)."""
    dec_deg: float = Field(default=-30.0, ge=-90, le=90)
    """Dec of the point source (deg, ICRS)."""
    n_pointings: int = Field(default=4, ge=1)
    """Pointings on a circle around the source, taken in turn by the runs."""
    offset_deg: float = Field(default=0.5, gt=0)
    """Radius of that circle: the offset of the source from each pointing (deg)."""
    on_radius_deg: float = Field(default=0.11, gt=0)
    """Radius of the ON region (deg)."""
    spectrum: Spectrum = Field(
        default_factory=lambda: Spectrum(index=2.5, amplitude=2e-11)
    )
    """The simulated power law."""
    energy_min_tev: float = Field(default=0.1, gt=0)
    """Lowest reconstructed energy (TeV)."""
    energy_max_tev: float = Field(default=100.0, gt=0)
    """Highest reconstructed energy (TeV)."""
    bins_per_decade: int = Field(default=5, gt=0)
    """Reconstructed-energy bins per decade."""
    seed: int = Field(default=0, ge=0)
    """Random seed of the first run; the others follow."""
    datastore: str | None = None
    """An existing folder of runs (obs-index, hdu-index) to reduce instead of
    simulating: its first n_runs runs."""
    general: ParallelConfig = Field(default_factory=ParallelConfig)
    """How the runs are reduced: n_jobs, parallel_backend, skip_failed."""

    @model_validator(mode="after")
    def _consistent(self):
        if self.energy_max_tev <= self.energy_min_tev:
            raise ValueError("energy_max_tev must be larger than energy_min_tev")
        if self.offset_deg < 2 * self.on_radius_deg:
            raise ValueError(
                f"offset_deg must be at least 2 x on_radius_deg "
                f"({2 * self.on_radius_deg:g}) for reflected OFF regions"
            )
        return self


def pointings(config: SurveyConfig):
    """Return the ``n_pointings`` ICRS pointings around the source (a SkyCoord)."""
    import astropy.units as u
    import numpy as np
    from astropy.coordinates import SkyCoord

    source = SkyCoord(config.ra_deg, config.dec_deg, unit="deg")
    angles = np.arange(config.n_pointings) * 360 / config.n_pointings * u.deg
    return source.directional_offset_by(angles, config.offset_deg * u.deg)


def simulate(config: SurveyConfig, context: RunContext):
    """Simulate, write and index the runs; return their folder.

    One simulation dataset per pointing serves all its runs (same IRF, pointing
    and live time), each run drawn with its own seed and start time.
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from gammapy.maps import WcsGeom
    from gammapy.modeling.models import Models, PointSpatialModel, SkyModel

    from sat.irf import energy_axes
    from sat.simulate import (
        SimulatedRun,
        create_observation,
        instrument,
        simulate_runs,
        simulation_dataset,
        transit_time,
    )

    array = instrument(config.irf)
    info, path, irfs, location = array.info, array.path, array.irfs, array.location
    context.add_inputs(path)
    source = SkyCoord(config.ra_deg, config.dec_deg, unit="deg")
    livetime = config.livetime_s * u.s
    energy_axis, energy_axis_true = energy_axes(irfs, config)
    truth = Models([_truth(config, source, PointSpatialModel, SkyModel)])
    truth.write(
        context.product("models/truth.yaml"), overwrite=True, write_covariance=False
    )
    start = transit_time(source, location)
    step = livetime + 60 * u.s  # runs follow each other, one minute apart
    width = 2 * (config.offset_deg + config.on_radius_deg + MARGIN_DEG)
    datasets = []
    with context.step(f"preparing {config.n_pointings} pointings ({info.name})"):
        for index, pointing in enumerate(pointings(config)):
            geom = WcsGeom.create(
                skydir=pointing,
                width=width,
                binsz=BINSZ_DEG,
                frame="icrs",
                axes=[energy_axis],
            )
            template = create_observation(
                irfs, pointing, location, livetime, index + 1, start
            )
            datasets.append(
                (pointing, simulation_dataset(template, geom, energy_axis_true))
            )

    def runs():
        for run in range(config.n_runs):
            pointing, dataset = datasets[run % config.n_pointings]
            observation = create_observation(
                irfs, pointing, location, livetime, run + 1, start + run * step
            )
            yield SimulatedRun(observation, dataset, truth, config.seed + run)

    folder = context.workdir / "dl3"
    bar = context.progress(runs(), "simulating runs", total=config.n_runs)
    context.add_products(*simulate_runs(bar, folder, irf_file=path))
    return folder


def _truth(config: SurveyConfig, source, point_model, sky_model):
    import astropy.units as u
    from gammapy.modeling.models import PowerLawSpectralModel

    spectral = PowerLawSpectralModel(
        index=config.spectrum.index,
        amplitude=config.spectrum.amplitude * u.Unit(AMPLITUDE_UNIT),
        reference=config.spectrum.reference_tev * u.TeV,
    )
    spatial = point_model(lon_0=source.ra, lat_0=source.dec, frame="icrs")
    return sky_model(spectral_model=spectral, spatial_model=spatial, name="source")


def reduction_summary(maker, wall_s: float, main_cpu_s: float) -> dict:
    """Wall time, CPU time and peak memory of a reduction, for result.json.

    Parameters
    ----------
    maker : `sat.reduction.ObservationsMaker`
        After its ``run`` (its ``stats`` say what each run cost, and where).
    wall_s : float
        Wall-clock time of the reduction.
    main_cpu_s : float
        CPU time of the main process during the reduction.
    """
    workers: dict[int, dict] = {}
    for stats in maker.stats:
        worker = workers.setdefault(stats.pid, {"runs": 0, "peak_rss_mib": 0.0})
        worker["runs"] += 1
        worker["peak_rss_mib"] = max(worker["peak_rss_mib"], stats.peak_rss_mib)
    n_runs = len(maker.stats)
    return {
        "runs_reduced": n_runs,
        "wall_s": wall_s,
        "runs_per_s": n_runs / wall_s if wall_s > 0 else None,
        "worker_cpu_s": sum(stats.cpu_s for stats in maker.stats),
        "main_cpu_s": main_cpu_s,
        "workers": len(workers),
        "peak_rss_mib_per_worker": [
            round(worker["peak_rss_mib"], 1) for worker in workers.values()
        ],
    }


class Survey(UseCase):
    """Many short simulated CTAO runs, reduced with a parallel backend, fitted."""

    name = "survey"
    usecase_id = "SUSS-UC-SAT-120"
    summary = "Many short CTAO runs of a survey field, reduced in parallel (scaling)"
    Config = SurveyConfig
    datasets = ("cta-caldb",)

    def run(self, config: SurveyConfig, context: RunContext) -> Outcome:
        """Simulate (or open) the runs, reduce them with the backend, fit them."""
        import astropy.units as u
        from astropy.coordinates import SkyCoord
        from gammapy.datasets import Datasets, SpectrumDataset
        from gammapy.makers import SafeMaskMaker
        from gammapy.maps import RegionGeom
        from gammapy.modeling import Fit
        from gammapy.modeling.models import Models, PowerLawSpectralModel, SkyModel
        from regions import CircleSkyRegion

        from sat.dl3.makers import spectrum_makers
        from sat.dl3.store import index_files, observation_files, open_store, run_ids
        from sat.errors import DataError
        from sat.irf import energy_axes, load_irf
        from sat.plots import ObservationSummary, unit_text
        from sat.reduction import reduce_observations

        if config.datastore:
            from pathlib import Path

            folder = Path(config.datastore)
        else:
            folder = simulate(config, context)
        store = open_store(folder)
        context.add_inputs(*index_files(folder))
        # An existing folder may hold more runs: the first n_runs (benchmark sizes).
        obs_ids = run_ids(store)[: config.n_runs]
        # Lazy observations: nothing of a run is read until a worker reduces it.
        observations = store.get_observations(obs_ids)
        files = {obs_id: list(observation_files(store, obs_id)) for obs_id in obs_ids}

        source = SkyCoord(config.ra_deg, config.dec_deg, unit="deg")
        energy_reco, energy_true = energy_axes(load_irf(config.irf), config)
        region = CircleSkyRegion(source, config.on_radius_deg * u.deg)
        reference = SpectrumDataset.create(
            geom=RegionGeom.create(region, axes=[energy_reco]),
            energy_axis_true=energy_true,
        )
        makers = spectrum_makers(
            safe_mask=SafeMaskMaker(methods=["aeff-max"], aeff_percent=10)
        )
        reduction = reduce_observations(
            context,
            config.general,
            makers,
            reference,
            observations,
            files,
            f"reducing {len(obs_ids)} runs ({config.general.backend}, "
            f"{config.general.n_jobs} jobs)",
        )
        reduced, maker = reduction.datasets, reduction.maker
        usable = [d for d in reduced if d.counts_off is not None]
        if not usable:
            raise DataError(f"no run of {folder} has OFF regions")
        datasets = Datasets(usable)

        with context.step(f"fitting a power law to {len(datasets)} runs"):
            # Start away from the truth (index 2, half the amplitude).
            spectral = PowerLawSpectralModel(
                index=2.0,
                amplitude=0.5 * config.spectrum.amplitude * u.Unit(AMPLITUDE_UNIT),
                reference=config.spectrum.reference_tev * u.TeV,
            )
            model = SkyModel(spectral_model=spectral, name="source")
            datasets.models = [model]
            result = Fit().run(datasets)
        parameters = fitted_parameters(Models([model]))

        with context.step("writing products"):
            context.write_models(Models([model]), "models/power-law.yaml")
            stacked = datasets.stack_reduce(name="stacked")
            path = context.product("datasets/stacked.fits")
            stacked.write(path, format="ogip", overwrite=True)
            for kind in ("arf", "rmf", "bkg"):
                if path.with_name(f"stacked_{kind}.fits").is_file():
                    context.product(f"datasets/stacked_{kind}.fits")
            stacked.models = Models([model])
            usable_ids = {dataset.name for dataset in datasets}
            summary = ObservationSummary.from_observations(
                [obs for obs in observations if f"obs_{obs.obs_id}" in usable_ids],
                instrument=f"simulated with {config.irf}",
            )
            figure = _plot_survey(stacked, datasets, maker.stats, summary.text())
            context.save_figure(figure, "survey.png")
        context.keep(datasets=datasets, models=Models([model]))

        truths = {
            "index": config.spectrum.index,
            "amplitude": config.spectrum.amplitude,
        }
        source_text = f"simulated truth ({config.irf}, {len(obs_ids)} runs)"
        validation = [
            compare(
                Reference(
                    name,
                    truths[name],
                    0.0,
                    "" if name == "index" else AMPLITUDE_UNIT,
                    source_text,
                    N_SIGMA,
                    WHY,
                ),
                parameters[name]["value"],
                parameters[name]["error"],
            )
            for name in ("index", "amplitude")
        ]
        reduction = {
            **reduction.where,
            **reduction_summary(maker, reduction.wall_s, reduction.cpu_s),
        }
        failed = [failure.message for failure in maker.failures]
        extra = {
            "fit_success": bool(result.success),
            "n_runs": len(obs_ids),
            "failed_runs": failed,
            "reduction": reduction,
            "observations": summary.as_dict(),
            "stacked": {
                "n_on": int(stacked.counts.data[stacked.mask_safe.data].sum()),
                "n_off": int(stacked.counts_off.data[stacked.mask_safe.data].sum()),
            },
        }
        peaks = ", ".join(f"{m:.0f}" for m in reduction["peak_rss_mib_per_worker"])
        summary = [
            f"{len(datasets)} of {len(obs_ids)} runs reduced with "
            f"{config.general.backend} "
            f"({reduction['n_jobs']} jobs) in {reduction['wall_s']:.1f} s "
            f"({reduction['runs_per_s']:.2f} runs/s); worker CPU "
            f"{reduction['worker_cpu_s']:.1f} s; peak memory per worker "
            f"{peaks} MiB",
            "power law: "
            + ", ".join(
                f"{key} {p['value']:.4g} ± {p['error']:.2g}"
                + (f" {unit_text(u.Unit(p['unit']))}" if p["unit"] else "")
                for key, p in parameters.items()
            ),
        ]
        if failed:
            summary.append(f"skipped {len(failed)} failed runs: " + "; ".join(failed))
        return Outcome(parameters, validation, summary, extra)


def _plot_survey(stacked, datasets, stats, what):
    """Plot the stacked fit with its residuals and the excess of every run.

    The right panel shows what each process reduced: a backend that left a
    worker idle, or a run with no signal, is visible at a glance. ``what`` (the
    runs) is written under the figure.

    Returns
    -------
    `~matplotlib.figure.Figure`
    """
    import matplotlib.pyplot as plt
    import numpy as np

    from sat.plots import caption, label

    figure = plt.figure(figsize=(13, 5), layout="constrained")
    grid = figure.add_gridspec(2, 2, height_ratios=(3, 1))
    ax_spectrum = figure.add_subplot(grid[0, 0])
    ax_residuals = figure.add_subplot(grid[1, 0], sharex=ax_spectrum)
    stacked.plot_fit(
        ax_spectrum=ax_spectrum,
        ax_residuals=ax_residuals,
        kwargs_residuals={"label": "counts − predicted counts"},
    )
    ax_spectrum.set_title(f"{len(datasets)} runs stacked, joint power-law fit")
    ax_spectrum.tick_params(labelbottom=False)
    ax_spectrum.set_xlabel("")
    ax_spectrum.set_ylabel("counts per energy bin")
    ax_spectrum.legend(fontsize="small")
    ax_residuals.set_xlabel(label("Reconstructed energy", "TeV"))
    ax_residuals.set_ylabel("residual counts")
    ax_residuals.legend(fontsize="x-small", loc="lower left")

    runs = datasets.info_table(cumulative=False)
    worker_of = {f"obs_{s.obs_id}": s.pid for s in stats}
    workers = sorted(set(worker_of.values()))
    ax_runs = figure.add_subplot(grid[:, 1])
    index = np.arange(len(runs))
    for number, pid in enumerate(workers):
        mine = np.array([worker_of.get(str(name)) == pid for name in runs["name"]])
        ax_runs.errorbar(
            index[mine],
            np.asarray(runs["excess"])[mine],
            yerr=np.sqrt(np.asarray(runs["counts"])[mine]),
            fmt="o",
            ms=3,
            label=f"runs reduced by worker {number + 1} ({mine.sum()})",
        )
    ax_runs.axhline(
        float(np.mean(runs["excess"])), color="0.5", ls="--", lw=1, label="mean"
    )
    ax_runs.set_xlabel("run (in the order of the obs-index)")
    ax_runs.set_ylabel("excess counts in the safe energy range")
    ax_runs.set_title("excess per run, by the process that reduced it")
    ax_runs.legend(fontsize="small", loc="best")
    caption(figure, what)
    return figure


USECASE = Survey
