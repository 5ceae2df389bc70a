"""1D ON/OFF spectrum of a source in H.E.S.S. DL3 DR1 data (reflected regions).

The classic IACT spectral analysis, done with Gammapy's makers: for every run a
`SpectrumDatasetMaker` fills the ON region, a `ReflectedRegionsBackgroundMaker`
measures the background in OFF regions at the same offset from the pointing, and a
`SafeMaskMaker` keeps the energies where the IRFs are trusted (`DatasetsMaker`
loops over the runs). A power law and a log-parabola are fitted jointly to the
per-run datasets (WStat), flux points are estimated for the first model, and the
power law is validated against Mohrmann et al. 2019 (A&A 632, A72), the paper of
the data release, for the sources it published: the Crab Nebula (the default),
PKS 2155-304 and MSH 15-52. Any other source (target name from the obs-index, or a
position and observation ids) runs the same analysis without a reference.

The config is Gammapy's ``AnalysisConfig`` blocks (``observations``,
``datasets``, ``fit``, ``flux_points``; `sat.usecases.options`) with our keys
beside them. The configs of the paper's other two sources are examples
(`Spectrum1D.examples`: ``ctao-sat run spectrum-1d --print-config --example
msh-15-52``).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from sat.archive.usecase import ArchiveSource
from sat.parallel import ParallelConfig
from sat.usecases.base import Example, Outcome, RunContext, fitted_parameters
from sat.usecases.hess_dr1 import PAPER, PUBLISHED_1D, references
from sat.usecases.models import AMPLITUDE_UNIT, power_law
from sat.usecases.options import (
    RENAMED,
    Datasets,
    DL3Config,
    DL3UseCase,
    Energy,
    Fit,
    FluxPoints,
    check_reflected_regions,
    reflected_regions_datasets,
)
from sat.usecases.reflected import apply_fit_range, reflected_regions_runs
from sat.validation import compare_fitted

SpectralModelName = Literal["power-law", "log-parabola"]
# Flux points per decade of energy when flux_points.energy.nbins is null.
BINS_PER_DECADE = 4


class Spectrum1DConfig(DL3Config):
    """Configuration of the 1D reflected-regions spectrum.

    Gammapy's ``observations``, ``datasets`` (type 1d), ``fit`` and
    ``flux_points`` blocks, ``target``, ``exclusion_regions`` and:

    - ``flux_points``: ``energy`` min/max null: where any run is safe; ``nbins``
      null: 4 per decade; ``source``: the name of the fitted models;
    - ``spectral_models``: fitted in turn, the first one validated and used for
      the flux points;
    - ``reference_energy`` of the models;
    - ``archive``: fetch the runs from an IVOA archive first (instead of
      ``observations.datastore``);
    - ``general``: ``n_jobs``, ``parallel_backend``, ``skip_failed``.
    """

    renamed: ClassVar[dict[str, str]] = {
        **RENAMED,
        "flux_points.energy_min_tev": "flux_points.energy.min (e.g. 1 TeV)",
        "flux_points.energy_max_tev": "flux_points.energy.max (e.g. 30 TeV)",
        "flux_points.bins_per_decade": "flux_points.energy.nbins (the number of "
        f"bins; null: {BINS_PER_DECADE} per decade)",
    }

    target: str | None = "Crab"
    datasets: Datasets = Field(default_factory=reflected_regions_datasets)
    fit: Fit = Field(default_factory=dict)
    """Gammapy's fit block: the energy range of the fit (null: the safe range)."""
    flux_points: FluxPoints = Field(
        default_factory=lambda: {"parameters": {"selection_optional": ["ul"]}}
    )
    """Gammapy's flux_points block: energy bins (min, max null: where any run is safe;
    nbins null: 4 per decade)."""
    spectral_models: list[SpectralModelName] = Field(
        default_factory=lambda: ["power-law", "log-parabola"], min_length=1
    )
    """Models fitted in turn: power-law, log-parabola; the first is validated and gives
    the flux points."""
    reference_energy: Energy = "1.45 TeV"
    """Reference energy of the spectral models."""
    archive: ArchiveSource | None = None
    """Fetch the runs from an IVOA archive first (instead of observations.datastore)."""
    general: ParallelConfig = Field(default_factory=ParallelConfig)
    """How the runs are reduced: n_jobs, parallel_backend, skip_failed."""

    @field_validator("spectral_models", mode="after")
    @classmethod
    def _unique(cls, models: list[str]):
        if len(set(models)) != len(models):
            raise ValueError("each spectral model at most once")
        return models

    @model_validator(mode="after")
    def _a_reflected_regions_spectrum(self):
        check_reflected_regions(self)
        return self


# --- validation ------------------------------------------------------------------

SOURCE = f"{PAPER}, 1D reflected-regions power law"
# Both fits use the same events, so the difference between them is not statistical
# noise but the analysis (Gammapy version, safe energy threshold, binning,
# reflected-region layout): with gammapy 2.1 the Crab index is 1.0 sigma from the
# paper (2.74 vs 2.63; gammapy-benchmarks finds 2.71 on the same runs), the other
# parameters and sources 0.2 to 0.8 sigma. 2 sigma of the combined errors accepts
# that known spread and still fails the mistakes that matter: no PSF containment
# correction (Crab flux -35 %, 4 sigma), a wrong reference energy or model.
N_SIGMA = 2.0
WHY = (
    "same runs as the paper: differences are analysis choices, not statistics "
    "(Crab index 1.0 sigma off with gammapy 2.1, 0.8 sigma in gammapy-benchmarks); "
    "2 sigma accepts them and fails a missing containment correction (4 sigma)"
)


def _published_for(config: Spectrum1DConfig, target_names: set[str], obs_ids):
    """Return the published spectrum this analysis repeats, if any.

    Returns
    -------
    tuple
        ``(Published, target name)``, or ``(None, why there is no reference)``.
        A reference applies when the runs fitted (``obs_ids``) are exactly those
        of a published target, found by name (not at a position given in
        ``datasets.on_region``), with the published reference energy and
        ON-region radius and a power law as the first model.
    """
    names = sorted(target_names)
    label = names[0] if len(names) == 1 else ", ".join(names)
    published = PUBLISHED_1D.get(label)
    at_position = config.datasets.on_region.lon is not None
    if at_position or not config.target or published is None:
        return None, f"no published reference for {config.target or 'this position'}"
    if not published.same_runs(obs_ids):
        fitted = sorted(map(int, obs_ids))
        shared = len(set(fitted) & set(published.obs_ids))
        return None, (
            f"no reference for this selection: {label} was published for the "
            f"{len(published.obs_ids)} runs {', '.join(map(str, published.obs_ids))};"
            f" this analysis fits {len(fitted)} runs, {shared} of them"
        )
    if "power-law" != config.spectral_models[0]:
        return None, "no published reference for a first model other than power-law"
    if not published.matches(config.reference_energy, config.datasets.on_region.radius):
        return None, (
            f"no published reference for this analysis of {label} (published: "
            f"{published.describe()})"
        )
    return published, label


# --- the use case ----------------------------------------------------------------


class Spectrum1D(DL3UseCase):
    """1D reflected-regions spectrum of a source in H.E.S.S. DL3 DR1."""

    name = "spectrum-1d"
    usecase_id = "SUSS-UC-SAT-010"
    summary = "1D ON/OFF spectrum (reflected regions) of H.E.S.S. DR1 runs"
    Config = Spectrum1DConfig
    datasets = ("hess-dl3-dr1",)
    examples: ClassVar[dict[str, Example]] = {
        "msh-15-52": Example(
            "MSH 15-52, the extended source of the paper: its ON region (0.3 deg) and "
            "reference energy; the nebula is kept out of the OFF regions, but a wider "
            "exclusion than 0.35 deg leaves half of the runs without any OFF region.",
            {
                "target": "MSH 15-52",
                "datasets": {"on_region": {"radius": "0.3 deg"}},
                "reference_energy": "1.4 TeV",
                "exclusion_regions": [{"radius": "0.35 deg"}],
            },
        ),
        "pks-2155-304": Example(
            "PKS 2155-304, the paper's steady-state sample (6 runs), at its "
            "reference energy: validated against the paper too.",
            {"target": "PKS 2155-304", "reference_energy": "0.65 TeV"},
        ),
    }

    def run(self, config: Spectrum1DConfig, context: RunContext) -> Outcome:
        """Reduce the runs, fit the models, estimate flux points, validate."""
        from gammapy.modeling.models import Models

        runs = reflected_regions_runs(config, context, self.datasets[0], config.archive)
        datasets = runs.fit_datasets(config.datasets.stack)
        apply_fit_range(datasets, config.fit)
        source = config.flux_points.source
        fits, sky_models = _fit_models(config, datasets, source, context)
        main = config.spectral_models[0]
        datasets.models = [sky_models[main]]
        flux_points = _flux_points(config, datasets, source, context)

        with context.step("writing products"):
            flux_points.write(
                context.product("flux_points.ecsv"),
                sed_type="likelihood",
                overwrite=True,
            )
            for name, sky_model in sky_models.items():
                context.write_models(Models([sky_model]), f"models/{name}.yaml")
            for dataset in [runs.stacked, *runs.datasets]:
                _write_ogip(dataset, context)
            table, cumulative = runs.info_tables
            what = runs.summary.text()
            context.save_figure(
                _plot_spectrum(flux_points, sky_models, main, runs.label, what),
                "spectrum.png",
            )
            context.save_figure(
                _plot_runs(table, cumulative, runs.label, what), "runs.png"
            )
        context.keep(
            datasets=datasets,
            models=Models([sky_models[main]]),
            flux_points=flux_points,
        )

        extra = {"fits": fits, **runs.statistics()}
        if {"power-law", "log-parabola"} <= set(fits):
            # Nested models (beta = 0 is the power law): TS of the curvature.
            ts = fits["power-law"]["total_stat"] - fits["log-parabola"]["total_stat"]
            extra["curvature_ts"] = ts
        parameters = fits[main]["parameters"]
        fitted = [int(name.removeprefix("obs_")) for name in runs.datasets.names]
        published, note = _published_for(config, runs.target_names, fitted)
        validation = []
        if published is not None:
            source_text = f"{SOURCE}, {note} ({published.describe()})"
            validation = compare_fitted(
                references(published, source_text, N_SIGMA, WHY), parameters
            )
        summary = _summary(runs.label, extra, fits, config)
        summary.append(f"validated against {SOURCE}" if published else note)
        return Outcome(parameters, validation, summary, extra)


def _fit_models(config, datasets, source: str, context) -> tuple[dict, dict]:
    """Fit each configured spectral model in turn; return the fits and the models."""
    from gammapy.modeling import Fit
    from gammapy.modeling.models import Models

    fits, sky_models = {}, {}
    for name in config.spectral_models:
        with context.step(f"fitting a {name} to {len(datasets)} runs"):
            sky_model = _sky_model(name, source, config.reference_energy)
            datasets.models = [sky_model]
            result = Fit().run(datasets)
        sky_models[name] = sky_model
        fits[name] = {
            "success": bool(result.success),
            "total_stat": float(result.total_stat),
            "parameters": fitted_parameters(Models([sky_model])),
        }
    return fits, sky_models


def _flux_points(config, datasets, source: str, context):
    """Flux points of the fitted model ``source`` (Gammapy's estimator)."""
    from gammapy.estimators import FluxPointsEstimator

    with context.step("estimating flux points"):
        estimator = FluxPointsEstimator(
            energy_edges=_flux_point_edges(config, datasets),
            source=source,
            n_jobs=1,  # the parallel backend serves the reduction
            **config.flux_points.parameters,
        )
        with _gammapy_progress(not context.quiet):
            return estimator.run(datasets)


@contextmanager
def _gammapy_progress(show: bool):
    """Show Gammapy's own progress bars (a module-wide switch) inside the block."""
    from gammapy.utils import pbar

    before = pbar.SHOW_PROGRESS_BAR
    pbar.SHOW_PROGRESS_BAR = show
    try:
        yield
    finally:
        pbar.SHOW_PROGRESS_BAR = before


def _sky_model(name: str, source: str, reference):
    """Return a fresh sky model ``name`` (power-law or log-parabola) to fit.

    The start values (Gammapy's tutorial ones) keep the minimiser out of regions
    where the prediction overflows; fixed start values make the fit reproducible.
    """
    import astropy.units as u
    from gammapy.modeling.models import LogParabolaSpectralModel, SkyModel

    if name == "power-law":
        return power_law(source, reference)
    spectral = LogParabolaSpectralModel(
        alpha=2.0,
        beta=0.1,
        amplitude=1e-12 * u.Unit(AMPLITUDE_UNIT),
        reference=u.Quantity(reference, "TeV"),
    )
    return SkyModel(spectral_model=spectral, name=source)


def _write_ogip(dataset, context: RunContext) -> None:
    """Write ``datasets/<name>.fits`` and its ARF, RMF and BKG files (OGIP).

    OGIP keeps the livetime (Gammapy's GADF serialisation of a spectrum drops it)
    and Sherpa and XSPEC read it too.
    """
    path = context.product(f"datasets/{dataset.name}.fits")
    dataset.write(path, format="ogip", overwrite=True)
    for kind in ("arf", "rmf", "bkg"):
        if path.with_name(f"{path.stem}_{kind}.fits").is_file():
            context.product(f"datasets/{path.stem}_{kind}.fits")


def _flux_point_range(config: Spectrum1DConfig, datasets) -> tuple[float, float]:
    """Flux-point energy range in TeV: configured, else where any run is safe."""
    import numpy as np

    lows, highs = [], []
    for dataset in datasets:
        low, high = dataset.energy_range_safe
        lows.append(low.quantity.to_value("TeV").item())
        highs.append(high.quantity.to_value("TeV").item())
    block = config.flux_points.energy
    energy_min = float(np.nanmin(lows)) if block.min is None else block.min.to("TeV")
    energy_max = float(np.nanmax(highs)) if block.max is None else block.max.to("TeV")
    energy_min, energy_max = (
        float(getattr(e, "value", e)) for e in (energy_min, energy_max)
    )
    if not energy_max > energy_min:
        from sat.errors import ConfigError

        raise ConfigError(
            f"key 'flux_points.energy': empty energy range {energy_min:.3g}-"
            f"{energy_max:.3g} TeV"
        )
    return energy_min, energy_max


def _flux_point_edges(config: Spectrum1DConfig, datasets):
    """Flux-point energy edges: ``flux_points.energy``, else 4 bins per decade."""
    from gammapy.maps import MapAxis

    energy_min, energy_max = _flux_point_range(config, datasets)
    nbins = config.flux_points.energy.nbins or max(
        1, round(math.log10(energy_max / energy_min) * BINS_PER_DECADE)
    )
    return MapAxis.from_energy_bounds(energy_min, energy_max, nbins, unit="TeV").edges


def _summary(label, extra, fits, config) -> list[str]:
    """Human-readable lines for the end of the run."""
    import astropy.units as u

    stacked, dropped = extra["stacked"], extra["dropped_runs"]
    lines = [
        f"{label}: {len(extra['runs'])} runs, {stacked['livetime_s'] / 3600:.2f} h, "
        f"ON {stacked['n_on']}, OFF {stacked['n_off']}, excess "
        f"{stacked['excess']:.1f}, {stacked['significance']:.1f} sigma"
    ]
    if dropped:
        lines.append(
            f"dropped {', '.join(dropped)}: no OFF region or no safe energy range"
        )
    from sat.plots import unit_text

    e0 = config.reference_energy
    for name, fit in fits.items():
        values = ", ".join(
            f"{key} {p['value']:.4g} ± {p['error']:.2g}"
            + (f" {unit_text(u.Unit(p['unit']))}" if p["unit"] else "")
            for key, p in fit["parameters"].items()
        )
        state = "" if fit["success"] else " (fit did NOT converge)"
        lines.append(f"{name} at E0 {e0}: {values}{state}")
    if "curvature_ts" in extra:
        ts = extra["curvature_ts"]
        lines.append(
            f"log-parabola vs power-law: TS {ts:.1f} "
            f"({math.sqrt(max(ts, 0)):.1f} sigma for curvature)"
        )
    return lines


def _plot_spectrum(flux_points, sky_models, main, label, what):
    """SED: flux points, fitted models (main with error band) and residuals.

    ``what`` (the observations) is written under the figure.

    Returns
    -------
    `~matplotlib.figure.Figure`
    """
    import warnings

    import matplotlib.pyplot as plt
    from gammapy.datasets import FluxPointsDataset

    from sat.plots import caption, sed_labels

    figure, (top, bottom) = plt.subplots(
        2,
        1,
        figsize=(7, 7),
        sharex=True,
        gridspec_kw={"height_ratios": [3, 1], "hspace": 0.05},
    )
    with warnings.catch_warnings():
        # Gammapy re-registers astropy's unit converter per curve: harmless.
        warnings.filterwarnings("ignore", "This axis already has a converter")
        FluxPointsDataset(models=[sky_models[main]], data=flux_points).plot_fit(
            ax_spectrum=top,
            ax_residuals=bottom,
            kwargs_spectrum={
                "kwargs_fp": {"label": "flux points", "color": "k"},
                "kwargs_model": {"label": f"{main} fit", "color": "C0"},
            },
            kwargs_residuals={
                "method": "diff/model",
                "color": "k",
                "label": "flux points",
            },
        )
        # Gammapy draws the fit's error band without a label: name it.
        top.collections[-1].set_label(f"{main} fit, 1σ band")
        energy_bounds = flux_points.energy_axis.edges[[0, -1]]
        for index, (name, model) in enumerate(sky_models.items()):
            if name != main:
                model.spectral_model.plot(
                    energy_bounds,
                    ax=top,
                    sed_type="e2dnde",
                    ls="--",
                    color=f"C{index + 1}",
                    label=f"{name} fit",
                )
    sed_labels(top)
    top.set_xlabel("")
    top.set_title(f"{label}: reflected-regions spectrum")
    top.legend()
    sed_labels(bottom)
    bottom.set_ylabel("residual\n(data − model) / model")
    bottom.legend(fontsize="small", loc="lower left")
    caption(figure, what)
    return figure


def _plot_runs(runs, cumulative, label, what):
    """Per run ON, scaled OFF and excess counts; significance versus live time.

    Returns
    -------
    `~matplotlib.figure.Figure`
    """
    import matplotlib.pyplot as plt
    import numpy as np

    from sat.plots import caption, run_ticks
    from sat.plots import label as axis_label

    wide = len(runs) > 8
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(14 if wide else 11, 4.5), layout="constrained"
    )
    x = np.arange(len(runs))
    width = 0.27
    left.bar(x - width, runs["counts"], width, label="ON counts")
    left.bar(x, runs["alpha"] * runs["counts_off"], width, label="background: α × OFF")
    left.bar(x + width, runs["excess"], width, label="excess")
    run_ticks(left, [name.removeprefix("obs_") for name in runs["name"]])
    left.set_xlabel("run")
    left.set_ylabel("counts in the safe energy range")
    left.set_ylim(0, 1.35 * float(np.max(runs["counts"])))  # room for the legend
    left.legend(fontsize="small", loc="upper left")
    hours = cumulative["livetime"].quantity.to_value("h")
    right.plot(hours, cumulative["sqrt_ts"], "o-", label="all runs up to this one")
    right.set_xlabel(axis_label("Cumulative live time", "h"))
    right.set_ylabel("significance (σ)")
    right.legend(fontsize="small")
    figure.suptitle(f"{label}: counts per run")
    caption(figure, what)
    return figure


USECASE = Spectrum1D
