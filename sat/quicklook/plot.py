"""The quick look's figure: maps, theta², excess spectrum and fit of one run."""

from __future__ import annotations


def plot_quicklook(title, what, maps, theta2, numbers, spectrum, fit, settings):
    """Draw the quick look of one run: maps, theta², excess spectrum, fit.

    ``what`` (the run's live time, zenith, date) is written under the figure.

    Returns
    -------
    `~matplotlib.figure.Figure`
    """
    import astropy.units as u
    import matplotlib.pyplot as plt
    import numpy as np

    from sat.plots import caption, colorbar, label, unit_text

    correlated = f"within {settings.correlation_radius_deg:g}°"
    counts = maps[0].counts.reduce_over_axes()
    excess = maps[1]["npred_excess"].reduce_over_axes()
    significance = maps[1]["sqrt_ts"].reduce_over_axes()
    wcs = counts.geom.wcs
    figure = plt.figure(figsize=(16, 9), layout="constrained")
    pixel = f"{settings.binsz_deg:g}° pixel"
    for i, (image, name, bar, cmap) in enumerate(
        (
            (counts, "counts (not smoothed)", f"counts per {pixel}", "viridis"),
            (excess, f"excess, summed {correlated}", "excess counts", "RdBu_r"),
            (
                significance,
                f"significance, {correlated}",
                "significance (σ)",
                "RdBu_r",
            ),
        )
    ):
        ax = figure.add_subplot(2, 3, i + 1, projection=wcs)
        data = image.data
        limit = np.nanmax(np.abs(data)) if cmap == "RdBu_r" else None
        shown = ax.imshow(
            data,
            origin="lower",
            cmap=cmap,
            vmin=-limit if limit else None,
            vmax=limit,
        )
        ax.set_title(name)
        ax.coords[0].set_axislabel("Right ascension")
        ax.coords[1].set_axislabel("Declination")
        colorbar(figure, shown, ax, bar)
    ax = figure.add_subplot(2, 3, 4)
    centres = 0.5 * (theta2["theta2_min"] + theta2["theta2_max"])
    ax.errorbar(
        centres,
        theta2["counts"],
        np.sqrt(theta2["counts"]),
        fmt="o",
        ms=3,
        label="ON (around the target)",
    )
    ax.step(centres, theta2["counts_off"], where="mid", label="OFF (mirrored)")
    ax.axvline(settings.on_radius_deg**2, color="k", ls="--", label="ON region radius²")
    ax.set_xlabel(label("θ² from the target", "deg2"))
    ax.set_ylabel("events per bin")
    ax.legend()
    ax.set_title(
        f"ON {numbers['n_on']}, OFF {numbers['n_off']}, {numbers['significance']:.1f} σ"
    )
    ax = figure.add_subplot(2, 3, 5)
    spectrum.plot_excess(ax=ax)
    ax.set_xlabel(label("Reconstructed energy", "TeV"))
    ax.set_ylabel("excess counts per bin")
    ax.legend()
    ax.set_title("excess counts (reflected regions)")
    ax = figure.add_subplot(2, 3, 6)
    ax.axis("off")
    lines = [title, ""]
    if fit["success"]:
        lines += [
            "power-law fit (reference 1 TeV):",
            f"  index     {fit['index']:.2f} ± {fit['index_error']:.2f}",
            f"  amplitude {fit['amplitude']:.3g} ± {fit['amplitude_error']:.2g}",
            f"            {unit_text(u.Unit(fit['amplitude_unit']))}",
        ]
    else:
        lines.append("power-law fit: did not converge")
    ax.text(0, 1, "\n".join(lines), va="top", family="monospace")
    figure.suptitle(title)
    caption(figure, what)
    return figure
