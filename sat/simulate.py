"""Simulated CTAO observations written as GADF DL3, on Gammapy's event sampler.

A simulated observation is an `Observation` built from a named CTAO IRF at a CTAO
site, its `MapDataset` (Gammapy's `MapDatasetMaker`), events drawn by Gammapy's
`MapDatasetEventSampler`, and an event file written by `Observation.write`.
`write_datastore` indexes the files (obs-index, hdu-index) so that
`gammapy.data.DataStore.from_dir` reads them back like real data.
"""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = [
    "REFERENCE_DATE",
    "create_observation",
    "sample_events",
    "simulation_dataset",
    "transit_time",
    "write_datastore",
]

# Simulated observations start on this night (UTC); any date inside the bundled
# IERS tables works, this one only fixes the DL3 time stamps.
REFERENCE_DATE = "2025-01-01T00:00:00"
# Length of a sidereal day in solar days.
_SIDEREAL = 0.9972695663


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


def write_datastore(event_files, irf_file, folder) -> list[Path]:
    """Index simulated event files so that Gammapy's `DataStore` reads them.

    The IRF file is copied next to the events (one copy for all observations) and
    the index tables refer to files by paths relative to ``folder``, so the folder
    can be moved as a whole.

    Parameters
    ----------
    event_files : list of Path
        Event files inside ``folder`` (from `Observation.write` without IRFs).
    irf_file : Path
        The GADF IRF file the events were simulated with.
    folder : Path
        The data-store folder.

    Returns
    -------
    list of Path
        The IRF copy, ``hdu-index.fits.gz`` and ``obs-index.fits.gz``.
    """
    from gammapy.data import DataStore

    folder = Path(folder)
    irf_copy = folder / "irf" / Path(irf_file).name
    irf_copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(irf_file, irf_copy)
    store = DataStore.from_events_files(
        [Path(path) for path in event_files], irfs_paths=[irf_copy] * len(event_files)
    )
    hdu_table = store.hdu_table
    # DataStoreMaker stores absolute folders; the GADF index allows relative ones.
    hdu_table["FILE_DIR"] = [
        Path(directory).relative_to(folder.absolute()).as_posix()
        if Path(directory).is_absolute()
        else directory
        for directory in hdu_table["FILE_DIR"]
    ]
    obs_table = store.obs_table
    for column in ("EVENTS_FILENAME", "IRF_FILENAME"):
        if column in obs_table.colnames:
            obs_table.remove_column(column)
    hdu_index, obs_index = folder / "hdu-index.fits.gz", folder / "obs-index.fits.gz"
    hdu_table.write(hdu_index, format="fits", overwrite=True)
    obs_table.write(obs_index, format="fits", overwrite=True)
    return [irf_copy, hdu_index, obs_index]
