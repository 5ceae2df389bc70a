"""Alert-driven CTAO follow-up of a fading gamma-ray burst: decay, spectrum, detection.

A burst at redshift z goes off at T0; the alert brings the array on target at
T0 + ``delay_s`` and it observes for ``duration_s``. The burst's intrinsic
spectrum is a power law absorbed by the EBL (`sat.usecases.ebl_absorption`), its
flux decays as a power law in time since T0, (t / t0)^-decay_index (Gammapy's
`PowerLawTemporalModel`). The default burst is shaped like GRB 190114C
(z = 0.4245, decay index 1.6, intrinsic index 2.2: MAGIC Collaboration 2019,
Nature 575, 455 and 459), seen by CTAO-North (prod5, 4 LSTs + 9 MSTs); its flux
is chosen so that it is detected within the first minute and its decay followed
over more than a decade in time, the regime this use case tests.

For each seed, ON/OFF spectra are simulated from the IRF in ``n_time_bins`` log-
spaced time bins, each in ``significance_steps`` steps
(`sat.usecases.onoff_simulation`; Gammapy integrates the temporal model over each
step). Then, as an analyst would:

- the cumulative significance (WStat, Li & Ma with unknown background) after each
  step gives the time to 5 sigma since T0, and the expected (Asimov) one;
- the time bins are fitted jointly (WStat) with the EBL-absorbed power law times
  the decay model (``decay_model``): decay index, spectral index and amplitude;
- the goodness of fit of the decay: each time bin's normalisation fitted freely
  (the light curve) against the decay model, a likelihood ratio;
- for the first seed, the light curve (Gammapy's `LightCurveEstimator`) and
  time-resolved spectra in ``segments`` parts of the time bins where the burst
  is expected above 3 sigma (a fit and `FluxPointsEstimator` per part) are
  written and plotted.

Validation: the pulls of the decay index, spectral index and amplitude over the
seeds are N(0, 1); the summed likelihood ratio of the light curves follows its
chi2 law; every time-resolved spectral index agrees with the truth. The
deliberately wrong analysis ``decay_model: exponential`` (Gammapy's
`ExpDecayTemporalModel`, the shape of its light-curve tutorial) fails the
goodness of fit.
"""

from __future__ import annotations

import itertools
import math
import warnings
from contextlib import contextmanager
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from sat.usecases.base import (
    Example,
    Outcome,
    RunContext,
    UseCase,
    UseCaseConfig,
)
from sat.usecases.ebl_absorption import (
    EBL_TABLES,
    EblChoice,
    intrinsic,
    power_law,
)
from sat.usecases.models import AMPLITUDE_UNIT
from sat.validation import Reference, compare

DecayModel = Literal["power-law", "exponential"]
# The pull and goodness-of-fit tests accept what falls inside the central
# 99.73 % of their law ("3 sigma": a false alarm in 370 runs).
N_SIGMA = 3.0
# Time bins enter the time-resolved spectra when their expected significance
# reaches this (`_segment_groups`).
SEGMENT_MIN_SIGMA = 3.0


class GrbSource(UseCaseConfig):
    """The simulated burst: intrinsic spectrum at ``flux_time_s`` after T0, decay."""

    redshift: float = Field(default=0.4245, gt=0)
    """Redshift of the burst (GRB 190114C: 0.4245)."""
    ebl_model: EblChoice = "dominguez"
    """EBL model of the simulated sky: dominguez, franceschini or none."""
    index: float = 2.2
    """Intrinsic spectral index of the power law."""
    amplitude: float = Field(default=1.2e-8, gt=0)
    """Intrinsic differential flux at the reference energy and at flux_time_s (cm-2 s-1
    TeV-1)."""
    reference_tev: float = Field(default=0.1, gt=0)
    """Reference energy of the power law (TeV)."""
    flux_time_s: float = Field(default=100.0, gt=0)
    """Time after T0 at which the amplitude is given (s)."""
    decay_index: float = Field(default=1.6, gt=0)
    """Temporal decay index: flux proportional to (t / flux_time_s)^-decay_index."""


class GrbFollowupConfig(UseCaseConfig):
    """Configuration of the GRB follow-up."""

    irf: str = "prod5-north-z20-50h"
    """CTAO IRF of the follow-up (ctao-sat irf list)."""
    source: GrbSource = Field(default_factory=GrbSource)
    """The simulated burst."""
    # The analysis: the EBL model of the fit and the decay model.
    ebl_model: EblChoice = "dominguez"
    """EBL model of the fit: dominguez, franceschini or none (plain power law)."""
    decay_model: DecayModel = "power-law"
    """Decay model of the fit: power-law, or exponential (the deliberately wrong
    analysis)."""
    # The observation: from T0 + delay_s for duration_s.
    delay_s: float = Field(default=60.0, gt=0)
    """Start of the observation after T0 (s): the alert and slew delay."""
    duration_s: float = Field(default=3600.0, gt=0)
    """Length of the observation (s)."""
    n_time_bins: int = Field(default=8, ge=3)
    """Log-spaced time bins of the fit and the light curve."""
    significance_steps: int = Field(default=5, ge=1)
    """Steps per time bin of the cumulative significance (time to 5 sigma)."""
    offset_deg: float = Field(default=0.5, ge=0)
    """Offset of the burst from the pointing (deg)."""
    on_radius_deg: float = Field(default=0.15, gt=0)
    """Radius of the ON region (deg)."""
    n_off_regions: int = Field(default=3, ge=1)
    """Number of OFF regions (alpha = 1 / n_off_regions)."""
    energy_min_tev: float = Field(default=0.03, gt=0)
    """Lowest reconstructed energy (TeV)."""
    energy_max_tev: float = Field(default=10.0, gt=0)
    """Highest reconstructed energy (TeV)."""
    bins_per_decade: int = Field(default=8, gt=0)
    """Reconstructed-energy bins per decade."""
    light_curve_max_tev: float = Field(default=1.0, gt=0)
    """Upper energy of the light curve's band (TeV); its lower one is energy_min_tev."""
    segments: int = Field(default=3, ge=1)
    """Parts of the observation with their own spectrum (time-resolved spectra)."""
    n_seeds: int = Field(default=20, ge=3)
    """Number of simulated follow-ups (one per seed) in the pull test."""
    seed: int = Field(default=0, ge=0)
    """Random seed of the first follow-up; the others follow."""

    @model_validator(mode="after")
    def _consistent(self):
        if self.energy_max_tev <= self.energy_min_tev:
            raise ValueError("energy_max_tev must be larger than energy_min_tev")
        if not self.energy_min_tev < self.light_curve_max_tev:
            raise ValueError("light_curve_max_tev must be above energy_min_tev")
        if self.segments > self.n_time_bins:
            raise ValueError("segments must be at most n_time_bins")
        return self


@contextmanager
def _quiet_temporal_check():
    """Silence the NaN warning of a temporal model evaluated before T0.

    `SkyModel` (and each copy a fit or an estimator makes) checks a temporal
    model's unit by evaluating it at an arbitrary time; before T0, (t - T0)^alpha
    is NaN and numpy warns. Nothing is computed there: the datasets' times all
    follow T0.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", "invalid value encountered in power", RuntimeWarning
        )
        yield


def burst_model(name, config, t0, ebl_model, decay_model, start=None):
    """Return the burst as a `SkyModel`: EBL-absorbed power law times a decay.

    Parameters
    ----------
    name : str
        The model's name.
    config : GrbFollowupConfig
        The source (reference energy, normalisation time, redshift).
    t0 : `~astropy.time.Time`
        The burst time T0 (reference of the temporal model).
    ebl_model : str
        The EBL model of the absorption ("none": no absorption).
    decay_model : {"power-law", "exponential"}
        The temporal model.
    start : dict, optional
        ``index``, ``amplitude``, ``decay`` start values (default: the truth).
    """
    import astropy.units as u
    from gammapy.modeling.models import ExpDecayTemporalModel, PowerLawTemporalModel

    source = config.source
    start = start or {
        "index": source.index,
        "amplitude": source.amplitude,
        "decay": source.decay_index,
    }
    sky = power_law(
        name,
        source.reference_tev,
        ebl_model,
        source.redshift,
        start["index"],
        start["amplitude"],
    )
    t_ref = t0.mjd * u.d
    if decay_model == "power-law":
        temporal = PowerLawTemporalModel(
            alpha=-start["decay"], t_ref=t_ref, t0=source.flux_time_s * u.s
        )
    else:
        # exp(-(t - T0) / tau), started at a quarter of the observation.
        temporal = ExpDecayTemporalModel(t0=start["decay"] * u.s, t_ref=t_ref)
    with _quiet_temporal_check():
        sky.temporal_model = temporal
    return sky


def decay_index(model) -> tuple[float, float] | None:
    """Return the fitted power-law decay index and its error (None if exponential)."""
    temporal = model.temporal_model
    if "alpha" not in temporal.parameters.names:
        return None
    return -float(temporal.alpha.value), float(temporal.alpha.error)


class GrbFollowup(UseCase):
    """Alert-driven follow-up of a fading, EBL-absorbed burst with a CTAO array."""

    name = "grb-followup"
    usecase_id = "SUSS-UC-SAT-140"
    summary = "GRB follow-up from T0 + delay: light curve, spectra, decay, 5 sigma"
    Config = GrbFollowupConfig
    datasets = ("cta-caldb", "ebl")
    examples: ClassVar[dict[str, Example]] = {
        "exponential-decay": Example(
            "The deliberately wrong analysis: an exponential decay (Gammapy's "
            "light-curve tutorial) fitted to a power-law decay; the goodness of fit "
            "fails.",
            {"decay_model": "exponential"},
        ),
    }

    def run(self, config: GrbFollowupConfig, context: RunContext) -> Outcome:
        """Simulate, fit the decay and spectrum per seed, validate the pulls."""
        # Gammapy copies the models (fits, estimators) and checks each copy's
        # temporal model before T0 (`_quiet_temporal_check`).
        with _quiet_temporal_check():
            return self._run(config, context)

    def _run(self, config: GrbFollowupConfig, context: RunContext) -> Outcome:
        import astropy.units as u
        import numpy as np
        from astropy.coordinates import SkyCoord
        from astropy.table import Table
        from gammapy.maps import MapAxis

        from sat.data import require
        from sat.irf import (
            check_energy_range,
            irf_info,
            irf_path,
            load_irf,
            true_energy_axis,
        )
        from sat.simulate import transit_time
        from sat.sites import get_site
        from sat.usecases.ebl_absorption import ebl_absorption
        from sat.usecases.onoff_simulation import prepare

        info = irf_info(config.irf)
        context.add_inputs(
            irf_path(config.irf),
            *(require("ebl") / table.file for table in EBL_TABLES.values()),
        )
        irfs = load_irf(config.irf)
        check_energy_range(
            config.irf, irfs, config.energy_min_tev, config.energy_max_tev
        )
        for model in {config.ebl_model, config.source.ebl_model} - {"none"}:
            ebl_absorption(model, config.source.redshift)  # bad redshift: one line
        site = get_site(info.site)
        # The burst culminates at the IRF's zenith angle when the alert arrives.
        position = SkyCoord(150.0, site.lat.deg + info.zenith_deg, unit="deg")
        t0 = transit_time(position, site)

        edges = np.geomspace(
            config.delay_s,
            config.delay_s + config.duration_s,
            config.n_time_bins * config.significance_steps + 1,
        )
        steps = [
            (t0 + start * u.s, (stop - start) * u.s)
            for start, stop in itertools.pairwise(edges)
        ]
        energy = MapAxis.from_energy_bounds(
            config.energy_min_tev,
            config.energy_max_tev,
            config.bins_per_decade,
            per_decade=True,
            unit="TeV",
        )
        energy_true = true_energy_axis(
            irfs, config.energy_min_tev, config.energy_max_tev
        )
        bin_edges = edges[:: config.significance_steps]
        bins_intervals = [
            (t0 + start * u.s, (stop - start) * u.s)
            for start, stop in itertools.pairwise(bin_edges)
        ]
        with context.step(
            f"preparing {len(steps)} time steps in {config.n_time_bins} bins "
            f"({info.name}, T0 + {config.delay_s:g} s for {config.duration_s:g} s)"
        ):
            simulation, binned = (
                prepare(
                    config.irf,
                    position,
                    config.offset_deg,
                    config.on_radius_deg,
                    energy,
                    energy_true,
                    intervals,
                    config.n_off_regions,
                    t0,
                )
                for intervals in (steps, bins_intervals)
            )
        truth = burst_model("truth", config, t0, config.source.ebl_model, "power-law")
        step_ends = edges[1:]
        asimov = _significance(simulation.asimov([truth]))
        asimov_t5 = time_to(5.0, config.delay_s, step_ends, asimov)
        groups = _segment_groups(binned.asimov([truth]), config.segments)

        rows, first = [], None
        for seed in context.progress(
            [config.seed + i for i in range(config.n_seeds)], "simulated bursts"
        ):
            steps_data = simulation.fake([truth], seed)
            significance = _significance(steps_data)
            bins = _fill_bins(binned.templates, steps_data, config.significance_steps)
            model, fit = _fit_decay(bins, config, t0)
            row = _row(seed, model, fit, config)
            row["time_to_5sigma_s"] = time_to(
                5.0, config.delay_s, step_ends, significance
            )
            row["max_significance"] = float(np.max(significance))
            row["light_curve_ts"] = _light_curve_ts(bins, model)
            rows.append(row)
            if first is None:
                first = (bins, model, significance)

        with context.step("light curve and time-resolved spectra (first seed)"):
            bins, model, significance = first
            # Touching intervals from the same edges: the light curve's bins.
            intervals = [
                [t0 + start * u.s, t0 + stop * u.s]
                for start, stop in itertools.pairwise(bin_edges)
            ]
            light_curve = _light_curve(bins, model, config, intervals)
            light_curve.write(
                context.product("lightcurve.ecsv"),
                format="lightcurve",
                sed_type="flux",
                overwrite=True,
            )
            segments = _segments(bins, model, config, groups)
            for index, segment in enumerate(segments):
                segment["flux_points"].write(
                    context.product(f"spectra/segment_{index + 1}.ecsv"),
                    sed_type="likelihood",
                    overwrite=True,
                )
            from gammapy.modeling.models import Models

            context.write_models(Models([truth]), "models/truth.yaml")
            context.write_models(Models([model]), "models/fit_first_seed.yaml")

        table = Table(rows=rows)
        table.write(context.product("seeds.ecsv"), format="ascii.ecsv", overwrite=True)
        validation, statistics = _checks(rows, segments, config)
        parameters = _parameters(rows, statistics, config)
        parameters["time_to_5sigma_asimov"] = {
            "value": asimov_t5,
            "error": 0.0,
            "unit": "s",
        }

        with context.step("plots"):
            source = config.source
            what = (
                f"Simulated burst at z = {source.redshift:g} ({source.ebl_model} EBL), "
                f"intrinsic index {source.index:g}, decay index "
                f"{source.decay_index:g}; {config.irf} ({info.site}) from T0 + "
                f"{config.delay_s:g} s for {config.duration_s:g} s, "
                f"{config.offset_deg:g}° from the pointing"
            )
            figure = _plot_light_curve(
                light_curve,
                model,
                truth,
                config,
                t0,
                (step_ends, asimov, significance, rows, asimov_t5),
                what,
            )
            context.save_figure(figure, "lightcurve.png", dpi=110)
            figure = _plot_spectra(segments, truth, config, what)
            context.save_figure(figure, "spectra.png", dpi=110)
            figure = _plot_pulls(rows, config, f"{what}; {config.n_seeds} seeds")
            context.save_figure(figure, "pulls.png", dpi=110)
        context.keep(models=Models([model]), light_curve=light_curve)

        extra = {
            "irf": info.as_dict(),
            "t0": t0.isot,
            "observation_s": [config.delay_s, config.delay_s + config.duration_s],
            "time_bin_edges_s": edges[:: config.significance_steps].tolist(),
            "truth": {
                "index": config.source.index,
                "amplitude": config.source.amplitude,
                "decay_index": config.source.decay_index,
                "redshift": config.source.redshift,
                "ebl_model": config.source.ebl_model,
            },
            "pull_statistics": statistics,
            "asimov_significance": asimov.tolist(),
            "time_resolved_spectra": [
                {
                    key: value
                    for key, value in segment.items()
                    if key not in ("flux_points", "model")
                }
                for segment in segments
            ],
            "seeds": rows,
        }
        summary = _summary(rows, statistics, segments, asimov_t5, config, info)
        return Outcome(parameters, validation, summary, extra)


# --- per seed -----------------------------------------------------------------------


def _significance(steps):
    """Cumulative WStat significance after each step (all energies)."""
    import numpy as np
    from gammapy.stats import WStatCountsStatistic

    n_on = np.cumsum([dataset.counts.data.sum() for dataset in steps])
    n_off = np.cumsum([dataset.counts_off.data.sum() for dataset in steps])
    alpha = float(steps[0].alpha.data.mean())  # the same OFF regions throughout
    return np.asarray(WStatCountsStatistic(n_on, n_off, alpha).sqrt_ts, dtype=float)


def time_to(level: float, start_s: float, ends_s, significance) -> float:
    """Return when the cumulative significance first reaches ``level`` (s after T0).

    Linear in log time between the ends of the steps; the observation starts at
    ``start_s`` with zero significance. Infinity when it is never reached.
    """
    import numpy as np

    times = np.concatenate([[start_s], ends_s])
    values = np.concatenate([[0.0], significance])
    above = np.flatnonzero(values >= level)
    if not above.size:
        return math.inf
    i = above[0]
    fraction = (level - values[i - 1]) / (values[i] - values[i - 1])
    return float(
        np.exp(np.log(times[i - 1]) + fraction * np.log(times[i] / times[i - 1]))
    )


def _fill_bins(templates, steps, k: int):
    """Return the time bins holding the counts of their ``k`` steps each.

    A bin's template is the IRF reduced over the whole bin (exposure and
    background are the sums of its steps'), so its counts are the sums of the
    steps' counts: the same events, binned coarser.
    """
    import numpy as np
    from gammapy.datasets import Datasets

    bins = Datasets()
    for index, template in enumerate(templates):
        group = steps[index * k : (index + 1) * k]
        dataset = template.copy(name=f"bin-{index + 1}")
        dataset.counts = group[0].counts.copy(
            data=np.sum([step.counts.data for step in group], axis=0)
        )
        dataset.counts_off = group[0].counts_off.copy(
            data=np.sum([step.counts_off.data for step in group], axis=0)
        )
        bins.append(dataset)
    return bins


def _segment_groups(expected, n_segments: int) -> list[list[int]]:
    """Split the detected time bins into parts of about equal expected excess.

    Only bins whose expected (Asimov) significance reaches `SEGMENT_MIN_SIGMA`
    enter the time-resolved spectra: later, background-dominated bins hold few
    signal counts over the narrow energy range the EBL leaves, where the fitted
    index errors are no longer Gaussian (measured: pulls 1.8 wide for the late
    part of the default burst). They remain in the light curve and the decay fit.
    Equal shares of the expected signal give the parts similar weight.
    """
    import numpy as np
    from gammapy.stats import WStatCountsStatistic

    on = np.array([float(dataset.counts.data.sum()) for dataset in expected])
    off = np.array([float(dataset.counts_off.data.sum()) for dataset in expected])
    alpha = float(expected[0].alpha.data.mean())
    statistic = WStatCountsStatistic(on, off, alpha)
    detected = np.flatnonzero(statistic.sqrt_ts >= SEGMENT_MIN_SIGMA)
    if not detected.size:
        return []
    excess = np.asarray(statistic.n_sig, dtype=float)[detected]
    middle = (np.cumsum(excess) - excess / 2) / excess.sum()
    n_segments = min(n_segments, detected.size)
    labels = np.minimum((middle * n_segments).astype(int), n_segments - 1)
    groups = [detected[labels == i].tolist() for i in range(n_segments)]
    if any(not group for group in groups):  # too few bins to share out by excess
        return [part.tolist() for part in np.array_split(detected, n_segments)]
    return groups


def _fit_decay(bins, config, t0):
    """Joint WStat fit of the time bins with the analysis model."""
    from gammapy.modeling import Fit

    source = config.source
    # Start away from the truth, as ctao-simulate: index 2, half the amplitude,
    # a slower decay (or an e-folding time of a quarter of the observation).
    decay = 1.2 if config.decay_model == "power-law" else config.duration_s / 4
    start = {"index": 2.0, "amplitude": 0.5 * source.amplitude, "decay": decay}
    model = burst_model(
        "burst", config, t0, config.ebl_model, config.decay_model, start
    )
    bins.models = [model]
    fit = Fit().run(bins)
    return model, fit


def _row(seed, model, fit, config) -> dict:
    """Fitted values and pulls of one seed."""
    source = config.source
    spectral = intrinsic(model)
    row = {
        "seed": seed,
        "success": bool(fit.success),
        "index": float(spectral.index.value),
        "index_error": float(spectral.index.error),
        "amplitude": float(spectral.amplitude.value),
        "amplitude_error": float(spectral.amplitude.error),
    }
    row["index_pull"] = (row["index"] - source.index) / row["index_error"]
    decay = decay_index(model)
    if decay is not None:
        row["decay_index"], row["decay_index_error"] = decay
        row["decay_index_pull"] = (decay[0] - source.decay_index) / decay[1]
        row["amplitude_pull"] = (row["amplitude"] - source.amplitude) / row[
            "amplitude_error"
        ]
    else:
        row["decay_time_s"] = float(model.temporal_model.t0.quantity.to_value("s"))
    return row


def _light_curve_ts(bins, model) -> float:
    """Likelihood ratio of free normalisations per time bin against the decay model.

    Each bin's flux is fitted alone with the spectral shape of the joint fit (what
    `LightCurveEstimator` does); the decay model is nested in that, so twice the
    log-likelihood difference follows chi2 with n_bins - 2 degrees of freedom
    (amplitude and decay are the model's) when the decay model is right.
    """
    from gammapy.modeling import Fit
    from gammapy.modeling.models import SkyModel

    joint = sum(float(dataset.stat_sum()) for dataset in bins)
    free = 0.0
    for dataset in bins:
        sky = SkyModel(spectral_model=model.spectral_model.copy(), name="bin")
        for parameter in sky.parameters:
            parameter.frozen = True
        amplitude = intrinsic(sky).amplitude
        amplitude.frozen = False
        # Start at the decay model's mean over the bin.
        gti = dataset.gti
        norm = model.temporal_model.integral(gti.time_start, gti.time_stop).sum()
        amplitude.value = amplitude.value * float(norm)
        alone = dataset.copy(name=f"{dataset.name}-free")
        alone.models = [sky]
        Fit().optimize([alone])
        free += float(alone.stat_sum())
    return joint - free


# --- first seed: light curve and spectra --------------------------------------------


def _light_curve(bins, model, config, intervals):
    """Gammapy's light curve of the time bins (flux in the light-curve band)."""
    import astropy.units as u
    from gammapy.estimators import LightCurveEstimator
    from gammapy.modeling.models import SkyModel

    # The estimator fits each bin's normalisation of a fixed spectral shape: the
    # joint fit's, without its decay (each bin has its own flux).
    spectral = model.spectral_model.copy()
    bins.models = [SkyModel(spectral_model=spectral, name="burst-spectrum")]
    estimator = LightCurveEstimator(
        energy_edges=[config.energy_min_tev, config.light_curve_max_tev] * u.TeV,
        # The bins' own edges: their GTIs, sums of steps, may overlap by rounding.
        time_intervals=intervals,
        source="burst-spectrum",
        selection_optional=["ul"],
    )
    light_curve = estimator.run(bins)
    bins.models = [model]
    return light_curve


def _segments(bins, model, config, groups) -> list[dict]:
    """Time-resolved spectra: a power-law fit and flux points per segment."""
    import astropy.units as u
    from gammapy.datasets import Datasets
    from gammapy.estimators import FluxPointsEstimator
    from gammapy.maps import MapAxis
    from gammapy.modeling import Fit

    source = config.source
    segments = []
    for number, group in enumerate(groups, start=1):
        stacked = Datasets([bins[int(i)] for i in group]).stack_reduce(
            name=f"segment-{number}"
        )
        # The mean spectrum of the segment: no decay model within it.
        sky = power_law(
            f"segment-{number}",
            source.reference_tev,
            config.ebl_model,
            source.redshift,
            2.0,
            source.amplitude * 0.01,
        )
        stacked.models = [sky]
        fit = Fit().run([stacked])
        edges = MapAxis.from_energy_bounds(
            config.energy_min_tev, config.energy_max_tev, 3, per_decade=True, unit="TeV"
        ).edges
        points = FluxPointsEstimator(
            energy_edges=edges.to(u.TeV),
            source=sky.name,
            selection_optional=["ul"],
            n_jobs=1,
        ).run([stacked])
        gti = stacked.gti
        start = float((gti.time_start[0] - model.temporal_model.reference_time).sec)
        stop = float((gti.time_stop[-1] - model.temporal_model.reference_time).sec)
        spectral = intrinsic(sky)
        segments.append(
            {
                "segment": number,
                "start_s": start,
                "stop_s": stop,
                "success": bool(fit.success),
                "index": float(spectral.index.value),
                "index_error": float(spectral.index.error),
                "amplitude": float(spectral.amplitude.value),
                "amplitude_error": float(spectral.amplitude.error),
                "excess": float(stacked.excess.data.sum()),
                "model": sky,
                "flux_points": points,
            }
        )
    bins.models = [model]
    return segments


# --- validation ---------------------------------------------------------------------


def _checks(rows, segments, config) -> tuple[list, dict]:
    """Converged fits, pulls, light-curve goodness of fit, time-resolved indices."""
    import numpy as np
    from scipy import stats

    from sat.validation import pull_checks

    converged = [row for row in rows if row["success"]]
    validation = [
        compare(
            Reference(
                "converged fits",
                float(len(rows)),
                0.0,
                "",
                "every seed",
                0.0,
                "a fit that does not converge has no meaningful pull",
            ),
            float(len(converged)),
        )
    ]
    names = ["decay_index", "index", "amplitude"]
    if config.decay_model != "power-law":
        # No decay index, and the amplitude is the flux at T0, not at flux_time_s.
        names = ["index"]
    statistics = {}
    for name in names:
        pulls = np.array([row[f"{name}_pull"] for row in converged])
        # The tolerances follow from the number of seeds N: the mean of N
        # N(0, 1) pulls has standard error 1 / sqrt(N), their sample width about
        # 1 / sqrt(2 N) (exactly: the chi2 interval); both at 3 sigma. With the
        # default 20 seeds a bias above 0.67 sigma or errors off by about 50 %
        # fail; more seeds (config) make the test sharper.
        validation += pull_checks(name, pulls)
        values = np.array([row[name] for row in converged])
        statistics[name] = {
            "pull_mean": float(np.mean(pulls)),
            "pull_std": float(np.std(pulls, ddof=1)),
            "mean_fitted": float(np.mean(values)),
            "std_fitted": float(np.std(values, ddof=1)),
        }

    # The light curves of all seeds: the summed likelihood ratios follow chi2
    # with n_seeds x (n_bins - 2) degrees of freedom under a right decay model.
    ts = float(sum(row["light_curve_ts"] for row in converged))
    dof = len(converged) * (config.n_time_bins - 2)
    p_value = float(stats.chi2.sf(ts, dof)) if dof else math.nan
    z = max(0.0, float(stats.norm.isf(p_value))) if dof else math.inf
    statistics["light_curve_fit"] = {"ts": ts, "dof": dof, "p_value": p_value}
    validation.append(
        compare(
            Reference(
                "light-curve misfit significance",
                0.0,
                1.0,
                "sigma",
                f"free flux per time bin vs the {config.decay_model} decay, "
                f"{len(converged)} seeds",
                N_SIGMA,
                f"sum of likelihood ratios follows chi2 with {dof} dof if the decay "
                "model is right; its p-value as a one-sided normal significance "
                "must stay below 3 (p >= 0.00135)",
            ),
            z,
        )
    )
    # One simulated observation, split into parts: each part's intrinsic index
    # must agree with the simulated one (constant in time) within 3 sigma.
    for segment in segments:
        validation.append(
            compare(
                Reference(
                    "time-resolved index",
                    config.source.index,
                    0.0,
                    "",
                    f"truth of the simulation, segment {segment['segment']} "
                    f"({segment['start_s']:.0f}-{segment['stop_s']:.0f} s), "
                    "first seed",
                    N_SIGMA,
                    "the simulated spectrum does not change in time: each part's "
                    "index within 3 of its errors (a false alarm in 370)",
                ),
                segment["index"],
                segment["index_error"],
                fit=f"segment {segment['segment']}",
            )
        )
    return validation, statistics


def _parameters(rows, statistics, config) -> dict:
    """Mean fitted values over the seeds (error of the mean) and the time to 5σ."""
    import numpy as np

    converged = [row for row in rows if row["success"]]
    n = max(len(converged), 1)
    parameters = {}
    units = {"decay_index": "", "index": "", "amplitude": AMPLITUDE_UNIT}
    for name, values in statistics.items():
        if name in units:
            parameters[name] = {
                "value": values["mean_fitted"],
                "error": values["std_fitted"] / math.sqrt(n),
                "unit": units[name],
            }
    times = np.array([row["time_to_5sigma_s"] for row in rows])
    finite = times[np.isfinite(times)]
    if finite.size:
        low, median, high = np.percentile(times, [16, 50, 84])
        # Median over the seeds; "error" is half its central 68 % spread.
        parameters["time_to_5sigma"] = {
            "value": float(median),
            "error": float((high - low) / 2) if np.isfinite(high) else math.inf,
            "unit": "s",
        }
    return parameters


def _summary(rows, statistics, segments, asimov_t5, config, info) -> list[str]:
    import numpy as np

    source = config.source
    times = np.array([row["time_to_5sigma_s"] for row in rows])
    detected = np.isfinite(times)
    ebl = (
        "no EBL"
        if config.ebl_model == "none"
        else EBL_TABLES[config.ebl_model].reference
    )
    lines = [
        f"{len(rows)} simulated bursts (z = {source.redshift:g}, decay index "
        f"{source.decay_index:g}, intrinsic index {source.index:g}) observed with "
        f"{info.name} from T0 + {config.delay_s:g} s for {config.duration_s:g} s",
        f"time to 5 sigma after T0: expected {asimov_t5:.0f} s; "
        f"{detected.sum()}/{len(rows)} seeds detected, median "
        f"{np.median(times):.0f} s",
        f"analysis: {config.decay_model} decay, {ebl}",
    ]
    for name, s in statistics.items():
        if "pull_mean" in s:
            lines.append(
                f"{name}: mean fitted {s['mean_fitted']:.4g}, pulls mean "
                f"{s['pull_mean']:+.2f}, width {s['pull_std']:.2f}"
            )
    fit = statistics["light_curve_fit"]
    lines.append(
        f"light-curve goodness of fit: TS {fit['ts']:.1f} for {fit['dof']} dof, "
        f"p = {fit['p_value']:.3g}"
    )
    if not segments:
        lines.append(
            "no time-resolved spectra: no time bin is expected above "
            f"{SEGMENT_MIN_SIGMA:g} sigma"
        )
        return lines
    lines.append(
        "time-resolved intrinsic index (first seed): "
        + ", ".join(
            f"{s['start_s']:.0f}-{s['stop_s']:.0f} s {s['index']:.2f} ± "
            f"{s['index_error']:.2f}"
            for s in segments
        )
    )
    return lines


# --- plots --------------------------------------------------------------------------


def _band_flux(model, config, times_s, t0):
    """Flux of ``model`` in the light-curve band at ``times_s`` after T0."""
    import astropy.units as u
    import numpy as np

    band = model.spectral_model.integral(
        config.energy_min_tev * u.TeV, config.light_curve_max_tev * u.TeV
    ).to_value("cm-2 s-1")
    with _quiet_temporal_check():
        norm = model.temporal_model(t0 + np.asarray(times_s) * u.s)
    # ((t - T0) / t0)^alpha comes back in units of (d / s)^alpha: convert.
    return float(band) * u.Quantity(norm).to_value(u.dimensionless_unscaled)


def _plot_light_curve(light_curve, model, truth, config, t0, detection, what):
    """Light curve of the first seed with the fitted decay; significance vs time.

    Returns
    -------
    `~matplotlib.figure.Figure`
    """
    import matplotlib.pyplot as plt
    import numpy as np

    from sat.plots import caption, label

    step_ends, asimov, significance, rows, asimov_t5 = detection
    table = light_curve.to_table(format="lightcurve", sed_type="flux")
    # From the time axis (its own time scale), not the table's MJD (TT).
    axis = light_curve.geom.axes["time"]
    start = (axis.time_min - t0).to_value("s")
    stop = (axis.time_max - t0).to_value("s")
    centre = np.sqrt(start * stop)
    flux = np.ravel(table["flux"])
    error = np.ravel(table["flux_err"])
    ul = np.ravel(table["is_ul"]).astype(bool)
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6), layout="constrained")
    left.errorbar(
        centre[~ul],
        flux[~ul],
        xerr=[centre[~ul] - start[~ul], stop[~ul] - centre[~ul]],
        yerr=error[~ul],
        fmt="o",
        color="k",
        label="light curve (first seed)",
    )
    if ul.any():
        limits = np.ravel(table["flux_ul"])[ul]
        left.errorbar(
            centre[ul],
            limits,
            xerr=[centre[ul] - start[ul], stop[ul] - centre[ul]],
            yerr=0.3 * limits,
            uplims=True,
            fmt="v",
            color="C1",
            label="2σ upper limit",
        )
    grid = np.geomspace(config.delay_s, config.delay_s + config.duration_s, 200)
    left.plot(
        grid,
        _band_flux(truth, config, grid, t0),
        "--",
        color="0.5",
        label="simulated truth",
    )
    left.plot(
        grid,
        _band_flux(model, config, grid, t0),
        color="C0",
        label=f"fit: {config.decay_model} decay",
    )
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel(label("Time since T0", "s"))
    band = f"{config.energy_min_tev:g}–{config.light_curve_max_tev:g} TeV"
    left.set_ylabel(label(f"Flux {band}", "cm-2 s-1"))
    left.set_title("light curve of the burst")
    left.legend(fontsize=8)

    times = np.concatenate([[config.delay_s], step_ends])
    right.plot(
        times,
        np.concatenate([[0], asimov]),
        color="C0",
        lw=2,
        label="expected (Asimov)",
    )
    right.plot(
        times,
        np.concatenate([[0], significance]),
        color="k",
        label="first seed",
    )
    right.axhline(5, color="C3", ls=":", label="5σ")
    if math.isfinite(asimov_t5):
        right.axvline(asimov_t5, color="C0", ls=":", label="expected time to 5σ")
    t5 = [row["time_to_5sigma_s"] for row in rows]
    finite = [t for t in t5 if math.isfinite(t)]
    if finite:
        right.plot(
            finite,
            np.full(len(finite), 5.0),
            "|",
            color="C3",
            ms=14,
            label="time to 5σ of each seed",
        )
    right.set_xscale("log")
    right.set_xlabel(label("Time since T0", "s"))
    right.set_ylabel("cumulative significance (σ)")
    right.set_title(f"time to 5σ: expected {asimov_t5:.0f} s after T0")
    right.legend(fontsize=8)
    caption(figure, what)
    return figure


def _plot_spectra(segments, truth, config, what):
    """Time-resolved observed spectra of the first seed with their fits.

    Returns
    -------
    `~matplotlib.figure.Figure`
    """
    import warnings as _warnings

    import astropy.units as u
    import matplotlib.pyplot as plt
    import numpy as np

    from sat.plots import caption, sed_labels

    figure, ax = plt.subplots(figsize=(7, 5))
    bounds = [config.energy_min_tev, config.energy_max_tev] * u.TeV
    with _warnings.catch_warnings():
        _warnings.filterwarnings("ignore", "This axis already has a converter")
        for index, segment in enumerate(segments):
            color = f"C{index}"
            label = f"{segment['start_s']:.0f}-{segment['stop_s']:.0f} s"
            segment["flux_points"].plot(
                ax=ax, sed_type="e2dnde", color=color, label=f"{label}: flux points"
            )
            segment["model"].spectral_model.plot(
                bounds,
                ax=ax,
                sed_type="e2dnde",
                color=color,
                label=f"{label}: index {segment['index']:.2f} ± "
                f"{segment['index_error']:.2f}",
            )
    # The measured points set the scale: the absorbed models fall by orders of
    # magnitude where there are only upper limits. In the unit the axis is drawn
    # in (Gammapy's quantity support chose it).
    unit = ax.yaxis.units or "erg cm-2 s-1"
    detected = []
    for segment in segments:
        points = segment["flux_points"]
        values = np.ravel(points.e2dnde.quantity.to_value(unit))
        detected.extend(values[~np.ravel(points.is_ul.data) & (values > 0)])
    if detected:
        ax.set_ylim(min(detected) / 30, max(detected) * 30)
    sed_labels(ax)
    ax.set_title("time-resolved observed spectra (first seed)")
    ax.legend(fontsize=7)
    caption(figure, what)
    return figure


def _plot_pulls(rows, config, what):
    """Histograms of the pulls of the fitted parameters over N(0, 1).

    Returns
    -------
    `~matplotlib.figure.Figure`
    """
    import matplotlib.pyplot as plt
    import numpy as np

    from sat.plots import caption

    names = [
        name
        for name in ("decay_index", "index", "amplitude")
        if any(f"{name}_pull" in row for row in rows)
    ]
    labels = {
        "decay_index": "decay index",
        "index": "intrinsic spectral index",
        "amplitude": "amplitude",
    }
    figure, axes = plt.subplots(
        1, len(names), figsize=(4.2 * len(names), 3.8), layout="constrained"
    )
    axes = np.atleast_1d(axes)
    grid = np.linspace(-4, 4, 200)
    bins = np.linspace(-4, 4, 17)
    for ax, name in zip(axes, names, strict=True):
        pulls = np.array([row[f"{name}_pull"] for row in rows if row["success"]])
        ax.hist(
            np.clip(pulls, bins[0], bins[-1]),
            bins=bins,
            histtype="stepfilled",
            alpha=0.6,
            label="fits",
        )
        expected = len(pulls) * (bins[1] - bins[0]) * np.exp(-(grid**2) / 2)
        ax.plot(grid, expected / np.sqrt(2 * np.pi), "k-", label="expected: N(0, 1)")
        ax.set_xlabel(f"{labels[name]} pull: (fit − truth) / error")
        ax.set_ylabel(f"seeds (of {len(pulls)})")
        ax.set_title(
            f"mean {np.mean(pulls):+.2f}, std {np.std(pulls, ddof=1):.2f}", fontsize=10
        )
        ax.legend(fontsize=8)
    caption(figure, what)
    return figure


USECASE = GrbFollowup
