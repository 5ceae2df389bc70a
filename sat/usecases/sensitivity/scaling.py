"""Validation against physics: how a sensitivity curve scales with live time.

Between every pair of curves, bin by bin: where the background dominates the
ratio is sqrt(t_long / t_short), where the minimum excess decides t_long /
t_short (`scaling`); `scaling_checks` turns the worst bin of each regime into a
verdict.
"""

from __future__ import annotations

import math
from itertools import combinations

from sat.validation import Reference, compare

# Gamma-limited bins need the same excess at both live times: the flux ratio is
# exactly t_long / t_short up to floating-point rounding.
SIGNAL_LIMITED_TOLERANCE = 1e-3


def background_tolerance(max_signal_to_background: float, acceptance_off: float):
    """Largest departure from sqrt(t) scaling at a given signal/background ratio.

    In the Gaussian limit of Li & Ma, the required excess s on a background b with
    alpha = 1 / acceptance_off solves s**2 = n**2 (s + (1 + alpha) b), so
    s = n sqrt((1 + alpha) b) sqrt(1 + s / ((1 + alpha) b)): the signal's own
    Poisson noise raises it above the pure sqrt(b) law by the last factor, at most
    sqrt(1 + x / (1 + alpha)) - 1 for s / b <= x.
    """
    alpha = 1 / acceptance_off
    return math.sqrt(1 + max_signal_to_background / (1 + alpha)) - 1


def scaling(tables: dict, max_signal_to_background: float) -> list[dict]:
    """Compare every pair of curves bin by bin.

    Parameters
    ----------
    tables : dict
        ``{livetime_h: sensitivity table}``, all with the same energy bins.
    max_signal_to_background : float
        Largest excess / background for a bin to count as background-dominated.

    Returns
    -------
    list of dict
        One row per pair and bin: energy, ``regime`` ("background", "signal" or
        None when the bin is in neither regime in both curves), the ratio
        S(t_short) / S(t_long) and the expected ratio.
    """
    rows = []
    for short, long in combinations(sorted(tables), 2):
        a, b = tables[short], tables[long]
        for i in range(len(a)):
            ratio = float(a["e2dnde"][i] / b["e2dnde"][i])
            criteria = (str(a["criterion"][i]), str(b["criterion"][i]))
            dominated = all(
                float(t["excess"][i]) <= max_signal_to_background * t["background"][i]
                for t in (a, b)
            )
            if criteria == ("significance", "significance") and dominated:
                regime, expected = "background", math.sqrt(long / short)
            elif criteria == ("gamma", "gamma"):
                regime, expected = "signal", long / short
            else:
                regime, expected = None, float("nan")
            rows.append(
                {
                    "t_short_h": short,
                    "t_long_h": long,
                    "e_ref_tev": float(a["e_ref"].quantity[i].to_value("TeV")),
                    "criteria": list(criteria),
                    "signal_to_background": [
                        float(t["excess"][i] / t["background"][i])
                        if t["background"][i] > 0
                        else math.inf
                        for t in (a, b)
                    ],
                    "regime": regime,
                    "ratio": ratio,
                    "expected": expected,
                    "ratio_over_expected": ratio / expected,
                }
            )
    return rows


def _worst(rows: list[dict], regime: str) -> float:
    """Return the ratio / expected farthest from 1 in ``regime`` (NaN if none)."""
    values = [row["ratio_over_expected"] for row in rows if row["regime"] == regime]
    return max(values, key=lambda v: abs(v - 1)) if values else float("nan")


def scaling_checks(rows: list[dict], config) -> list:
    """Verdicts of the live-time scaling: the worst bin of each regime.

    Background-limited bins must scale as sqrt(t) within `background_tolerance`
    (no such bin is a failure); signal-limited ones, if any, exactly as t.
    """
    tolerance = background_tolerance(
        config.max_signal_to_background, config.acceptance_off
    )
    n_background = sum(row["regime"] == "background" for row in rows)
    n_signal = sum(row["regime"] == "signal" for row in rows)
    background_quantity = "background-limited ratio / sqrt(t_long / t_short)"
    if not n_background:
        background_quantity += (
            " (no background-dominated bin: choose live times with more "
            "background, or a larger max_signal_to_background)"
        )
    validation = [
        compare(
            Reference(
                background_quantity,
                1.0,
                tolerance,
                "",
                "Li & Ma significance in the background-dominated limit",
                1.0,
                f"{n_background} bins significance-limited with S/B <= "
                f"{config.max_signal_to_background:g} in both curves; the "
                f"signal's own noise moves the ratio by at most "
                f"{100 * tolerance:.1f} %; no such bin is a failure",
            ),
            _worst(rows, "background"),
        )
    ]
    if n_signal:
        validation.append(
            compare(
                Reference(
                    "signal-limited ratio / (t_long / t_short)",
                    1.0,
                    SIGNAL_LIMITED_TOLERANCE,
                    "",
                    "fixed minimum excess: flux ~ 1 / exposure",
                    1.0,
                    f"{n_signal} bins limited by the {config.gamma_min:g}-gamma "
                    "minimum in both curves need the same excess: exact scaling",
                ),
                _worst(rows, "signal"),
            )
        )
    return validation


def scaling_summary(rows: list[dict]) -> str:
    """Return the summary line of the live-time scaling."""
    n_background = sum(row["regime"] == "background" for row in rows)
    n_signal = sum(row["regime"] == "signal" for row in rows)
    return (
        f"scaling: {n_background} background-limited bins (worst ratio / "
        f"sqrt(t) {_worst(rows, 'background'):.3f}), {n_signal} signal-limited "
        f"bins (worst ratio / t {_worst(rows, 'signal'):.4f})"
    )
