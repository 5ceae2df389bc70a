"""The sources this use case knows, their references and the checks against them.

``rxj1713`` and ``crab-2006`` are naima's own examples, whose fit naima
documents: the run is compared with it parameter by parameter and by the fit
statistic at the optimum (`naima_checks`). Every source has physical ranges of
the electron index and total energy (`physical_checks`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sat.validation import Bounds, Reference, check_bounds, compare

NAIMA_DOCS = "naima documentation, {} example (docs/_static/{}_results.ecsv)"


# Same data, same naima radiative model, distance and seed fields as naima's
# example: only the minimiser (minuit maximum likelihood here, naima's emcee
# maximum-likelihood pars there) and the chi2 (Gammapy takes the mean of
# asymmetric errors) differ, so agreement must be far inside the posterior width.
N_SIGMA = 0.5


# The fit statistic at the optimum: Gammapy's chi2 against -2 x naima's maximum
# log-likelihood of the same data and model. A change of 1 in chi2 is what moves
# one parameter by its 1-sigma error, so a larger difference is another optimum.
CHI2_TOLERANCE = 1.0


CHI2_WHY = (
    "same data and model; a chi2 difference of 1 is a 1-sigma move of one "
    "parameter, so a larger one means a different optimum (or different data)"
)


WHY = (
    "same data, naima model, distance and seed fields as naima's example; only the "
    "minimiser and the chi2's treatment of asymmetric errors differ"
)


CRAB_INDEX = (
    2.5,
    4.5,
    "TeV photon index 2.4-2.7 of the Crab maps to p = 2 Gamma - 1 = 3.8-4.4 for "
    "Thomson IC on the CMB without a cutoff, harder with one; the X-ray synchrotron "
    "index ~2.1 of the same electrons gives p ~ 3.2; naima's fit of H.E.S.S. 2006 "
    "gives 3.37",
)


CRAB_WE = (
    1e48,
    4e49,
    "naima's fit of H.E.S.S. 2006 gives 6.1e48 erg at 2 kpc; the pulsar's rotational "
    "energy lost since AD 1054 (~4e49 erg) bounds what electrons can hold",
)


RXJ_INDEX = (
    2.0,
    3.2,
    "between strong-shock acceleration (p = 2) and a cooled spectrum (p + 1) with "
    "margin; naima's fit of H.E.S.S. 2007 gives 2.58 +- 0.11",
)


RXJ_WE = (
    1e46,
    1e48,
    "an order of magnitude around naima's leptonic fit (1.17e47 erg at 1 kpc), far "
    "below the ~1e51 erg of the supernova",
)


FIR_RXJ = {"name": "FIR", "temperature_k": 26.5, "energy_density_ev_cm3": 0.415}


@dataclass(frozen=True)
class Source:
    """A source this use case knows: its data, distance, seed fields, references."""

    label: str
    dataset: str
    file: str
    distance_kpc: float
    seed_fields: tuple
    index_bounds: tuple
    we_bounds: tuple
    # naima's documented fit: {parameter: (value, error)}, We in erg.
    naima: dict | None = None
    naima_example: str = ""
    # -2 x naima's MaxLogLikelihood (chi2 at naima's optimum).
    naima_chi2: float | None = None


SOURCES = {
    "crab": Source(
        "Crab Nebula, H.E.S.S. DR1 flux points",
        "crab-hess-fp",
        "crab_hess_fp.fits",
        2.0,
        ("CMB",),
        CRAB_INDEX,
        CRAB_WE,
    ),
    "crab-2006": Source(
        "Crab Nebula, H.E.S.S. 2006 (Aharonian et al. 2006, A&A 457, 899)",
        "naima-spectra",
        "CrabNebula_HESS_2006.dat",
        2.0,
        ("CMB",),
        CRAB_INDEX,
        CRAB_WE,
        # ML_pars [2.4154e33, 3.3451, log10 1.65532]; posterior widths; We median.
        {
            "amplitude": (2.4154e33, 1.02e32),
            "alpha": (3.3451, 0.094),
            "e_cutoff": (45.22, 8.93),
            "we": (6.122e48, 8.2e47),
        },
        "CrabNebula_IC",
        2 * 9.503598344729546,
    ),
    "rxj1713": Source(
        "RX J1713.7-3946, H.E.S.S. 2007 (Aharonian et al. 2007, A&A 464, 235; "
        "erratum 2011)",
        "naima-spectra",
        "RXJ1713_HESS_2007.dat",
        1.0,
        ("CMB", FIR_RXJ),
        RXJ_INDEX,
        RXJ_WE,
        # ML_pars [1.36433e32, 2.58722, log10 1.70608]; posterior widths; We median.
        {
            "amplitude": (1.3643e32, 9.54e30),
            "alpha": (2.5872, 0.110),
            "e_cutoff": (50.82, 13.75),
            "we": (1.1725e47, 1.14e46),
        },
        "RXJ1713_IC",
        2 * 17.986099583257328,
    ),
}


def physical_checks(config, source: Source, parameters: dict, distance) -> list:
    """Check the electron index (and W_e at the source's distance) are physical."""
    low, high, why = source.index_bounds
    origin = f"physical range for {config.source}"
    checks = [
        check_bounds(
            Bounds("alpha", low, high, "", origin, why),
            parameters["alpha"]["value"],
            parameters["alpha"]["error"],
        )
    ]
    if math.isclose(distance.to_value("kpc"), source.distance_kpc):
        low, high, why = source.we_bounds
        checks.append(
            check_bounds(
                Bounds("we", low, high, "erg", origin, why),
                parameters["we"]["value"],
                parameters["we"]["error"],
            )
        )
    return checks


def naima_checks(source: Source, parameters: dict, chi2: float) -> list:
    """Compare with naima's documented fit of the same data and model.

    Parameters
    ----------
    source : Source
        A source with a documented naima fit.
    parameters : dict
        The fitted parameters (``{name: {"value", "error", "unit"}}``) and ``we``.
    chi2 : float
        Gammapy's fit statistic at the optimum.
    """
    units = {"amplitude": "1 / eV", "alpha": "", "e_cutoff": "TeV", "we": "erg"}
    origin = NAIMA_DOCS.format(source.naima_example, source.naima_example)
    checks = []
    for name, (value, error) in source.naima.items():
        measured = parameters[name]
        reference = Reference(name, value, error, units[name], origin, N_SIGMA, WHY)
        measured_error = measured["error"]
        checks.append(
            compare(
                reference,
                measured["value"],
                measured_error if math.isfinite(measured_error) else 0.0,
            )
        )
    if source.naima_chi2 is not None:
        checks.append(
            compare(
                Reference(
                    "chi2",
                    source.naima_chi2,
                    CHI2_TOLERANCE,
                    "",
                    f"{origin}: -2 x MaxLogLikelihood",
                    1.0,
                    CHI2_WHY,
                ),
                chi2,
            )
        )
    return checks
