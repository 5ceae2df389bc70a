"""The figures: the simulated field, its validation and the H.E.S.S. fields."""

from __future__ import annotations

import math


def _plot_field(maps, truth, catalogue, pointings, what):
    """Plot the sqrt(TS) map of the simulated field with the truth and detections."""
    import matplotlib.pyplot as plt
    import numpy as np

    from sat.plots import caption

    image = maps["sqrt_ts"].sum_over_axes(keepdims=False)
    figure = plt.figure(figsize=(12, 6.5))
    ax = figure.add_subplot(projection=image.geom.wcs)
    shown = ax.imshow(image.data, origin="lower", cmap="viridis", vmin=-3, vmax=10)
    colorbar = figure.colorbar(shown, ax=ax, shrink=0.7)
    colorbar.set_label("Significance √TS of a point source")
    transform = ax.get_transform("galactic")
    for extended, marker, label in (
        (False, "o", "simulated point source"),
        (True, "s", "simulated Gaussian source"),
    ):
        rows = truth[truth["extended"] == extended]
        if len(rows):
            ax.scatter(
                rows["lon_deg"], rows["lat_deg"], s=120, marker=marker,
                facecolors="none", edgecolors="magenta", lw=1.5, transform=transform,
                label=label,
            )  # fmt: skip
    if len(catalogue):
        matched = np.asarray(catalogue["match"]) >= 0
        for selection, color, label in (
            (matched, "tab:red", "detection"),
            (~matched, "tab:orange", "detection without a source"),
        ):
            if selection.any():
                ax.plot(
                    catalogue["lon_deg"][selection], catalogue["lat_deg"][selection],
                    "x", color=color, ms=9, mew=2, transform=transform, label=label,
                )  # fmt: skip
    ax.plot(
        pointings.l.deg, pointings.b.deg, "+", color="tab:cyan", ms=14, mew=2,
        transform=transform,
        label="pointings",
    )  # fmt: skip
    ax.set_xlabel("Galactic longitude")
    ax.set_ylabel("Galactic latitude")
    ax.set_title("Simulated survey field: TS map, simulated sources and detections")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, facecolor="0.85")
    caption(figure, what)
    return figure


def _plot_validation(config, truth, catalogue, false_rates, statistics, what):
    """Plot completeness vs flux, position and flux pulls, false-detection rates."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    from sat.plots import caption
    from sat.plots import label as axis_label

    population, detection = config.population, config.detection
    figure, axes = plt.subplots(2, 2, figsize=(12, 9))
    ax = axes[0, 0]
    # Fluxes in mCrab: 1e-3 of the Crab's amplitude at 1 TeV.
    edges = 1e3 * np.geomspace(population.flux_min_crab, population.flux_max_crab, 6)
    centres = np.sqrt(edges[1:] * edges[:-1])
    flux = 1e3 * np.asarray(truth["flux_crab"])
    which = np.clip(np.digitize(flux, edges) - 1, 0, len(centres) - 1)
    for extended, color, label in (
        (False, "tab:blue", "point sources"),
        (True, "tab:orange", "Gaussian sources"),
    ):
        mask = np.asarray(truth["extended"]) == extended
        if not mask.any():
            continue
        found = [
            np.mean(truth["detected"][mask & (which == k)])
            if np.any(mask & (which == k)) else np.nan
            for k in range(len(centres))
        ]  # fmt: skip
        predicted = [
            np.mean(truth["p_detect"][mask & (which == k)])
            if np.any(mask & (which == k)) else np.nan
            for k in range(len(centres))
        ]  # fmt: skip
        ax.plot(centres, found, "o-", color=color, label=f"{label}: detected")
        ax.plot(centres, predicted, "--", color=color, label=f"{label}: Asimov")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("Simulated flux at 1 TeV (mCrab)")
    ax.set_ylabel("Fraction detected")
    ax.set_title(f"Completeness at TS >= {detection.ts_threshold:g}")
    ax.legend(fontsize="small")

    # Unfitted peaks (detection.fit off) have no errors to show.
    matched = (
        catalogue[(catalogue["match"] >= 0) & catalogue["success"]]
        if len(catalogue) and detection.fit
        else []
    )
    ax = axes[0, 1]
    if len(matched):
        true = truth[np.asarray(matched["match"])]
        offset = np.hypot(
            (np.asarray(matched["lon_deg"]) - true["lon_deg"])
            * np.cos(np.radians(true["lat_deg"])),
            np.asarray(matched["lat_deg"]) - true["lat_deg"],
        )
        error = np.hypot(matched["lon_error_deg"], matched["lat_error_deg"])
        ax.scatter(
            error * 60,
            offset * 60,
            c=np.asarray(true["extended"]),
            cmap="coolwarm",
            label="detections of a simulated source",
        )
        top = max(float(np.max(error)), float(np.max(offset))) * 60 * 1.2
        grid = np.array([0, top])
        ax.plot(grid, grid, "k-", label="offset = radial error")
        ax.plot(grid, 2.45 / np.sqrt(2) * grid, "k:", label="95 % of offsets below")
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no fitted positions", ha="center", transform=ax.transAxes)
    ax.set_xlabel("Fitted position error, radial (arcmin)")
    ax.set_ylabel("Offset from the simulated position (arcmin)")
    ax.set_title("Positions (blue: point, red: Gaussian)")

    ax = axes[1, 0]
    grid = np.linspace(-4, 4, 200)
    bins = np.linspace(-4, 4, 17)
    bright = np.asarray(truth["expected_sqrt_ts"]) >= 2 * math.sqrt(
        detection.ts_threshold
    )
    for name, color in (("amplitude", "tab:green"), ("index", "tab:purple")):
        pulls = [
            (row[name] - truth[name][row["match"]]) / row[f"{name}_error"]
            for row in matched
            if bright[row["match"]]
            and bool(row["extended"]) == bool(truth["extended"][row["match"]])
        ]
        if pulls:
            ax.hist(
                np.clip(pulls, -3.99, 3.99), bins=bins, histtype="step", lw=2,
                color=color,
                label=f"{name} (mean {np.mean(pulls):+.2f}, std {np.std(pulls):.2f})",
            )  # fmt: skip
    n = max(statistics["flux_pulls"], 1)
    ax.plot(
        grid,
        n * (bins[1] - bins[0]) * np.exp(-(grid**2) / 2) / np.sqrt(2 * np.pi),
        "k-",
        label="N(0, 1)",
    )
    ax.set_xlabel("Pull: (fit - truth) / error")
    ax.set_ylabel(f"number of bright sources (of {statistics['flux_pulls']})")
    ax.set_title("Fluxes and indices of the bright sources")
    ax.legend(fontsize="small")

    ax = axes[1, 1]
    levels = [r["ts"] for r in false_rates]
    rates = [r["per_deg2"] for r in false_rates]
    ax.plot(levels, np.maximum(rates, 1e-3), "o-", label="source-free simulation")
    ax.axhline(
        detection.max_false_per_deg2, color="tab:red", ls="--",
        label="purity requirement",
    )  # fmt: skip
    ax.axvline(detection.ts_threshold, color="0.5", ls=":", label="stated threshold")
    ax.set_yscale("log")
    ax.set_xlabel("TS threshold")
    ax.set_ylabel(axis_label("False detections per square degree", "deg-2"))
    ax.set_title("False detections (none: drawn at 10⁻³)")
    ax.legend(fontsize="small")
    figure.tight_layout()
    caption(figure, what)
    return figure


def _plot_real(config, images, rows, what):
    """Plot the sqrt(TS) map of every H.E.S.S. field with detections and catalogue."""
    import matplotlib.pyplot as plt

    from sat.plots import caption

    n = len(images)
    figure = plt.figure(figsize=(5.2 * n, 5))
    for number, (target, (maps, name, catalogue)) in enumerate(images.items()):
        image = maps["sqrt_ts"].sum_over_axes(keepdims=False)
        ax = figure.add_subplot(1, n, number + 1, projection=image.geom.wcs)
        shown = ax.imshow(image.data, origin="lower", cmap="viridis", vmin=-3)
        colorbar = figure.colorbar(shown, ax=ax, shrink=0.8)
        colorbar.set_label("Significance √TS")
        transform = ax.get_transform("icrs")
        mine = [row for row in rows if row["field"] == target]
        if mine:
            ax.plot(
                [r["ra_deg"] for r in mine], [r["dec_deg"] for r in mine], "rx",
                ms=10, mew=2, transform=transform, label="detections",
            )  # fmt: skip
        ax.scatter(
            catalogue.ra.deg, catalogue.dec.deg, s=200, facecolors="none",
            edgecolors="w", transform=transform, label=f"{name} position",
        )  # fmt: skip
        ax.set_xlabel("Right ascension")
        ax.set_ylabel("Declination")
        ax.set_title(target)
        ax.legend(loc="lower left", fontsize="small")
    figure.tight_layout()
    caption(figure, what)
    return figure
