"""One simulated follow-up: significance with time, time bins, the joint fit.

Per seed: the cumulative significance after each step (the time to 5 sigma),
the steps summed into time bins, the joint WStat fit of the decay and spectrum,
the pulls, and the light curve's goodness of fit against the decay model.
"""

from __future__ import annotations

import math

from sat.usecases.ebl_absorption import intrinsic
from sat.usecases.grb_followup.model import burst_model, decay_index

# Time bins enter the time-resolved spectra when their expected significance
# reaches this (`segment_groups`).
SEGMENT_MIN_SIGMA = 3.0


def cumulative_significance(steps):
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


def fill_bins(templates, steps, k: int):
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


def segment_groups(expected, n_segments: int) -> list[list[int]]:
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


def fit_decay(bins, config, t0):
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


def seed_row(seed, model, fit, config) -> dict:
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


def light_curve_ts(bins, model) -> float:
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
