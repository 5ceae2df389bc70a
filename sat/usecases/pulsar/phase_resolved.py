"""The phase-resolved analysis: an ON/OFF pulsed spectrum of a CTA 1DC pulsar.

The Vela pulsar in the CTA 1DC run 111630, whose events carry a PHASE column:
phasogram, on/off phase ranges, `PhaseBackgroundMaker` ON/OFF spectrum (exposure
corrected for the PSF share inside the ON region), excess, significance,
power-law fit and flux points, as in Gammapy's "pulsar analysis" tutorial. It is
validated against the truth of the simulation (`sat.usecases.pulsar.truth`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sat.usecases.pulsar.config import PhaseResolvedConfig
from sat.usecases.pulsar.plots import plot_onoff_phasogram, plot_spectrum
from sat.usecases.pulsar.truth import phase_resolved_checks, pulsed_truth, truth_index

if TYPE_CHECKING:
    from sat.usecases.base import RunContext


def phase_resolved(config: PhaseResolvedConfig, context: RunContext) -> dict:
    """ON/OFF phase-resolved spectrum of a CTA 1DC pulsar with Gammapy."""
    import astropy.units as u
    import numpy as np
    from astropy.coordinates import SkyCoord
    from gammapy.utils.regions import SphericalCircleSkyRegion

    observation = _read_run(config, context)
    position = SkyCoord(config.ra_deg, config.dec_deg, unit="deg", frame="icrs")
    region = SphericalCircleSkyRegion(position, config.on_radius_deg * u.deg)
    on_phase = [tuple(interval) for interval in config.on_phase]
    off_phase = [tuple(interval) for interval in config.off_phase]
    phases = np.asarray(observation.events.select_region(region).table["PHASE"])

    dataset = _onoff_dataset(observation, region, on_phase, off_phase, context)
    with np.errstate(over="ignore", invalid="ignore"):  # see the fit below
        info = dataset.info_dict()
    alpha = float(info["alpha"])
    excess_error = math.sqrt(info["counts"] + alpha**2 * info["counts_off"])
    sky_model, result, parameters, flux_points = _fit(dataset, config, context)
    _products(
        dataset, sky_model, flux_points, observation, phases, alpha, config, context
    )

    truth = pulsed_truth(observation, region, on_phase, off_phase, alpha, dataset)
    truth_fit = None
    if truth is not None:
        truth_fit = {
            "on_phase": truth_index(
                dataset, observation, region, on_phase, start_model("truth", config)
            ),
            "all_phases": truth_index(
                dataset, observation, region, [(0.0, 1.0)], start_model("truth", config)
            ),
        }
    validation = phase_resolved_checks(
        config, info, excess_error, parameters, truth, truth_fit
    )
    index = parameters["index"]
    return {
        "obs_id": config.obs_id,
        "on_phase": [list(i) for i in on_phase],
        "off_phase": [list(i) for i in off_phase],
        "alpha": alpha,
        "n_on": int(info["counts"]),
        "n_off": int(info["counts_off"]),
        "excess": float(info["excess"]),
        "excess_error": excess_error,
        "sqrt_ts": float(info["sqrt_ts"]),
        "true_pulsed_excess": truth,
        "true_photons_index": None
        if truth_fit is None
        else {
            name: None if fit is None else {"value": fit[0], "error": fit[1]}
            for name, fit in truth_fit.items()
        },
        "fit": {"success": bool(result.success), "total_stat": result.total_stat},
        "parameters": parameters,
        "validation": validation,
        "summary": [
            f"run {config.obs_id}: ON {info['counts']}, OFF {info['counts_off']} "
            f"(alpha {alpha:.3g}), excess {info['excess']:.1f} ± {excess_error:.1f}, "
            f"{info['sqrt_ts']:.2f} sigma"
            + (f" (simulated pulsed excess {truth:.1f})" if truth is not None else ""),
            f"power law index {index['value']:.2f} ± {index['error']:.2f}"
            + (
                f"; the simulated pulsar photons alone: {truth_fit['on_phase'][0]:.2f}"
                f" ± {truth_fit['on_phase'][1]:.2f} (ON phases), "
                f"{truth_fit['all_phases'][0]:.2f} ± {truth_fit['all_phases'][1]:.2f}"
                " (all phases)"
                if truth_fit is not None and None not in truth_fit.values()
                else ""
            ),
        ],
    }


def _read_run(config: PhaseResolvedConfig, context: RunContext):
    """Read the run from the CTA 1DC index; refuse one that is not phased."""
    from sat.data import require
    from sat.dl3.store import events_file, observation_files, open_store, run_ids
    from sat.errors import DataError, reading

    store = open_store(require("cta-1dc") / "index" / "gps")
    if config.obs_id not in run_ids(store):
        raise DataError(
            f"key 'phase_resolved.obs_id': run {config.obs_id} is not in the CTA 1DC "
            f"index (runs: {', '.join(map(str, run_ids(store)))})"
        )
    context.add_inputs(*observation_files(store, config.obs_id))
    with (
        context.step(f"reading run {config.obs_id}"),
        reading(events_file(store, config.obs_id)),
    ):
        observation = store.obs(config.obs_id)
        events = observation.events
    if "PHASE" not in events.table.colnames:
        raise DataError(f"run {config.obs_id} has no PHASE column: not phased")
    return observation


def _onoff_dataset(observation, region, on_phase, off_phase, context):
    """Return the ON/OFF spectrum of the region, OFF from the off phases."""
    from gammapy.datasets import SpectrumDataset
    from gammapy.makers import (
        PhaseBackgroundMaker,
        SafeMaskMaker,
        SpectrumDatasetMaker,
    )
    from gammapy.maps import MapAxis, RegionGeom

    energy_true = MapAxis.from_energy_bounds(
        0.003, 10, 100, unit="TeV", name="energy_true"
    )
    energy = MapAxis.from_energy_bounds(0.01, 10, 30, unit="TeV", name="energy")
    geom = RegionGeom.create(region=region, axes=[energy])
    with context.step("ON/OFF spectrum (PhaseBackgroundMaker)"):
        empty = SpectrumDataset.create(
            geom=geom, energy_axis_true=energy_true, name="vela"
        )
        # The ON region (0.2 deg) holds an energy-dependent share of the PSF at
        # 40-400 GeV (the 68 % radius is ~0.2 deg at 40 GeV): without correcting
        # the exposure for it the fitted index comes out ~0.3 too hard.
        dataset = SpectrumDatasetMaker(containment_correction=True).run(
            empty, observation
        )
        maker = PhaseBackgroundMaker(on_phase=on_phase, off_phase=off_phase)
        dataset = maker.run(dataset, observation)
        dataset = SafeMaskMaker(
            methods=["aeff-default", "edisp-bias"], bias_percent=20
        ).run(dataset, observation)
    return dataset


def start_model(name: str, config: PhaseResolvedConfig):
    """Return the power law a fit starts from (index 4, as Gammapy's tutorial)."""
    from sat.usecases.models import power_law

    return power_law(name, config.reference_energy_tev, index=4, amplitude=1e-10)


def _fit(dataset, config: PhaseResolvedConfig, context):
    """Fit a power law over ``fit_energy_tev``, then flux points.

    Returns the model, the fit result, the fitted parameters (``{name: {"value",
    "error", "unit"}}``) and the flux points.
    """
    import astropy.units as u
    import numpy as np
    from gammapy.estimators import FluxPointsEstimator
    from gammapy.modeling import Fit
    from gammapy.modeling.models import Models

    from sat.usecases.base import fitted_parameters

    sky_model = start_model("pulsar", config)
    dataset.models = [sky_model]
    emin, emax = config.fit_energy_tev * u.TeV
    dataset.mask_fit = dataset.counts.geom.energy_mask(energy_min=emin, energy_max=emax)
    # WStat overflows (harmlessly) where minuit and the norm scans probe extreme
    # amplitudes: keep those numpy warnings off the terminal.
    with (
        context.step(f"power-law fit {emin:.2g} - {emax:.2g}"),
        np.errstate(over="ignore", invalid="ignore"),
    ):
        result = Fit().run([dataset])
    parameters = fitted_parameters(Models([sky_model]))
    edges = np.geomspace(emin.value, emax.value, 7) * u.TeV
    with context.step("flux points"), np.errstate(over="ignore", invalid="ignore"):
        flux_points = FluxPointsEstimator(
            energy_edges=edges, source="pulsar", selection_optional=[]
        ).run([dataset])
    return sky_model, result, parameters, flux_points


def _products(
    dataset, sky_model, flux_points, observation, phases, alpha, config, context
):
    """Write the model, dataset and flux points; draw the phasogram and spectrum."""
    import astropy.units as u
    from gammapy.datasets import Datasets
    from gammapy.modeling.models import Models

    from sat.plots import ObservationSummary

    Models([sky_model]).write(context.product("phase_resolved/model.yaml"))
    dataset.write(context.product("phase_resolved/dataset.fits"))
    flux_points.write(
        context.product("phase_resolved/flux_points.ecsv"), sed_type="e2dnde"
    )
    context.keep(
        datasets=Datasets([dataset]),
        models=Models([sky_model]),
        flux_points=flux_points,
    )
    what = ObservationSummary.from_observations([observation]).text()
    context.save_figure(
        plot_onoff_phasogram(phases, config, alpha, what),
        "phase_resolved/phasogram.png",
    )
    emin, emax = config.fit_energy_tev * u.TeV
    context.save_figure(
        plot_spectrum(flux_points, sky_model, (emin, emax), what),
        "phase_resolved/sed.png",
    )
