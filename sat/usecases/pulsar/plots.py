"""The figures of the pulsar use case: pulse profiles and the pulsed spectrum."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sat.usecases.pulsar.config import PhaseResolvedConfig


def plot_pulsar_phasogram(phases, weights, bins, title, what):
    """Weighted phasogram over two cycles, with the background level of the weights.

    ``what`` (the photons and the timing model) is written under the figure.

    Returns
    -------
    `~matplotlib.figure.Figure`
    """
    import matplotlib.pyplot as plt
    import numpy as np

    from sat.plots import caption

    counts, edges = np.histogram(phases, bins=bins, range=(0, 1), weights=weights)
    errors = np.sqrt(
        np.histogram(phases, bins=bins, range=(0, 1), weights=weights**2)[0]
    )
    # Kerr (2011): the unpulsed level of a weighted light curve is
    # (sum w - sum w^2) / bins.
    background = (weights.sum() - (weights**2).sum()) / bins
    centers = np.concatenate([edges[:-1], edges[:-1] + 1]) + 0.5 / bins
    weighted = np.any(weights != 1)
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.errorbar(
        centers,
        np.tile(counts, 2),
        yerr=np.tile(errors, 2),
        drawstyle="steps-mid",
        color="k",
        label=("weighted photons" if weighted else "photons") + ", two cycles",
    )
    axes.axhline(background, ls="--", color="grey", label="unpulsed level")
    axes.set_xlim(0, 2)
    axes.set_xlabel("pulse phase")
    axes.set_ylabel(
        f"{'weighted ' if weighted else ''}counts per bin (1/{bins} of a cycle)"
    )
    axes.set_title(title)
    axes.legend(loc="upper right", fontsize="small")
    caption(figure, what)
    return figure


def plot_onoff_phasogram(phases, config: PhaseResolvedConfig, alpha, what):
    """Phasogram in the ON region with the ON/OFF ranges and the OFF level.

    ``what`` (the observation) is written under the figure.

    Returns
    -------
    `~matplotlib.figure.Figure`
    """
    import matplotlib.pyplot as plt
    import numpy as np

    from sat.plots import caption

    bins = config.phase_bins
    counts, edges = np.histogram(phases, bins=bins, range=(0, 1))
    off = sum(((phases >= a) & (phases < b)).sum() for a, b in config.off_phase)
    width = sum(b - a for a, b in config.off_phase)
    level = off / width / bins
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.bar(
        edges[:-1],
        counts,
        width=1 / bins,
        align="edge",
        yerr=np.sqrt(counts),
        color="#d53d12",
        alpha=0.8,
        edgecolor="k",
        label=f"events within {config.on_radius_deg:g}° of the pulsar",
    )
    axes.axhline(level, ls="--", color="k", label="OFF level (unpulsed)")
    for index, (a, b) in enumerate(config.on_phase):
        axes.axvspan(
            a, b, color="grey", alpha=0.3, label="ON phases" if index == 0 else None
        )
    for index, (a, b) in enumerate(config.off_phase):
        axes.axvspan(
            a,
            b,
            color="white",
            alpha=0.4,
            hatch="x",
            ec="k",
            label="OFF phases" if index == 0 else None,
        )
    axes.set_xlim(0, 1)
    axes.set_xlabel("pulse phase")
    axes.set_ylabel(f"counts per bin (1/{bins} of a cycle)")
    axes.set_title(f"Run {config.obs_id}: phasogram, α = {alpha:.3g}")
    axes.legend(loc="upper left", fontsize="small", framealpha=0.9)
    caption(figure, what)
    return figure


def plot_spectrum(flux_points, sky_model, energy_bounds, what):
    """Flux points and the fitted power law with its error band (E^2 dN/dE).

    Returns
    -------
    `~matplotlib.figure.Figure`
    """
    import matplotlib.pyplot as plt

    from sat.plots import caption, sed_labels

    figure, axes = plt.subplots(figsize=(7, 5))
    flux_points.plot(ax=axes, sed_type="e2dnde", label="flux points", color="k")
    model = sky_model.spectral_model
    model.plot_error(
        energy_bounds, ax=axes, sed_type="e2dnde", label="power-law fit, 1σ band"
    )
    model.plot(energy_bounds, ax=axes, sed_type="e2dnde", label="power-law fit")
    sed_labels(axes)
    axes.legend()
    axes.set_title("Pulsed (ON − OFF) spectrum")
    caption(figure, what)
    return figure
