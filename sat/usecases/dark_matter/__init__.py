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
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, field_validator, model_validator

from sat.usecases.base import Outcome, RunContext, UseCase, UseCaseConfig
from sat.validation import Reference, compare

SIGMA_V_UNIT = "cm3 s-1"
# Gammapy's DarkMatterAnnihilationSpectralModel.THERMAL_RELIC_CROSS_SECTION: the
# model's scale is <sigma v> in this unit.
THERMAL_SIGMA_V = 3e-26
JFACTOR_UNIT = "GeV2 cm-5"
IRF_BINSZ_DEG = 0.5
# The masses of the PPPC 4 DM ID table (5 GeV to 100 TeV).
MASS_RANGE_TEV = (0.005, 100.0)
# PrimaryFlux channels the PPPC 4 DM ID table holds (Gammapy's names).
Channel = Literal[
    "e", "eL", "eR", "mu", "muL", "muR", "tau", "tauL", "tauR", "q", "c", "b",
    "t", "W", "WL", "WT", "Z", "ZL", "ZT", "g", "gamma", "h",
    "nu_e", "nu_mu", "nu_tau", "V->e", "V->mu", "V->tau",
]  # fmt: skip
PROFILES = {
    "einasto": "EinastoProfile",
    "nfw": "NFWProfile",
    "burkert": "BurkertProfile",
    "isothermal": "IsothermalProfile",
    "moore": "MooreProfile",
}

# --- the published reference --------------------------------------------------

PUBLISHED_SOURCE = (
    "CTA Consortium (Acharyya et al. 2021, JCAP 01, 057, arXiv:2007.16129), "
    "Galactic-centre survey, Einasto profile; summarised in Eckner et al. 2021, "
    "PoS(ICRC2021)547: 'reaching the thermal annihilation cross-section at ~1 TeV'"
)
PUBLISHED_MASS_TEV = 1.0
PUBLISHED_SIGMA_V = THERMAL_SIGMA_V
PUBLISHED_PROFILE = "einasto"
PUBLISHED_CHANNEL = "W"
# The published projection is for about 500 h (the 525 h inner-Galaxy survey);
# within this range the limit changes by less than sqrt(2).
PUBLISHED_LIVETIME_H = (250.0, 1000.0)
# Half a decade: the published projection has the Galactic diffuse emission as a
# background, instrumental and template systematics and the survey's pointing
# pattern; this simulation has the IRF background and statistics only (so it
# expects a lower limit, by a factor of a few), and "~1 TeV reaches the thermal
# value" is itself a round statement. A factor 10 error (a J-factor off by 10,
# a wrong unit) moves the limit a full decade and fails.
PUBLISHED_LOG10_TOLERANCE = 0.5
# A binomial fraction (the coverage) and the pulls must lie within 3 sigma: one
# false alarm in 370 runs per check.
N_SIGMA = 3.0


class Halo(UseCaseConfig):
    """The dark-matter halo of the Galaxy and the J-factor the analysis assumes."""

    profile: Literal["einasto", "nfw", "burkert", "isothermal", "moore"] = "einasto"
    """Density profile of the halo (Gammapy's): einasto, nfw, burkert, isothermal or
    moore."""
    # J-factor of the whole map the analysis assumes (GeV2 cm-5); None: that of
    # the profile, i.e. of the simulated sky. Another value models an analysis
    # that assumes another halo than the one that made the sky.
    jfactor_gev2_cm5: float | None = Field(default=None, gt=0)
    """J-factor of the whole map the analysis assumes (GeV2 cm-5); null: that of the
    profile (the simulated sky's)."""


class SimulatedSignal(UseCaseConfig):
    """Dark matter in the simulated observation whose limits are reported."""

    sigma_v_cm3_s: float = Field(default=0.0, ge=0)
    """Annihilation cross-section <sigma v> of the simulated dark matter (cm3 s-1; 0:
    none)."""
    mass_tev: float = Field(default=1.0, gt=0)
    """Dark-matter particle mass of the simulated signal (TeV)."""


class Coverage(UseCaseConfig):
    """The coverage test: background-only and injected-signal simulations."""

    mass_tev: float = Field(default=1.0, gt=0)
    """Mass of the coverage test (TeV), one of masses_tev."""
    n_seeds: int = Field(default=100, ge=10)
    """Simulations of each kind (background only, signal injected)."""
    # The injected <sigma v>, in units of the expected limit at mass_tev (a
    # signal at the edge of what the observation can see).
    injected: float = Field(default=1.0, gt=0)
    """Injected <sigma v>, in units of the expected limit at mass_tev."""


class DarkMatterLimitsConfig(UseCaseConfig):
    """Configuration of the dark-matter limits from the Galactic centre."""

    irf: str = "prod5-south-z20-50h"
    """CTAO IRF of the simulated observation (ctao-sat irf list)."""
    channel: Channel = "W"
    """Annihilation channel (PPPC 4 DM ID names: W, b, tau, mu...)."""
    masses_tev: list[float] = Field(
        default_factory=lambda: [0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0],
        min_length=1,
    )
    """Dark-matter particle masses of the limits (TeV)."""
    halo: Halo = Field(default_factory=Halo)
    """The dark-matter halo and the J-factor the analysis assumes."""
    # Total live time, shared by four pointings at pointing_offset_deg from the
    # Galactic centre (north, south, east and west in Galactic coordinates).
    livetime_h: float = Field(default=500.0, gt=0)
    """Total live time (h), shared by four pointings around the Galactic centre."""
    pointing_offset_deg: float = Field(default=1.0, ge=0)
    """Offset of the four pointings from the Galactic centre (deg)."""
    width_deg: float = Field(default=4.0, gt=0, le=10)
    """Width of the square map (deg); width / binsz must be even."""
    binsz_deg: float = Field(default=0.2, gt=0, le=0.5)
    """Pixel size (deg)."""
    plane_mask_deg: float = Field(default=0.3, ge=0)
    """Galactic latitudes below this (deg) are masked, as in the published analyses."""
    energy_min_tev: float = Field(default=0.1, gt=0)
    """Lowest reconstructed energy (TeV)."""
    energy_max_tev: float = Field(default=100.0, gt=0)
    """Highest reconstructed energy (TeV)."""
    bins_per_decade: int = Field(default=4, gt=0)
    """Reconstructed-energy bins per decade."""
    confidence_level: float = Field(default=0.95, gt=0.5, lt=1)
    """Confidence level of the upper limits."""
    observation: SimulatedSignal = Field(default_factory=SimulatedSignal)
    """Dark matter in the simulated observation whose limits are reported."""
    coverage: Coverage = Field(default_factory=Coverage)
    """The coverage test: background-only and injected-signal simulations."""
    seed: int = Field(default=0, ge=0)
    """Random seed of the first simulation; the others follow."""

    @field_validator("masses_tev")
    @classmethod
    def _masses_in_table(cls, masses: list[float]) -> list[float]:
        low, high = MASS_RANGE_TEV
        outside = [m for m in masses if not low <= m <= high]
        if outside:
            raise ValueError(
                f"masses {outside} TeV are outside the PPPC 4 DM ID table "
                f"({low:g} to {high:g} TeV)"
            )
        return sorted(set(masses))

    @model_validator(mode="after")
    def _consistent(self):
        if self.energy_max_tev <= self.energy_min_tev:
            raise ValueError("energy_max_tev must be larger than energy_min_tev")
        if not any(math.isclose(self.coverage.mass_tev, m) for m in self.masses_tev):
            raise ValueError(
                f"coverage.mass_tev {self.coverage.mass_tev:g} must be one of "
                "masses_tev"
            )
        if self.plane_mask_deg >= self.width_deg / 2:
            raise ValueError("plane_mask_deg masks the whole map: lower it")
        if round(self.width_deg / self.binsz_deg) % 2:
            # JFactory cannot integrate the line of sight through the centre
            # itself (gammapy/gammapy#6769).
            raise ValueError(
                "width_deg / binsz_deg must be an even number of pixels (no pixel "
                "centred on the Galactic centre, where Gammapy's J-factor fails)"
            )
        low, high = MASS_RANGE_TEV
        if not low <= self.observation.mass_tev <= high:
            raise ValueError(
                f"observation.mass_tev is outside the PPPC 4 DM ID table "
                f"({low:g} to {high:g} TeV)"
            )
        return self


def reference_applies(config: DarkMatterLimitsConfig) -> str | None:
    """Return why the published sensitivity does not apply, or None when it does."""
    low, high = PUBLISHED_LIVETIME_H
    if config.halo.profile != PUBLISHED_PROFILE:
        return f"the published sensitivity is for Einasto, not {config.halo.profile}"
    if config.channel != PUBLISHED_CHANNEL:
        return f"the published sensitivity is for W+W-, not {config.channel}"
    if not low <= config.livetime_h <= high:
        return (
            f"the published sensitivity is for about 500 h ({low:g} to {high:g} h "
            f"accepted), not {config.livetime_h:g} h"
        )
    if not any(math.isclose(m, PUBLISHED_MASS_TEV) for m in config.masses_tev):
        return "masses_tev does not include the published mass (1 TeV)"
    return None


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


# --- the simulated survey and the J-factor --------------------------------------


def _check_ranges(config: DarkMatterLimitsConfig, irfs: dict) -> None:
    """Refuse energies and pointings the IRF does not cover (one-line errors)."""
    from sat.errors import ConfigError
    from sat.irf import check_energy_range

    check_energy_range(config.irf, irfs, config.energy_min_tev, config.energy_max_tev)
    fov = irfs["aeff"].axes["offset"].edges.max().to_value("deg")
    needed = config.pointing_offset_deg + config.width_deg / math.sqrt(2)
    if needed > fov:
        raise ConfigError(
            f"pointing_offset_deg + width_deg puts map corners {needed:.3g} deg from "
            f"a pointing, outside the field of view of IRF {config.irf!r} ({fov:g} deg)"
        )


def _survey_dataset(config: DarkMatterLimitsConfig, irfs: dict, site: str):
    """Return the stacked dataset of the four pointings, and the pointings."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from gammapy.datasets import MapDataset
    from gammapy.makers import MapDatasetMaker
    from gammapy.maps import WcsGeom

    from sat.irf import energy_axes
    from sat.simulate import create_observation, transit_time
    from sat.sites import get_site

    location = get_site(site)
    centre = SkyCoord(0, 0, unit="deg", frame="galactic")
    energy, energy_true = energy_axes(irfs, config)
    geom = WcsGeom.create(
        skydir=centre,
        width=config.width_deg,
        binsz=config.binsz_deg,
        frame="galactic",
        proj="CAR",
        axes=[energy],
    )
    offset = config.pointing_offset_deg
    pointings = SkyCoord(
        [offset, -offset, 0, 0], [0, 0, offset, -offset], unit="deg", frame="galactic"
    )
    livetime = config.livetime_h / len(pointings) * u.h
    start = transit_time(centre.icrs, location) - livetime / 2
    # PSF and energy dispersion change slowly across the field: on 0.5 deg pixels.
    options = {"energy_axis_true": energy_true, "binsz_irf": IRF_BINSZ_DEG}
    stacked = MapDataset.create(geom, name="survey", **options)
    maker = MapDatasetMaker(selection=["exposure", "background", "psf", "edisp"])
    for obs_id, pointing in enumerate(pointings.icrs, start=1):
        observation = create_observation(
            irfs, pointing, location, livetime, obs_id, start
        )
        empty = MapDataset.create(geom, **options)
        stacked.stack(maker.run(empty, observation))
    return stacked, pointings


def _jfactor_map(config: DarkMatterLimitsConfig, geom):
    """J-factor of every pixel (GeV2 cm-5) from Gammapy's profile and `JFactory`."""
    from gammapy.astro.darkmatter import JFactory, profiles
    from gammapy.maps import Map

    profile = getattr(profiles, PROFILES[config.halo.profile])()
    profile.scale_to_local_density()
    # JFactory integrates along lines of sight from the Sun, at the profile's
    # distance to the Galactic centre. Gammapy 2.1 starts the integral at
    # D tan(psi) instead of the closest approach D sin(psi) (gammapy#6754, fixed
    # after 2.1): about 0.8 psi of each line of sight is lost, 3 % at the
    # corners of the default map (tests/test_dark_matter.py measures it).
    factory = JFactory(
        geom=geom, profile=profile, distance=profiles.DMProfile.DISTANCE_GC
    )
    values = factory.compute_jfactor().to_value(JFACTOR_UNIT)
    return Map.from_geom(geom, data=values, unit=JFACTOR_UNIT)


def _template(jfactor, path):
    """Write dJ/dOmega to ``path``; return it as a normalised `TemplateSpatialModel`."""
    from gammapy.maps import Map
    from gammapy.modeling.models import TemplateSpatialModel

    geom = jfactor.geom
    density = (jfactor.quantity / geom.solid_angle()).to("GeV2 cm-5 sr-1")
    template = Map.from_geom(geom, data=density.value, unit=density.unit)
    template.write(path, overwrite=True)
    return TemplateSpatialModel(template, normalize=True, filename=str(path))


def _roi(geom, plane_mask_deg: float):
    """Pixels of the image ``geom`` outside the masked Galactic plane."""
    import numpy as np

    latitude = geom.get_coord().skycoord.galactic.b.deg
    # Pixel centres on the mask's edge stay in (1e-6 deg of rounding).
    return np.abs(latitude) >= plane_mask_deg - 1e-6


def _npred(dataset, spatial, mass_tev: float, channel: str, jfactor: float):
    """Predicted counts of <sigma v> = 3e-26 cm3 s-1 (exposure, PSF, edisp)."""
    import logging

    import astropy.units as u
    from gammapy.astro.darkmatter import DarkMatterAnnihilationSpectralModel
    from gammapy.modeling.models import SkyModel

    # PrimaryFlux is a TemplateNDSpectralModel built from the table, without a
    # file name of its own: Gammapy logs that it cannot serialise it (we never
    # do) every time one is made or copied.
    logger = logging.getLogger("gammapy.modeling.models.spectral")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        spectral = DarkMatterAnnihilationSpectralModel(
            mass=mass_tev * u.TeV,
            channel=channel,
            jfactor=jfactor * u.Unit(JFACTOR_UNIT),
        )
        model = SkyModel(
            spectral_model=spectral, spatial_model=spatial, name="dark-matter"
        )
        dataset.models = [model]
        npred = dataset.npred_signal().copy()
    finally:
        logger.setLevel(level)
    dataset.models = None
    return npred


class _Likelihood:
    """The binned likelihood of one dark-matter template and the IRF background.

    A small `MapDataset` (counts, background, fit mask) with two models:
    `TemplateNPredModel` (the dark-matter counts; its ``norm`` is <sigma v> in
    units of 3e-26 cm3 s-1) and `FoVBackgroundModel` (normalisation free).
    """

    def __init__(self, dataset, roi, z: float):
        import numpy as np
        from gammapy.datasets import MapDataset
        from gammapy.maps import Map

        geom = dataset.counts.geom
        mask = Map.from_geom(geom, data=np.broadcast_to(roi, geom.data_shape).copy())
        self.background = dataset.background.copy()
        self.dataset = MapDataset(
            counts=self.background.copy(),
            background=self.background.copy(),
            mask_fit=mask,
            name="fit",
        )
        self.z = z

    def asimov(self):
        """Return the counts of a background-only observation without noise."""
        return self.background.copy()

    def simulate(self, sky, norm: float, seed: int):
        """Poisson counts of the background and ``norm`` x the sky's dark matter."""
        from gammapy.datasets import MapDataset
        from gammapy.modeling.models import FoVBackgroundModel, TemplateNPredModel

        truth = MapDataset(
            counts=self.background.copy(), background=self.background, name="sky"
        )
        signal = TemplateNPredModel(sky, datasets_names=["sky"])
        signal.spectral_model.norm.value = norm
        truth.models = [signal, FoVBackgroundModel(dataset_name="sky")]
        truth.fake(random_state=seed)
        return truth.counts

    def limit(self, template, counts) -> dict:
        """Fit ``template`` to ``counts``: best <sigma v>, error and upper limit.

        All in units of 3e-26 cm3 s-1. The limit is the profile-likelihood one
        of `Fit.confidence` at ``z`` sigma (one-sided), the background
        normalisation re-optimised at every step.
        """
        from gammapy.modeling import Fit
        from gammapy.modeling.models import FoVBackgroundModel, TemplateNPredModel

        dataset = self.dataset
        dataset.counts = counts
        signal = TemplateNPredModel(
            template, datasets_names=["fit"], name="dark-matter"
        )
        signal.spectral_model.tilt.frozen = True
        norm = signal.spectral_model.norm
        norm.value = 0.0
        norm.min = float("nan")  # negative best fits are allowed (see module doc)
        dataset.models = [signal, FoVBackgroundModel(dataset_name="fit")]
        fit = Fit()
        result = fit.run(dataset)
        best, error = float(norm.value), float(norm.error)
        confidence = fit.confidence(dataset, norm, sigma=self.z)
        dataset.models = None
        return {
            "sigma_v": best,
            "sigma_v_error": error,
            "sigma_v_ul": best + float(confidence["errp"]),
            "success": bool(result.success and confidence["success"]),
        }


def _limit_row(mass: float, expected: dict, measured: dict) -> dict:
    """One row of limits.ecsv, in cm3 s-1: the expected band and the observed limit.

    For a Gaussian likelihood, the limits of background-only observations are
    the Asimov limit +- k sigma (Cowan et al. 2011, EPJC 71, 1554, eq. 89).
    """
    scale = THERMAL_SIGMA_V
    median, sigma = expected["sigma_v_ul"], expected["sigma_v_error"]
    observed = measured["sigma_v_ul"]
    return {
        "mass_tev": mass,
        "expected_ul": median * scale,
        "expected_minus_2sigma": (median - 2 * sigma) * scale,
        "expected_minus_1sigma": (median - sigma) * scale,
        "expected_plus_1sigma": (median + sigma) * scale,
        "expected_plus_2sigma": (median + 2 * sigma) * scale,
        "observed_best": measured["sigma_v"] * scale,
        "observed_error": measured["sigma_v_error"] * scale,
        "observed_ul": observed * scale,
        # Power-constrained: never below the -1 sigma edge of the expected band.
        "observed_ul_pcl": max(observed, median - sigma) * scale,
        "success": expected["success"] and measured["success"],
    }


# --- validation -------------------------------------------------------------------


def _coverage_checks(config: DarkMatterLimitsConfig, table) -> tuple[list, dict]:
    """Verdicts of the coverage test and its statistics, per hypothesis."""
    import numpy as np

    from sat.validation import converged_check, pull_checks

    level = config.confidence_level
    converged = table[table["success"]]
    validation = [converged_check(len(table), len(converged), "every simulation")]
    statistics = {}
    labels = {"background": "zero signal", "injected": "injected signal"}
    for hypothesis, label in labels.items():
        rows = converged[converged["hypothesis"] == hypothesis]
        n = len(rows)
        if n == 0:
            continue
        covered = int(np.sum(rows["covered"]))
        error = math.sqrt(level * (1 - level) / n)
        validation.append(
            compare(
                Reference(
                    f"coverage of the {label}",
                    level,
                    error,
                    "",
                    f"confidence level of the limit; {n} simulations",
                    N_SIGMA,
                    f"the fraction of {n} limits at or above the true <sigma v> is "
                    f"binomial around the confidence level {level:g} (error "
                    f"{error:.3f}) if the limit is right; 3 sigma",
                ),
                covered / n,
            )
        )
        pulls = np.asarray(rows["pull"])
        validation += pull_checks(f"<sigma v> ({label})", pulls)
        statistics[hypothesis] = {
            "n": n,
            "covered": covered,
            "fraction": covered / n,
            "truth": float(rows["true_sigma_v"][0]),
            "pull_mean": float(np.mean(pulls)),
            "pull_std": float(np.std(pulls, ddof=1)) if n > 1 else float("nan"),
            "median_ul": float(np.median(rows["sigma_v_ul"])),
        }
    return validation, statistics


def _published_check(expected_ul: float) -> dict:
    """Compare the expected limit at 1 TeV with CTAO's published sensitivity."""
    return compare(
        Reference(
            "log10 expected <sigma v> limit at 1 TeV",
            math.log10(PUBLISHED_SIGMA_V),
            PUBLISHED_LOG10_TOLERANCE,
            f"log10({SIGMA_V_UNIT})",
            PUBLISHED_SOURCE,
            1.0,
            "order of magnitude: the published projection adds the diffuse "
            "emission, systematics and the survey pattern (a higher limit by a "
            "factor of a few); half a decade accepts that and fails a J-factor or "
            "a unit wrong by 10",
        ),
        math.log10(expected_ul) if expected_ul > 0 else float("nan"),
    )


# --- plots --------------------------------------------------------------------------


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


USECASE = DarkMatterLimits
