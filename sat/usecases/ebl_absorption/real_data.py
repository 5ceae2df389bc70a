"""(a) The real data: the H.E.S.S. DR1 runs of PKS 2155-304, observed and intrinsic.

The runs are reduced to reflected-regions ON/OFF spectra (as in ``lightcurve``)
and fitted jointly (WStat) with a plain power law (the observed spectrum) and
with an EBL-absorbed one (the intrinsic spectrum), then validated against the
published spectra (`sat.usecases.ebl_absorption.references`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sat.usecases.ebl_absorption.ebl import (
    DEFAULT_EBL,
    EBL_TABLES,
    intrinsic,
    power_law,
)
from sat.usecases.ebl_absorption.plots import plot_spectrum
from sat.usecases.ebl_absorption.references import (
    deabsorb,
    published_spectra,
    real_checks,
    reference_runs_note,
)
from sat.usecases.hess_dr1 import PUBLISHED_1D, STEADY_SAMPLE

if TYPE_CHECKING:
    from sat.usecases.base import RunContext
    from sat.usecases.ebl_absorption.config import EblAbsorptionConfig


def real_data(config: EblAbsorptionConfig, context: RunContext) -> dict:
    """Reduce the runs, fit observed and intrinsic power laws, validate."""
    from gammapy.modeling import Fit
    from gammapy.modeling.models import Models

    from sat.usecases.models import slug
    from sat.usecases.reflected import reflected_regions_runs

    runs = reflected_regions_runs(config, context, "hess-dl3-dr1")
    datasets, label = runs.datasets, runs.label
    sample = list(PUBLISHED_1D[STEADY_SAMPLE].obs_ids)  # the papers' runs
    source = slug(label)
    e0 = float(config.reference_energy.to_value("TeV"))
    reference_ebl = DEFAULT_EBL if config.ebl_model == "none" else config.ebl_model

    with context.step(f"fitting the observed and intrinsic spectra ({label})"):
        observed = power_law(f"{source}_observed", e0)
        datasets.models = [observed]
        observed_fit = Fit().run(datasets)
        absorbed = power_law(source, e0, config.ebl_model, config.redshift)
        datasets.models = [absorbed]
        absorbed_fit = Fit().run(datasets)

    parameters = {
        "index": _parameter(observed.spectral_model.index),
        "amplitude": _parameter(observed.spectral_model.amplitude),
        "intrinsic_index": _parameter(intrinsic(absorbed).index),
        "intrinsic_amplitude": _parameter(intrinsic(absorbed).amplitude),
    }
    measured_shift = (
        parameters["index"]["value"] - parameters["intrinsic_index"]["value"]
    )

    note = reference_runs_note(config, runs.obs_ids, sample)
    validation, deabsorbed = [], {}
    if note is None:
        with context.step(f"de-absorbing the published spectra ({reference_ebl})"):
            for name, spectrum in published_spectra().items():
                deabsorbed[name] = deabsorb(
                    spectrum, datasets, reference_ebl, config.redshift, e0
                )
        validation = real_checks(parameters, deabsorbed, reference_ebl)

    with context.step("estimating flux points and writing products"):
        flux_points = _flux_points(datasets, absorbed, config)
        flux_points.write(
            context.product("flux_points.ecsv"), sed_type="likelihood", overwrite=True
        )
        context.write_models(Models([observed]), "models/observed.yaml")
        context.write_models(Models([absorbed]), "models/intrinsic.yaml")
        figure = plot_spectrum(
            flux_points,
            observed,
            absorbed,
            config,
            label,
            reference_ebl,
            runs.summary.text(),
        )
        context.save_figure(figure, "spectrum.png")
    context.keep(datasets=datasets, models=Models([absorbed]), flux_points=flux_points)

    expected_shift = {
        name: published_spectra()[name].index[0] - values["index"]
        for name, values in deabsorbed.items()
    }
    info = datasets.info_table(cumulative=True)
    extra = {
        "target": label,
        "redshift": config.redshift,
        "ebl_model": config.ebl_model,
        "ebl_reference": EBL_TABLES[reference_ebl].reference,
        "n_runs": len(datasets),
        "dropped_runs": runs.dropped,
        "failed_runs": runs.failed,
        "observations": runs.summary.as_dict(),
        "livetime_h": float(info["livetime"].quantity[-1].to_value("h")),
        "excess": float(info["excess"][-1]),
        "significance": float(info["sqrt_ts"][-1]),
        "fits": {
            "observed": {
                "success": bool(observed_fit.success),
                "total_stat": float(observed_fit.total_stat),
            },
            "intrinsic": {
                "success": bool(absorbed_fit.success),
                "total_stat": float(absorbed_fit.total_stat),
            },
        },
        "deabsorbed_references": deabsorbed,
        # The relation between the spectra: observed minus intrinsic index.
        "index_shift": {"measured": measured_shift, "expected": expected_shift},
    }
    summary = _real_summary(label, parameters, extra, config, note)
    return {
        "parameters": parameters,
        "validation": validation,
        "summary": summary,
        "extra": extra,
    }


def _parameter(parameter) -> dict:
    return {
        "value": float(parameter.value),
        "error": float(parameter.error),
        "unit": parameter.unit.to_string(),
    }


def _flux_points(datasets, absorbed, config):
    """Observed flux points of the absorbed model, over the runs' safe range.

    From the lowest safe threshold of the runs to ``flux_points_max_tev`` (or
    their highest safe energy, if lower).
    """
    import astropy.units as u
    import numpy as np
    from gammapy.estimators import FluxPointsEstimator
    from gammapy.maps import MapAxis

    lows, highs = [], []
    for dataset in datasets:
        low, high = dataset.energy_range_safe
        lows.append(low.quantity.to_value("TeV").item())
        highs.append(high.quantity.to_value("TeV").item())
    low = float(np.nanmin(lows))
    high = min(float(np.nanmax(highs)), config.flux_points_max_tev)
    if not high > low:
        from sat.errors import ConfigError

        raise ConfigError(
            f"key 'flux_points_max_tev': {config.flux_points_max_tev:g} TeV is below "
            f"the runs' safe threshold {low:.3g} TeV"
        )
    nbin = max(1, round(math.log10(high / low) * config.flux_points_per_decade))
    edges = MapAxis.from_energy_bounds(low, high, nbin, unit="TeV").edges
    # On the stacked spectrum: one fit per bin instead of a joint one over the
    # runs (the model is fixed, only its normalisation per bin is fitted).
    stacked = datasets.stack_reduce(name="stacked")
    stacked.models = [absorbed]
    estimator = FluxPointsEstimator(
        energy_edges=edges.to(u.TeV),
        source=absorbed.name,
        selection_optional=["ul"],
        n_jobs=1,
    )
    return estimator.run([stacked])


def _real_summary(label, parameters, extra, config, note) -> list[str]:
    observed, index = parameters["index"], parameters["intrinsic_index"]
    lines = [
        f"{label}: {extra['n_runs']} runs, {extra['livetime_h']:.2f} h, excess "
        f"{extra['excess']:.0f}, {extra['significance']:.1f} sigma",
        f"observed power law at E0 {config.reference_energy}: index "
        f"{observed['value']:.3f} ± {observed['error']:.3f}",
    ]
    if config.ebl_model == "none":
        lines.append(
            "intrinsic spectrum fitted WITHOUT EBL absorption (ebl_model: none): "
            f"index {index['value']:.3f} ± {index['error']:.3f}"
        )
    else:
        lines.append(
            f"intrinsic power law (EBL {EBL_TABLES[config.ebl_model].reference}, "
            f"z = {config.redshift:g}): index {index['value']:.3f} ± "
            f"{index['error']:.3f}; observed - intrinsic = "
            f"{extra['index_shift']['measured']:.3f}"
        )
    for name, shift in extra["index_shift"]["expected"].items():
        values = extra["deabsorbed_references"][name]
        lines.append(
            f"{name}: de-absorbed index {values['index']:.3f} ± "
            f"{values['index_error']:.3f} (shift {shift:.3f})"
        )
    lines.append(note or "validated against the published spectra, de-absorbed")
    return lines
