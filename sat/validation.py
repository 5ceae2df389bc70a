"""Validation of science results against published or statistical references.

Each use case carries its `Reference` values: where they come from, the tolerance
and why that tolerance. `compare` turns a measured value into a verdict that goes
into ``result.json``; a failed verdict makes ``ctao-sat run`` exit non-zero.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

__all__ = ["Reference", "compare", "failed"]


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


def compare(reference: Reference, measured: float, error: float = 0.0) -> dict:
    """Compare a measured value with its reference.

    Parameters
    ----------
    reference : Reference
        The reference and its tolerance.
    measured, error : float
        The measured value and its 1-sigma error, in the reference's unit.

    Returns
    -------
    dict
        The reference, the measurement, the deviation in sigma and ``verdict``
        ("PASS" or "FAIL"), ready for ``result.json``.
    """
    sigma = math.hypot(reference.error, error)
    deviation = abs(measured - reference.value)
    pulls = deviation / sigma if sigma > 0 else (0.0 if deviation == 0 else math.inf)
    ok = math.isfinite(measured) and pulls <= reference.n_sigma
    return {
        **asdict(reference),
        "measured": measured,
        "measured_error": error,
        "deviation_sigma": round(pulls, 3),
        "verdict": "PASS" if ok else "FAIL",
    }


def failed(checks: list[dict]) -> list[dict]:
    """Return the checks whose verdict is not PASS."""
    return [check for check in checks if check["verdict"] != "PASS"]
