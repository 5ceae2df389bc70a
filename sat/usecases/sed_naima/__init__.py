"""Radiative modelling of a gamma-ray SED with naima, fitted through Gammapy.

Electrons with an exponential-cutoff power law radiate by inverse Compton (IC) on
the CMB (and optional far/near-infrared fields) and, with ``radiation: syn-ic``, by
synchrotron in a magnetic field, all through Gammapy's `NaimaSpectralModel`
fitted to flux points with Gammapy's `Fit` (minuit, no MCMC). Sources:

- ``rxj1713`` (default) and ``crab-2006``: the published H.E.S.S. spectra of
  naima's own examples (Aharonian et al. 2007 with the 2011 erratum; 2006), with
  naima's IC setups (CMB + FIR at 1 kpc; CMB at 2 kpc). naima documents its fit
  of each (``docs/_static/<example>_results.ecsv``: maximum-likelihood
  parameters, posterior widths, W_e, maximum log-likelihood): the run is
  validated against that published fit, parameter by parameter and by the
  fit statistic at the optimum;
- ``crab``: the H.E.S.S. DR1 Crab flux points of Gammapy's data, IC on the CMB
  at 2 kpc. No published naima fit of these points exists: the run is checked
  against physical ranges only.

``flux_points`` replaces the data by a Gammapy flux-points file, a naima/IPAC
table, or the folder of a ``spectrum-1d`` result. Reported: the electron index,
cutoff and amplitude, and the total energy in electrons above 1 TeV
(``compute_We``) at the assumed distance.
"""

from __future__ import annotations

import math
from typing import ClassVar

from sat.usecases.base import Example, Outcome, RunContext, UseCase
from sat.usecases.sed_naima.config import (
    ElectronsConfig,
    SedNaimaConfig,
    SeedField,
)
from sat.usecases.sed_naima.data import load_flux_points, read_naima_table
from sat.usecases.sed_naima.model import (
    electrons_model,
    energy_flux,
    fitted_parameters,
    radiated_synchrotron,
    seed_record,
)
from sat.usecases.sed_naima.plots import plot_sed
from sat.usecases.sed_naima.sources import (
    SOURCES,
    Source,
    naima_checks,
    physical_checks,
)
from sat.validation import Bounds, check_bounds

# The use case's public API (documented on its page); each name lives in the
# submodule it is imported from.
__all__ = [
    "SOURCES",
    "USECASE",
    "ElectronsConfig",
    "SedNaima",
    "SedNaimaConfig",
    "SeedField",
    "Source",
    "naima_checks",
    "physical_checks",
    "read_naima_table",
]


class SedNaima(UseCase):
    """SED-naima: electron IC (and synchrotron) models fitted to flux points."""

    name = "sed-naima"
    usecase_id = "SUSS-UC-SAT-080"
    summary = "naima radiative model (IC, synchrotron) fitted to gamma-ray flux points"
    Config = SedNaimaConfig
    datasets = ()  # depends on source and flux_points: checked in run()
    examples: ClassVar[dict[str, Example]] = {
        "crab-2006": Example(
            "The Crab Nebula seen by H.E.S.S. in 2006, inverse Compton on the CMB: "
            "validated against naima's published fit too.",
            {"source": "crab-2006"},
        ),
    }

    def run(self, config: SedNaimaConfig, context: RunContext) -> Outcome:
        """Fit the electron spectrum, compute We, plot and validate."""
        from gammapy.datasets import FluxPointsDataset
        from gammapy.modeling import Fit
        from gammapy.modeling.models import Models, SkyModel

        source = SOURCES[config.source]
        flux_points, label = load_flux_points(config, source, context)
        electrons = electrons_model(config, source, flux_points)
        sky_model = SkyModel(spectral_model=electrons.spectral, name="source")
        dataset = FluxPointsDataset(data=flux_points, models=[sky_model], name="sed")
        n_points = int(dataset.mask.sum())
        with context.step(
            f"fitting naima {config.radiation} to {n_points} flux points ({label})"
        ):
            result = Fit().run([dataset])
        parameters = fitted_parameters(electrons, config.we_min_tev)
        synchrotron = radiated_synchrotron(electrons, config)
        xray = (
            energy_flux(synchrotron, electrons.distance, 1, 10)
            if synchrotron is not None
            else None
        )
        context.keep(flux_points=flux_points, models=Models([sky_model]))
        model = (
            "inverse Compton"
            if electrons.synchrotron is None
            else "synchrotron + inverse Compton"
        )
        context.save_figure(
            plot_sed(
                flux_points,
                electrons.inverse_compton,
                synchrotron,
                electrons.seeds,
                electrons.distance,
                f"{label.split(',')[0]}: naima {model} model, "
                f"d = {electrons.distance:.3g}",
                f"Flux points: {label}",
            ),
            "sed.png",
        )
        Models([sky_model]).write(context.product("model.yaml"), overwrite=True)

        validation = _checks(config, source, parameters, electrons.distance, result)
        fit = {
            "success": bool(result.success),
            "chi2": float(result.total_stat),
            "n_points": n_points,
            "n_free_parameters": len(
                electrons.spectral.parameters.free_parameters.unique_parameters
            ),
        }
        extra = {
            "source": label,
            "distance_kpc": electrons.distance.to_value("kpc"),
            "seed_fields": [seed_record(field) for field in electrons.seeds],
            "radiation": config.radiation,
            "fit": fit,
            "we_erg": parameters["we"]["value"],
            "we_min_tev": config.we_min_tev,
            "synchrotron_energy_flux_1_10_kev": xray,
        }
        summary = _summary(config, label, parameters, electrons.distance, fit)
        return Outcome(parameters, validation, summary, extra)


def _checks(config, source: Source, parameters, distance, result) -> list:
    """Check the fit converged, the physical ranges, naima's fit where it applies.

    naima documents its fit for the source's own setup only: its data, seed
    fields, distance, radiation and W_e threshold.
    """
    default_setup = (
        config.flux_points is None
        and config.seed_fields is None
        and config.distance_kpc is None
        and config.radiation == "ic"
        and math.isclose(config.electrons.reference_tev, 10.0)
        and math.isclose(config.we_min_tev, 1.0)
    )
    validation = [
        check_bounds(
            Bounds(
                "fit_converged",
                1.0,
                1.0,
                "",
                "minuit (migrad) success flag",
                "a fit that did not converge has no meaningful parameters",
            ),
            float(result.success),
        )
    ]
    validation += physical_checks(config, source, parameters, distance)
    if default_setup and source.naima is not None:
        validation += naima_checks(source, parameters, float(result.total_stat))
    return validation


def _summary(config, label: str, parameters: dict, distance, fit: dict) -> list[str]:
    """Return the summary: the electron spectrum, W_e and the fit statistic."""
    alpha = parameters["alpha"]
    cutoff = parameters["e_cutoff"]
    we = parameters["we"]["value"]
    dof = fit["n_points"] - fit["n_free_parameters"]
    return [
        f"{label}: electrons index {alpha['value']:.3f} ± {alpha['error']:.3f}, "
        f"cutoff {cutoff['value']:.3g} ± {cutoff['error']:.2g} TeV, "
        f"amplitude {parameters['amplitude']['value']:.4g} /eV at "
        f"{config.electrons.reference_tev:g} TeV",
        f"W_e(> {config.we_min_tev:g} TeV) = {we:.3g} erg at {distance:.3g}; "
        f"chi2 {fit['chi2']:.2f} for {dof} degrees of freedom",
    ]


USECASE = SedNaima
