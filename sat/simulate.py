"""Simulated CTAO observations written as GADF DL3, on Gammapy's event sampler.

A simulated observation is an `Observation` built from a named CTAO IRF at a CTAO
site, its `MapDataset` (Gammapy's `MapDatasetMaker`), events drawn by Gammapy's
`MapDatasetEventSampler`, and an event file written by `Observation.write`.
`simulate_runs` is the loop of every simulation (ctao-simulate, survey, the data
volume model): draw each run's events, write them, and index them (obs-index,
hdu-index) so that `gammapy.data.DataStore.from_dir` reads them back like real
data.

Examples
--------
Ten minutes of CTAO-South on a point source at culmination, written as DL3 and
read back as Gammapy reads real data (``ctao-sat run ctao-simulate`` does this
for many seeds, with the analysis and the pull test):

>>> import astropy.units as u
>>> from astropy.coordinates import SkyCoord
>>> from gammapy.data import DataStore
>>> from gammapy.maps import MapAxis, WcsGeom
>>> from gammapy.modeling.models import (
...     Models, PointSpatialModel, PowerLawSpectralModel, SkyModel
... )
>>> from sat.simulate import (
...     SimulatedRun, create_observation, instrument, simulate_runs,
...     simulation_dataset, transit_time,
... )
>>> south = instrument("prod5-south-z20-50h")  # the IRFs and their site
>>> source = SkyCoord(83.633, -4.68, unit="deg")
>>> pointing = source.directional_offset_by(0 * u.deg, 0.5 * u.deg)
>>> start = transit_time(pointing, south.location)
>>> observation = create_observation(
...     south.irfs, pointing, south.location, 10 * u.min, 1, start
... )
>>> energy = MapAxis.from_energy_bounds("0.1 TeV", "100 TeV", 10)
>>> geom = WcsGeom.create(skydir=pointing, width=3, binsz=0.02, axes=[energy])
>>> true_energy = MapAxis.from_energy_bounds(
...     "0.05 TeV", "150 TeV", 20, name="energy_true"
... )
>>> crab_like = SkyModel(
...     spectral_model=PowerLawSpectralModel(amplitude="3e-11 cm-2 s-1 TeV-1"),
...     spatial_model=PointSpatialModel.from_position(source),
...     name="source",
... )
>>> run = SimulatedRun(
...     observation, simulation_dataset(observation, geom, true_energy),
...     Models([crab_like]), seed=1,
... )
>>> written = simulate_runs([run], "dl3", irf_file=south.path)
>>> store = DataStore.from_dir("dl3")  # read back like real data
>>> events = len(store.obs(1).events.table)
>>> events > 1000  # a 10-min CTAO run: background and source events
True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "REFERENCE_DATE",
    "Instrument",
    "SimulatedRun",
    "create_observation",
    "instrument",
    "sample_events",
    "simulate_runs",
    "simulation_dataset",
    "transit_time",
]

# Simulated observations start on this night (UTC); any date inside the bundled
# IERS tables works, this one only fixes the DL3 time stamps.
REFERENCE_DATE = "2025-01-01T00:00:00"
# Length of a sidereal day in solar days.
_SIDEREAL = 0.9972695663


@dataclass(frozen=True)
class Instrument:
    """What a simulation observes with: a named CTAO IRF at its site.

    Attributes
    ----------
    info : `sat.irf.IrfInfo`
        The IRF's catalogue entry (site, zenith angle, ...).
    path : Path
        Its file (an input of the run's provenance).
    irfs : dict
        The IRFs, read by Gammapy.
    location : `~astropy.coordinates.EarthLocation`
        The site.
    """

    info: object
    path: Path
    irfs: dict
    location: object


def instrument(name: str) -> Instrument:
    """Return the IRF ``name`` (`sat.irf`), its file, and its site (`sat.sites`)."""
    from sat.irf import irf_info, irf_path, load_irf
    from sat.sites import get_site

    info = irf_info(name)
    return Instrument(info, irf_path(name), load_irf(name), get_site(info.site))


def transit_time(position, location, after: str = REFERENCE_DATE):
    """Return the first upper culmination of ``position`` at ``location``.

    Parameters
    ----------
    position : `~astropy.coordinates.SkyCoord`
        Sky position (ICRS).
    location : `~astropy.coordinates.EarthLocation`
        Observatory.
    after : str
        UTC start of the search (ISO time).

    Returns
    -------
    `~astropy.time.Time`
        When the hour angle of ``position`` is zero (local sidereal time = RA).
    """
    import astropy.units as u
    from astropy.time import Time

    start = Time(after, scale="utc")
    sidereal = start.sidereal_time("mean", longitude=location.lon)
    hours = (position.icrs.ra - sidereal).wrap_at(360 * u.deg).to_value(u.hourangle)
    return start + hours * _SIDEREAL * u.h


def create_observation(irfs, pointing, location, livetime, obs_id, tstart):
    """Create an observation without events (Gammapy's `Observation.create`).

    Parameters
    ----------
    irfs : dict
        Gammapy IRFs (`sat.irf.load_irf`).
    pointing : `~astropy.coordinates.SkyCoord`
        Fixed ICRS pointing position.
    location : `~astropy.coordinates.EarthLocation`
        Observatory (`sat.sites.get_site`).
    livetime : `~astropy.units.Quantity`
        Live time.
    obs_id : int
        Observation id.
    tstart : `~astropy.time.Time`
        Start time.
    """
    from gammapy.data import FixedPointingInfo, Observation

    return Observation.create(
        pointing=FixedPointingInfo(fixed_icrs=pointing.icrs),
        location=location,
        obs_id=obs_id,
        livetime=livetime,
        tstart=tstart,
        irfs=irfs,
        reference_time=tstart,
    )


def simulation_dataset(observation, geom, energy_axis_true, name: str = "simulation"):
    """Return the `MapDataset` (exposure, background, PSF, edisp) to sample from.

    Parameters
    ----------
    observation : `~gammapy.data.Observation`
        The observation to simulate (its IRFs, pointing and live time).
    geom : `~gammapy.maps.WcsGeom`
        Sky geometry with the reconstructed-energy axis; events outside are lost.
    energy_axis_true : `~gammapy.maps.MapAxis`
        True-energy axis.
    name : str
        Dataset name (the background model's ``dataset_name``).
    """
    from gammapy.datasets import MapDataset
    from gammapy.makers import MapDatasetMaker
    from gammapy.maps import MapAxis

    # The sampler draws E_reco / E_true from a migration map (not a kernel): bins
    # of 0.02, several per sigma at the best resolution of the CTAO IRFs (~6 %).
    migra = MapAxis.from_bounds(0.2, 5, nbin=240, node_type="edges", name="migra")
    empty = MapDataset.create(
        geom, energy_axis_true=energy_axis_true, migra_axis=migra, name=name
    )
    maker = MapDatasetMaker(selection=["exposure", "background", "psf", "edisp"])
    return maker.run(empty, observation)


def sample_events(dataset, observation, models, seed: int):
    """Draw the events of ``observation`` and attach them to it.

    Parameters
    ----------
    dataset : `~gammapy.datasets.MapDataset`
        From `simulation_dataset` (for the same pointing, IRFs and live time).
    observation : `~gammapy.data.Observation`
        Receives the events (and gives the EVENTS header its metadata).
    models : `~gammapy.modeling.models.Models`
        Source models; the IRF background is always sampled too.
    seed : int
        Seed of the random generator: the same seed gives the same events.

    Returns
    -------
    `~gammapy.data.Observation`
        ``observation`` with its events.
    """
    from gammapy.datasets import MapDatasetEventSampler
    from gammapy.modeling.models import FoVBackgroundModel, Models

    dataset = dataset.copy(name=dataset.name)
    dataset.models = Models([*models, FoVBackgroundModel(dataset_name=dataset.name)])
    sampler = MapDatasetEventSampler(random_state=seed)
    observation.events = sampler.run(dataset, observation)
    return observation


@dataclass(frozen=True)
class SimulatedRun:
    """One run to simulate.

    Attributes
    ----------
    observation : `~gammapy.data.Observation`
        The run without events (`create_observation`); receives them.
    dataset : `~gammapy.datasets.MapDataset`
        The dataset its events are drawn from (`simulation_dataset`).
    models : `~gammapy.modeling.models.Models`
        The sky (the IRF background is always drawn too).
    seed : int
        Seed of the random generator.
    """

    observation: object
    dataset: object
    models: object
    seed: int


def simulate_runs(runs, folder, irf_file=None) -> list[Path]:
    """Simulate, write and index DL3 runs: the one loop of every simulation.

    Parameters
    ----------
    runs : iterable of SimulatedRun
        The runs, in order (a progress bar may wrap them).
    folder : path-like
        Where the event files go: ``obs_NNNNNN.fits.gz`` by observation id, as
        GADF DL3 written by `Observation.write` (events and GTI, no IRFs).
    irf_file : path-like, optional
        The IRF file the runs were simulated with: the folder becomes a data
        store that Gammapy's `DataStore` reads back like real data
        (`sat.dl3.index.index_simulated`). Without it, only the event files.

    Returns
    -------
    list of Path
        The event files, then (with ``irf_file``) the IRF copy and the index
        tables.
    """
    from sat.dl3.index import index_simulated

    folder = Path(folder).absolute()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for run in runs:
        sample_events(run.dataset, run.observation, run.models, run.seed)
        path = folder / f"obs_{int(run.observation.obs_id):06d}.fits.gz"
        run.observation.write(path, include_irfs=False, overwrite=True)
        written.append(path)
    if irf_file is None:
        return written
    return [*written, *index_simulated(written, irf_file, folder)]
