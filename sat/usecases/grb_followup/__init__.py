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

The package holds one capability per module: ``config``, ``model`` (the burst as
a Gammapy model), ``seeds`` (one simulated follow-up: significance, time bins,
the joint fit), ``first_seed`` (light curve and time-resolved spectra),
``validation`` and ``plots``; this module, the use case and its run.
"""

from __future__ import annotations

import itertools
from typing import ClassVar

from sat.usecases.base import Example, Outcome, RunContext, UseCase
from sat.usecases.ebl_absorption import EBL_TABLES
from sat.usecases.grb_followup.config import (
    DecayModel,
    GrbFollowupConfig,
    GrbSource,
)
from sat.usecases.grb_followup.first_seed import (
    estimate_light_curve,
    time_resolved_spectra,
)
from sat.usecases.grb_followup.model import (
    burst_model,
    decay_index,
    quiet_temporal_check,
)
from sat.usecases.grb_followup.plots import plot_light_curve, plot_pulls, plot_spectra
from sat.usecases.grb_followup.seeds import (
    cumulative_significance,
    fill_bins,
    fit_decay,
    light_curve_ts,
    seed_row,
    segment_groups,
    time_to,
)
from sat.usecases.grb_followup.validation import (
    mean_parameters,
    summary_lines,
    validate,
)

# The use case's public API (documented on its page); each name lives in the
# submodule it is imported from.
__all__ = [
    "USECASE",
    "DecayModel",
    "GrbFollowup",
    "GrbFollowupConfig",
    "GrbSource",
    "burst_model",
    "decay_index",
    "time_to",
]


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
        # temporal model before T0 (`quiet_temporal_check`).
        with quiet_temporal_check():
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
        asimov = cumulative_significance(simulation.asimov([truth]))
        asimov_t5 = time_to(5.0, config.delay_s, step_ends, asimov)
        groups = segment_groups(binned.asimov([truth]), config.segments)

        rows, first = [], None
        for seed in context.progress(
            [config.seed + i for i in range(config.n_seeds)], "simulated bursts"
        ):
            steps_data = simulation.fake([truth], seed)
            significance = cumulative_significance(steps_data)
            bins = fill_bins(binned.templates, steps_data, config.significance_steps)
            model, fit = fit_decay(bins, config, t0)
            row = seed_row(seed, model, fit, config)
            row["time_to_5sigma_s"] = time_to(
                5.0, config.delay_s, step_ends, significance
            )
            row["max_significance"] = float(np.max(significance))
            row["light_curve_ts"] = light_curve_ts(bins, model)
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
            light_curve = estimate_light_curve(bins, model, config, intervals)
            light_curve.write(
                context.product("lightcurve.ecsv"),
                format="lightcurve",
                sed_type="flux",
                overwrite=True,
            )
            segments = time_resolved_spectra(bins, model, config, groups)
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
        validation, statistics = validate(rows, segments, config)
        parameters = mean_parameters(rows, statistics, config)
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
            figure = plot_light_curve(
                light_curve,
                model,
                truth,
                config,
                t0,
                (step_ends, asimov, significance, rows, asimov_t5),
                what,
            )
            context.save_figure(figure, "lightcurve.png", dpi=110)
            figure = plot_spectra(segments, truth, config, what)
            context.save_figure(figure, "spectra.png", dpi=110)
            figure = plot_pulls(rows, config, f"{what}; {config.n_seeds} seeds")
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
        summary = summary_lines(rows, statistics, segments, asimov_t5, config, info)
        return Outcome(parameters, validation, summary, extra)


USECASE = GrbFollowup
