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

The package holds one capability per module: ``ebl`` (the EBL tables and the
absorbed power law, shared with ``grb-followup``), ``config``, ``real_data`` (a),
``references`` (the published spectra, de-absorbed, and the checks against
them), ``simulation`` (b) and ``plots``; this module, the use case.
"""

from __future__ import annotations

from typing import ClassVar

from sat.usecases.base import Example, Outcome, RunContext, UseCase
from sat.usecases.ebl_absorption.config import (
    EblAbsorptionConfig,
    EblNormTest,
    EblSimulation,
)
from sat.usecases.ebl_absorption.ebl import (
    DEFAULT_EBL,
    EBL_TABLES,
    EblChoice,
    EblModelName,
    EblTable,
    absorption_of,
    ebl_absorption,
    intrinsic,
    power_law,
)
from sat.usecases.ebl_absorption.plots import plot_pulls
from sat.usecases.ebl_absorption.real_data import real_data
from sat.usecases.ebl_absorption.references import (
    HESS_2010,
    MOHRMANN,
    ObservedSpectrum,
    published_spectra,
)
from sat.usecases.ebl_absorption.simulation import simulation_tests

# The use case's public API (documented on its page); each name lives in the
# submodule it is imported from.
__all__ = [
    "DEFAULT_EBL",
    "EBL_TABLES",
    "HESS_2010",
    "MOHRMANN",
    "USECASE",
    "EblAbsorption",
    "EblAbsorptionConfig",
    "EblChoice",
    "EblModelName",
    "EblNormTest",
    "EblSimulation",
    "EblTable",
    "ObservedSpectrum",
    "absorption_of",
    "ebl_absorption",
    "intrinsic",
    "power_law",
    "published_spectra",
]


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
        real = real_data(config, context)
        simulated = simulation_tests(config, context)
        sim = config.simulation
        what = (
            f"Simulated: {sim.n_seeds} observations of {sim.livetime_h:g} h (one per "
            f"seed) with {sim.irf}, a source at z = {sim.redshift:g} "
            f"({sim.ebl_model} EBL), {sim.offset_deg:g}° from the pointing; EBL norm: "
            f"{sim.ebl_norm.n_seeds} of {sim.ebl_norm.livetime_h:g} h, "
            f"{sim.ebl_norm.flux_factor:g}× brighter"
        )
        context.save_figure(plot_pulls(simulated, what), "pulls.png", dpi=110)
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


USECASE = EblAbsorption
