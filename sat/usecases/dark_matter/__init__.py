"""Upper limits on the dark-matter annihilation cross-section from the Galactic centre.

A CTAO observation of the Galactic centre is simulated (binned, with a public
CTAO IRF: four pointings offset from the centre, the IRF background and the
Poisson noise of `MapDataset.fake`) and searched for the gamma rays of
annihilating dark matter with `gammapy.astro.darkmatter`:

- the halo: a Gammapy density profile (`EinastoProfile` by default, scaled to the
  local density 0.3 GeV cm-3 at 8.33 kpc: the PPPC 4 DM ID conventions) and
  `JFactory`, which integrates rho^2 along the line of sight of every pixel: the
  J-factor map, used as a `TemplateSpatialModel`;
- the spectrum: `DarkMatterAnnihilationSpectralModel` for a mass and channel,
  with Gammapy's `PrimaryFlux` read from the staged PPPC 4 DM ID table
  (dataset ``dark-matter-spectra``); its ``scale`` is <sigma v> in units of
  3e-26 cm3 s-1;
- the likelihood: a binned 3D (Cash) fit of the dark-matter model and the
  IRF background (normalisation free) outside the Galactic plane (``|b|`` below
  ``plane_mask_deg`` is masked, as in the published analyses); the 95 % upper
  limit is the profile-likelihood limit of Gammapy's `Fit.confidence`
  (Delta(-2 ln L) = 2.71 above the best fit).

The dark-matter counts are linear in <sigma v>: the model is evaluated once per
mass (`MapDataset.npred_signal`, with exposure, PSF and energy dispersion) and
fitted as a `TemplateNPredModel` whose ``norm`` is the model's ``scale``: the
same likelihood, without re-convolving an unchanged map at every step.

The best-fit cross-section is not bounded at zero, so that the limit is the
one-sided interval whose coverage the statistics predict (Cowan et al. 2011,
EPJC 71, 1554): a background-only observation gives a negative limit in 5 % of
cases, which is what "95 % coverage of a zero signal" means (a limit forced
positive covers zero always and tests nothing). The result also gives the
power-constrained limit (Cowan et al. 2011, arXiv:1105.3166), never below the
-1 sigma edge of the expected band, for quoting.

Validation:

- coverage over ``coverage.n_seeds`` background-only simulations (true
  <sigma v> = 0) and as many with a signal injected at the expected limit: the
  fraction of limits at or above the truth must be the confidence level within
  its binomial error, and the best fits must be unbiased with right errors
  (pulls);
- order of magnitude against CTAO's published Galactic-centre sensitivity
  (`PUBLISHED_SOURCE`): the expected limit at 1 TeV for the Einasto profile and
  the W+W- channel within half a decade of the thermal cross-section. A J-factor
  wrong by a factor 10 (``jfactor_gev2_cm5``, the J-factor the analysis assumes
  for the map, against the profile that made the sky) fails both.

The package holds one thing per module: ``config`` (with the units),
``observation`` (the simulated dataset, the J-factor map, the dark-matter
counts), ``likelihood`` (the fit and the limit), ``coverage`` (its verdicts),
``reference`` (the published sensitivity) and ``plots``; this module, the use
case and its run.
"""

from __future__ import annotations

import math

from sat.usecases.base import Outcome, RunContext, UseCase
from sat.usecases.dark_matter.config import (
    JFACTOR_UNIT,
    MASS_RANGE_TEV,
    PROFILES,
    SIGMA_V_UNIT,
    THERMAL_SIGMA_V,
    Channel,
    Coverage,
    DarkMatterLimitsConfig,
    Halo,
    SimulatedSignal,
)
from sat.usecases.dark_matter.coverage import N_SIGMA, _coverage_checks
from sat.usecases.dark_matter.likelihood import _Likelihood, _limit_row
from sat.usecases.dark_matter.observation import (
    IRF_BINSZ_DEG,
    _check_ranges,
    _jfactor_map,
    _npred,
    _roi,
    _survey_dataset,
    _template,
)
from sat.usecases.dark_matter.plots import _plot_coverage, _plot_inputs, _plot_limits
from sat.usecases.dark_matter.reference import (
    PUBLISHED_CHANNEL,
    PUBLISHED_LIVETIME_H,
    PUBLISHED_LOG10_TOLERANCE,
    PUBLISHED_MASS_TEV,
    PUBLISHED_PROFILE,
    PUBLISHED_SIGMA_V,
    PUBLISHED_SOURCE,
    _published_check,
    reference_applies,
)

# The use case's public API (documented on its page); each name lives in the
# submodule it is imported from.
__all__ = [
    "IRF_BINSZ_DEG",
    "JFACTOR_UNIT",
    "MASS_RANGE_TEV",
    "N_SIGMA",
    "PROFILES",
    "PUBLISHED_CHANNEL",
    "PUBLISHED_LIVETIME_H",
    "PUBLISHED_LOG10_TOLERANCE",
    "PUBLISHED_MASS_TEV",
    "PUBLISHED_PROFILE",
    "PUBLISHED_SIGMA_V",
    "PUBLISHED_SOURCE",
    "SIGMA_V_UNIT",
    "THERMAL_SIGMA_V",
    "USECASE",
    "Channel",
    "Coverage",
    "DarkMatterLimits",
    "DarkMatterLimitsConfig",
    "Halo",
    "SimulatedSignal",
    "reference_applies",
]


class DarkMatterLimits(UseCase):
    """Upper limits on <sigma v> vs mass from a simulated Galactic-centre survey."""

    name = "dark-matter-limits"
    usecase_id = "SUSS-UC-SAT-160"
    summary = (
        "Upper limits on the dark-matter annihilation cross-section "
        "(Galactic centre, simulated CTAO survey): coverage and published sensitivity"
    )
    Config = DarkMatterLimitsConfig
    datasets = ("cta-caldb", "dark-matter-spectra")

    def run(self, config: DarkMatterLimitsConfig, context: RunContext) -> Outcome:
        """Simulate, compute the J-factor, fit every mass, test the coverage."""
        from astropy.table import Table
        from gammapy.maps import Maps
        from scipy import stats

        from sat.data import require
        from sat.irf import irf_info, irf_path, load_irf

        info = irf_info(config.irf)
        context.add_inputs(irf_path(config.irf))
        context.add_inputs(
            require("dark-matter-spectra") / "PPPC4DMID" / "AtProduction_gammas.dat"
        )
        irfs = load_irf(config.irf)
        _check_ranges(config, irfs)
        z = float(stats.norm.ppf(config.confidence_level))

        with context.step(
            f"exposure and background of {config.livetime_h:g} h ({info.name}, "
            "4 pointings)"
        ):
            dataset, pointings = _survey_dataset(config, irfs, info.site)
        with context.step(f"J-factor map ({config.halo.profile} profile)"):
            jfactor = _jfactor_map(config, dataset.counts.geom.to_image())
        j_sky = float(jfactor.data.sum())
        j_analysis = config.halo.jfactor_gev2_cm5 or j_sky
        spatial = _template(jfactor, context.product("jfactor.fits"))

        with context.step(f"dark-matter counts for {len(config.masses_tev)} masses"):
            # Counts of <sigma v> = 3e-26 cm3 s-1: as the analysis assumes them
            # (its J-factor) and as the simulated sky holds them (the profile's).
            analysis = {
                m: _npred(dataset, spatial, m, config.channel, j_analysis)
                for m in config.masses_tev
            }
            sky_masses = {config.observation.mass_tev, config.coverage.mass_tev}
            sky = {
                m: _npred(dataset, spatial, m, config.channel, j_sky)
                for m in sorted(sky_masses)
            }
        roi = _roi(dataset.counts.geom.to_image(), config.plane_mask_deg)
        likelihood = _Likelihood(dataset, roi, z)

        rows = []
        observed = likelihood.simulate(
            sky[config.observation.mass_tev],
            config.observation.sigma_v_cm3_s / THERMAL_SIGMA_V,
            config.seed,
        )
        for mass in context.progress(config.masses_tev, "expected and observed limits"):
            expected = likelihood.limit(analysis[mass], likelihood.asimov())
            measured = likelihood.limit(analysis[mass], observed)
            rows.append(_limit_row(mass, expected, measured))
        limits = Table(rows=rows)
        limits.meta.update(
            {
                "channel": config.channel,
                "profile": config.halo.profile,
                "confidence_level": config.confidence_level,
                "sigma_v_unit": SIGMA_V_UNIT,
            }
        )
        limits.write(context.product("limits.ecsv"), overwrite=True)

        mass_c = config.coverage.mass_tev
        expected_c = next(r for r in rows if math.isclose(r["mass_tev"], mass_c))
        injected = config.coverage.injected * expected_c["expected_ul"]
        trials = []
        n = config.coverage.n_seeds
        plan = [("background", 0.0, config.seed + 1 + i) for i in range(n)] + [
            ("injected", injected, config.seed + 1 + n + i) for i in range(n)
        ]
        for hypothesis, truth, seed in context.progress(
            plan, f"coverage at {mass_c:g} TeV ({2 * n} simulations)"
        ):
            counts = likelihood.simulate(sky[mass_c], truth / THERMAL_SIGMA_V, seed)
            fit = likelihood.limit(analysis[mass_c], counts)
            trials.append(
                {
                    "hypothesis": hypothesis,
                    "seed": seed,
                    "true_sigma_v": truth,
                    **{
                        key: fit[key] * THERMAL_SIGMA_V
                        for key in ("sigma_v", "sigma_v_error", "sigma_v_ul")
                    },
                    "success": fit["success"],
                }
            )
        table = Table(rows=trials)
        table["pull"] = (table["sigma_v"] - table["true_sigma_v"]) / table[
            "sigma_v_error"
        ]
        table["covered"] = table["sigma_v_ul"] >= table["true_sigma_v"]
        table.meta.update({"mass_tev": mass_c, "sigma_v_unit": SIGMA_V_UNIT})
        table.write(context.product("coverage.ecsv"), overwrite=True)

        validation, coverage = _coverage_checks(config, table)
        why_not = reference_applies(config)
        if why_not is None:
            reference = next(
                r for r in rows if math.isclose(r["mass_tev"], PUBLISHED_MASS_TEV)
            )
            validation.append(_published_check(reference["expected_ul"]))

        # For a notebook: the J-factor map, the limits and the coverage trials.
        context.keep(maps=Maps(jfactor=jfactor), limits=limits, coverage=table)
        with context.step("plots"):
            what = (
                f"Simulated: {config.livetime_h:g} h of the Galactic centre with "
                f"{config.irf} (four pointings {config.pointing_offset_deg:g}° "
                f"from it), {config.halo.profile} halo, channel {config.channel}"
            )
            figure = _plot_inputs(config, jfactor, pointings, analysis, what)
            context.save_figure(figure, "jfactor.png", dpi=110)
            figure = _plot_limits(config, limits, why_not, what)
            context.save_figure(figure, "limits.png", dpi=110)
            figure = _plot_coverage(
                config, table, coverage, f"{what}; {config.coverage.n_seeds} seeds"
            )
            context.save_figure(figure, "coverage.png", dpi=110)

        parameters = {
            f"sigma_v_ul_{row['mass_tev']:g}TeV": {
                "value": row["observed_ul"],
                "error": row["observed_error"],
                "unit": SIGMA_V_UNIT,
            }
            for row in rows
        }
        summary = [
            f"{config.livetime_h:g} h of the Galactic centre with {info.name} "
            f"(4 pointings at {config.pointing_offset_deg:g} deg), "
            f"{config.halo.profile} profile, J-factor of the map {j_sky:.3g} "
            f"{JFACTOR_UNIT} (analysis assumes {j_analysis:.3g}), channel "
            f"{config.channel}, |b| < {config.plane_mask_deg:g} deg masked",
            *(
                f"{row['mass_tev']:g} TeV: expected {100 * config.confidence_level:g} "
                f"% limit {row['expected_ul']:.3g}, observed {row['observed_ul']:.3g} "
                f"{SIGMA_V_UNIT}"
                for row in rows
            ),
            *(
                f"coverage ({name}, {mass_c:g} TeV): {c['covered']}/{c['n']} limits at "
                f"or above the truth {c['truth']:.3g}; pulls mean {c['pull_mean']:+.2f}"
                f", width {c['pull_std']:.2f}"
                for name, c in coverage.items()
            ),
        ]
        if why_not:
            summary.append(f"no published reference: {why_not}")
        extra = {
            "irf": info.as_dict(),
            "jfactor": {
                "map_gev2_cm5": j_sky,
                "analysis_gev2_cm5": j_analysis,
                "roi_gev2_cm5": float(jfactor.data[roi].sum()),
                "profile": config.halo.profile,
            },
            "limits": [dict(row) for row in rows],
            "coverage": coverage,
            "published_reference": why_not or PUBLISHED_SOURCE,
        }
        return Outcome(parameters, validation, summary, extra)


USECASE = DarkMatterLimits
