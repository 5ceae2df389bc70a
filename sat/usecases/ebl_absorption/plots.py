"""The figures of the EBL-absorption use case: the SED and the pulls."""

from __future__ import annotations

from sat.usecases.ebl_absorption.ebl import (
    EBL_TABLES,
    absorption_of,
    ebl_absorption,
    intrinsic,
)


def plot_spectrum(flux_points, observed, absorbed, config, label, reference_ebl, what):
    """SED: observed and de-absorbed flux points, models; the EBL attenuation.

    ``what`` (the observations) is written under the figure.

    Returns
    -------
    `~matplotlib.figure.Figure`
    """
    import logging
    import warnings

    import astropy.units as u
    import matplotlib.pyplot as plt
    import numpy as np
    from gammapy.modeling.models import SkyModel

    from sat.plots import caption, sed_labels
    from sat.plots import label as axis_label

    figure, (top, bottom) = plt.subplots(
        2,
        1,
        figsize=(7, 7.5),
        sharex=True,
        gridspec_kw={"height_ratios": [3, 1.2], "hspace": 0.06},
    )
    bounds = flux_points.energy_axis.edges[[0, -1]]
    sed = "e2dnde"
    with warnings.catch_warnings():
        # Gammapy re-registers astropy's unit converter per curve: harmless.
        warnings.filterwarnings("ignore", "This axis already has a converter")
        flux_points.plot(ax=top, sed_type=sed, color="k", label="observed flux points")
        observed.spectral_model.plot(
            bounds, ax=top, sed_type=sed, ls="--", color="0.4", label="power law fit"
        )
        if absorption_of(absorbed) is not None:
            # De-absorbed points: the same likelihoods, referred to the intrinsic
            # model (Gammapy's EBL tutorial).
            gammapy_log = logging.getLogger("gammapy.estimators.map.core")
            level = gammapy_log.level
            # Gammapy warns that changing the reference model changes the fluxes:
            # that is the point (the de-absorbed fluxes).
            gammapy_log.setLevel(logging.ERROR)
            try:
                deabsorbed = flux_points.copy(
                    reference_model=SkyModel(spectral_model=intrinsic(absorbed))
                )
            finally:
                gammapy_log.setLevel(level)
            deabsorbed.plot(
                ax=top, sed_type=sed, color="C3", label="de-absorbed flux points"
            )
            absorbed.spectral_model.plot(
                bounds, ax=top, sed_type=sed, color="C0", label="EBL × power-law fit"
            )
            absorbed.spectral_model.plot_error(
                bounds,
                ax=top,
                sed_type=sed,
                facecolor="C0",
                label="EBL × power law, 1σ",
            )
            intrinsic(absorbed).plot(
                bounds, ax=top, sed_type=sed, color="C3", label="intrinsic power law"
            )
            intrinsic(absorbed).plot_error(
                bounds, ax=top, sed_type=sed, facecolor="C3", label="intrinsic, 1σ"
            )
    # The measured points set the scale: the absorbed model falls by orders of
    # magnitude where there are only upper limits. In the unit the axis is drawn
    # in (Gammapy's quantity support chose it).
    unit = top.yaxis.units or "erg cm-2 s-1"
    measured = np.ravel(flux_points.e2dnde.quantity.to_value(unit))
    detected = measured[~np.ravel(flux_points.is_ul.data) & (measured > 0)]
    if detected.size:
        top.set_ylim(detected.min() / 30, detected.max() * 30)
    sed_labels(top)
    top.set_xlabel("")
    top.set_title(f"{label}, z = {config.redshift:g}: observed and intrinsic")
    top.legend(fontsize=8)

    energy = np.geomspace(*bounds.to_value("TeV"), 100) * u.TeV
    for index, name in enumerate(EBL_TABLES):
        curve = ebl_absorption(name, config.redshift)(energy)
        style = "-" if name == reference_ebl else ":"
        bottom.plot(
            energy,
            curve,
            style,
            color=f"C{index + 4}",
            label=EBL_TABLES[name].reference,
        )
    bottom.set_xscale("log")
    bottom.set_ylim(0, 1.05)
    bottom.set_xlabel(axis_label("Energy", "TeV"))
    bottom.set_ylabel("EBL transmission exp(−τ)")
    bottom.legend(fontsize=8)
    caption(figure, what)
    return figure


def plot_pulls(simulated: dict, what: str):
    """Histograms of the pulls of every simulated parameter over N(0, 1).

    Returns
    -------
    `~matplotlib.figure.Figure`
    """
    import matplotlib.pyplot as plt
    import numpy as np

    from sat.plots import caption

    panels = [("frozen", "index"), ("frozen", "amplitude"), ("free", "ebl_norm")]
    panels = [
        (test, name)
        for test, name in panels
        if any(row["success"] for row in simulated["rows"][test])
    ]
    figure, axes = plt.subplots(
        1, len(panels), figsize=(4.2 * len(panels), 3.8), layout="constrained"
    )
    axes = np.atleast_1d(axes)
    grid = np.linspace(-4, 4, 200)
    bins = np.linspace(-4, 4, 17)
    for ax, (test, name) in zip(axes, panels, strict=True):
        pulls = np.array(
            [row[f"{name}_pull"] for row in simulated["rows"][test] if row["success"]]
        )
        clipped = np.clip(pulls, bins[0], bins[-1])
        ax.hist(clipped, bins=bins, histtype="stepfilled", alpha=0.6, label="fits")
        expected = len(pulls) * (bins[1] - bins[0]) * np.exp(-(grid**2) / 2)
        ax.plot(grid, expected / np.sqrt(2 * np.pi), "k-", label="expected: N(0, 1)")
        title = {"index": "intrinsic index", "amplitude": "intrinsic amplitude"}
        ax.set_xlabel(
            f"{title.get(name, 'EBL normalisation α')} pull: (fit − truth) / error"
        )
        ax.set_ylabel(f"seeds (of {len(pulls)})")
        ax.set_title(
            f"mean {np.mean(pulls):+.2f}, std {np.std(pulls, ddof=1):.2f}",
            fontsize=10,
        )
        ax.legend(fontsize=8)
    caption(figure, what)
    return figure
