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
import operator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from sat.usecases.base import (
    Example,
    Outcome,
    RunContext,
    UseCase,
    UseCaseConfig,
)
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


class SeedField(UseCaseConfig):
    """A thermal seed photon field for inverse Compton."""

    name: str
    """Name of the field (a label in the figure and result.json)."""
    temperature_k: float = Field(gt=0)
    """Black-body temperature (K)."""
    energy_density_ev_cm3: float = Field(gt=0)
    """Energy density of the field (eV cm-3)."""


class ElectronsConfig(UseCaseConfig):
    """Electron spectrum: exponential-cutoff power law (start values of the fit)."""

    reference_tev: float = Field(10.0, gt=0)
    """Reference energy of the electron spectrum (TeV)."""
    index: float = 3.0
    """Power-law index of the electrons (start value of the fit)."""
    cutoff_tev: float = Field(30.0, gt=0)
    """Exponential cutoff energy of the electrons (TeV, start value)."""
    min_energy_tev: float = Field(1e-3, gt=0)
    """Lowest electron energy of the model (TeV)."""


class SedNaimaConfig(UseCaseConfig):
    """Configuration of the naima SED fit."""

    # rxj1713 by default: the source with a published naima fit to validate
    # against (crab-2006 has one too; crab, the DR1 points, has none).
    source: Literal["rxj1713", "crab-2006", "crab"] = "rxj1713"
    """Source and its flux points: rxj1713, crab-2006 (both with a published naima fit)
    or crab (H.E.S.S. DR1 points)."""
    flux_points: str | None = None
    """Flux points to fit instead: FITS/ECSV, a naima .dat table or a spectrum-1d
    result folder (null: the source's)."""
    distance_kpc: float | None = Field(None, gt=0)
    """Distance of the source (kpc; null: the source's)."""
    seed_fields: list[Literal["CMB", "FIR", "NIR"] | SeedField] | None = Field(
        None,
        examples=[
            ["CMB", "FIR"],
            ["CMB", {"name": "dust", "temperature_k": 30, "energy_density_ev_cm3": 1}],
        ],
    )
    """Seed photons of inverse Compton: CMB, FIR, NIR (naima's) or {name,
    temperature_k, energy_density_ev_cm3} (null: the source's)."""
    radiation: Literal["ic", "syn-ic"] = "ic"
    """Radiation fitted: ic (inverse Compton) or syn-ic (synchrotron and inverse
    Compton, needs X-ray data)."""
    # Synchrotron field: fitted with syn-ic if fit_magnetic_field (needs X-ray
    # data), else fixed; with ic it only draws the synchrotron the electrons make.
    magnetic_field_ug: float | None = Field(None, gt=0)
    """Magnetic field (µG) of the synchrotron drawn or fitted (null: none)."""
    fit_magnetic_field: bool = False
    """Fit the magnetic field (with syn-ic), else keep it fixed."""
    electrons: ElectronsConfig = Field(default_factory=ElectronsConfig)
    """Electron spectrum: exponential-cutoff power law."""
    we_min_tev: float = Field(1.0, gt=0)
    """Total electron energy W_e is given above this energy (TeV)."""


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
        import astropy.units as u
        import naima
        from gammapy.datasets import FluxPointsDataset
        from gammapy.modeling import Fit
        from gammapy.modeling.models import (
            CompoundSpectralModel,
            Models,
            NaimaSpectralModel,
            SkyModel,
        )

        from sat.errors import ConfigError

        source = SOURCES[config.source]
        flux_points, label = _load_flux_points(config, source, context)
        distance = (config.distance_kpc or source.distance_kpc) * u.kpc
        seeds = [_seed(field) for field in (config.seed_fields or source.seed_fields)]
        synchrotron = config.radiation == "syn-ic"
        if config.fit_magnetic_field and not synchrotron:
            raise ConfigError("key 'fit_magnetic_field': needs radiation: syn-ic")
        field = (config.magnetic_field_ug or 100.0) * u.uG

        electrons = config.electrons
        energy_range = {"Eemin": electrons.min_energy_tev * u.TeV, "Eemax": 1 * u.PeV}
        particles = naima.models.ExponentialCutoffPowerLaw(
            1.0 / u.eV,
            electrons.reference_tev * u.TeV,
            electrons.index,
            electrons.cutoff_tev * u.TeV,
        )
        inverse_compton = naima.models.InverseCompton(
            particles, seed_photon_fields=seeds, **energy_range
        )
        ic_model = NaimaSpectralModel(inverse_compton, distance=distance)
        ic_model.e_0.frozen = True
        ic_model.beta.frozen = True
        spectral = ic_model
        if synchrotron:
            syn_model = NaimaSpectralModel(
                naima.models.Synchrotron(particles, B=field, **energy_range),
                distance=distance,
            )
            # One electron population: the synchrotron model shares (links) the
            # IC model's electron parameters.
            for name in particles.param_names:
                setattr(syn_model, name, getattr(ic_model, name))
            syn_model.B.frozen = not config.fit_magnetic_field
            spectral = CompoundSpectralModel(ic_model, syn_model, operator.add)
        _normalise(spectral, ic_model, flux_points)

        sky_model = SkyModel(spectral_model=spectral, name="source")
        dataset = FluxPointsDataset(data=flux_points, models=[sky_model], name="sed")
        n_points = int(dataset.mask.sum())
        with context.step(
            f"fitting naima {config.radiation} to {n_points} flux points ({label})"
        ):
            result = Fit().run([dataset])
        spectral(1 * u.TeV)  # puts the best-fit values into the naima objects
        # The synchrotron model shares the electron parameters: list each once.
        free = spectral.parameters.free_parameters.unique_parameters
        parameters = {
            p.name: {"value": p.value, "error": p.error, "unit": p.unit.to_string()}
            for p in free
        }
        free = len(free)
        we_min = config.we_min_tev * u.TeV
        we = inverse_compton.compute_We(Eemin=we_min).to_value("erg")
        we_error = _we_error(spectral, particles, inverse_compton, we_min)
        parameters["we"] = {"value": we, "error": we_error, "unit": "erg"}

        synchrotron_model = None
        if synchrotron or config.magnetic_field_ug:
            synchrotron_model = naima.models.Synchrotron(
                particles,
                B=syn_model.B.quantity if synchrotron else field,
                **energy_range,
            )
        xray = (
            _energy_flux(synchrotron_model, distance, 1, 10)
            if synchrotron_model is not None
            else None
        )
        context.keep(flux_points=flux_points, models=Models([sky_model]))
        model = "synchrotron + inverse Compton" if synchrotron else "inverse Compton"
        context.save_figure(
            _plot_sed(
                flux_points,
                inverse_compton,
                synchrotron_model,
                seeds,
                distance,
                f"{label.split(',')[0]}: naima {model} model, d = {distance:.3g}",
                f"Flux points: {label}",
            ),
            "sed.png",
        )
        Models([sky_model]).write(context.product("model.yaml"), overwrite=True)

        default_setup = (
            config.flux_points is None
            and config.seed_fields is None
            and config.distance_kpc is None
            and config.radiation == "ic"
            and math.isclose(electrons.reference_tev, 10.0)
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
        validation += _physical_checks(config, source, parameters, distance)
        if default_setup and source.naima is not None:
            validation += _naima_checks(source, parameters, float(result.total_stat))

        alpha = parameters["alpha"]
        cutoff = parameters["e_cutoff"]
        summary = [
            f"{label}: electrons index {alpha['value']:.3f} ± {alpha['error']:.3f}, "
            f"cutoff {cutoff['value']:.3g} ± {cutoff['error']:.2g} TeV, "
            f"amplitude {parameters['amplitude']['value']:.4g} /eV at "
            f"{electrons.reference_tev:g} TeV",
            f"W_e(> {config.we_min_tev:g} TeV) = {we:.3g} erg at {distance:.3g}; "
            f"chi2 {result.total_stat:.2f} for {n_points - free} degrees of freedom",
        ]
        extra = {
            "source": label,
            "distance_kpc": distance.to_value("kpc"),
            "seed_fields": [_seed_record(field) for field in seeds],
            "radiation": config.radiation,
            "fit": {
                "success": bool(result.success),
                "chi2": float(result.total_stat),
                "n_points": n_points,
                "n_free_parameters": free,
            },
            "we_erg": we,
            "we_min_tev": config.we_min_tev,
            "synchrotron_energy_flux_1_10_kev": xray,
        }
        return Outcome(parameters, validation, summary, extra)


def _seed(field):
    # naima's seed-field spec: a built-in name or [name, T, u].
    import astropy.units as u

    if isinstance(field, str):
        return field
    if isinstance(field, dict):
        field = SeedField(**field)
    return [
        field.name,
        field.temperature_k * u.K,
        field.energy_density_ev_cm3 * u.eV / u.cm**3,
    ]


def _seed_record(field) -> dict | str:
    if isinstance(field, str):
        return field
    name, temperature, density = field
    return {
        "name": name,
        "temperature_k": temperature.to_value("K"),
        "energy_density_ev_cm3": density.to_value("eV cm-3"),
    }


def _load_flux_points(config: SedNaimaConfig, source: Source, context: RunContext):
    """Return the flux points to fit and a label for them."""
    from gammapy.estimators import FluxPoints

    from sat.data import require
    from sat.errors import DataError, reading

    if config.flux_points is None:
        path = require(source.dataset) / source.file
        label = source.label
    else:
        path = Path(config.flux_points)
        if path.is_dir():
            # A spectrum-1d result folder.
            path = path / "flux_points.ecsv"
        if not path.is_file():
            raise DataError(
                f"key 'flux_points': no file {path} (give a flux-points FITS/ECSV "
                "file, a naima .dat table or a spectrum-1d result folder)"
            )
        label = f"{path.name} ({config.source})"
    context.add_inputs(path)
    with reading(path):
        try:
            if path.suffix == ".dat":
                return _read_naima_table(path), label
            return FluxPoints.read(path), label
        except IndexError as error:  # astropy's IPAC reader on a mangled header
            raise ValueError(f"malformed table ({error})") from None


def _read_naima_table(path: Path):
    """Read a naima-style IPAC spectrum into Gammapy `FluxPoints` (dN/dE)."""
    import numpy as np
    from astropy.io import ascii
    from astropy.table import Table
    from gammapy.estimators import FluxPoints
    from naima.utils import validate_data_table

    table = ascii.read(path, format="ipac")
    # Older naima examples name the columns ene / flux_elo / flux_ehi.
    for old, new in (
        ("ene", "energy"),
        ("flux_elo", "flux_error_lo"),
        ("flux_ehi", "flux_error_hi"),
    ):
        if old in table.colnames and new not in table.colnames:
            table.rename_column(old, new)
    data = validate_data_table(table)
    unit = "cm-2 s-1 TeV-1"
    flux = data["flux"].to(unit)
    points = Table(
        {
            "e_ref": data["energy"].to("TeV"),
            "dnde": flux,
            "dnde_errn": data["flux_error_lo"].to(unit),
            "dnde_errp": data["flux_error_hi"].to(unit),
            # Gammapy's chi2 wants a symmetric error too.
            "dnde_err": (data["flux_error_lo"] + data["flux_error_hi"]).to(unit) / 2,
            "is_ul": np.asarray(data["ul"], dtype=bool),
            "dnde_ul": np.where(data["ul"], flux.value, np.nan) * flux.unit,
        },
        meta={"SED_TYPE": "dnde"},
    )
    return FluxPoints.from_table(points, sed_type="dnde")


def _normalise(spectral, ic_model, flux_points) -> None:
    """Start the fit with the amplitude that matches the data (median ratio)."""
    import numpy as np

    table = flux_points.to_table(sed_type="dnde")
    good = np.isfinite(table["dnde"]) & ~_upper_limits(table)
    energy = table["e_ref"].quantity[good]
    data = table["dnde"].quantity[good]
    ratio = (data / spectral(energy)).to_value("")
    ic_model.amplitude.value *= float(np.median(ratio))


def _upper_limits(table):
    """Return the upper-limit flags of a flux-points table (all False if none)."""
    import numpy as np

    if "is_ul" not in table.colnames:
        return np.zeros(len(table), dtype=bool)
    return np.asarray(table["is_ul"], dtype=bool)


def _we_error(spectral, particles, inverse_compton, we_min) -> float:
    """Return the spread of W_e over 200 draws of the fitted covariance (seed 0)."""
    import numpy as np

    names = ["amplitude", "alpha", "e_cutoff"]
    found = {p.name: p for p in spectral.parameters.free_parameters if p.name in names}
    chosen = [found[name] for name in names if name in found]
    covariance = spectral.covariance.get_subcovariance(chosen).data
    if not np.all(np.isfinite(covariance)) or np.any(np.diag(covariance) <= 0):
        return float("nan")
    values = [p.value for p in chosen]
    saved = {name: getattr(particles, name) for name in names}
    # Draw from the correlation matrix: the parameters' scales differ by ~1e30,
    # which defeats numpy's positive-definiteness check on the covariance itself.
    sigma = np.sqrt(np.diag(covariance))
    try:
        unit_draws = np.random.default_rng(0).multivariate_normal(
            np.zeros(len(values)),
            covariance / np.outer(sigma, sigma),
            200,
            check_valid="raise",
        )
    except ValueError:  # not positive semi-definite: no usable covariance
        return float("nan")
    draws = np.asarray(values) + unit_draws * sigma
    results = []
    try:
        for draw in draws:
            if np.any(draw <= 0):
                continue  # amplitude and cutoff must stay positive
            for parameter, value in zip(chosen, draw, strict=True):
                setattr(particles, parameter.name, value * parameter.unit)
            results.append(inverse_compton.compute_We(Eemin=we_min).to_value("erg"))
    finally:
        for name, value in saved.items():
            setattr(particles, name, value)
    if len(results) < 50:
        return float("nan")
    # Half the 16-84 % range: robust to the long tail of poorly constrained fits.
    return float(np.diff(np.percentile(results, [16, 84]))[0] / 2)


def _energy_flux(radiative, distance, low_kev: float, high_kev: float) -> float:
    """Energy flux (erg cm-2 s-1) of a naima model between two energies in keV."""
    import astropy.units as u
    import numpy as np

    energy = np.geomspace(low_kev, high_kev, 50) * u.keV
    sed = radiative.sed(energy, distance=distance).to_value("erg cm-2 s-1")
    return float(np.trapezoid(sed, np.log(energy.value)))


def _physical_checks(config, source: Source, parameters: dict, distance) -> list:
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


def _naima_checks(source: Source, parameters: dict, chi2: float) -> list:
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


def _plot_sed(flux_points, inverse_compton, synchrotron, seeds, distance, title, what):
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
    upper = _upper_limits(table)

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


USECASE = SedNaima
