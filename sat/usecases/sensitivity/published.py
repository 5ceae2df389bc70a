"""Validation against CTAO's published curves (prod3b-v1; prod5: an order).

With the 1DC South IRF and CTAO's definition, the 50 h curve is compared bin by
bin with CTAO's published prod3b-v1 South 20 deg 50 h differential sensitivity
(shipped in ``sat/data/references``): the expectation is 1, or the published
direction-cut efficiency over our containment where 10 gammas decide, over the
IRF's effective area relative to the published one; bins where the IRF's
background rate differs from the published one by more than the tolerance are
reported, not compared. With a prod5 IRF only the order of magnitude of the 50 h
minimum is checked.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sat.usecases.sensitivity.curves import SENSITIVITY_UNIT
from sat.validation import Bounds, Reference, check_bounds, compare

if TYPE_CHECKING:
    from sat.usecases.sensitivity.config import SensitivityConfig


# CTAO's published prod3b-v1 performance files (sat/data/references), the
# production of the 1DC IRF: differential sensitivity per live time, and for 50 h
# the effective area with and without the direction cut and the background rate.
PUBLISHED = "cta-performance-prod3b-v1"


PUBLISHED_IRF = "1dc-south-z20-50h"


PUBLISHED_FILE = "CTA-Performance-prod3b-v1-South-20deg-{}.txt"


PUBLISHED_CURVES = {50.0: "50h", 5.0: "05h", 0.5: "30m"}


PUBLISHED_LIVETIME = 50.0  # the live time the IRF's cuts were optimised for


PUBLISHED_SOURCE = (
    "CTA Consortium and Observatory, CTA performance files prod3b-v1, South, "
    "20 deg, 50 h differential sensitivity (ctaplot 0.6.6 sdist, "
    "sat/data/references/cta-performance-prod3b-v1)"
)


# The 1DC IRF is a binned copy of the same simulations: its effective area and
# background rate differ from the published files by up to ~25 % per bin
# (statistics and smoothing of the Monte Carlo). The area enters the expectation
# (sensitivity ~ 1/A); the background rate, up to a factor 1.3, moves a
# background-limited sensitivity (~ sqrt(B), or B at the 1/20 floor) by up to as
# much: a factor 1.3 either way. Bins where it differs by more are not compared.
PUBLISHED_TOLERANCE = 1.3


PUBLISHED_WHY = (
    "expected: (f / 0.68 where 10 gammas decide, CTAO's optimised direction cut "
    "keeping the published fraction f of the gammas where we keep 0.68; else 1) x "
    "published / IRF effective area; the IRF's background rate, within a factor "
    "1.3 of the published one in a compared bin, moves the rest by up to 1.3"
)


# At least this share of the published bins must be validated: a run where the
# IRF matches the published instrument nowhere has validated nothing.
MIN_VALIDATED_FRACTION = 2 / 3


# The definition behind the published curves (CTA performance page).
CTAO_DEFINITION = {
    "n_sigma": 5.0,
    "gamma_min": 10.0,
    "bkg_syst_fraction": 0.05,
    "acceptance_off": 5.0,
    "bins_per_decade": 5,
    "containment": 0.68,
    # The IRF's innermost offset node: CTAO's curves are for a source near the
    # centre of the field of view.
    "offset_deg": 0.5,
}


# CTAO performance pages (https://www.ctao.org/for-scientists/performance/): the
# prod5 Alpha 50 h differential sensitivity curves of both arrays have their
# minimum at ~1e-13 erg cm-2 s-1, at a few TeV. Our regions are not CTAO's optimised
# cuts, so this is an order-of-magnitude check: log10 within 0.5 (a factor 3).
PROD5_LOG10_MIN_50H = -13.0


PROD5_LOG10_TOLERANCE = 0.5


PROD5_SOURCE = (
    "CTAO performance page, prod5 Alpha configuration, 50 h differential "
    "sensitivity figure (https://www.ctao.org/for-scientists/performance/)"
)


def read_published(kind: str):
    """Read one of CTAO's published prod3b-v1 South 20 deg performance files.

    Parameters
    ----------
    kind : str
        The file's tag: ``50h-DiffSens``, ``05h-DiffSens``, ``30m-DiffSens``,
        ``50h-EffArea``, ``50h-EffAreaNoDirectionCut``, ``50h-BackgroundSqdeg``.

    Returns
    -------
    numpy.ndarray
        One row per line of numbers (the columns of the file: energies in TeV,
        then sensitivity in erg cm-2 s-1, area in m2 or rate in Hz deg-2).
    """
    import numpy as np

    from sat.data import reference_folder

    path = reference_folder(PUBLISHED) / PUBLISHED_FILE.format(kind)
    rows = []
    for line in path.read_text().splitlines():
        try:
            values = [float(word) for word in line.split()]
        except ValueError:
            continue  # a header line
        if values:
            rows.append(values)
    return np.array(rows)


def comparable(config: SensitivityConfig) -> bool:
    """Whether a run follows the IRF and the definition of CTAO's published curve."""
    return (
        config.irf == PUBLISHED_IRF
        and PUBLISHED_LIVETIME in config.livetimes_h
        and all(
            math.isclose(getattr(config, key), value)
            for key, value in CTAO_DEFINITION.items()
        )
    )


def _irf_rates(irfs, offset_deg: float, e_min, e_max):
    """Return the IRF's background rate (Hz deg-2) in each bin at ``offset_deg``."""
    import astropy.units as u
    import numpy as np

    bkg = irfs["bkg"]
    rates = []
    for low, high in zip(e_min, e_max, strict=True):
        energy = np.geomspace(low, high, 9) * u.TeV
        if "offset" in bkg.axes.names:
            where = {"offset": offset_deg * u.deg}
        else:
            where = {"fov_lon": offset_deg * u.deg, "fov_lat": 0 * u.deg}
        values = bkg.evaluate(energy=energy, **where).to_value("s-1 TeV-1 deg-2")
        rates.append(float(np.trapezoid(values * energy.value, np.log(energy.value))))
    return np.array(rates)


def published_comparison(table, irfs, config: SensitivityConfig) -> list[dict]:
    """Compare the 50 h curve with CTAO's published one, bin by bin.

    Parameters
    ----------
    table : `~astropy.table.Table`
        Our 50 h sensitivity table (`sensitivity_table`).
    irfs : dict
        The IRF it was computed with (the 1DC South IRF).
    config : SensitivityConfig
        The run's configuration (offset, containment).

    Returns
    -------
    list of dict
        One row per published bin: its edges, the published and our sensitivity,
        their ratio, our limiting criterion, the expected ratio (the published
        direction-cut efficiency over our containment where 10 gammas decide,
        else 1, over the IRF's effective area relative to the published one),
        the IRF's effective area and background rate over the published ones,
        and whether the bin is compared (10 gammas decide, or the IRF's
        background rate is within the tolerance of the published one) or only
        reported, and why.
    """
    import numpy as np

    ours_min = table["e_min"].quantity.to_value("TeV")
    rows = []
    for row in _instrument(irfs, config.offset_deg):
        match = np.flatnonzero(np.isclose(ours_min, row["e_min_tev"], rtol=0.01))
        if not match.size:
            rows.append({**row, "validated": False, "why": "no bin of ours"})
            continue
        j = int(match[0])
        ours = float(table["e2dnde"].quantity[j].to_value(SENSITIVITY_UNIT))
        criterion = str(table["criterion"][j])
        gamma = criterion == "gamma"
        # The sensitivity goes as 1 / effective area: the IRF's own area, measured
        # against the published one, is part of the expectation.
        efficiency, area_ratio = row["direction_cut_efficiency"], row["area_ratio"]
        expected = (efficiency / config.containment if gamma else 1.0) / area_ratio
        # Unless 10 gammas decide, the background rate matters too; it is not
        # folded in (sqrt(B) or B, depending on the criterion): the bin is
        # compared only where the IRF's rate agrees with the published one.
        rate_ratio = row["background_ratio"]
        off = (
            []
            if gamma or 1 / PUBLISHED_TOLERANCE <= rate_ratio <= PUBLISHED_TOLERANCE
            else [f"IRF background rate {rate_ratio:.2f} x published"]
        )
        rows.append(
            {
                **row,
                "ours": ours,
                "ratio": ours / row["published"],
                "criterion": criterion,
                "expected": expected,
                "validated": not off,
                "why": "; ".join(off),
            }
        )
    return rows


def _instrument(irfs, offset_deg: float) -> list[dict]:
    """Compare the IRF with the published instrument in each published 50 h bin.

    Returns one row per bin: its edges and published sensitivity, the published
    direction-cut efficiency (area with the cut over area without), the IRF's
    effective area over the published one without the cut, and the IRF's
    background rate over the published one.
    """
    import astropy.units as u
    import numpy as np

    published = read_published("50h-DiffSens")
    with_cut = read_published("50h-EffArea")
    without_cut = read_published("50h-EffAreaNoDirectionCut")
    background = read_published("50h-BackgroundSqdeg")
    e_min, e_max = published[:, 0], published[:, 1]
    rates = _irf_rates(irfs, offset_deg, e_min, e_max)
    offset = offset_deg * u.deg
    rows = []
    for i, (low, high, value) in enumerate(published):
        points = (without_cut[:, 0] >= low) & (without_cut[:, 0] < high)
        energy = without_cut[points, 0] * u.TeV
        efficiency = float(np.mean(with_cut[points, 1] / without_cut[points, 1]))
        area = irfs["aeff"].evaluate(energy_true=energy, offset=offset)
        area_ratio = float(
            np.mean(area.to_value("m2")) / np.mean(without_cut[points, 1])
        )
        centre = np.argmin(np.abs(np.log(background[:, 0] / math.sqrt(low * high))))
        rows.append(
            {
                "e_min_tev": float(low),
                "e_max_tev": float(high),
                "published": float(value),
                "area_ratio": area_ratio,
                "background_ratio": float(rates[i] / background[centre, 1]),
                "direction_cut_efficiency": efficiency,
            }
        )
    return rows


def published_checks(rows: list[dict]) -> list[dict]:
    """Verdicts of the comparison: one per validated bin, and their number."""
    checks = []
    for row in rows:
        if not row["validated"]:
            continue
        regime = "10 gammas" if row["criterion"] == "gamma" else row["criterion"]
        checks.append(
            check_bounds(
                Bounds(
                    f"50 h sensitivity / published, {row['e_min_tev']:.3g}-"
                    f"{row['e_max_tev']:.3g} TeV ({regime})",
                    row["expected"] / PUBLISHED_TOLERANCE,
                    row["expected"] * PUBLISHED_TOLERANCE,
                    "",
                    PUBLISHED_SOURCE,
                    PUBLISHED_WHY,
                ),
                row["ratio"],
            )
        )
    checks.append(
        check_bounds(
            Bounds(
                "bins compared with the published curve",
                math.ceil(MIN_VALIDATED_FRACTION * len(rows)),
                len(rows),
                "",
                PUBLISHED_SOURCE,
                "a bin is compared where 10 gammas decide or the IRF's background "
                "rate agrees with the published one within the tolerance; fewer "
                "than 2/3 of the bins compared is no validation",
            ),
            float(len(checks)),
        )
    )
    return checks


def comparison_summary(comparison, config: SensitivityConfig) -> list[str]:
    """Lines of the summary about the published curve."""
    if comparison is None:
        return [
            f"no published curve for this setup (CTAO's prod3b-v1 curve needs irf "
            f"{PUBLISHED_IRF}, {PUBLISHED_LIVETIME:g} h and CTAO's definition)"
        ]
    compared = [row for row in comparison if row["validated"]]
    ratios = [row["ratio"] / row["expected"] for row in compared]
    lines = [
        f"vs CTAO's published prod3b-v1 50 h curve: {len(compared)}/"
        f"{len(comparison)} bins compared, ours / expected "
        f"{min(ratios, default=math.nan):.2f} to {max(ratios, default=math.nan):.2f} "
        f"(tolerance a factor {PUBLISHED_TOLERANCE:g})"
    ]
    for row in comparison:
        if not row["validated"]:
            ratio = f"{row['ratio']:.2f}" if "ratio" in row else "n/a"
            lines.append(
                f"  reported, not compared: {row['e_min_tev']:.3g}-"
                f"{row['e_max_tev']:.3g} TeV, ours / published {ratio} "
                f"({row['why']})"
            )
    return lines


def write_comparison(rows: list[dict], path) -> None:
    """Write the bin-by-bin comparison with the published curve (ECSV)."""
    from astropy.table import Table

    columns = (
        "e_min_tev",
        "e_max_tev",
        "published",
        "ours",
        "ratio",
        "criterion",
        "expected",
        "direction_cut_efficiency",
        "area_ratio",
        "background_ratio",
        "validated",
        "why",
    )
    table = Table(
        rows=[[row.get(name, math.nan) for name in columns] for row in rows],
        names=columns,
        dtype=[float] * 5 + [str] + [float] * 4 + [bool, str],
    )
    table.meta.update(
        {
            "source": PUBLISHED_SOURCE,
            "unit": SENSITIVITY_UNIT,
            "tolerance_factor": PUBLISHED_TOLERANCE,
            "why": PUBLISHED_WHY,
        }
    )
    table.write(path, format="ascii.ecsv", overwrite=True)


def prod5_check(minimum_50h: float):
    """Check the order of magnitude of a prod5 IRF's minimum 50 h sensitivity."""
    return compare(
        Reference(
            "log10 minimum 50 h sensitivity",
            PROD5_LOG10_MIN_50H,
            PROD5_LOG10_TOLERANCE,
            f"log10({SENSITIVITY_UNIT})",
            PROD5_SOURCE,
            1.0,
            "order of magnitude: a PSF-containment region is not CTAO's "
            "optimised cuts; a factor 3 catches unit or live-time errors",
        ),
        math.log10(minimum_50h),
    )


def comparison_record(comparison: list[dict] | None) -> dict | None:
    """Return the published comparison as result.json records it (None if none)."""
    if comparison is None:
        return None
    return {
        "source": PUBLISHED_SOURCE,
        "livetime_h": PUBLISHED_LIVETIME,
        "tolerance_factor": PUBLISHED_TOLERANCE,
        "bins": comparison,
    }
