"""A model of the CTAO data volume from DL3 upwards, per site, year and level.

Every number is either derived with Gammapy from the public IRFs, measured on
real files, or a documented assumption of the scenario (`Scenario`, YAML):

- event rate after gamma/hadron separation: the prod5 background model
  integrated over the field of view and energy (Gammapy's `MapDatasetMaker`
  background, summed), plus the gamma rate of a typical source (a fraction of
  the Crab, folded with the same IRF);
- bytes per event and per run overhead (headers, GTI): MEASURED on DL3 files
  (`measure_dl3`), gzip-compressed or not; IRF bytes per run: the IRF file;
- DL4 sizes: MEASURED by writing an empty Gammapy `MapDataset` / `SpectrumDataset`
  with the scenario's binning;
- DL5 and quick-look sizes: scenario values (quick look measured on ours).

Checked against DL3 files the model did not make (`check_real_runs`): for every
run of the H.E.S.S. DR1 and CTA 1DC releases, the event count predicted from its
live time and its own background IRF, and the file size predicted from the
actual event count with bytes per event measured on the OTHER runs of its
release, against the file. The yearly totals are model-only: no public CTAO
figure for DL3 and higher exists to compare them with (`PUBLIC_FIGURES` lists
what CTAO has published, for raw data). `check_against_files` compares simulated
runs with the same model (a consistency check of the bookkeeping, not a
validation).
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

from pydantic import Field

from sat.config import BaseConfig

__all__ = [
    "LEVELS",
    "PUBLIC_FIGURES",
    "DataVolumeConfig",
    "Scenario",
    "background_events",
    "check_against_files",
    "check_real_runs",
    "dataset_bytes",
    "event_rate",
    "measure_dl3",
    "simulate_runs",
    "volume_table",
]

LEVELS = ("DL3 events", "DL3 IRFs", "DL4 per run", "DL4 stacked", "DL5", "quick-look")

# What CTAO has published about its data volumes (searched for this release):
# raw data only. No public figure for DL3 or higher exists to validate the
# yearly totals of this model against; these set the scale they sit in.
PUBLIC_FIGURES = (
    {
        "what": "raw data per year (both sites, operations)",
        "value": "about 2 PB",
        "source": "Pigoux et al., CTAO production system prototype based on DIRAC "
        "(2025), abstract",
    },
    {
        "what": "event data per year (Data Level 0, both sites)",
        "value": "about 10 PB, plus a comparable amount of simulations",
        "source": "CTAO Off-Site Data Centre at CSCS, contribution 6408894 to "
        "indico.cern.ch event 1477299 (2025), abstract",
    },
)
# Real runs: |events / IRF prediction - 1| for H.E.S.S. DR1 background templates
# (averaged over zenith angle, sky brightness and atmosphere, with no per-run
# normalisation) may be large; the 1DC events were drawn from their IRF, so their
# background (MC_ID) must match it within Poisson noise.
POISSON_SIGMA = 4.0
TEMPLATE_FACTOR = 2.0
# gzip of the whole file against bytes per event measured on other runs of the
# same release: compression depends on the content (energies, times) of a run.
BYTES_TOLERANCE = 0.05


class Site(BaseConfig):
    """One CTAO site of the scenario."""

    irf: str = Field(description="IRF name (sat.irf) giving the event rates")
    hours_per_year: float = Field(
        default=1300.0,
        gt=0,
        description="observing hours per year (assumption: dark and moderate-moon "
        "time of an IACT site, ~1300 h)",
    )


def _default_sites():
    return {
        "ctao-south": Site(irf="prod5-south-z20-50h"),
        "ctao-north": Site(irf="prod5-north-z20-50h"),
    }


class Scenario(BaseConfig):
    """The data-volume scenario; every default says where it comes from."""

    years: int = Field(default=5, gt=0)
    sites: dict[str, Site] = Field(default_factory=_default_sites)
    run_minutes: float = Field(
        default=28.0, gt=0, description="run length (H.E.S.S. DR1 runs: 28 min)"
    )
    fov_half_width_deg: float = Field(
        default=3.0,
        gt=0,
        description="events are kept in a square of this half-width around the "
        "pointing (prod5 IRFs are defined to 6 deg offset; little is usable beyond 3)",
    )
    energy_min_tev: float = Field(default=0.03, gt=0)
    energy_max_tev: float = Field(default=200.0, gt=0)
    source_crab_fraction: float = Field(
        default=0.1, ge=0, description="typical target flux, in Crab units"
    )
    compressed: bool = Field(default=True, description="DL3 and DL4 gzip-compressed")
    bytes_per_event: float | None = Field(
        default=None, description="None: measured on the --measure files"
    )
    run_overhead_bytes: float | None = Field(
        default=None, description="headers and GTI of a run; None: measured"
    )
    dl4_binsz_deg: float = Field(default=0.02, gt=0)
    dl4_width_deg: float = Field(default=4.0, gt=0)
    dl4_bins_per_decade: int = Field(default=5, gt=0)
    targets_per_year: int = Field(
        default=50, ge=0, description="stacked DL4 datasets (one 1D + one 3D) per year"
    )
    dl5_analyses_per_year: int = Field(default=200, ge=0)
    dl5_bytes_per_analysis: float = Field(
        default=2e6,
        ge=0,
        description="flux points, light curve, models and covariance (assumption)",
    )
    quicklook_bytes_per_run: float = Field(
        default=3e5,
        ge=0,
        description="PNG panel + JSON summary of ctao-sat quicklook (measured: "
        "0.29 MB for a H.E.S.S. Crab run)",
    )
    irf_bytes_per_run: float | None = Field(
        default=None,
        description="IRFs stored with every run (as in H.E.S.S. DR1); None: the "
        "size of the site's IRF file",
    )
    retention_years: dict[str, int | None] = Field(
        default_factory=lambda: {
            "DL3 events": None,
            "DL3 IRFs": None,
            "DL4 per run": 1,
            "DL4 stacked": None,
            "DL5": None,
            "quick-look": 2,
        },
        description="years each level is kept (null: forever)",
    )


class DataVolumeConfig(BaseConfig):
    """What ``ctao-sat datavolume`` models and checks.

    Attributes
    ----------
    scenario : Scenario
        The data-volume scenario.
    measure : list of str
        DL3 files to measure bytes per event on (default: the H.E.S.S. DR1 runs).
    check : bool
        Check the per-run predictions on the H.E.S.S. DR1 and CTA 1DC runs.
    """

    scenario: Scenario = Field(default_factory=Scenario)
    measure: list[str] = Field(default_factory=list)
    check: bool = True


def _fits_bytes(hdus) -> bytes:
    import io

    from astropy.io import fits

    buffer = io.BytesIO()
    fits.HDUList(hdus).writeto(buffer)
    return buffer.getvalue()


def measure_dl3(paths) -> dict:
    """Measure bytes per event and per-run overhead of DL3 event files.

    The files are rewritten in memory without their IRF HDUs, with and without
    their events, raw and gzip-compressed (level 6, the ``.fits.gz`` of astropy
    and Gammapy): the difference divided by the number of events is the bytes
    per event; the file without events is the overhead (headers, GTI).

    Parameters
    ----------
    paths : list of path-like
        DL3 files (EVENTS and GTI; IRF HDUs in the file are counted apart).

    Returns
    -------
    dict
        ``bytes_per_event`` and ``overhead_bytes`` (raw and gzip), ``irf_bytes``
        per file, and the number of files and events measured.
    """
    from astropy.io import fits

    paths = [Path(p) for p in paths]
    events = 0
    sizes = {
        key: 0.0 for key in ("full", "empty", "full_gz", "empty_gz", "irf", "irf_gz")
    }
    for path in paths:
        with fits.open(path) as hdul:
            irf = [h for h in hdul[1:] if h.header.get("HDUCLAS1") == "RESPONSE"]
            kept = [h for h in hdul if h not in irf]
            full = _fits_bytes([h.copy() for h in kept])
            empty_events = [
                fits.BinTableHDU(h.data[:0], header=h.header, name=h.name)
                if h.name == "EVENTS"
                else h.copy()
                for h in kept
            ]
            empty = _fits_bytes(empty_events)
            events += len(hdul["EVENTS"].data)
            irf_bytes = (
                _fits_bytes([fits.PrimaryHDU()] + [h.copy() for h in irf])
                if irf
                else b""
            )
            for key, data in (("full", full), ("empty", empty), ("irf", irf_bytes)):
                sizes[key] += len(data)
                if data:
                    sizes[f"{key}_gz"] += len(gzip.compress(data, compresslevel=6))
    n = len(paths)
    return {
        "files": n,
        "events": events,
        "bytes_per_event": {
            "raw": (sizes["full"] - sizes["empty"]) / events,
            "gzip": (sizes["full_gz"] - sizes["empty_gz"]) / events,
        },
        "overhead_bytes": {"raw": sizes["empty"] / n, "gzip": sizes["empty_gz"] / n},
        "irf_bytes": {
            "raw": sizes["irf"] / n,
            "gzip": sizes["irf_gz"] / n,
        },
    }


def _field_geom(pointing, half_width_deg, energy_min, energy_max, binsz=0.05):
    from gammapy.maps import MapAxis, WcsGeom

    energy = MapAxis.from_energy_bounds(
        energy_min, energy_max, 5, "TeV", per_decade=True
    )
    return WcsGeom.create(
        skydir=pointing, width=2 * half_width_deg, binsz=binsz, axes=[energy]
    )


def event_rate(
    irf,
    half_width_deg,
    energy_min=0.03,
    energy_max=200.0,
    crab_fraction=0.1,
    offset=0.5,
):
    """Rate of events after gamma/hadron separation (Hz), from the IRF.

    Parameters
    ----------
    irf : str
        IRF name (`sat.irf`).
    half_width_deg : float
        Half-width of the square field (around the pointing) the events are kept in.
    energy_min, energy_max : float
        Reconstructed-energy range (TeV).
    crab_fraction : float
        Flux of the target in Crab units (Gammapy's MAGIC log-parabola Crab).
    offset : float
        Offset of the target from the pointing (deg).

    Returns
    -------
    dict
        ``background_hz`` (the IRF background model integrated over the field and
        energy with Gammapy's `MapDatasetMaker`) and ``gamma_hz`` (the target
        folded with exposure, PSF and energy dispersion).
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from gammapy.data import FixedPointingInfo, Observation
    from gammapy.datasets import MapDataset
    from gammapy.makers import MapDatasetMaker
    from gammapy.modeling.models import (
        PointSpatialModel,
        SkyModel,
        create_crab_spectral_model,
    )

    from sat.irf import load_irf, true_energy_axis

    irfs = load_irf(irf)
    pointing = SkyCoord(0, 0, unit="deg")
    livetime = 1 * u.h
    observation = Observation.create(
        pointing=FixedPointingInfo(fixed_icrs=pointing),
        livetime=livetime,
        irfs=irfs,
        location=None,
    )
    geom = _field_geom(pointing, half_width_deg, energy_min, energy_max)
    empty = MapDataset.create(
        geom, energy_axis_true=true_energy_axis(irfs, energy_min, energy_max, 5)
    )
    maker = MapDatasetMaker(selection=["exposure", "background", "psf", "edisp"])
    dataset = maker.run(empty, observation)
    source = pointing.directional_offset_by(0 * u.deg, offset * u.deg)
    spectrum = create_crab_spectral_model("magic_lp")
    spectrum.amplitude.value *= crab_fraction
    dataset.models = [
        SkyModel(
            spectral_model=spectrum,
            spatial_model=PointSpatialModel.from_position(source),
            name="target",
        )
    ]
    seconds = livetime.to_value(u.s)
    return {
        "background_hz": float(dataset.background.data.sum() / seconds),
        "gamma_hz": float(dataset.npred_signal().data.sum() / seconds),
    }


def dataset_bytes(scenario: Scenario, folder) -> dict:
    """Measure the size of one DL4 dataset of the scenario's binning.

    Parameters
    ----------
    scenario : Scenario
        Binning (pixel size, width, bins per decade, energy range).
    folder : path-like
        Scratch folder for the files written.

    Returns
    -------
    dict
        Bytes of a 3D `MapDataset` and of a 1D `SpectrumDatasetOnOff` (OGIP),
        as Gammapy writes them (gzip-compressed when the scenario says so).
    """
    import astropy.units as u
    import numpy as np
    from astropy.coordinates import SkyCoord
    from gammapy.datasets import MapDataset, SpectrumDatasetOnOff
    from gammapy.maps import MapAxis, RegionGeom, WcsGeom
    from regions import CircleSkyRegion

    folder = Path(folder)
    per_decade = scenario.dl4_bins_per_decade
    energy = MapAxis.from_energy_bounds(
        scenario.energy_min_tev,
        scenario.energy_max_tev,
        per_decade,
        "TeV",
        per_decade=True,
    )
    energy_true = MapAxis.from_energy_bounds(
        scenario.energy_min_tev / 2,
        scenario.energy_max_tev * 2,
        2 * per_decade,
        "TeV",
        per_decade=True,
        name="energy_true",
    )
    centre = SkyCoord(0, 0, unit="deg")
    geom = WcsGeom.create(
        skydir=centre,
        width=scenario.dl4_width_deg,
        binsz=scenario.dl4_binsz_deg,
        axes=[energy],
    )
    suffix = ".fits.gz" if scenario.compressed else ".fits"
    map_dataset = MapDataset.create(geom, energy_axis_true=energy_true)
    # Filled with random values: empty maps compress to nothing, real ones do
    # not; random floats barely compress, so this is an upper bound.
    rng = np.random.default_rng(0)
    for name in ("counts", "background", "exposure"):
        values = getattr(map_dataset, name)
        values.data = rng.random(values.data.shape).astype(values.data.dtype)
    map_path = folder / f"map{suffix}"
    map_dataset.write(map_path, overwrite=True)
    region = RegionGeom.create(CircleSkyRegion(centre, 0.11 * u.deg), axes=[energy])
    spectrum = SpectrumDatasetOnOff.create(region, energy_axis_true=energy_true)
    spectrum.counts.data = rng.poisson(10, spectrum.counts.data.shape)
    spectrum.counts_off.data = rng.poisson(50, spectrum.counts_off.data.shape)
    spectrum.exposure.data = rng.random(spectrum.exposure.data.shape)
    spectrum_path = folder / "spectrum.fits"
    spectrum.write(spectrum_path, overwrite=True)
    spectrum_bytes = sum(p.stat().st_size for p in folder.glob("*spectrum*.fits"))
    if scenario.compressed:
        spectrum_bytes = sum(
            len(gzip.compress(p.read_bytes())) for p in folder.glob("*spectrum*.fits")
        )
    return {"3d": map_path.stat().st_size, "1d": spectrum_bytes}


def _irf_file_bytes(name: str, kind: str) -> float:
    """Size of an IRF file, gzip-compressed (as distributed) or raw."""
    from sat.irf import irf_path

    path = irf_path(name)
    if kind == "gzip":
        return float(path.stat().st_size)
    with gzip.open(path, "rb") as stream:
        return float(len(stream.read()))


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
    geom = _field_geom(pointing, half_width_deg, 0.03, 200)
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


def volume_table(scenario: Scenario, measured: dict, dl4: dict, rates: dict):
    """Compute the data volume per site, year and level.

    Parameters
    ----------
    scenario : Scenario
        The scenario.
    measured : dict
        From `measure_dl3` (bytes per event, overhead, IRF bytes).
    dl4 : dict
        From `dataset_bytes`.
    rates : dict
        Site name -> `event_rate` result.

    Returns
    -------
    `~astropy.table.Table`
        One row per site, year and level: runs, bytes produced that year and
        bytes stored at its end (after the retention policy).
    """
    from astropy.table import Table

    kind = "gzip" if scenario.compressed else "raw"
    per_event = scenario.bytes_per_event or measured["bytes_per_event"][kind]
    overhead = scenario.run_overhead_bytes or measured["overhead_bytes"][kind]
    rows = []
    for name, site in scenario.sites.items():
        irf_bytes = scenario.irf_bytes_per_run or _irf_file_bytes(site.irf, kind)
        runs = site.hours_per_year * 60 / scenario.run_minutes
        rate = rates[name]["background_hz"] + rates[name]["gamma_hz"]
        events = rate * scenario.run_minutes * 60
        produced = {
            "DL3 events": runs * (events * per_event + overhead),
            "DL3 IRFs": runs * irf_bytes,
            "DL4 per run": runs * (dl4["3d"] + dl4["1d"]),
            "DL4 stacked": scenario.targets_per_year * (dl4["3d"] + dl4["1d"]),
            "DL5": scenario.dl5_analyses_per_year * scenario.dl5_bytes_per_analysis,
            "quick-look": runs * scenario.quicklook_bytes_per_run,
        }
        for year in range(1, scenario.years + 1):
            for level in LEVELS:
                keep = scenario.retention_years.get(level)
                kept_years = year if keep is None else min(year, keep)
                rows.append(
                    {
                        "site": name,
                        "year": year,
                        "level": level,
                        "runs": round(runs),
                        "events_per_run": round(events),
                        "produced_bytes": produced[level],
                        "stored_bytes": produced[level] * kept_years,
                    }
                )
    table = Table(rows=rows)
    table.meta["bytes_per_event"] = per_event
    table.meta["run_overhead_bytes"] = overhead
    return table


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


def _selection(observation, header) -> dict:
    """Return the sky circle and energy range a DL3 run's events fill.

    The data producer's data-subspace keywords (``DSTYPn``/``DSVALn``, as in the
    CTA 1DC files) when present; else the domain of the run's background IRF
    (the circle inscribed in its field of view, its whole energy axis).
    """
    import re

    keywords = {
        header.get(f"DSTYP{i}"): str(header.get(f"DSVAL{i}"))
        for i in range(1, int(header.get("NDSKEYS", 0)) + 1)
    }
    bkg = observation.bkg
    energy = bkg.axes["energy"].edges.to_value("TeV")
    selection = {
        "radius_deg": float(
            min(
                abs(bkg.axes[name].edges).max().to_value("deg")
                for name in bkg.axes.names[1:]
            )
            if "offset" not in bkg.axes.names
            else bkg.axes["offset"].edges.max().to_value("deg")
        ),
        "energy_min_tev": float(energy.min()),
        "energy_max_tev": float(energy.max()),
        "declared": False,
    }
    if "ENERGY" in keywords and "POS(RA,DEC)" in keywords:
        low, high = (float(value) for value in keywords["ENERGY"].split(":"))
        circle = re.match(r"CIRCLE\(([^,]+),([^,]+),([^)]+)\)", keywords["POS(RA,DEC)"])
        if circle:
            selection.update(
                radius_deg=float(circle.group(3)),
                energy_min_tev=low,
                energy_max_tev=high,
                declared=True,
            )
    return selection


def background_events(observation, radius_deg, energy_min_tev, energy_max_tev):
    """Background events a run should hold: its IRF x live time, in a sky circle.

    Gammapy's `MapDatasetMaker` background of the run (its own IRF, live time and
    pointing) summed over the pixels within ``radius_deg`` of the pointing and
    the reconstructed-energy range.
    """
    from gammapy.datasets import MapDataset
    from gammapy.makers import MapDatasetMaker
    from gammapy.maps import MapAxis, WcsGeom

    pointing = observation.get_pointing_icrs(observation.tmid)
    energy = MapAxis.from_energy_bounds(energy_min_tev, energy_max_tev, 30, "TeV")
    geom = WcsGeom.create(
        skydir=pointing,
        width=2 * radius_deg + 0.2,
        binsz=0.05,
        axes=[energy],
        frame="icrs",
    )
    maker = MapDatasetMaker(selection=["background"])
    dataset = maker.run(MapDataset.create(geom), observation)
    inside = geom.to_image().separation(pointing).deg <= radius_deg
    return float(dataset.background.data[:, inside].sum())


def _counted(observation, header, selection) -> tuple[int, int | None]:
    """Events in the selection, and those of the background (1DC MC_ID) or None."""
    import numpy as np
    from astropy.coordinates import SkyCoord

    table = observation.events.table
    pointing = observation.get_pointing_icrs(observation.tmid)
    where = SkyCoord(table["RA"], table["DEC"], unit="deg")
    energy = np.asarray(table["ENERGY"])
    inside = (
        (where.separation(pointing).deg <= selection["radius_deg"])
        & (energy >= selection["energy_min_tev"])
        & (energy < selection["energy_max_tev"])
    )
    if "MC_ID" not in table.colnames:
        return int(inside.sum()), None
    # ctobssim lists its models as MIDnnnnn (id) and MMNnnnnn (name); the
    # instrumental background is the "Background model".
    ids = [
        header[f"MID{i:05d}"]
        for i in range(1, int(header.get("NMCIDS", 0)) + 1)
        if "background" in str(header.get(f"MMN{i:05d}", "")).lower()
    ]
    if not ids:
        return int(inside.sum()), None
    background = inside & np.isin(np.asarray(table["MC_ID"]), ids)
    return int(inside.sum()), int(background.sum())


def check_real_runs(releases, progress=None) -> list[dict]:
    """Check the model's per-run predictions on DL3 releases it did not make.

    For every run: the events predicted from its live time and its own
    background IRF (`background_events`) against the events it holds in the
    same selection (and, for 1DC, against its simulated background events,
    MC_ID); and its file size predicted from its actual event count with the
    bytes per event, per-run overhead and IRF bytes measured (`measure_dl3`) on
    the OTHER runs of the same release, against the file on disk.

    Parameters
    ----------
    releases : dict
        ``{name: gammapy DataStore}``, e.g. H.E.S.S. DR1 and CTA 1DC.
    progress : callable, optional
        ``progress(iterable, desc)`` wrapper.

    Returns
    -------
    list of dict
        One row per run with the predictions, the actual values and their ratios.
    """
    import math as _math

    from astropy.io import fits

    from sat.dl3.store import events_file, run_ids

    rows = []
    for name, store in releases.items():
        runs = run_ids(store)
        files = {obs_id: events_file(store, obs_id) for obs_id in runs}
        measured = {obs_id: measure_dl3([path]) for obs_id, path in files.items()}
        iterable = progress(runs, f"{name} runs") if progress else runs
        for obs_id in iterable:
            path = files[obs_id]
            observation = store.obs(obs_id)
            header = fits.getheader(path, "EVENTS")
            selection = _selection(observation, header)
            predicted = background_events(
                observation,
                selection["radius_deg"],
                selection["energy_min_tev"],
                selection["energy_max_tev"],
            )
            events, background = _counted(observation, header, selection)
            others = [m for key, m in measured.items() if key != obs_id]
            kind = "gzip" if path.suffix == ".gz" else "raw"
            # Raw bytes per event: the row width the run's format declares
            # (NAXIS1); compression, overhead and IRF bytes: the other runs'.
            compression = sum(
                m["bytes_per_event"][kind] * m["events"] for m in others
            ) / sum(m["bytes_per_event"]["raw"] * m["events"] for m in others)
            per_event = header["NAXIS1"] * compression
            overhead = sum(m["overhead_bytes"][kind] for m in others) / len(others)
            irf = sum(m["irf_bytes"][kind] for m in others) / len(others)
            own = measured[obs_id]
            in_file = own["events"]
            events_bytes = in_file * own["bytes_per_event"][kind]
            events_bytes += own["overhead_bytes"][kind]
            predicted_events_bytes = in_file * per_event + overhead
            predicted_bytes = predicted_events_bytes + irf
            size = path.stat().st_size
            rows.append(
                {
                    "release": name,
                    "obs_id": obs_id,
                    "file": path.name,
                    "livetime_s": float(
                        observation.observation_live_time_duration.to_value("s")
                    ),
                    "selection": selection,
                    "predicted_events": predicted,
                    "events": events,
                    "events_ratio": events / predicted,
                    "background_events": background,
                    "background_sigma": None
                    if background is None
                    else (background - predicted) / _math.sqrt(predicted),
                    "events_in_file": in_file,
                    "row_bytes": int(header["NAXIS1"]),
                    "bytes_per_event": per_event,
                    "compression": kind,
                    "events_bytes": events_bytes,
                    "predicted_events_bytes": predicted_events_bytes,
                    "events_bytes_ratio": events_bytes / predicted_events_bytes,
                    "irf_bytes": own["irf_bytes"][kind],
                    "predicted_irf_bytes": irf,
                    "bytes": size,
                    "predicted_bytes": predicted_bytes,
                    "bytes_ratio": size / predicted_bytes,
                    "calibrated_on": f"the other {len(others)} runs of {name}",
                }
            )
    return rows


def real_run_checks(rows: list[dict]) -> list:
    """Verdicts on `check_real_runs` rows, with their tolerances and reasons.

    Returns
    -------
    list of `sat.result.BoundsCheck`
        The worst run against its allowed interval, for: background events of
        simulated runs (Poisson), events of real runs (a factor 2), file sizes
        (5 %).
    """
    from sat.validation import Bounds, check_bounds

    simulated = [r for r in rows if r["background_sigma"] is not None]
    real = [r for r in rows if r["background_sigma"] is None]
    source = "per-run predictions on DL3 files the model did not make"
    checks = []

    def worst(values, key):
        return max(values, key=key) if values else math.nan

    if simulated:
        bounds = Bounds(
            "simulated background events vs IRF x live time (sigma, worst run)",
            -POISSON_SIGMA,
            POISSON_SIGMA,
            "sigma",
            source,
            "the 1DC events were drawn from their IRF by ctobssim: only Poisson "
            "noise separates count and prediction",
        )
        value = worst([r["background_sigma"] for r in simulated], abs)
        checks.append(check_bounds(bounds, value))
    if real:
        bounds = Bounds(
            "events of real runs / IRF background x live time (worst run)",
            1 / TEMPLATE_FACTOR,
            TEMPLATE_FACTOR,
            "",
            source,
            "a background template averaged over zenith angle, sky brightness and "
            "atmosphere, with no per-run normalisation, plus the gamma rays of the "
            "field: the model's event counts are good to this factor on real data",
        )
        value = worst([r["events_ratio"] for r in real], lambda x: abs(math.log(x)))
        checks.append(check_bounds(bounds, value))
    bounds = Bounds(
        "event bytes / (events x row width x compression of the other runs + "
        "their overhead) - 1 (worst run)",
        -BYTES_TOLERANCE,
        BYTES_TOLERANCE,
        "",
        source,
        "the row width is the format's; gzip's ratio, measured on the other runs "
        "of the release, varies with a run's content; 5 % is what a storage plan "
        "can use",
    )
    value = worst([r["events_bytes_ratio"] - 1 for r in rows], abs)
    checks.append(check_bounds(bounds, value))
    return checks


def plot_volume(table, path, scenario=None) -> None:
    """Stacked bars of the stored volume (TB, both sites) by level and year.

    ``scenario`` (the sites and their hours) is written under the figure.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    from sat.plots import caption, label

    years = sorted(set(table["year"]))
    figure, ax = plt.subplots(figsize=(8, 5))
    bottom = np.zeros(len(years))
    for level in LEVELS:
        rows = table[table["level"] == level]
        values = np.array(
            [rows["stored_bytes"][rows["year"] == y].sum() / 1e12 for y in years]
        )
        ax.bar(years, values, bottom=bottom, label=level)
        bottom += values
    ax.set_xticks(years)
    ax.set_xlabel("year of operations")
    ax.set_ylabel(label("Stored volume at year end, all sites", "TB"))
    ax.set_title("CTAO data volume by product level (model)")
    ax.legend(title="product level")
    if scenario is not None:
        sites = ", ".join(
            f"{name} {site.hours_per_year:g} h/year ({site.irf})"
            for name, site in scenario.sites.items()
        )
        caption(
            figure,
            f"Model: {sites}; {scenario.run_minutes:g}-min runs, sources of "
            f"{scenario.source_crab_fraction:g} Crab; bytes per event "
            + ("measured on real DL3" if scenario.bytes_per_event is None else "given"),
        )
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


# What no file checks: the yearly totals extrapolate the checked per-run
# predictions with the scenario's assumptions.
MODEL_ONLY = (
    "every yearly total (runs per year, hours per year, retention are scenario "
    "assumptions; no public CTAO figure for DL3 or higher exists to check them)",
    "CTAO event rates: prod5 IRF background of the scenario's field and energy "
    "range plus a target of source_crab_fraction Crab; real runs may differ from "
    "their IRF by the factor the H.E.S.S. DR1 check measures",
    "DL4 sizes (written datasets of the scenario binning, random values), DL5 "
    "and quick-look sizes (scenario values)",
)


def run_model(
    scenario: Scenario, measure_paths, output, progress=None, releases=None
) -> dict:
    """Run the model: measure, derive the rates, write the table and the plot.

    Parameters
    ----------
    scenario : Scenario
        The scenario.
    measure_paths : list of path-like
        DL3 files to measure bytes per event and overhead on.
    output : path-like
        Folder for ``datavolume.ecsv``, ``datavolume.png``, ``assumptions.json``.
    progress : callable, optional
        ``progress(iterable, desc)`` wrapper.
    releases : dict, optional
        ``{name: DataStore}`` of DL3 releases to check the per-run predictions
        on (`check_real_runs`): the runs go to ``real_runs.json``, the verdicts
        into ``assumptions.json``.

    Returns
    -------
    dict
        The table, the measurements, the rates, the assumptions and, with
        ``releases``, the checks on real DL3 (``validation``; ``checks``: the
        `sat.result.BoundsCheck` of each).
    """
    import json

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    measured = measure_dl3(measure_paths)
    sites = list(scenario.sites.items())
    rates = {}
    for name, site in progress(sites, "event rates") if progress else sites:
        rates[name] = event_rate(
            site.irf,
            scenario.fov_half_width_deg,
            scenario.energy_min_tev,
            scenario.energy_max_tev,
            scenario.source_crab_fraction,
        )
    dl4 = dataset_bytes(scenario, output)
    for scratch in output.glob("*spectrum*.fits"):
        scratch.unlink()
    for scratch in output.glob("map.fits*"):
        scratch.unlink()
    table = volume_table(scenario, measured, dl4, rates)
    table.write(output / "datavolume.ecsv", format="ascii.ecsv", overwrite=True)
    plot_volume(table, output / "datavolume.png", scenario)
    assumptions = {
        "scenario": scenario.model_dump(),
        "descriptions": {
            name: field.description
            for name, field in Scenario.model_fields.items()
            if field.description
        },
        "measured_dl3": {**measured, "files": [str(p) for p in measure_paths]},
        "event_rates_hz": rates,
        "event_rates_source": "IRF background integrated over the field and energy "
        "(Gammapy MapDatasetMaker) + target (Crab log-parabola, MAGIC) x "
        "source_crab_fraction",
        "dl4_bytes": dl4,
        "dl4_source": "Gammapy MapDataset / SpectrumDatasetOnOff of the scenario "
        "binning, written with random values (upper bound after compression)",
        "irf_source": "size of each site's IRF file (sat.irf), one per run",
        "model_only": list(MODEL_ONLY),
        "public_figures": list(PUBLIC_FIGURES),
        "validation": None,
    }
    checks = []
    if releases:
        rows = check_real_runs(releases, progress)
        (output / "real_runs.json").write_text(json.dumps(rows, indent=2) + "\n")
        checks = real_run_checks(rows)
        assumptions["validation"] = {
            "what": "per-run predictions on DL3 files the model did not make",
            "runs": {
                name: sum(r["release"] == name for r in rows) for name in releases
            },
            "checks": [check.model_dump() for check in checks],
            "details": "real_runs.json",
        }
    (output / "assumptions.json").write_text(json.dumps(assumptions, indent=2) + "\n")
    return {"table": table, **assumptions, "checks": checks}
