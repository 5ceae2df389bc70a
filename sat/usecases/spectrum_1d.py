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

Example config for MSH 15-52, the extended source of the paper (its nebula must not
leak into the OFF regions, but a wider exclusion leaves half of the runs without
any OFF region)::

    target: MSH 15-52
    on_radius_deg: 0.3
    reference_energy_tev: 1.4
    exclusion_regions:
      - radius_deg: 0.35   # centred on the target: the on region + 0.05 deg
"""

from __future__ import annotations

import math
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from sat.archive.usecase import ArchiveSource
from sat.parallel import with_parallel_keys
from sat.usecases.base import (
    Outcome,
    RunContext,
    UseCase,
    UseCaseConfig,
    fitted_parameters,
)
from sat.usecases.options import (
    Circle,
    EnergyAxis,
    RunSelection,
    SafeMask,
    SkyPosition,
)
from sat.validation import Reference, compare

SpectralModelName = Literal["power-law", "log-parabola"]
AMPLITUDE_UNIT = "cm-2 s-1 TeV-1"


class FluxPointsSettings(UseCaseConfig):
    """Flux point bins; a missing bound is the safe energy range of the runs."""

    energy_min_tev: float | None = Field(default=None, gt=0)
    energy_max_tev: float | None = Field(default=None, gt=0)
    bins_per_decade: int = Field(default=4, gt=0)


class Spectrum1DConfig(RunSelection):
    """Configuration of the 1D reflected-regions spectrum."""

    target: str | None = "Crab"
    position: SkyPosition | None = None
    on_radius_deg: float = Field(default=0.11, gt=0)
    exclusion_regions: list[Circle] = Field(default_factory=list)
    energy_reco: EnergyAxis = Field(
        default_factory=lambda: EnergyAxis(min_tev=0.1, max_tev=100, nbins=24)
    )
    energy_true: EnergyAxis = Field(
        default_factory=lambda: EnergyAxis(min_tev=0.05, max_tev=150, nbins=48)
    )
    containment_correction: bool = True
    safe_mask: SafeMask = Field(default_factory=SafeMask)
    spectral_models: list[SpectralModelName] = Field(
        default_factory=lambda: ["power-law", "log-parabola"], min_length=1
    )
    reference_energy_tev: float = Field(default=1.45, gt=0)
    flux_points: FluxPointsSettings = Field(default_factory=FluxPointsSettings)
    # Where the runs are (default: the hess-dl3-dr1 dataset): a data store folder
    # (`ctao-sat archive fetch --dest`), or an IVOA archive to fetch them from.
    datastore: str | None = None
    archive: ArchiveSource | None = None

    @field_validator("spectral_models", mode="after")
    @classmethod
    def _unique(cls, models: list[str]):
        if len(set(models)) != len(models):
            raise ValueError("each spectral model at most once")
        return models


# backend, n_jobs, skip_failed: how the runs are reduced (sat.parallel).
Spectrum1DConfig = with_parallel_keys(Spectrum1DConfig)


# --- validation ------------------------------------------------------------------

SOURCE = "Mohrmann et al. 2019, A&A 632, A72, 1D reflected-regions power law"


@dataclass(frozen=True)
class Published:
    """A published 1D power-law spectrum and the analysis choices that define it."""

    amplitude: tuple[float, float]  # value, error in cm-2 s-1 TeV-1
    index: tuple[float, float]
    reference_energy_tev: float
    on_radius_deg: float


# Keyed by TARGET_NAME of the H.E.S.S. DR1 obs-index: the paper used these runs.
PUBLISHED = {
    "Crab": Published((1.629e-11, 0.088e-11), (2.629, 0.074), 1.45, 0.11),
    "PKS 2155-304 (steady)": Published(
        (1.749e-11, 0.207e-11), (3.464, 0.246), 0.65, 0.11
    ),
    "MSH 15-52": Published((2.698e-12, 0.158e-12), (2.346, 0.059), 1.4, 0.3),
}
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


def references(published: Published, target: str) -> list[Reference]:
    """Return the power-law references of a published spectrum."""
    source = (
        f"{SOURCE}, {target} (E0 {published.reference_energy_tev} TeV, "
        f"r_on {published.on_radius_deg} deg)"
    )
    return [
        Reference("index", *published.index, "", source, N_SIGMA, WHY),
        Reference(
            "amplitude", *published.amplitude, AMPLITUDE_UNIT, source, N_SIGMA, WHY
        ),
    ]


def _published_for(config: Spectrum1DConfig, target_names: set[str]):
    """Return the published spectrum this analysis repeats, if any.

    Returns
    -------
    tuple
        ``(Published, target name)``, or ``(None, why there is no reference)``.
        A reference applies when the runs are those of a published target, found
        by name (not by a position override), with the published reference energy
        and on-region radius and a power law as the first model.
    """
    names = sorted(target_names)
    label = names[0] if len(names) == 1 else ", ".join(names)
    published = PUBLISHED.get(label)
    if config.position is not None or not config.target or published is None:
        return None, f"no published reference for {config.target or 'this position'}"
    if "power-law" != config.spectral_models[0]:
        return None, "no published reference for a first model other than power-law"
    same = math.isclose(
        config.reference_energy_tev, published.reference_energy_tev, rel_tol=1e-6
    ) and math.isclose(config.on_radius_deg, published.on_radius_deg, rel_tol=1e-6)
    if not same:
        return None, (
            f"no published reference for this analysis of {label} (published: "
            f"E0 {published.reference_energy_tev} TeV, "
            f"r_on {published.on_radius_deg} deg)"
        )
    return published, label


# --- the use case ----------------------------------------------------------------


class Spectrum1D(UseCase):
    """1D reflected-regions spectrum of a source in H.E.S.S. DL3 DR1."""

    name = "spectrum-1d"
    usecase_id = "SUSS-UC-SAT-010"
    summary = "1D ON/OFF spectrum (reflected regions) of H.E.S.S. DR1 runs"
    Config = Spectrum1DConfig
    datasets = ("hess-dl3-dr1",)

    def required_datasets(self, config: Spectrum1DConfig) -> tuple[str, ...]:
        """Return no local dataset when the runs come from a store or an archive."""
        if config.datastore is not None or config.archive is not None:
            return ()
        return self.datasets

    def run(self, config: Spectrum1DConfig, context: RunContext) -> Outcome:
        """Reduce the runs, fit the models, estimate flux points, validate."""
        from gammapy.datasets import Datasets
        from gammapy.estimators import FluxPointsEstimator
        from gammapy.maps import MapAxis
        from gammapy.modeling import Fit
        from gammapy.modeling.models import Models

        from sat.archive.usecase import observations_folder
        from sat.errors import DataError
        from sat.observations import source_position
        from sat.reduction import checked_runs, reflected_regions_spectra

        root = observations_folder(
            config.datastore,
            config.archive,
            dataset="hess-dl3-dr1",
            target=config.target,
            position=None
            if config.position is None
            else (config.position.ra_deg, config.position.dec_deg),
            obs_ids=config.obs_ids,
            context=context,
        )
        selection = checked_runs(context, root, config.target, config.obs_ids)
        observations, obs_ids = selection.observations, selection.obs_ids
        table = selection.store.obs_table
        target_names = (
            {str(row["TARGET_NAME"]) for row in table if int(row["OBS_ID"]) in obs_ids}
            if "TARGET_NAME" in table.colnames
            else set()
        )
        given = None if config.position is None else config.position.coord()
        position, label = source_position(selection.store, config.target, given)

        reduction, usable, dropped = reflected_regions_spectra(
            context, config, position, observations, selection.files
        )
        if not usable:
            raise DataError(
                f"no run of {label} has OFF regions and a safe energy range: "
                "shrink the exclusion regions or the on region"
            )
        datasets = Datasets(usable)

        source = re.sub(r"[^A-Za-z0-9_.+-]+", "_", label)
        fits, sky_models = {}, {}
        for name in config.spectral_models:
            with context.step(f"fitting a {name} to {len(datasets)} runs"):
                sky_model = _sky_model(name, source, config.reference_energy_tev)
                datasets.models = [sky_model]
                result = Fit().run(datasets)
            sky_models[name] = sky_model
            fits[name] = {
                "success": bool(result.success),
                "total_stat": float(result.total_stat),
                "parameters": fitted_parameters(Models([sky_model])),
            }
        main = config.spectral_models[0]
        datasets.models = [sky_models[main]]

        with context.step("estimating flux points"):
            energy_min, energy_max = _flux_point_range(config, datasets)
            decades = math.log10(energy_max / energy_min)
            edges = MapAxis.from_energy_bounds(
                energy_min,
                energy_max,
                max(1, round(decades * config.flux_points.bins_per_decade)),
                unit="TeV",
            ).edges
            estimator = FluxPointsEstimator(
                energy_edges=edges, source=source, selection_optional=["ul"], n_jobs=1
            )
            with _gammapy_progress(not context.quiet):
                flux_points = estimator.run(datasets)

        with context.step("writing products"):
            flux_points.write(
                context.product("flux_points.ecsv"),
                sed_type="likelihood",
                overwrite=True,
            )
            for name, sky_model in sky_models.items():
                context.write_models(Models([sky_model]), f"models/{name}.yaml")
            for dataset in [datasets.stack_reduce(name="stacked"), *datasets]:
                _write_ogip(dataset, context)
            runs = datasets.info_table(cumulative=False)
            cumulative = datasets.info_table(cumulative=True)
            _plot_spectrum(
                flux_points, sky_models, main, label, context.product("spectrum.png")
            )
            _plot_runs(runs, cumulative, label, context.product("runs.png"))

        total = cumulative[-1]
        extra = {
            "fits": fits,
            "runs": [_run_row(runs, i, dataset) for i, dataset in enumerate(datasets)],
            "dropped_runs": dropped,
            "failed_runs": [f.message for f in reduction.maker.failures],
            "stacked": {
                "livetime_s": float(cumulative["livetime"].quantity[-1].to_value("s")),
                "n_on": int(total["counts"]),
                "n_off": int(total["counts_off"]),
                "excess": float(total["excess"]),
                "significance": float(total["sqrt_ts"]),
            },
        }
        if {"power-law", "log-parabola"} <= set(fits):
            # Nested models (beta = 0 is the power law): TS of the curvature.
            ts = fits["power-law"]["total_stat"] - fits["log-parabola"]["total_stat"]
            extra["curvature_ts"] = ts
        parameters = fits[main]["parameters"]
        published, note = _published_for(config, target_names)
        validation = []
        if published is not None:
            validation = [
                compare(
                    ref,
                    parameters[ref.quantity]["value"],
                    parameters[ref.quantity]["error"],
                )
                for ref in references(published, note)
            ]
        summary = _summary(label, extra, fits, config, dropped)
        summary.append(f"validated against {SOURCE}" if published else note)
        return Outcome(parameters, validation, summary, extra)


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


def _sky_model(name: str, source: str, reference_tev: float):
    """Return a fresh sky model ``name`` (power-law or log-parabola) to fit.

    The start values (Gammapy's tutorial ones) keep the minimiser out of regions
    where the prediction overflows; fixed start values make the fit reproducible.
    """
    import astropy.units as u
    from gammapy.modeling.models import (
        LogParabolaSpectralModel,
        PowerLawSpectralModel,
        SkyModel,
    )

    amplitude = 1e-12 * u.Unit(AMPLITUDE_UNIT)
    if name == "power-law":
        spectral = PowerLawSpectralModel(
            index=2.0, amplitude=amplitude, reference=reference_tev * u.TeV
        )
    else:
        spectral = LogParabolaSpectralModel(
            alpha=2.0, beta=0.1, amplitude=amplitude, reference=reference_tev * u.TeV
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
    energy_min = config.flux_points.energy_min_tev or float(np.nanmin(lows))
    energy_max = config.flux_points.energy_max_tev or float(np.nanmax(highs))
    if not energy_max > energy_min:
        from sat.errors import ConfigError

        raise ConfigError(
            f"key 'flux_points': empty energy range {energy_min:.3g}-"
            f"{energy_max:.3g} TeV"
        )
    return energy_min, energy_max


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


def _summary(label, extra, fits, config, dropped) -> list[str]:
    """Human-readable lines for the end of the run."""
    stacked = extra["stacked"]
    lines = [
        f"{label}: {len(extra['runs'])} runs, {stacked['livetime_s'] / 3600:.2f} h, "
        f"ON {stacked['n_on']}, OFF {stacked['n_off']}, excess "
        f"{stacked['excess']:.1f}, {stacked['significance']:.1f} sigma"
    ]
    if dropped:
        lines.append(
            f"dropped {', '.join(dropped)}: no OFF region or no safe energy range"
        )
    e0 = config.reference_energy_tev
    for name, fit in fits.items():
        values = ", ".join(
            f"{key} {p['value']:.4g} ± {p['error']:.2g}"
            for key, p in fit["parameters"].items()
        )
        state = "" if fit["success"] else " (fit did NOT converge)"
        lines.append(f"{name} at E0 {e0} TeV: {values}{state}")
    if "curvature_ts" in extra:
        ts = extra["curvature_ts"]
        lines.append(
            f"log-parabola vs power-law: TS {ts:.1f} "
            f"({math.sqrt(max(ts, 0)):.1f} sigma for curvature)"
        )
    return lines


def _plot_spectrum(flux_points, sky_models, main, label, path: Path) -> None:
    """SED: flux points, fitted models (main with error band) and residuals."""
    import warnings

    import matplotlib.pyplot as plt
    from gammapy.datasets import FluxPointsDataset

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
                "kwargs_model": {"label": main, "color": "C0"},
            },
            kwargs_residuals={"method": "diff/model", "color": "k"},
        )
        energy_bounds = flux_points.energy_axis.edges[[0, -1]]
        for index, (name, model) in enumerate(sky_models.items()):
            if name != main:
                model.spectral_model.plot(
                    energy_bounds,
                    ax=top,
                    sed_type="e2dnde",
                    ls="--",
                    color=f"C{index + 1}",
                    label=name,
                )
    top.set_xlabel("")
    top.set_title(f"{label}: reflected-regions spectrum (H.E.S.S. DR1)")
    top.legend()
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)


def _plot_runs(runs, cumulative, label, path: Path) -> None:
    """Per run ON, scaled OFF and excess counts; significance versus livetime."""
    import matplotlib.pyplot as plt
    import numpy as np

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    x = np.arange(len(runs))
    width = 0.27
    left.bar(x - width, runs["counts"], width, label="ON")
    left.bar(x, runs["alpha"] * runs["counts_off"], width, label="alpha × OFF")
    left.bar(x + width, runs["excess"], width, label="excess")
    left.set_xticks(x, [name.removeprefix("obs_") for name in runs["name"]])
    left.tick_params(axis="x", labelrotation=45)
    left.set_xlabel("run")
    left.set_ylabel("counts in the safe energy range")
    left.legend()
    hours = cumulative["livetime"].quantity.to_value("h")
    right.plot(hours, cumulative["sqrt_ts"], "o-")
    right.set_xlabel("cumulative livetime (h)")
    right.set_ylabel("significance (sigma)")
    figure.suptitle(f"{label}: counts per run")
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)


USECASE = Spectrum1D
