"""EBL-absorbed spectra of distant sources: PKS 2155-304 and CTAO simulations.

Gamma rays from a source at redshift z pair-produce on the extragalactic
background light (EBL): the observed spectrum is the intrinsic one times
exp(-alpha_norm tau(E, z)), with the optical depth tau of a published EBL model
(Domínguez et al. 2011 by default, or Franceschini et al. 2008; the tables of the
``ebl`` dataset, read by Gammapy's `EBLAbsorptionNormSpectralModel`). The use case
fits an intrinsic power law through that absorption, in two parts:

(a) Real data: the six H.E.S.S. DR1 runs of PKS 2155-304 (z = 0.116, its 2008
    steady state) are reduced to reflected-regions ON/OFF spectra (as in
    ``lightcurve``) and fitted jointly (WStat) with a plain power law (the
    observed spectrum) and with an EBL-absorbed one (the intrinsic spectrum). The
    observed power law is validated against the paper of the data release
    (Mohrmann et al. 2019). The intrinsic spectrum is validated against the
    published observed spectra de-absorbed with the same EBL model: the intrinsic
    power law that best describes a published spectrum, as seen through these
    runs' IRFs (a fit to its expected counts), is the reference. Two published
    spectra are used: Mohrmann et al. 2019 (these runs) and H.E.S.S. 2010 (A&A
    520, A83; the 2005-2007 quiescent state, independent data). Their difference
    between observed and intrinsic index is the relation the EBL imposes:
    ``index_shift`` in result.json, measured and expected.
(b) Simulation: ON/OFF spectra of a PKS 2155-304-like source seen by a CTAO
    array (prod5 IRF) are simulated for many seeds (`sat.usecases.onoff_simulation`)
    and fitted with the EBL-absorbed power law: the pulls of the intrinsic index
    and amplitude must be N(0, 1). A brighter source is then fitted with the EBL
    normalisation alpha_norm free: its pulls must be N(0, 1), i.e. it is
    recovered around 1.

The deliberately wrong analysis ``ebl_model: none`` (a plain power law taken for
the intrinsic spectrum) fails both parts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from sat.parallel import ParallelConfig
from sat.usecases.base import (
    Example,
    Outcome,
    RunContext,
    UseCase,
    UseCaseConfig,
)
from sat.usecases.hess_dr1 import PAPER, PUBLISHED_1D, STEADY_SAMPLE
from sat.usecases.models import AMPLITUDE_UNIT
from sat.usecases.options import (
    RENAMED,
    Datasets,
    DL3Config,
    Energy,
    check_reflected_regions,
    reflected_regions_datasets,
)
from sat.validation import Reference, compare

# --- the EBL models -----------------------------------------------------------------


@dataclass(frozen=True)
class EblTable:
    """A published EBL model: its optical-depth table in the ``ebl`` dataset."""

    file: str
    reference: str


EBL_TABLES = {
    "dominguez": EblTable(
        "ebl_dominguez11.fits.gz", "Domínguez et al. 2011, MNRAS 410, 2556"
    ),
    "franceschini": EblTable(
        "ebl_franceschini.fits.gz", "Franceschini et al. 2008, A&A 487, 837"
    ),
}
EblModelName = Literal["dominguez", "franceschini"]
# "none": no absorption (the deliberately wrong analysis, or an EBL-free sky).
EblChoice = Literal["dominguez", "franceschini", "none"]
# The EBL model of the references when the analysis has none.
DEFAULT_EBL = "dominguez"


def ebl_absorption(model: str, redshift: float, alpha_norm: float = 1.0):
    """Return Gammapy's absorption exp(-alpha_norm tau(E, z)) of an EBL model.

    The table is read from the ``ebl`` dataset (`sat.data.require`), so it is
    found offline wherever ``GAMMAPY_DATA`` points, checked like every input.

    Parameters
    ----------
    model : {"dominguez", "franceschini"}
        The EBL model.
    redshift : float
        Redshift of the source (frozen in the returned model).
    alpha_norm : float
        Scale of the optical depth (frozen; free it to fit it).

    Raises
    ------
    ConfigError
        The redshift is outside the model's table (Gammapy would extrapolate).
    DataError
        The table is missing or unreadable.
    """
    from gammapy.modeling.models import EBLAbsorptionNormSpectralModel

    from sat.data import require
    from sat.errors import ConfigError, reading

    path = require("ebl") / EBL_TABLES[model].file
    with reading(path):
        absorption = EBLAbsorptionNormSpectralModel.read(
            path, redshift=redshift, alpha_norm=alpha_norm
        )
    low, high = float(min(absorption.param)), float(max(absorption.param))
    if not low <= redshift <= high:
        raise ConfigError(
            f"redshift {redshift:g} is outside the EBL model {model!r} "
            f"({low:g} to {high:g})"
        )
    return absorption


def power_law(
    name: str,
    reference_tev: float,
    ebl_model: str = "none",
    redshift: float = 0.0,
    index: float = 2.0,
    amplitude: float = 1e-12,
    free_norm: bool = False,
):
    """Return a `SkyModel`: a power law, EBL-absorbed unless ``ebl_model`` is none.

    Parameters
    ----------
    name : str
        The sky model's name.
    reference_tev : float
        Reference energy of the power law.
    ebl_model : {"dominguez", "franceschini", "none"}
        The absorption (`ebl_absorption`); "none" for a plain power law.
    redshift : float
        Redshift of the absorption.
    index, amplitude : float
        Intrinsic photon index and amplitude (cm-2 s-1 TeV-1) at the reference.
    free_norm : bool
        Fit the EBL normalisation alpha_norm too.
    """
    import astropy.units as u
    from gammapy.modeling.models import PowerLawSpectralModel, SkyModel

    spectral = PowerLawSpectralModel(
        index=index,
        amplitude=amplitude * u.Unit(AMPLITUDE_UNIT),
        reference=reference_tev * u.TeV,
    )
    if ebl_model != "none":
        absorption = ebl_absorption(ebl_model, redshift)
        absorption.alpha_norm.frozen = not free_norm
        spectral = spectral * absorption
    return SkyModel(spectral_model=spectral, name=name)


def intrinsic(sky_model):
    """Return the intrinsic power law of a `power_law` model."""
    spectral = sky_model.spectral_model
    return getattr(spectral, "model1", spectral)


def absorption_of(sky_model):
    """Return the EBL absorption of a `power_law` model, or None."""
    return getattr(sky_model.spectral_model, "model2", None)


def _parameter(parameter) -> dict:
    return {
        "value": float(parameter.value),
        "error": float(parameter.error),
        "unit": parameter.unit.to_string(),
    }


# --- configuration ------------------------------------------------------------------


class EblNormTest(UseCaseConfig):
    """The bright source fitted with the EBL normalisation free."""

    flux_factor: float = Field(default=10.0, gt=0)
    """The bright source's flux, in units of the simulated source's."""
    livetime_h: float = Field(default=2.0, gt=0)
    """Live time of each observation of the bright source (h)."""
    n_seeds: int = Field(default=40, ge=3)
    """Number of simulated observations of the bright source (one per seed)."""


class EblSimulation(UseCaseConfig):
    """The simulated CTAO observations of the pull test (dataset-level ON/OFF).

    The default source is close to PKS 2155-304 as this use case measures it in
    2008 (intrinsic index 2.68 ± 0.25 and 1.4e-11 cm-2 s-1 TeV-1 at 1 TeV with
    Domínguez 2011), seen by CTAO-South at 20 deg zenith angle.
    """

    irf: str = "prod5-south-z20-50h"
    """CTAO IRF of the simulated observations (ctao-sat irf list)."""
    redshift: float = Field(default=0.116, gt=0)
    """Redshift of the simulated source."""
    # The EBL of the simulated sky ("none": no absorption).
    ebl_model: EblChoice = "dominguez"
    """EBL of the simulated sky: dominguez, franceschini or none."""
    index: float = 2.6
    """Intrinsic spectral index of the simulated source."""
    amplitude: float = Field(default=1.5e-11, gt=0)
    """Intrinsic differential flux at the reference energy (cm-2 s-1 TeV-1)."""
    reference_tev: float = Field(default=1.0, gt=0)
    """Reference energy of the power law (TeV)."""
    livetime_h: float = Field(default=0.5, gt=0)
    """Live time of each simulated observation (h)."""
    offset_deg: float = Field(default=0.5, ge=0)
    """Offset of the source from the pointing (deg)."""
    on_radius_deg: float = Field(default=0.11, gt=0)
    """Radius of the ON region (deg)."""
    n_off_regions: int = Field(default=5, ge=1)
    """Number of OFF regions (alpha = 1 / n_off_regions)."""
    energy_min_tev: float = Field(default=0.1, gt=0)
    """Lowest reconstructed energy (TeV)."""
    energy_max_tev: float = Field(default=50.0, gt=0)
    """Highest reconstructed energy (TeV)."""
    bins_per_decade: int = Field(default=8, gt=0)
    """Reconstructed-energy bins per decade."""
    n_seeds: int = Field(default=100, ge=3)
    """Number of simulated observations (one per seed) in the pull test."""
    seed: int = Field(default=0, ge=0)
    """Random seed of the first observation; the others follow."""
    ebl_norm: EblNormTest = Field(default_factory=EblNormTest)
    """The bright source fitted with the EBL normalisation free."""

    @model_validator(mode="after")
    def _energies(self):
        if self.energy_max_tev <= self.energy_min_tev:
            raise ValueError("energy_max_tev must be larger than energy_min_tev")
        return self


class EblAbsorptionConfig(DL3Config):
    """Configuration of the EBL-absorption use case.

    (a) the real data: Gammapy's ``observations`` and ``datasets`` (type 1d,
    reflected regions) blocks, ``target`` and ``exclusion_regions``
    (`sat.usecases.options`), as in ``lightcurve``; (b) the ``simulation``.
    """

    renamed: ClassVar[dict[str, str]] = RENAMED

    # The analysis: the EBL model the intrinsic spectrum is corrected with.
    ebl_model: EblChoice = "dominguez"
    """EBL model the intrinsic spectrum is corrected with: dominguez, franceschini or
    none (the deliberately wrong analysis)."""
    # (a) the real data.
    target: str | None = "PKS 2155-304"
    """Source name in the obs-index: its runs and position."""
    datasets: Datasets = Field(default_factory=reflected_regions_datasets)
    redshift: float = Field(default=0.116, gt=0)
    """Redshift of the source (PKS 2155-304: 0.116)."""
    reference_energy: Energy = "0.65 TeV"
    """Reference energy of the power laws."""
    flux_points_per_decade: int = Field(default=4, gt=0)
    """Flux-point bins per decade of energy."""
    # Beyond a few TeV the EBL leaves nothing of a z = 0.116 source's steep spectrum.
    flux_points_max_tev: float = Field(default=10.0, gt=0)
    """Flux points up to this energy (TeV), or the runs' safe maximum if lower."""
    # (b) the simulation.
    simulation: EblSimulation = Field(default_factory=EblSimulation)
    """The simulated CTAO observations of the pull tests."""
    general: ParallelConfig = Field(default_factory=ParallelConfig)
    """How the runs are reduced: n_jobs, parallel_backend, skip_failed."""

    @model_validator(mode="after")
    def _a_reflected_regions_spectrum(self):
        check_reflected_regions(self)
        return self


# --- validation ---------------------------------------------------------------------


@dataclass(frozen=True)
class ObservedSpectrum:
    """A published observed power law of PKS 2155-304 (errors: stat + sys)."""

    source: str
    index: tuple[float, float]
    reference_tev: float
    # The amplitude at reference_tev and its error; None when the paper gives an
    # integral flux only (only the index is compared then).
    amplitude: tuple[float, float] | None
    # Integral flux above ``threshold_tev`` (cm-2 s-1), to normalise the spectrum
    # of a paper that gives no amplitude.
    integral_flux: float | None = None
    threshold_tev: float | None = None

    def amplitude_at(self, energy_tev: float) -> float:
        """Return the published spectrum's dN/dE at ``energy_tev``."""
        gamma = self.index[0]
        if self.amplitude is not None:
            return self.amplitude[0] * (energy_tev / self.reference_tev) ** -gamma
        # F(>E1) = A E0 / (gamma - 1) (E1 / E0)^(1 - gamma), solved for A at E0.
        e0, e1 = self.reference_tev, self.threshold_tev
        at_e0 = self.integral_flux * (gamma - 1) / e0 * (e1 / e0) ** (gamma - 1)
        return at_e0 * (energy_tev / e0) ** -gamma


MOHRMANN = f"{PAPER} (these runs)"
HESS_2010 = "H.E.S.S. Collaboration 2010, A&A 520, A83 (2005-2007 quiescent state)"


def published_spectra() -> dict[str, ObservedSpectrum]:
    """Return the published observed spectra of PKS 2155-304 to test the fit on.

    Mohrmann et al. 2019 is the fact of ``spectrum-1d`` (same runs, its 1D fit);
    H.E.S.S. 2010 gives Gamma = 3.53 ± 0.06 (stat) ± 0.10 (sys) and
    F(>200 GeV) = 4.32e-11 cm-2 s-1 for the quiescent state of 2005-2007.
    """
    paper = PUBLISHED_1D[STEADY_SAMPLE]
    return {
        MOHRMANN: ObservedSpectrum(
            MOHRMANN, paper.index, paper.reference_energy_tev, paper.amplitude
        ),
        HESS_2010: ObservedSpectrum(
            HESS_2010,
            (3.53, math.hypot(0.06, 0.10)),
            paper.reference_energy_tev,
            None,
            integral_flux=4.32e-11,
            threshold_tev=0.2,
        ),
    }


# Same runs as the paper: as in ``lightcurve`` (same reduction) the differences
# are analysis choices, not statistics (measured there: 0.2 sigma on the index,
# 0.5 on the amplitude); 1 sigma of the combined errors fails the mistakes that
# matter. The intrinsic reference is the paper's spectrum de-absorbed through the
# same EBL model and IRFs: no new statistical error, the same tolerance.
N_SIGMA_SAME_RUNS = 1.0
WHY_SAME_RUNS = (
    "same runs, on region and E0 as the paper: differences are analysis choices "
    "(0.2-0.5 sigma in lightcurve); the intrinsic reference is the paper's "
    "spectrum de-absorbed with the same EBL model, so 1 sigma, and no EBL "
    "correction (index about 0.85 too soft) fails"
)
# Another epoch: a blazar's low-state index changes between years; the paper's
# systematic error is included, 2 sigma leaves room for that variability.
N_SIGMA_OTHER_EPOCH = 2.0
WHY_OTHER_EPOCH = (
    "independent data (2005-2007 vs 2008), stat and sys errors combined; 2 sigma "
    "for the variability of the low state between epochs"
)


def _reference_runs_note(config, obs_ids: list[int], sample: list[int]) -> str | None:
    """Why the published spectra do not apply to this analysis, or None."""
    published = published_spectra()[MOHRMANN]
    at_position = config.datasets.on_region.lon is not None
    if at_position or sorted(obs_ids) != sorted(sample):
        return (
            f"no published spectrum for these runs (the papers': the {len(sample)} "
            f"runs of {STEADY_SAMPLE})"
        )
    same = PUBLISHED_1D[STEADY_SAMPLE].matches(
        config.reference_energy, config.datasets.on_region.radius
    )
    if not same or not math.isclose(config.redshift, 0.116, rel_tol=1e-6):
        return (
            "no published spectrum for this analysis (published: E0 "
            f"{published.reference_tev} TeV, r_on 0.11 deg, z = 0.116)"
        )
    return None


# --- the use case -------------------------------------------------------------------


class EblAbsorption(UseCase):
    """EBL-absorbed power law: PKS 2155-304 (H.E.S.S. DR1) and a CTAO pull test."""

    name = "ebl-absorption"
    usecase_id = "SUSS-UC-SAT-130"
    summary = "EBL-absorbed spectra: PKS 2155-304 (H.E.S.S. DR1) and CTAO pulls"
    Config = EblAbsorptionConfig
    datasets = ("hess-dl3-dr1", "cta-caldb", "ebl")
    examples: ClassVar[dict[str, Example]] = {
        "no-ebl": Example(
            "The deliberately wrong analysis: a plain power law taken for the "
            "intrinsic spectrum. Both parts of the validation fail.",
            {"ebl_model": "none"},
        ),
    }

    def run(self, config: EblAbsorptionConfig, context: RunContext) -> Outcome:
        """Fit the real spectra, run the simulated pull tests, validate both."""
        from sat.data import require

        context.add_inputs(
            *(require("ebl") / table.file for table in EBL_TABLES.values())
        )
        _check_inputs(config)
        real = _real_data(config, context)
        simulated = _simulation(config, context)
        sim = config.simulation
        what = (
            f"Simulated: {sim.n_seeds} observations of {sim.livetime_h:g} h (one per "
            f"seed) with {sim.irf}, a source at z = {sim.redshift:g} "
            f"({sim.ebl_model} EBL), {sim.offset_deg:g}° from the pointing; EBL norm: "
            f"{sim.ebl_norm.n_seeds} of {sim.ebl_norm.livetime_h:g} h, "
            f"{sim.ebl_norm.flux_factor:g}× brighter"
        )
        context.save_figure(_plot_pulls(simulated, what), "pulls.png", dpi=110)
        parameters = {**real["parameters"], **simulated["parameters"]}
        validation = [*real["validation"], *simulated["validation"]]
        summary = [*real["summary"], *simulated["summary"]]
        extra = {"real_data": real["extra"], "simulation": simulated["extra"]}
        return Outcome(parameters, validation, summary, extra)


def _check_inputs(config: EblAbsorptionConfig) -> None:
    """Refuse an unknown IRF, energies it lacks or a redshift outside an EBL table.

    Before any work, so that a bad key costs no reduction (one-line ConfigError).
    """
    from sat.irf import check_energy_range, load_irf

    sim = config.simulation
    check_energy_range(
        sim.irf, load_irf(sim.irf), sim.energy_min_tev, sim.energy_max_tev
    )
    for model, redshift in (
        (config.ebl_model, config.redshift),
        (config.ebl_model, sim.redshift),
        (sim.ebl_model, sim.redshift),
    ):
        if model != "none":
            ebl_absorption(model, redshift)


# --- (a) the real data --------------------------------------------------------------


def _real_data(config: EblAbsorptionConfig, context: RunContext) -> dict:
    """Reduce the runs, fit observed and intrinsic power laws, validate."""
    from gammapy.modeling import Fit
    from gammapy.modeling.models import Models

    from sat.usecases.models import slug
    from sat.usecases.reflected import reflected_regions_runs

    runs = reflected_regions_runs(config, context, "hess-dl3-dr1")
    datasets, label = runs.datasets, runs.label
    sample = list(PUBLISHED_1D[STEADY_SAMPLE].obs_ids)  # the papers' runs
    source = slug(label)
    e0 = float(config.reference_energy.to_value("TeV"))
    reference_ebl = DEFAULT_EBL if config.ebl_model == "none" else config.ebl_model

    with context.step(f"fitting the observed and intrinsic spectra ({label})"):
        observed = power_law(f"{source}_observed", e0)
        datasets.models = [observed]
        observed_fit = Fit().run(datasets)
        absorbed = power_law(source, e0, config.ebl_model, config.redshift)
        datasets.models = [absorbed]
        absorbed_fit = Fit().run(datasets)

    parameters = {
        "index": _parameter(observed.spectral_model.index),
        "amplitude": _parameter(observed.spectral_model.amplitude),
        "intrinsic_index": _parameter(intrinsic(absorbed).index),
        "intrinsic_amplitude": _parameter(intrinsic(absorbed).amplitude),
    }
    measured_shift = (
        parameters["index"]["value"] - parameters["intrinsic_index"]["value"]
    )

    note = _reference_runs_note(config, runs.obs_ids, sample)
    validation, deabsorbed = [], {}
    if note is None:
        with context.step(f"de-absorbing the published spectra ({reference_ebl})"):
            for name, spectrum in published_spectra().items():
                deabsorbed[name] = _deabsorb(
                    spectrum, datasets, reference_ebl, config.redshift, e0
                )
        validation = _real_checks(parameters, deabsorbed, reference_ebl)

    with context.step("estimating flux points and writing products"):
        flux_points = _flux_points(datasets, absorbed, config)
        flux_points.write(
            context.product("flux_points.ecsv"), sed_type="likelihood", overwrite=True
        )
        context.write_models(Models([observed]), "models/observed.yaml")
        context.write_models(Models([absorbed]), "models/intrinsic.yaml")
        figure = _plot_spectrum(
            flux_points,
            observed,
            absorbed,
            config,
            label,
            reference_ebl,
            runs.summary.text(),
        )
        context.save_figure(figure, "spectrum.png")
    context.keep(datasets=datasets, models=Models([absorbed]), flux_points=flux_points)

    expected_shift = {
        name: published_spectra()[name].index[0] - values["index"]
        for name, values in deabsorbed.items()
    }
    info = datasets.info_table(cumulative=True)
    extra = {
        "target": label,
        "redshift": config.redshift,
        "ebl_model": config.ebl_model,
        "ebl_reference": EBL_TABLES[reference_ebl].reference,
        "n_runs": len(datasets),
        "dropped_runs": runs.dropped,
        "failed_runs": runs.failed,
        "observations": runs.summary.as_dict(),
        "livetime_h": float(info["livetime"].quantity[-1].to_value("h")),
        "excess": float(info["excess"][-1]),
        "significance": float(info["sqrt_ts"][-1]),
        "fits": {
            "observed": {
                "success": bool(observed_fit.success),
                "total_stat": float(observed_fit.total_stat),
            },
            "intrinsic": {
                "success": bool(absorbed_fit.success),
                "total_stat": float(absorbed_fit.total_stat),
            },
        },
        "deabsorbed_references": deabsorbed,
        # The relation between the spectra: observed minus intrinsic index.
        "index_shift": {"measured": measured_shift, "expected": expected_shift},
    }
    summary = _real_summary(label, parameters, extra, config, note)
    return {
        "parameters": parameters,
        "validation": validation,
        "summary": summary,
        "extra": extra,
    }


def _deabsorb(spectrum: ObservedSpectrum, datasets, ebl_model, redshift, e0) -> dict:
    """Return the intrinsic power law of a published observed spectrum.

    The expected counts of the published power law in each run (its IRFs, with
    the run's measured background) are fitted with the EBL-absorbed power law:
    the intrinsic spectrum that these runs would have measured had the sky been
    the published one. The difference of the indices is the EBL's effect over the
    energies these runs weigh, curvature of tau(E) included.
    """
    from gammapy.datasets import Datasets
    from gammapy.modeling import Fit

    published = power_law(
        "published",
        e0,
        index=spectrum.index[0],
        amplitude=spectrum.amplitude_at(e0),
    )
    expected = Datasets()
    for dataset in datasets:
        copy = dataset.copy(name=f"{dataset.name}-expected")
        copy.models = [published]
        copy.counts = copy.npred_signal() + copy.background
        expected.append(copy)
    model = power_law("deabsorbed", e0, ebl_model, redshift)
    expected.models = [model]
    Fit().run(expected)
    ratio = intrinsic(model).amplitude.value / spectrum.amplitude_at(e0)
    return {
        "index": float(intrinsic(model).index.value),
        "amplitude": float(intrinsic(model).amplitude.value),
        # The published errors carried over: the de-absorption adds none.
        "index_error": spectrum.index[1],
        "amplitude_error": (
            None if spectrum.amplitude is None else spectrum.amplitude[1] * ratio
        ),
    }


def _real_checks(parameters: dict, deabsorbed: dict, reference_ebl: str) -> list:
    """Observed power law vs the paper; intrinsic vs the de-absorbed papers."""
    from sat.usecases.lightcurve import published_references

    fit = "PKS 2155-304, H.E.S.S. DR1"
    checks = [
        compare(
            ref,
            parameters[ref.quantity]["value"],
            parameters[ref.quantity]["error"],
            fit=fit,
        )
        for ref in published_references()
    ]
    ebl = EBL_TABLES[reference_ebl].reference
    for name, values in deabsorbed.items():
        same_runs = name == MOHRMANN
        n_sigma = N_SIGMA_SAME_RUNS if same_runs else N_SIGMA_OTHER_EPOCH
        why = WHY_SAME_RUNS if same_runs else WHY_OTHER_EPOCH
        source = f"{name}, de-absorbed with {ebl}"
        checks.append(
            compare(
                Reference(
                    "intrinsic_index",
                    values["index"],
                    values["index_error"],
                    "",
                    source,
                    n_sigma,
                    why,
                ),
                parameters["intrinsic_index"]["value"],
                parameters["intrinsic_index"]["error"],
                fit=fit,
            )
        )
        if values["amplitude_error"] is not None:
            checks.append(
                compare(
                    Reference(
                        "intrinsic_amplitude",
                        values["amplitude"],
                        values["amplitude_error"],
                        AMPLITUDE_UNIT,
                        source,
                        n_sigma,
                        why,
                    ),
                    parameters["intrinsic_amplitude"]["value"],
                    parameters["intrinsic_amplitude"]["error"],
                    fit=fit,
                )
            )
    return checks


def _flux_points(datasets, absorbed, config):
    """Observed flux points of the absorbed model, over the runs' safe range.

    From the lowest safe threshold of the runs to ``flux_points_max_tev`` (or
    their highest safe energy, if lower).
    """
    import astropy.units as u
    import numpy as np
    from gammapy.estimators import FluxPointsEstimator
    from gammapy.maps import MapAxis

    lows, highs = [], []
    for dataset in datasets:
        low, high = dataset.energy_range_safe
        lows.append(low.quantity.to_value("TeV").item())
        highs.append(high.quantity.to_value("TeV").item())
    low = float(np.nanmin(lows))
    high = min(float(np.nanmax(highs)), config.flux_points_max_tev)
    if not high > low:
        from sat.errors import ConfigError

        raise ConfigError(
            f"key 'flux_points_max_tev': {config.flux_points_max_tev:g} TeV is below "
            f"the runs' safe threshold {low:.3g} TeV"
        )
    nbin = max(1, round(math.log10(high / low) * config.flux_points_per_decade))
    edges = MapAxis.from_energy_bounds(low, high, nbin, unit="TeV").edges
    # On the stacked spectrum: one fit per bin instead of a joint one over the
    # runs (the model is fixed, only its normalisation per bin is fitted).
    stacked = datasets.stack_reduce(name="stacked")
    stacked.models = [absorbed]
    estimator = FluxPointsEstimator(
        energy_edges=edges.to(u.TeV),
        source=absorbed.name,
        selection_optional=["ul"],
        n_jobs=1,
    )
    return estimator.run([stacked])


def _real_summary(label, parameters, extra, config, note) -> list[str]:
    observed, index = parameters["index"], parameters["intrinsic_index"]
    lines = [
        f"{label}: {extra['n_runs']} runs, {extra['livetime_h']:.2f} h, excess "
        f"{extra['excess']:.0f}, {extra['significance']:.1f} sigma",
        f"observed power law at E0 {config.reference_energy}: index "
        f"{observed['value']:.3f} ± {observed['error']:.3f}",
    ]
    if config.ebl_model == "none":
        lines.append(
            "intrinsic spectrum fitted WITHOUT EBL absorption (ebl_model: none): "
            f"index {index['value']:.3f} ± {index['error']:.3f}"
        )
    else:
        lines.append(
            f"intrinsic power law (EBL {EBL_TABLES[config.ebl_model].reference}, "
            f"z = {config.redshift:g}): index {index['value']:.3f} ± "
            f"{index['error']:.3f}; observed - intrinsic = "
            f"{extra['index_shift']['measured']:.3f}"
        )
    for name, shift in extra["index_shift"]["expected"].items():
        values = extra["deabsorbed_references"][name]
        lines.append(
            f"{name}: de-absorbed index {values['index']:.3f} ± "
            f"{values['index_error']:.3f} (shift {shift:.3f})"
        )
    lines.append(note or "validated against the published spectra, de-absorbed")
    return lines


# --- (b) the simulation -------------------------------------------------------------


def _simulation(config: EblAbsorptionConfig, context: RunContext) -> dict:
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

    from sat.validation import pull_checks

    sim = config.simulation
    converged = [row for row in rows if row["success"]]
    fit = f"simulation, {label}"
    validation = [
        compare(
            Reference(
                "converged fits",
                float(len(rows)),
                0.0,
                "",
                f"every seed ({label})",
                0.0,
                "a fit that does not converge has no meaningful pull",
            ),
            float(len(converged)),
            fit=fit,
        )
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


# --- plots --------------------------------------------------------------------------


def _plot_spectrum(flux_points, observed, absorbed, config, label, reference_ebl, what):
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


def _plot_pulls(simulated: dict, what: str):
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


USECASE = EblAbsorption
