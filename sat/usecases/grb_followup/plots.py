"""The figures of the GRB follow-up: light curve, time-resolved spectra, pulls."""

from __future__ import annotations

import math

from sat.usecases.grb_followup.model import quiet_temporal_check


def _band_flux(model, config, times_s, t0):
    """Flux of ``model`` in the light-curve band at ``times_s`` after T0."""
    import astropy.units as u
    import numpy as np

    band = model.spectral_model.integral(
        config.energy_min_tev * u.TeV, config.light_curve_max_tev * u.TeV
    ).to_value("cm-2 s-1")
    with quiet_temporal_check():
        norm = model.temporal_model(t0 + np.asarray(times_s) * u.s)
    # ((t - T0) / t0)^alpha comes back in units of (d / s)^alpha: convert.
    return float(band) * u.Quantity(norm).to_value(u.dimensionless_unscaled)


def plot_light_curve(light_curve, model, truth, config, t0, detection, what):
    """Light curve of the first seed with the fitted decay; significance vs time.

    Returns
    -------
    `~matplotlib.figure.Figure`
    """
    import matplotlib.pyplot as plt
    import numpy as np

    from sat.plots import caption, label

    step_ends, asimov, significance, rows, asimov_t5 = detection
    table = light_curve.to_table(format="lightcurve", sed_type="flux")
    # From the time axis (its own time scale), not the table's MJD (TT).
    axis = light_curve.geom.axes["time"]
    start = (axis.time_min - t0).to_value("s")
    stop = (axis.time_max - t0).to_value("s")
    centre = np.sqrt(start * stop)
    flux = np.ravel(table["flux"])
    error = np.ravel(table["flux_err"])
    ul = np.ravel(table["is_ul"]).astype(bool)
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6), layout="constrained")
    left.errorbar(
        centre[~ul],
        flux[~ul],
        xerr=[centre[~ul] - start[~ul], stop[~ul] - centre[~ul]],
        yerr=error[~ul],
        fmt="o",
        color="k",
        label="light curve (first seed)",
    )
    if ul.any():
        limits = np.ravel(table["flux_ul"])[ul]
        left.errorbar(
            centre[ul],
            limits,
            xerr=[centre[ul] - start[ul], stop[ul] - centre[ul]],
            yerr=0.3 * limits,
            uplims=True,
            fmt="v",
            color="C1",
            label="2σ upper limit",
        )
    grid = np.geomspace(config.delay_s, config.delay_s + config.duration_s, 200)
    left.plot(
        grid,
        _band_flux(truth, config, grid, t0),
        "--",
        color="0.5",
        label="simulated truth",
    )
    left.plot(
        grid,
        _band_flux(model, config, grid, t0),
        color="C0",
        label=f"fit: {config.decay_model} decay",
    )
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel(label("Time since T0", "s"))
    band = f"{config.energy_min_tev:g}–{config.light_curve_max_tev:g} TeV"
    left.set_ylabel(label(f"Flux {band}", "cm-2 s-1"))
    left.set_title("light curve of the burst")
    left.legend(fontsize=8)

    times = np.concatenate([[config.delay_s], step_ends])
    right.plot(
        times,
        np.concatenate([[0], asimov]),
        color="C0",
        lw=2,
        label="expected (Asimov)",
    )
    right.plot(
        times,
        np.concatenate([[0], significance]),
        color="k",
        label="first seed",
    )
    right.axhline(5, color="C3", ls=":", label="5σ")
    if math.isfinite(asimov_t5):
        right.axvline(asimov_t5, color="C0", ls=":", label="expected time to 5σ")
    t5 = [row["time_to_5sigma_s"] for row in rows]
    finite = [t for t in t5 if math.isfinite(t)]
    if finite:
        right.plot(
            finite,
            np.full(len(finite), 5.0),
            "|",
            color="C3",
            ms=14,
            label="time to 5σ of each seed",
        )
    right.set_xscale("log")
    right.set_xlabel(label("Time since T0", "s"))
    right.set_ylabel("cumulative significance (σ)")
    right.set_title(f"time to 5σ: expected {asimov_t5:.0f} s after T0")
    right.legend(fontsize=8)
    caption(figure, what)
    return figure


def plot_spectra(segments, truth, config, what):
    """Time-resolved observed spectra of the first seed with their fits.

    Returns
    -------
    `~matplotlib.figure.Figure`
    """
    import warnings as _warnings

    import astropy.units as u
    import matplotlib.pyplot as plt
    import numpy as np

    from sat.plots import caption, sed_labels

    figure, ax = plt.subplots(figsize=(7, 5))
    bounds = [config.energy_min_tev, config.energy_max_tev] * u.TeV
    with _warnings.catch_warnings():
        _warnings.filterwarnings("ignore", "This axis already has a converter")
        for index, segment in enumerate(segments):
            color = f"C{index}"
            label = f"{segment['start_s']:.0f}-{segment['stop_s']:.0f} s"
            segment["flux_points"].plot(
                ax=ax, sed_type="e2dnde", color=color, label=f"{label}: flux points"
            )
            segment["model"].spectral_model.plot(
                bounds,
                ax=ax,
                sed_type="e2dnde",
                color=color,
                label=f"{label}: index {segment['index']:.2f} ± "
                f"{segment['index_error']:.2f}",
            )
    # The measured points set the scale: the absorbed models fall by orders of
    # magnitude where there are only upper limits. In the unit the axis is drawn
    # in (Gammapy's quantity support chose it).
    unit = ax.yaxis.units or "erg cm-2 s-1"
    detected = []
    for segment in segments:
        points = segment["flux_points"]
        values = np.ravel(points.e2dnde.quantity.to_value(unit))
        detected.extend(values[~np.ravel(points.is_ul.data) & (values > 0)])
    if detected:
        ax.set_ylim(min(detected) / 30, max(detected) * 30)
    sed_labels(ax)
    ax.set_title("time-resolved observed spectra (first seed)")
    ax.legend(fontsize=7)
    caption(figure, what)
    return figure


def plot_pulls(rows, config, what):
    """Histograms of the pulls of the fitted parameters over N(0, 1).

    Returns
    -------
    `~matplotlib.figure.Figure`
    """
    import matplotlib.pyplot as plt
    import numpy as np

    from sat.plots import caption

    names = [
        name
        for name in ("decay_index", "index", "amplitude")
        if any(f"{name}_pull" in row for row in rows)
    ]
    labels = {
        "decay_index": "decay index",
        "index": "intrinsic spectral index",
        "amplitude": "amplitude",
    }
    figure, axes = plt.subplots(
        1, len(names), figsize=(4.2 * len(names), 3.8), layout="constrained"
    )
    axes = np.atleast_1d(axes)
    grid = np.linspace(-4, 4, 200)
    bins = np.linspace(-4, 4, 17)
    for ax, name in zip(axes, names, strict=True):
        pulls = np.array([row[f"{name}_pull"] for row in rows if row["success"]])
        ax.hist(
            np.clip(pulls, bins[0], bins[-1]),
            bins=bins,
            histtype="stepfilled",
            alpha=0.6,
            label="fits",
        )
        expected = len(pulls) * (bins[1] - bins[0]) * np.exp(-(grid**2) / 2)
        ax.plot(grid, expected / np.sqrt(2 * np.pi), "k-", label="expected: N(0, 1)")
        ax.set_xlabel(f"{labels[name]} pull: (fit − truth) / error")
        ax.set_ylabel(f"seeds (of {len(pulls)})")
        ax.set_title(
            f"mean {np.mean(pulls):+.2f}, std {np.std(pulls, ddof=1):.2f}", fontsize=10
        )
        ax.legend(fontsize=8)
    caption(figure, what)
    return figure
