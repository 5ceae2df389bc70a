"""The truth of the 1DC simulation that validates the phase-resolved analysis.

The events carry the source they were simulated from (MC_ID), so the pulsar's own
photons give the excess to expect and, fitted alone through the same dataset, the
index to expect; the difference is the background's noise only. One 30-min run
holds ~40 pulsed photons: the index is known to +-0.75, and at 40-400 GeV the
background's spectrum resembles the pulsar's, so the index checks catch only
gross errors; the excess check is the one that catches a wrong background.
"""

from __future__ import annotations

import math

from sat.usecases.pulsar.config import (
    DEFAULT_OFF,
    DEFAULT_ON,
    DEFAULT_RADIUS,
    VELA_RUN,
)
from sat.validation import Bounds, Reference, check_bounds, compare

VELA_MC_NAME = "J0835-4510"  # the pulsar's model name in the 1DC event headers
# The 1DC truth: 80 photons of the pulsar within 0.2 deg, 37 of them at phase
# 0.5-0.6, over ~85 background photons there; Li & Ma then expects ~3.5 sigma
# for one 30-min run (the tutorial notes that 5 sigma needs all nine 1DC runs).
SIGNIFICANCE = Bounds(
    "sqrt_ts",
    3.0,
    math.inf,
    "",
    "expectation from the 1DC truth (MC_ID) of run 111630 with the default "
    "on/off phases and 0.2 deg radius: ~3.5 sigma",
    "one 30-min run holds ~40 pulsed photons in the ON phase over ~85 background: "
    "3 sigma (evidence) is what one run can give; below it the pulse is lost",
)
# Gammapy's pulsar-analysis tutorial overplots the 1DC input model of the Vela
# pulsar: a power law of index 4.5 at 20 GeV. The simulated pulsar photons of
# this run (MC_ID), fitted alone through the same dataset, give 4.18 +- 0.33 (all
# phases): consistent with it.
VELA_INDEX = Reference(
    "index",
    4.5,
    0.0,
    "",
    "CTA 1DC input model of the Vela pulsar (power law, index 4.5 at 20 GeV) as "
    "overplotted in Gammapy's pulsar-analysis tutorial",
    2.0,
    "the ~40 excess photons of one run constrain the index to ~0.75 (statistical); "
    "2 sigma of that allows for the statistics, not for a wrong spectrum",
)
# The simulation truth of this very run: the pulsar's own photons (MC_ID) in the
# ON phases and region, fitted through the same dataset without background. The
# ON - alpha x OFF fit holds these photons plus the unpulsed background, so the
# two differ only by the background's fluctuations: the variance of the
# difference is the difference of the variances (nested estimates).
TRUTH_INDEX_WHY = (
    "same photons, IRFs, region, phases and energy range; only the background's "
    "Poisson noise in ON - alpha x OFF separates the two fits, whose sigma is "
    "sqrt(sigma_onoff^2 - sigma_truth^2); 2 sigma"
)
TRUTH_INDEX_N_SIGMA = 2.0
EXCESS_WHY = (
    "the measured excess differs from the simulated pulsed photons only by the "
    "Poisson fluctuation of the unpulsed background in ON minus alpha x OFF, whose "
    "sigma is the excess error; 3 sigma"
)


def pulsed_truth(observation, region, on_phase, off_phase, alpha, dataset):
    """Count simulated pulsar photons in ON minus alpha x OFF (1DC MC_ID), or None.

    The selection repeats the dataset's: same region, phase intervals (Gammapy's
    `select_parameter`) and safe energy range.
    """
    import numpy as np

    events = observation.events
    ids = _mc_ids(events)
    if not ids or "MC_ID" not in events.table.colnames:
        return None
    energy_min, energy_max = dataset.energy_range_safe
    low, high = energy_min.data.min(), energy_max.data.max()

    def pulsed(intervals):
        selected = _select(events, intervals, region)
        energy = selected.energy.to_value("TeV")
        keep = (energy >= low) & (energy < high)
        return int(np.isin(selected.table["MC_ID"][keep], ids).sum())

    return float(pulsed(on_phase) - alpha * pulsed(off_phase))


def _mc_ids(events) -> list:
    """Return the MC_ID values of the Vela pulsar in a 1DC event list (may be [])."""
    meta = events.table.meta
    return [
        meta[f"MID{i:05d}"]
        for i in range(1, int(meta.get("NMCIDS", 0)) + 1)
        if meta.get(f"MMN{i:05d}") == VELA_MC_NAME
    ]


def truth_index(dataset, observation, region, phases, start):
    """Fit the simulated pulsar photons alone (MC_ID) through ``dataset``.

    The counts are the pulsar's own photons in ``phases`` and the region, on the
    dataset's exposure, energy dispersion, safe and fit masks, with no background:
    the index the ON/OFF analysis would find without background noise. ``start``
    is the power-law `SkyModel` the fit starts from (the analysis's start).

    Returns
    -------
    tuple of float or None
        The fitted index and its error, None if the fit fails.
    """
    import numpy as np
    from gammapy.datasets import SpectrumDataset
    from gammapy.modeling import Fit

    events = observation.events
    selected = _select(events, phases, region)
    pulsar = np.isin(selected.table["MC_ID"], _mc_ids(events))
    counts = dataset.counts.copy()
    counts.data = np.zeros_like(counts.data)
    counts.fill_events(selected.select_row_subset(pulsar))
    truth = SpectrumDataset(
        counts=counts,
        exposure=dataset.exposure,
        edisp=dataset.edisp,
        mask_safe=dataset.mask_safe,
        mask_fit=dataset.mask_fit,
        name=f"{dataset.name}-truth",
    )
    model = start
    truth.models = [model]
    with np.errstate(over="ignore", invalid="ignore"):
        result = Fit().run([truth])
    if not result.success:
        return None
    index = model.spectral_model.index
    return float(index.value), float(index.error)


def phase_resolved_checks(config, info, excess_error, parameters, truth, truth_fit):
    """Validate the phase-resolved analysis against the truth of the simulation.

    Parameters
    ----------
    config : PhaseResolvedConfig
        The analysis (run, phases, region).
    info : dict
        The ON/OFF dataset's ``info_dict`` (excess, significance).
    excess_error : float
        The excess's 1-sigma error.
    parameters : dict
        The fitted power law.
    truth : float or None
        The simulated pulsed excess (`pulsed_truth`).
    truth_fit : dict or None
        `truth_index` of the ON phases and of all phases.
    """
    validation = []
    on_phase = [tuple(interval) for interval in config.on_phase]
    off_phase = [tuple(interval) for interval in config.off_phase]
    if config.obs_id == VELA_RUN:
        if truth is not None:
            validation.append(
                compare(
                    Reference(
                        "excess",
                        truth,
                        0.0,
                        "",
                        f"truth of the 1DC simulation: {VELA_MC_NAME} photons "
                        "(MC_ID) in the ON minus alpha x OFF selection",
                        3.0,
                        EXCESS_WHY,
                    ),
                    float(info["excess"]),
                    excess_error,
                )
            )
        default = (on_phase, off_phase, config.on_radius_deg) == (
            DEFAULT_ON,
            DEFAULT_OFF,
            DEFAULT_RADIUS,
        )
        if default:
            validation.append(check_bounds(SIGNIFICANCE, float(info["sqrt_ts"])))
        validation.append(
            compare(
                VELA_INDEX, parameters["index"]["value"], parameters["index"]["error"]
            )
        )
    if truth_fit is not None and truth_fit["on_phase"] is not None:
        measured, sigma = parameters["index"]["value"], parameters["index"]["error"]
        true_index, true_sigma = truth_fit["on_phase"]
        # Nested estimates: the ON-OFF fit adds the background to the same photons.
        spread = math.sqrt(max(sigma**2 - true_sigma**2, 0.0)) or sigma
        validation.append(
            compare(
                Reference(
                    "index - index of the simulated pulsar photons",
                    0.0,
                    0.0,
                    "",
                    f"truth of the 1DC simulation: power-law fit of the "
                    f"{VELA_MC_NAME} photons (MC_ID) in the ON phases and region, "
                    "through the same dataset, without background",
                    TRUTH_INDEX_N_SIGMA,
                    TRUTH_INDEX_WHY,
                ),
                measured - true_index,
                spread,
            )
        )
    return validation


def _select(events, intervals, region):
    """Return the events in the phase ``intervals`` and the region (Gammapy's)."""
    from gammapy.data import EventList

    return EventList.from_stack(
        [
            events.select_parameter("PHASE", interval, is_range=True)
            for interval in intervals
        ]
    ).select_region(region)
