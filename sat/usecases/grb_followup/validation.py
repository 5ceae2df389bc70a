"""The validation of the follow-up: pulls, the light curve's fit, the spectra in time.

The pulls of the decay index, spectral index and amplitude over the seeds are
N(0, 1); the summed likelihood ratio of the light curves follows its chi2 law;
every time-resolved spectral index agrees with the truth.
"""

from __future__ import annotations

import math

from sat.usecases.ebl_absorption import EBL_TABLES
from sat.usecases.grb_followup.seeds import SEGMENT_MIN_SIGMA
from sat.usecases.models import AMPLITUDE_UNIT
from sat.validation import Reference, compare

# The pull and goodness-of-fit tests accept what falls inside the central
# 99.73 % of their law ("3 sigma": a false alarm in 370 runs).
N_SIGMA = 3.0


def validate(rows, segments, config) -> tuple[list, dict]:
    """Converged fits, pulls, light-curve goodness of fit, time-resolved indices."""
    import numpy as np
    from scipy import stats

    from sat.validation import converged_check, pull_checks

    converged = [row for row in rows if row["success"]]
    validation = [converged_check(len(rows), len(converged), "every seed")]
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


def mean_parameters(rows, statistics, config) -> dict:
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


def summary_lines(rows, statistics, segments, asimov_t5, config, info) -> list[str]:
    """Return the console lines: detection, fits, pulls, time-resolved spectra."""
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
