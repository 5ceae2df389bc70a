"""(b) The simulation: pull tests of the EBL-absorbed fit on CTAO ON/OFF spectra.

ON/OFF spectra of a PKS 2155-304-like source seen by a CTAO array (prod5 IRF)
are simulated for many seeds (`sat.usecases.onoff_simulation`) and fitted with
the EBL-absorbed power law: the pulls of the intrinsic index and amplitude must
be N(0, 1). A brighter source is then fitted with the EBL normalisation
alpha_norm free: its pulls must be N(0, 1), i.e. it is recovered around 1.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sat.usecases.ebl_absorption.ebl import absorption_of, intrinsic, power_law

if TYPE_CHECKING:
    from sat.usecases.base import RunContext
    from sat.usecases.ebl_absorption.config import EblAbsorptionConfig


def simulation_tests(config: EblAbsorptionConfig, context: RunContext) -> dict:
    """Run the pull tests: EBL norm frozen, then free for a brighter source."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from astropy.table import Table
    from gammapy.maps import MapAxis

    from sat.irf import irf_info, irf_path, load_irf, true_energy_axis
    from sat.simulate import REFERENCE_DATE, transit_time
    from sat.sites import get_site
    from sat.usecases.onoff_simulation import prepare

    sim = config.simulation
    info = irf_info(sim.irf)
    context.add_inputs(irf_path(sim.irf))
    # A source culminating at the IRF's zenith angle (the site latitude +
    # zenith, as ctao-simulate); only the metadata of the spectra depend on it.
    latitude = get_site(info.site).lat.deg
    source = SkyCoord(329.717, latitude + info.zenith_deg, unit="deg")
    energy = MapAxis.from_energy_bounds(
        sim.energy_min_tev,
        sim.energy_max_tev,
        sim.bins_per_decade,
        per_decade=True,
        unit="TeV",
    )
    energy_true = true_energy_axis(
        load_irf(sim.irf), sim.energy_min_tev, sim.energy_max_tev
    )
    start = transit_time(source, get_site(info.site), REFERENCE_DATE)

    def simulation(livetime_h):
        return prepare(
            sim.irf,
            source,
            sim.offset_deg,
            sim.on_radius_deg,
            energy,
            energy_true,
            [(start, livetime_h * u.h)],
            sim.n_off_regions,
            start,
        )

    truth = power_law(
        "truth",
        sim.reference_tev,
        sim.ebl_model,
        sim.redshift,
        sim.index,
        sim.amplitude,
    )
    with context.step(
        f"pull test: {sim.n_seeds} simulated {sim.livetime_h:g} h spectra "
        f"({info.name}, EBL norm fixed)"
    ):
        frozen = _pull_test(
            simulation(sim.livetime_h), truth, config, sim.n_seeds, context
        )
    table = Table(rows=frozen)
    table.meta["irf"] = info.name
    table.write(context.product("pulls.ecsv"), format="ascii.ecsv", overwrite=True)

    result = _pull_statistics(frozen, config, "EBL norm fixed")
    free = []
    if config.ebl_model != "none" and sim.ebl_model != "none":
        bright = power_law(
            "truth",
            sim.reference_tev,
            sim.ebl_model,
            sim.redshift,
            sim.index,
            sim.amplitude * sim.ebl_norm.flux_factor,
        )
        with context.step(
            f"EBL norm free: {sim.ebl_norm.n_seeds} spectra, "
            f"{sim.ebl_norm.flux_factor:g} x brighter, {sim.ebl_norm.livetime_h:g} h"
        ):
            free = _pull_test(
                simulation(sim.ebl_norm.livetime_h),
                bright,
                config,
                sim.ebl_norm.n_seeds,
                context,
                free_norm=True,
            )
        Table(rows=free).write(
            context.product("pulls_ebl_norm.ecsv"), format="ascii.ecsv", overwrite=True
        )
        bright_result = _pull_statistics(free, config, "EBL norm free", norm=True)
        for key in ("parameters", "extra"):
            result[key] |= bright_result[key]
        result["validation"] += bright_result["validation"]
        result["summary"] += bright_result["summary"]
    else:
        result["summary"].append(
            "EBL norm test skipped: the analysis or the simulated sky has no EBL"
        )
    result["rows"] = {"frozen": frozen, "free": free}
    result["extra"]["irf"] = info.as_dict()
    return result


def _pull_test(simulation, truth, config, n_seeds, context, free_norm=False):
    """Fit ``n_seeds`` simulated spectra; return one row per seed."""
    from gammapy.modeling import Fit

    sim = config.simulation
    true_norm = 1.0
    rows, sky = [], [truth]
    seeds = [sim.seed + i for i in range(n_seeds)]
    for seed in context.progress(seeds, "fitting seeds"):
        dataset = simulation.fake(sky, seed)[0].copy(name=f"seed-{seed}")
        # Start away from the truth: index 2, half the amplitude (ctao-simulate).
        model = power_law(
            "fit",
            sim.reference_tev,
            config.ebl_model,
            sim.redshift,
            2.0,
            0.5 * intrinsic(truth).amplitude.value,
            free_norm=free_norm,
        )
        dataset.models = [model]
        fit = Fit().run([dataset])
        spectral = intrinsic(model)
        row = {
            "seed": seed,
            "success": bool(fit.success),
            "index": float(spectral.index.value),
            "index_error": float(spectral.index.error),
            "amplitude": float(spectral.amplitude.value),
            "amplitude_error": float(spectral.amplitude.error),
            "n_on": int(dataset.counts.data.sum()),
            "excess": float(dataset.excess.data.sum()),
        }
        row["index_pull"] = (row["index"] - sim.index) / row["index_error"]
        row["amplitude_pull"] = (
            row["amplitude"] - intrinsic(truth).amplitude.value
        ) / row["amplitude_error"]
        if free_norm:
            norm = absorption_of(model).alpha_norm
            row["ebl_norm"] = float(norm.value)
            row["ebl_norm_error"] = float(norm.error)
            row["ebl_norm_pull"] = (norm.value - true_norm) / norm.error
        rows.append(row)
    return rows


def _pull_statistics(rows, config, label, norm=False) -> dict:
    """Return the pull checks of one test, its parameters and summary lines."""
    import numpy as np

    from sat.validation import converged_check, pull_checks

    sim = config.simulation
    converged = [row for row in rows if row["success"]]
    fit = f"simulation, {label}"
    validation = [
        converged_check(len(rows), len(converged), f"every seed ({label})", fit=fit)
    ]
    names = ("ebl_norm",) if norm else ("index", "amplitude")
    statistics = {}
    for name in names:
        pulls = np.array([row[f"{name}_pull"] for row in converged])
        values = np.array([row[name] for row in converged])
        # The tolerances follow from the number of seeds N: the mean of N
        # N(0, 1) pulls has standard error 1 / sqrt(N), their sample width about
        # 1 / sqrt(2 N) (exactly: the chi2 interval); both at 3 sigma.
        for check in pull_checks(name, pulls):
            check.fit = fit
            validation.append(check)
        statistics[name] = {
            "pull_mean": float(np.mean(pulls)) if len(pulls) else math.nan,
            "pull_std": float(np.std(pulls, ddof=1)) if len(pulls) > 1 else math.nan,
            "mean_fitted": float(np.mean(values)) if len(values) else math.nan,
            "std_fitted": float(np.std(values, ddof=1))
            if len(values) > 1
            else math.nan,
        }
    n = max(len(converged), 1)
    parameters = {}
    if norm:
        stats = statistics["ebl_norm"]
        parameters["ebl_norm"] = {
            "value": stats["mean_fitted"],
            "error": stats["std_fitted"] / math.sqrt(n),
            "unit": "",
        }
    lines = [
        f"{label}: {len(converged)}/{len(rows)} fits converged; "
        + "; ".join(
            f"{name} pulls mean {s['pull_mean']:+.2f}, width {s['pull_std']:.2f} "
            f"(mean fitted {s['mean_fitted']:.4g})"
            for name, s in statistics.items()
        )
    ]
    key = "ebl_norm_test" if norm else "pull_test"
    extra = {
        key: {
            "n_seeds": len(rows),
            "n_converged": len(converged),
            "statistics": statistics,
            "truth": {
                "index": sim.index,
                "amplitude": sim.amplitude
                * (sim.ebl_norm.flux_factor if norm else 1.0),
                "ebl_norm": 1.0,
                "redshift": sim.redshift,
                "ebl_model": sim.ebl_model,
            },
        }
    }
    return {
        "parameters": parameters,
        "validation": validation,
        "summary": lines,
        "extra": extra,
    }
