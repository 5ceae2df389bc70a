"""The figures: the J-factor and counts, the limits vs mass, the coverage test."""

from __future__ import annotations

from sat.usecases.dark_matter.config import JFACTOR_UNIT, SIGMA_V_UNIT, THERMAL_SIGMA_V
from sat.usecases.dark_matter.reference import (
    PUBLISHED_LOG10_TOLERANCE,
    PUBLISHED_MASS_TEV,
    PUBLISHED_SIGMA_V,
)


def _plot_inputs(config, jfactor, pointings, analysis, what):
    """Plot the J-factor map (mask, pointings) and the predicted counts spectra."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import LogNorm

    from sat.plots import caption

    figure = plt.figure(figsize=(12, 4.8))
    ax_map = figure.add_subplot(1, 2, 1, projection=jfactor.geom.wcs)
    data = np.where(jfactor.data > 0, jfactor.data, np.nan)
    image = ax_map.imshow(data, origin="lower", norm=LogNorm(), cmap="magma")
    colorbar = figure.colorbar(image, ax=ax_map)
    colorbar.set_label(f"J-factor per pixel ({JFACTOR_UNIT})")
    transform = ax_map.get_transform("galactic")
    ax_map.plot(
        pointings.l.wrap_at("180d").deg,
        pointings.b.deg,
        "c+",
        ms=12,
        mew=2,
        transform=transform,
        label="pointings",
    )
    half = config.width_deg / 2
    mask = config.plane_mask_deg
    ax_map.fill_between(
        [-half, half],
        [-mask, -mask],
        [mask, mask],
        color="w",
        alpha=0.35,
        hatch="//",
        transform=transform,
        label=f"masked plane (|b| < {mask:g} deg)",
    )
    ax_map.set_xlabel("Galactic longitude")
    ax_map.set_ylabel("Galactic latitude")
    ax_map.set_title(f"J-factor, {config.halo.profile} profile")
    ax_map.legend(loc="upper right", fontsize="small")

    ax_counts = figure.add_subplot(1, 2, 2)
    for mass, npred in analysis.items():
        spectrum = npred.get_spectrum()
        energy = spectrum.geom.axes["energy"].center.to_value("TeV")
        ax_counts.step(
            energy, spectrum.data.ravel(), where="mid", label=f"{mass:g} TeV"
        )
    ax_counts.set_xscale("log")
    ax_counts.set_yscale("log")
    ax_counts.set_ylim(bottom=1)
    ax_counts.set_xlabel("Reconstructed energy (TeV)")
    ax_counts.set_ylabel("Predicted counts per energy bin")
    ax_counts.set_title(
        f"dark-matter counts for <sigma v> = 3e-26 {SIGMA_V_UNIT} ({config.channel})"
    )
    ax_counts.legend(title="mass", fontsize="small", ncol=2)
    figure.tight_layout()
    caption(figure, what)
    return figure


def _plot_limits(config, limits, why_not, what):
    """Plot the expected band, the observed limit and the references."""
    import matplotlib.pyplot as plt
    import numpy as np

    from sat.plots import caption, label

    mass = np.asarray(limits["mass_tev"])
    level = f"{100 * config.confidence_level:g} %"
    figure, ax = plt.subplots(figsize=(8, 5.5))
    # The lower edges of the band reach zero or below: they leave the log axis
    # at its bottom, a fifth of the lowest -1 sigma edge.
    positive = np.asarray(limits["expected_minus_1sigma"])
    floor = 0.2 * float(np.min(positive[positive > 0], initial=THERMAL_SIGMA_V))
    top = 3 * max(float(np.max(limits["expected_plus_2sigma"])), THERMAL_SIGMA_V)

    def clip(values):
        return np.clip(np.asarray(values), floor / 10, None)

    ax.fill_between(
        mass,
        clip(limits["expected_minus_2sigma"]),
        clip(limits["expected_plus_2sigma"]),
        color="gold",
        label="expected ± 2 sigma",
    )
    ax.fill_between(
        mass,
        clip(limits["expected_minus_1sigma"]),
        clip(limits["expected_plus_1sigma"]),
        color="limegreen",
        label="expected ± 1 sigma",
    )
    ax.plot(mass, limits["expected_ul"], "k--", label=f"expected {level} limit")
    ax.plot(
        mass,
        limits["observed_ul_pcl"],
        "ko-",
        ms=4,
        label=f"observed {level} limit (power-constrained)",
    )
    ax.axhline(THERMAL_SIGMA_V, color="tab:red", ls=":", label="thermal relic (3e-26)")
    if why_not is None:
        low = PUBLISHED_SIGMA_V / 10**PUBLISHED_LOG10_TOLERANCE
        high = PUBLISHED_SIGMA_V * 10**PUBLISHED_LOG10_TOLERANCE
        ax.errorbar(
            PUBLISHED_MASS_TEV,
            PUBLISHED_SIGMA_V,
            yerr=[[PUBLISHED_SIGMA_V - low], [high - PUBLISHED_SIGMA_V]],
            fmt="s",
            color="tab:blue",
            capsize=4,
            label="CTAO projection (Acharyya+ 2021), ± half a decade",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(floor, top)
    ax.set_xlabel("Dark-matter mass (TeV)")
    ax.set_ylabel(label("Annihilation cross-section ⟨σv⟩", SIGMA_V_UNIT))
    ax.set_title(
        f"Galactic centre, {config.livetime_h:g} h, {config.halo.profile}, "
        f"channel {config.channel}"
    )
    ax.legend(fontsize="small", loc="lower right", framealpha=0.9)
    figure.tight_layout()
    caption(figure, what)
    return figure


def _plot_coverage(config, table, coverage, what):
    """Plot the pulls of the best fits and the limits against the truth."""
    import matplotlib.pyplot as plt
    import numpy as np

    from sat.plots import caption, label

    figure, (ax_pull, ax_ul) = plt.subplots(1, 2, figsize=(12, 4.5))
    grid = np.linspace(-4, 4, 200)
    bins = np.linspace(-4, 4, 17)
    colors = {"background": "tab:blue", "injected": "tab:orange"}
    for hypothesis, color in colors.items():
        rows = table[(table["hypothesis"] == hypothesis) & table["success"]]
        if len(rows) == 0:
            continue
        c = coverage[hypothesis]
        ax_pull.hist(
            np.asarray(rows["pull"]),
            bins=bins,
            histtype="step",
            lw=2,
            color=color,
            label=f"{hypothesis} (mean {c['pull_mean']:+.2f}, std {c['pull_std']:.2f})",
        )
        ul = np.asarray(rows["sigma_v_ul"])
        ax_ul.hist(
            ul,
            bins=20,
            histtype="step",
            lw=2,
            color=color,
            label=f"{hypothesis}: {c['covered']}/{c['n']} at or above the truth",
        )
        ax_ul.axvline(c["truth"], color=color, ls="--", label=f"{hypothesis}: truth")
    n = config.coverage.n_seeds
    expected = n * (bins[1] - bins[0]) * np.exp(-(grid**2) / 2) / np.sqrt(2 * np.pi)
    ax_pull.plot(grid, expected, "k-", label="N(0, 1)")
    ax_pull.set_xlabel("Pull of the best-fit ⟨σv⟩: (fit − truth) / error")
    ax_pull.set_ylabel(f"number of simulations (of {n} per hypothesis)")
    ax_pull.legend(fontsize="small")
    ax_ul.set_xlabel(label("Upper limit on ⟨σv⟩", SIGMA_V_UNIT))
    ax_ul.set_ylabel("number of simulations")
    ax_ul.legend(fontsize="small")
    figure.suptitle(
        f"Coverage at {config.coverage.mass_tev:g} TeV: "
        f"{100 * config.confidence_level:g} % limits"
    )
    figure.tight_layout()
    caption(figure, what)
    return figure
