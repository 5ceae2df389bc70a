"""The electrons and their radiation: naima models fitted through Gammapy.

An exponential-cutoff power law of electrons radiates by inverse Compton on the
seed photon fields and, with ``radiation: syn-ic``, by synchrotron: naima's
models wrapped in Gammapy's `NaimaSpectralModel`, one electron population shared
by both. The total electron energy W_e and its error come from naima's
``compute_We`` over draws of the fitted covariance.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

from sat.usecases.sed_naima.config import SeedField
from sat.usecases.sed_naima.data import upper_limits


def seed_field(field):
    """Return naima's spec of a seed photon field: a built-in name or [name, T, u]."""
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


def seed_record(field) -> dict | str:
    """Return a seed photon field as result.json records it."""
    if isinstance(field, str):
        return field
    name, temperature, density = field
    return {
        "name": name,
        "temperature_k": temperature.to_value("K"),
        "energy_density_ev_cm3": density.to_value("eV cm-3"),
    }


def normalise(spectral, ic_model, flux_points) -> None:
    """Start the fit with the amplitude that matches the data (median ratio)."""
    import numpy as np

    table = flux_points.to_table(sed_type="dnde")
    good = np.isfinite(table["dnde"]) & ~upper_limits(table)
    energy = table["e_ref"].quantity[good]
    data = table["dnde"].quantity[good]
    ratio = (data / spectral(energy)).to_value("")
    ic_model.amplitude.value *= float(np.median(ratio))


def we_error(spectral, particles, inverse_compton, we_min) -> float:
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


def energy_flux(radiative, distance, low_kev: float, high_kev: float) -> float:
    """Energy flux (erg cm-2 s-1) of a naima model between two energies in keV."""
    import astropy.units as u
    import numpy as np

    energy = np.geomspace(low_kev, high_kev, 50) * u.keV
    sed = radiative.sed(energy, distance=distance).to_value("erg cm-2 s-1")
    return float(np.trapezoid(sed, np.log(energy.value)))


@dataclass
class Electrons:
    """One electron population and the radiation the fit sees.

    Attributes
    ----------
    particles : `naima.models.ExponentialCutoffPowerLaw`
        The electrons (their parameters are the fit's, through ``spectral``).
    inverse_compton : `naima.models.InverseCompton`
        Their inverse Compton emission on ``seeds``.
    spectral : `~gammapy.modeling.models.SpectralModel`
        What is fitted: the inverse Compton `NaimaSpectralModel`, plus the
        synchrotron one (sharing the electron parameters) with ``syn-ic``.
    synchrotron : `~gammapy.modeling.models.NaimaSpectralModel` or None
        The synchrotron part of ``spectral`` (None with ``ic``).
    seeds : list
        naima's seed photon fields.
    distance : `~astropy.units.Quantity`
        Distance of the source.
    energy_range : dict
        ``Eemin`` and ``Eemax`` of the electrons (naima's keywords).
    """

    particles: object
    inverse_compton: object
    spectral: object
    synchrotron: object | None
    seeds: list
    distance: object
    energy_range: dict


def electrons_model(config, source, flux_points) -> Electrons:
    """Build the electrons of ``config`` and their radiation, started on the data.

    Raises
    ------
    ConfigError
        ``fit_magnetic_field`` without synchrotron radiation.
    """
    import astropy.units as u
    import naima
    from gammapy.modeling.models import CompoundSpectralModel, NaimaSpectralModel

    from sat.errors import ConfigError

    distance = (config.distance_kpc or source.distance_kpc) * u.kpc
    seeds = [seed_field(field) for field in (config.seed_fields or source.seed_fields)]
    synchrotron = config.radiation == "syn-ic"
    if config.fit_magnetic_field and not synchrotron:
        raise ConfigError("key 'fit_magnetic_field': needs radiation: syn-ic")

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
    spectral, syn_model = ic_model, None
    if synchrotron:
        syn_model = NaimaSpectralModel(
            naima.models.Synchrotron(
                particles, B=magnetic_field(config), **energy_range
            ),
            distance=distance,
        )
        # One electron population: the synchrotron model shares (links) the
        # IC model's electron parameters.
        for name in particles.param_names:
            setattr(syn_model, name, getattr(ic_model, name))
        syn_model.B.frozen = not config.fit_magnetic_field
        spectral = CompoundSpectralModel(ic_model, syn_model, operator.add)
    normalise(spectral, ic_model, flux_points)
    return Electrons(
        particles, inverse_compton, spectral, syn_model, seeds, distance, energy_range
    )


def magnetic_field(config):
    """Return the magnetic field of the synchrotron (100 µG unless configured)."""
    import astropy.units as u

    return (config.magnetic_field_ug or 100.0) * u.uG


def fitted_parameters(electrons: Electrons, we_min_tev: float) -> dict:
    """Return the fitted parameters and W_e above ``we_min_tev``, with errors.

    Call after the fit: evaluating the model puts the best-fit values into the
    naima objects that W_e is computed from.
    """
    import astropy.units as u

    spectral = electrons.spectral
    spectral(1 * u.TeV)  # puts the best-fit values into the naima objects
    # The synchrotron model shares the electron parameters: list each once.
    free = spectral.parameters.free_parameters.unique_parameters
    parameters = {
        p.name: {"value": p.value, "error": p.error, "unit": p.unit.to_string()}
        for p in free
    }
    we_min = we_min_tev * u.TeV
    inverse_compton = electrons.inverse_compton
    we = inverse_compton.compute_We(Eemin=we_min).to_value("erg")
    error = we_error(spectral, electrons.particles, inverse_compton, we_min)
    parameters["we"] = {"value": we, "error": error, "unit": "erg"}
    return parameters


def radiated_synchrotron(electrons: Electrons, config):
    """Return naima's synchrotron of the fitted electrons, or None.

    With ``syn-ic`` in the fitted field; with ``ic`` and a ``magnetic_field_ug``
    in that field (drawn, not fitted); else None.
    """
    import naima

    if electrons.synchrotron is None and not config.magnetic_field_ug:
        return None
    field = (
        electrons.synchrotron.B.quantity
        if electrons.synchrotron is not None
        else magnetic_field(config)
    )
    return naima.models.Synchrotron(
        electrons.particles, B=field, **electrons.energy_range
    )
