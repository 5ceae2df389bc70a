"""Simulated DL3 runs against the model: a consistency check of its bookkeeping.

Runs simulated with Gammapy's event sampler from the same IRF (`simulate_runs`)
are compared with the model's predicted events and bytes (`check_against_files`):
not a validation (the model made them), but a check that the sums add up.
"""

from __future__ import annotations

import math
from pathlib import Path

from sat.datavolume.measure import field_geom


def simulate_runs(irf, cases, folder, half_width_deg, crab_fraction, seed=1):
    """Simulate DL3 runs of a field with Gammapy's event sampler and write them.

    Parameters
    ----------
    irf : str
        IRF name.
    cases : list of (float, float)
        (live time in hours, target offset in deg) of each run.
    folder : path-like
        Where the gzip event files go (``obs_NNNNNN.fits.gz``, run ``i`` has
        observation id ``i + 1``).
    half_width_deg : float
        Half-width of the simulated square field (as in `event_rate`).
    crab_fraction : float
        Target flux in Crab units.
    seed : int
        Seed of the first run.

    Returns
    -------
    list of (Path, float)
        Each file and its live time (s).
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from gammapy.modeling.models import (
        Models,
        PointSpatialModel,
        SkyModel,
        create_crab_spectral_model,
    )

    from sat.irf import true_energy_axis
    from sat.simulate import (
        SimulatedRun,
        create_observation,
        instrument,
        simulate_runs,
        simulation_dataset,
        transit_time,
    )

    array = instrument(irf)
    irfs, location = array.irfs, array.location
    pointing = SkyCoord(0, 0, unit="deg")
    geom = field_geom(pointing, half_width_deg, 0.03, 200)
    energy_axis_true = true_energy_axis(irfs, 0.03, 200, 5)

    def run(i: int, hours: float, offset: float) -> SimulatedRun:
        livetime = hours * u.h
        start = transit_time(pointing, location) - livetime / 2
        observation = create_observation(
            irfs, pointing, location, livetime, i + 1, start
        )
        spectrum = create_crab_spectral_model("magic_lp")
        spectrum.amplitude.value *= crab_fraction
        source = pointing.directional_offset_by(0 * u.deg, offset * u.deg)
        target = SkyModel(
            spectral_model=spectrum,
            spatial_model=PointSpatialModel.from_position(source),
            name="target",
        )
        dataset = simulation_dataset(observation, geom, energy_axis_true)
        return SimulatedRun(observation, dataset, Models([target]), seed + i)

    # One run at a time: a simulation dataset is large.
    runs = (run(i, hours, offset) for i, (hours, offset) in enumerate(cases))
    files = simulate_runs(runs, folder)
    livetimes = [(hours * u.h).to_value(u.s) for hours, _ in cases]
    return list(zip(files, livetimes, strict=True))


def check_against_files(files, rates_by_file, measured) -> list[dict]:
    """Compare predicted and actual sizes of DL3 files.

    Parameters
    ----------
    files : list of path-like
        Simulated DL3 event files (gzip, without IRFs).
    rates_by_file : list of (float, float)
        For each file: predicted event rate (Hz) and live time (s).
    measured : dict
        `measure_dl3` of OTHER files (bytes per event and overhead, gzip).

    Returns
    -------
    list of dict
        Per file: predicted and actual events and bytes, and their ratios.
    """
    from astropy.io import fits

    rows = []
    for path, (rate, livetime) in zip(files, rates_by_file, strict=True):
        with fits.open(path) as hdul:
            events = len(hdul["EVENTS"].data)
        predicted_events = rate * livetime
        predicted = (
            predicted_events * measured["bytes_per_event"]["gzip"]
            + measured["overhead_bytes"]["gzip"]
        )
        size = Path(path).stat().st_size
        rows.append(
            {
                "file": str(path),
                "livetime_s": livetime,
                "events": events,
                "predicted_events": predicted_events,
                "events_ratio": events / predicted_events,
                "bytes": size,
                "predicted_bytes": predicted,
                "bytes_ratio": size / predicted,
                "poisson_sigma": (events - predicted_events)
                / math.sqrt(predicted_events),
            }
        )
    return rows
