"""Validation of science results against published or statistical references.

Each use case carries its `Reference` values: where they come from, the tolerance
and why that tolerance. `compare` turns a measured value into a `sat.result.Check`
that goes into ``result.json``; a failed check makes ``ctao-sat run`` exit
non-zero. `check_bounds` does the same for an allowed interval.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from sat.result import FAIL, PASS, BoundsCheck, Check

__all__ = ["Bounds", "Reference", "check_bounds", "compare"]


@dataclass(frozen=True)
class Reference:
    """A reference value and the tolerance a measurement must meet.

    Attributes
    ----------
    quantity : str
        Name of the checked quantity (a fitted parameter name, or a statistic).
    value : float
        Reference value, in ``unit``.
    error : float
        Its 1-sigma uncertainty (0 for an exact expectation).
    unit : str
        Unit of ``value`` and ``error`` ("" if dimensionless).
    source : str
        Where the reference comes from (paper, table, or "truth of the simulation").
    n_sigma : float
        The measurement passes if ``|measured - value| <= n_sigma * sigma`` where
        sigma combines the reference and measured errors in quadrature.
    why : str
        Why this tolerance (statistics of both sides, known analysis differences).
    """

    quantity: str
    value: float
    error: float
    unit: str
    source: str
    n_sigma: float
    why: str


def compare(
    reference: Reference, measured: float, error: float = 0.0, fit: str | None = None
) -> Check:
    """Compare a measured value with its reference.

    Parameters
    ----------
    reference : Reference
        The reference and its tolerance.
    measured, error : float
        The measured value and its 1-sigma error, in the reference's unit.
    fit : str, optional
        Which fit of the run was measured, when it has several.

    Returns
    -------
    `sat.result.Check`
        The reference, the measurement, the deviation in sigma and the verdict
        ("PASS" or "FAIL").
    """
    sigma = math.hypot(reference.error, error)
    deviation = abs(measured - reference.value)
    pulls = deviation / sigma if sigma > 0 else (0.0 if deviation == 0 else math.inf)
    ok = math.isfinite(measured) and pulls <= reference.n_sigma
    return Check(
        **asdict(reference),
        measured=measured,
        measured_error=error,
        deviation_sigma=round(pulls, 3),
        verdict=PASS if ok else FAIL,
        fit=fit,
    )


@dataclass(frozen=True)
class Bounds:
    """An interval a measured value must fall in (a threshold when one end is open).

    For quantities with no reference value but a physical or statistical range:
    a detection statistic above a threshold, a spectral index in a physical range.

    Attributes
    ----------
    quantity : str
        Name of the checked quantity.
    minimum, maximum : float
        The allowed interval, in ``unit`` (``-math.inf`` or ``math.inf`` for an
        open end).
    unit : str
        Unit of the bounds ("" if dimensionless).
    source : str
        Where the bounds come from.
    why : str
        Why these bounds.
    """

    quantity: str
    minimum: float
    maximum: float
    unit: str
    source: str
    why: str


def check_bounds(bounds: Bounds, measured: float, error: float = 0.0) -> BoundsCheck:
    """Check that a measured value lies within ``bounds``.

    Parameters
    ----------
    bounds : Bounds
        The allowed interval.
    measured, error : float
        The measured value and its 1-sigma error (reported, not used: the value
        itself must be inside).

    Returns
    -------
    `sat.result.BoundsCheck`
        The bounds, the measurement and the verdict, with the fields of `compare`
        so that reports treat both alike: ``value`` is the bound the value is
        nearest to (or outside of), ``deviation_sigma`` how far outside it is in
        units of ``error`` (0 inside; None when outside with no error).
    """
    ends = [end for end in (bounds.minimum, bounds.maximum) if math.isfinite(end)]
    if not ends:
        raise ValueError(f"bounds of {bounds.quantity!r} are open at both ends")
    inside = math.isfinite(measured) and bounds.minimum <= measured <= bounds.maximum
    finite = math.isfinite(measured)
    nearest = min(ends, key=lambda end: abs(measured - end)) if finite else ends[0]
    if inside:
        deviation = 0.0
    elif error > 0 and finite:
        deviation = round(abs(measured - nearest) / error, 3)
    else:
        deviation = None
    return BoundsCheck(
        **{
            **asdict(bounds),
            # An open end is null in result.json (JSON has no infinity).
            "minimum": bounds.minimum if math.isfinite(bounds.minimum) else None,
            "maximum": bounds.maximum if math.isfinite(bounds.maximum) else None,
        },
        value=nearest,
        error=0.0,
        n_sigma=0.0,
        measured=measured,
        measured_error=error,
        deviation_sigma=deviation,
        verdict=PASS if inside else FAIL,
    )
