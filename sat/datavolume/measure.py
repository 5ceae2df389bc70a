"""What the model measures and derives: bytes per event, event rates, DL4 sizes.

Bytes per event and per-run overhead are measured on DL3 files (`measure_dl3`);
event rates are the IRF background and a target folded with the IRF, with
Gammapy (`event_rate`); DL4 sizes are those of datasets Gammapy writes with the
scenario's binning (`dataset_bytes`).
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sat.datavolume.scenario import Scenario


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


def field_geom(pointing, half_width_deg, energy_min, energy_max, binsz=0.05):
    """Return the square field (and 5 energy bins per decade) the events fill."""
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
    geom = field_geom(pointing, half_width_deg, energy_min, energy_max)
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


def irf_file_bytes(name: str, kind: str) -> float:
    """Size of an IRF file, gzip-compressed (as distributed) or raw."""
    from sat.irf import irf_path

    path = irf_path(name)
    if kind == "gzip":
        return float(path.stat().st_size)
    with gzip.open(path, "rb") as stream:
        return float(len(stream.read()))
