"""The checks of an observation's events and GTIs: columns, keys, time, dead time.

- the EVENTS columns of the GADF specification and their units, the mandatory
  header keys (Gammapy's `EventListChecker.meta_required`: one source of truth);
- an empty event list, the time ordering of the events, events outside the GTIs;
- dead time: DEADC in (0, 1], LIVETIME = ONTIME x DEADC, ONTIME = sum of the GTIs;
- the stability of the event rate over the run (time bins whose counts are
  Poisson outliers of the median rate).

Each check adds its findings to an `sat.quality.report.ObservationReport`.
"""

from __future__ import annotations

import itertools
import math

from sat.quality.report import FAIL, WARN

__all__ = ["check_deadtime", "check_events", "check_gti", "check_times"]

# GADF EVENTS columns and their units (https://gamma-astro-data-formats.readthedocs.io
# /en/latest/events/events.html); Gammapy's EventListChecker lists the same.
EVENT_COLUMNS = {
    "EVENT_ID": "",
    "TIME": "s",
    "RA": "deg",
    "DEC": "deg",
    "ENERGY": "TeV",
}
# Header keys without which an observation cannot be analysed (a FAIL); the other
# GADF mandatory keys only WARN.
CORE_KEYS = (
    "OBS_ID",
    "TSTART",
    "TSTOP",
    "ONTIME",
    "LIVETIME",
    "DEADC",
    "RA_PNT",
    "DEC_PNT",
    "MJDREFI",
    "MJDREFF",
)
# Events out of time order: a few (CTA 1DC: 0.2 % of the steps, from merged
# streams) only WARN; shuffled times (half the steps backwards) FAIL.
UNORDERED_MAX_FRACTION = 0.01
# Events outside the GTIs: H.E.S.S. DR1 runs have a handful at the GTI edges
# (rounded GTI bounds), a WARN; more than this fraction is a FAIL.
OUTSIDE_GTI_MAX_FRACTION = 0.01
# LIVETIME must equal ONTIME x DEADC to this relative precision (the headers are
# written from the same numbers; float32 rounding is 1e-7).
LIVETIME_RTOL = 1e-3
# ONTIME vs the sum of the GTIs: equal in the GADF definition; H.E.S.S. DR1 rounds
# ONTIME to the second, hence a WARN only beyond 1 %.
ONTIME_RTOL = 0.01
# Rate stability: time bins hold at least this many expected counts (Poisson
# close to Gaussian) and are at least this long (s).
RATE_MIN_COUNTS = 100
RATE_MIN_BIN_S = 30.0
# A bin is an outlier when its two-sided Poisson probability is below this,
# after a Bonferroni correction for the number of bins: one false WARN in about
# a thousand stable runs.
RATE_P_VALUE = 1e-3
# ...and when it deviates by more than this fraction from the mean rate: the
# rate of a real run drifts by ~10 % with zenith angle (H.E.S.S. DR1), which is
# not a data-quality problem.
RATE_MIN_DEVIATION = 0.25


def _unit_ok(unit: str, expected: str) -> bool:
    import astropy.units as u

    try:
        return u.Unit(unit or "") == u.Unit(expected)
    except ValueError:
        return False


def check_events(report, header, table, units):
    """Check the EVENTS columns, units, header keys, energies and time order."""
    import numpy as np

    report.stats["n_events"] = len(table)
    for column, unit in EVENT_COLUMNS.items():
        if column not in table.colnames:
            report.add(FAIL, "events", f"EVENTS column {column} is missing")
        elif not _unit_ok(units.get(column, ""), unit):
            report.add(
                FAIL,
                "events",
                f"EVENTS column {column} has unit {units.get(column)!r}, "
                f"GADF requires {unit!r}",
            )
    missing = [key for key in CORE_KEYS if key not in header]
    if missing:
        report.add(FAIL, "events", f"EVENTS header lacks {', '.join(missing)}")
    from gammapy.data.event_list import EventListChecker

    other = [
        key
        for key in EventListChecker.meta_required
        if key not in header and key not in CORE_KEYS
    ]
    if other:
        report.add(WARN, "events", f"EVENTS header lacks GADF keys {', '.join(other)}")
    if len(table) == 0:
        report.add(FAIL, "events", "the event list is empty")
        return
    if "TIME" in table.colnames:
        steps = np.diff(np.asarray(table["TIME"], dtype=float))
        backwards = int(np.sum(steps < 0))
        if backwards:
            report.add(
                FAIL if backwards > UNORDERED_MAX_FRACTION * len(steps) else WARN,
                "events",
                f"events are not time-ordered ({backwards} of {len(table)} steps "
                "go backwards)",
            )
    if "ENERGY" in table.colnames:
        energy = np.asarray(table["ENERGY"], dtype=float)
        if not np.all(np.isfinite(energy)) or np.any(energy <= 0):
            report.add(FAIL, "events", "EVENTS ENERGY has non-positive or NaN values")


def check_deadtime(report, header, gti):
    """Check DEADC, LIVETIME = ONTIME x DEADC and ONTIME against the GTIs."""
    import numpy as np

    deadc, ontime, livetime = (header.get(k) for k in ("DEADC", "ONTIME", "LIVETIME"))
    if deadc is not None and not 0 < deadc <= 1:
        report.add(FAIL, "deadtime", f"DEADC = {deadc} is outside (0, 1]")
    if None not in (deadc, ontime, livetime):
        report.stats.update(ontime_s=float(ontime), livetime_s=float(livetime))
        expected = ontime * deadc
        if not math.isclose(livetime, expected, rel_tol=LIVETIME_RTOL):
            report.add(
                FAIL,
                "deadtime",
                f"LIVETIME = {livetime:.1f} s but ONTIME x DEADC = {expected:.1f} s",
            )
    if gti is not None and ontime is not None and len(gti):
        total = float(np.sum(gti[:, 1] - gti[:, 0]))
        report.stats["gti_total_s"] = total
        if not math.isclose(total, ontime, rel_tol=ONTIME_RTOL):
            report.add(
                WARN,
                "deadtime",
                f"ONTIME = {ontime:.1f} s but the GTIs sum to {total:.1f} s",
            )


def check_gti(report, header, table, units):
    """Check the GTI table; return its (start, stop) array or None."""
    import numpy as np

    for column in ("START", "STOP"):
        if column not in table.colnames:
            report.add(FAIL, "gti", f"GTI column {column} is missing")
            return None
        if not units.get(column):
            report.add(
                WARN, "gti", f"GTI column {column} has no unit (seconds assumed)"
            )
        elif not _unit_ok(units[column], "s"):
            report.add(FAIL, "gti", f"GTI column {column} has unit {units[column]!r}")
            return None
    if len(table) == 0:
        report.add(FAIL, "gti", "the GTI table is empty")
        return None
    gti = np.column_stack(
        [np.asarray(table["START"], float), np.asarray(table["STOP"], float)]
    )
    if np.any(gti[:, 1] <= gti[:, 0]):
        report.add(FAIL, "gti", "a GTI ends before it starts")
    return gti


def check_times(report, header, events, gti):
    """Check events against the GTIs, TSTART before TSTOP, and the event rate."""
    import numpy as np

    if gti is None or len(events) == 0 or "TIME" not in events.colnames:
        return
    time = np.asarray(events["TIME"], dtype=float)
    inside = np.zeros(len(time), dtype=bool)
    for start, stop in gti:
        inside |= (time >= start - 1e-6) & (time <= stop + 1e-6)
    outside = int(np.sum(~inside))
    if outside:
        report.add(
            FAIL if outside > OUTSIDE_GTI_MAX_FRACTION * len(time) else WARN,
            "gti",
            f"{outside} of {len(time)} events lie outside the GTIs",
        )
    tstart, tstop = header.get("TSTART"), header.get("TSTOP")
    if tstart is not None and tstop is not None and not tstart < tstop:
        report.add(FAIL, "gti", f"TSTART = {tstart} is not before TSTOP = {tstop}")
    _check_rate(report, np.sort(time[inside]), gti)


def _check_rate(report, time, gti):
    """Poisson outliers of the event rate in time bins inside the GTIs."""
    import numpy as np
    from scipy import stats

    exposure = float(np.sum(gti[:, 1] - gti[:, 0]))
    if len(time) < 2 * RATE_MIN_COUNTS or exposure <= 0:
        return
    rate = len(time) / exposure
    report.stats["rate_hz"] = round(rate, 4)
    width = max(RATE_MIN_BIN_S, RATE_MIN_COUNTS / rate)
    edges = np.arange(gti[0, 0], gti[-1, 1] + width, width)
    counts = np.histogram(time, edges)[0]
    # Time of each bin inside the GTIs.
    live = np.array(
        [
            np.sum(
                np.clip(np.minimum(gti[:, 1], hi) - np.maximum(gti[:, 0], lo), 0, None)
            )
            for lo, hi in itertools.pairwise(edges)
        ]
    )
    use = live > 0.5 * width
    n = counts[use]
    # The reference is the median rate of the bins, robust to a few bad ones.
    reference = float(np.median(n / live[use]))
    mu = reference * live[use]
    p_low, p_high = stats.poisson.cdf(n, mu), stats.poisson.sf(n - 1, mu)
    p_value = np.minimum(1.0, 2 * np.minimum(p_low, p_high))
    outlier = (p_value < RATE_P_VALUE / max(1, len(n))) & (
        np.abs(n - mu) > RATE_MIN_DEVIATION * mu
    )
    report.stats["rate_bins"] = len(n)
    if np.any(outlier):
        worst = float(np.max(np.abs(n[outlier] / mu[outlier] - 1)))
        report.add(
            WARN,
            "rate",
            f"{int(np.sum(outlier))} of {len(n)} time bins of {width:.0f} s have an "
            f"event rate off the run's median {reference:.2f} Hz (up to "
            f"{worst:.0%}, Poisson outliers)",
        )
