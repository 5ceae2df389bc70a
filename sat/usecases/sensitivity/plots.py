"""The figure of the sensitivity use case: the curves, and ours / published."""

from __future__ import annotations

from sat.usecases.sensitivity.curves import SENSITIVITY_UNIT
from sat.usecases.sensitivity.published import (
    PUBLISHED_CURVES,
    PUBLISHED_TOLERANCE,
    read_published,
)

# What limits the sensitivity in a bin (the table's ``criterion``), in words.
CRITERIA = {
    "significance": "limited by significance",
    "gamma": "limited by the minimum number of γ",
    "bkg": "limited by background systematics",
}


def plot_curves(tables: dict, title: str, what: str, comparison=None):
    """Sensitivity curves (E^2 dN/dE, erg cm-2 s-1) with the limiting criterion.

    With a published comparison: CTAO's published curves (dashed) and a lower
    panel with ours / published at 50 h, its expectation and tolerance band.
    ``what`` (IRF and criteria) is written under the figure.

    Returns
    -------
    `~matplotlib.figure.Figure`
    """
    import matplotlib.pyplot as plt
    import numpy as np

    from sat.plots import caption, label, legend

    markers = {"significance": "o", "gamma": "*", "bkg": "v"}
    if comparison is None:
        figure, axes = plt.subplots(figsize=(7, 5))
    else:
        figure, (axes, lower) = plt.subplots(
            2,
            1,
            figsize=(7, 7),
            sharex=True,
            gridspec_kw={"height_ratios": [3, 1.3], "hspace": 0.05},
        )
    published_label = "CTAO prod3b-v1 (published)"
    lines = {}
    for livetime, table in tables.items():
        energy = table["e_ref"].quantity.to_value("TeV")
        flux = table["e2dnde"].quantity.to_value(SENSITIVITY_UNIT)
        (lines[livetime],) = axes.plot(energy, flux, "-", label=f"{livetime:g} h")
    # Grey entries for what every curve shares (the legend names each once).
    for criterion, marker in markers.items():
        axes.plot([], [], marker, color="gray", ls="none", label=CRITERIA[criterion])
    if comparison is not None:
        axes.plot([], [], "--", color="gray", label=published_label)
    for livetime, table in tables.items():
        energy = table["e_ref"].quantity.to_value("TeV")
        flux = table["e2dnde"].quantity.to_value(SENSITIVITY_UNIT)
        color = lines[livetime].get_color()
        if comparison is not None and livetime in PUBLISHED_CURVES:
            published = read_published(f"{PUBLISHED_CURVES[livetime]}-DiffSens")
            centre = np.sqrt(published[:, 0] * published[:, 1])
            axes.plot(centre, published[:, 2], "--", color=color, label=published_label)
        for criterion, marker in markers.items():
            selected = table["criterion"] == criterion
            axes.plot(
                energy[selected],
                flux[selected],
                marker,
                color=color,
                ls="none",
                label=CRITERIA[criterion],
            )
    if comparison is not None:
        _plot_ratio(lower, comparison)
    axes.set_xscale("log")
    axes.set_yscale("log")
    (axes if comparison is None else lower).set_xlabel(label("Energy", "TeV"))
    axes.set_ylabel(label("Sensitivity E² dN/dE", SENSITIVITY_UNIT))
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    legend(axes, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    caption(figure, what)
    return figure


def _plot_ratio(axes, comparison: list[dict]) -> None:
    """Ours / published at 50 h per bin, with the expectation and the band."""
    import numpy as np

    rows = [row for row in comparison if "ratio" in row]
    low = np.array([row["e_min_tev"] for row in rows])
    high = np.array([row["e_max_tev"] for row in rows])
    centre = np.sqrt(low * high)
    expected = np.array([row["expected"] for row in rows])
    ratio = np.array([row["ratio"] for row in rows])
    validated = np.array([row["validated"] for row in rows])
    edges = np.append(low, high[-1])
    band = np.append(expected, expected[-1])
    axes.fill_between(
        edges,
        band / PUBLISHED_TOLERANCE,
        band * PUBLISHED_TOLERANCE,
        step="post",
        color="gray",
        alpha=0.25,
        label=f"expected, x/÷ {PUBLISHED_TOLERANCE:g}",
    )
    axes.plot(centre[validated], ratio[validated], "ko", label="compared")
    axes.plot(
        centre[~validated],
        ratio[~validated],
        "o",
        mfc="none",
        mec="k",
        label="reported (IRF differs)",
    )
    axes.axhline(1, color="k", lw=0.5)
    axes.set_xscale("log")
    axes.set_ylabel("ratio, 50 h: ours / CTAO")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
