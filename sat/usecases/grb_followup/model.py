"""The burst as a Gammapy model: an EBL-absorbed power law times a decay in time."""

from __future__ import annotations

import warnings
from contextlib import contextmanager

from sat.usecases.ebl_absorption import power_law


@contextmanager
def quiet_temporal_check():
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
    with quiet_temporal_check():
        sky.temporal_model = temporal
    return sky


def decay_index(model) -> tuple[float, float] | None:
    """Return the fitted power-law decay index and its error (None if exponential)."""
    temporal = model.temporal_model
    if "alpha" not in temporal.parameters.names:
        return None
    return -float(temporal.alpha.value), float(temporal.alpha.error)
