"""The figure of the naima SED fit: data, total model, each component."""

from __future__ import annotations

from sat.usecases.sed_naima.data import upper_limits


def plot_sed(flux_points, inverse_compton, synchrotron, seeds, distance, title, what):
    """Plot the data and the model SED: total, each IC seed field, synchrotron.

    ``what`` (where the flux points come from) is written under the figure.

    Returns
    -------
    `~matplotlib.figure.Figure`
    """
    import astropy.units as u
    import matplotlib.pyplot as plt
    import numpy as np

    from sat.plots import caption, label

    table = flux_points.to_table(sed_type="e2dnde")
    energy = table["e_ref"].quantity.to_value("TeV")
    unit = "erg cm-2 s-1"
    value = table["e2dnde"].quantity.to_value(unit)
    if "e2dnde_errn" in table.colnames:
        errors = [
            table["e2dnde_errn"].quantity.to_value(unit),
            table["e2dnde_errp"].quantity.to_value(unit),
        ]
    else:
        errors = table["e2dnde_err"].quantity.to_value(unit)
    upper = upper_limits(table)

    low = min(energy.min() / 10, 1e-2) if synchrotron is None else 1e-18
    grid = np.geomspace(low, max(energy.max() * 10, 300), 300) * u.TeV
    figure, axes = plt.subplots(figsize=(8, 5))
    total = inverse_compton.sed(grid, distance=distance)
    if synchrotron is not None:
        sync = synchrotron.sed(grid, distance=distance)
        total = total + sync
        axes.loglog(grid.value, sync.to_value(unit), ls=":", label="synchrotron")
    axes.loglog(grid.value, total.to_value(unit), color="k", lw=2, label="model, total")
    if len(seeds) > 1:
        for seed in seeds:
            name = seed if isinstance(seed, str) else seed[0]
            sed = inverse_compton.sed(grid, distance=distance, seed=name)
            axes.loglog(
                grid.value,
                sed.to_value(unit),
                ls="--",
                label=f"inverse Compton on {name}",
            )
    points = ~upper
    axes.errorbar(
        energy[points],
        value[points],
        yerr=[e[points] for e in errors]
        if isinstance(errors, list)
        else errors[points],
        fmt="o",
        color="C3",
        label="flux points",
    )
    if upper.any():
        ul = table["e2dnde_ul"].quantity.to_value(unit)[upper]
        axes.errorbar(
            energy[upper],
            ul,
            yerr=0.3 * ul,
            uplims=True,
            fmt="v",
            color="C3",
            label="upper limits",
        )
    finite = value[np.isfinite(value)]
    axes.set_ylim(finite.min() / 30, finite.max() * 10)
    axes.set_xlabel(label("Energy", "TeV"))
    axes.set_ylabel(label("E² dN/dE", unit))
    axes.set_title(title)
    axes.legend()
    caption(figure, what)
    return figure
