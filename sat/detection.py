"""Finding and fitting sources in a map dataset, with Gammapy.

- `ts_map`: Gammapy's `TSMapEstimator` for a point source with a power law, all
  energies of the dataset summed;
- `find_sources`: the peaks of sqrt(TS) above a threshold
  (`find_peaks_in_flux_map`), brightest first;
- `fit_source`: a point source and a Gaussian fitted at a peak on a cutout of
  the dataset (`MapDataset.cutout`, `Fit`), the Gaussian kept when it improves
  the likelihood enough.

The background of the dataset is taken as known (its models' normalisation
fixed): the IRF's in a simulation, a template normalised outside the sources on
real data. This module imports Gammapy inside its functions.
"""

from __future__ import annotations

import math

__all__ = ["AMPLITUDE_UNIT", "find_sources", "fit_source", "ts_map"]

AMPLITUDE_UNIT = "cm-2 s-1 TeV-1"
# Gammapy's default power-law amplitude, that of the TS kernel: the TS map's
# "norm" is in its units.
KERNEL_AMPLITUDE = 1e-12
# The Gaussian alternative starts nearly point-like; below a hundredth of a
# degree (a fraction of the CTAO PSF) it is a point source.
GAUSS_START_DEG = 0.05
GAUSS_MIN_DEG = 0.01
GAUSS_MAX_DEG = 1.0


def ts_map(dataset, index: float, kernel_width_deg: float):
    """Return the TS maps of a point source with a power law of ``index``.

    Parameters
    ----------
    dataset : `~gammapy.datasets.MapDataset`
        Counts, exposure, PSF and the background (its models included).
    index : float
        Spectral index of the kernel.
    kernel_width_deg : float
        Width of the kernel (deg).

    Returns
    -------
    `~gammapy.estimators.FluxMaps`
        ``ts``, ``sqrt_ts``, ``norm``... summed over the dataset's energies.
    """
    import astropy.units as u
    from gammapy.estimators import TSMapEstimator
    from gammapy.modeling.models import (
        PointSpatialModel,
        PowerLawSpectralModel,
        SkyModel,
    )

    kernel = SkyModel(
        spectral_model=PowerLawSpectralModel(
            index=index, amplitude=KERNEL_AMPLITUDE * u.Unit(AMPLITUDE_UNIT)
        ),
        spatial_model=PointSpatialModel(),
        name="ts-kernel",
    )
    edges = dataset.counts.geom.axes["energy"].edges
    estimator = TSMapEstimator(
        kernel,
        kernel_width=kernel_width_deg * u.deg,
        energy_edges=u.Quantity([edges[0], edges[-1]]),
        selection_optional=[],
    )
    return estimator.run(dataset)


def find_sources(maps, ts_threshold: float, min_distance_deg: float):
    """Return the peaks of sqrt(TS) above sqrt(``ts_threshold``), brightest first.

    Parameters
    ----------
    maps : `~gammapy.estimators.FluxMaps`
        From `ts_map`.
    ts_threshold : float
        A peak must have TS above this.
    min_distance_deg : float
        Two peaks are at least this far apart (deg).

    Returns
    -------
    `~astropy.table.Table`
        ``ra``, ``dec`` (ICRS, deg), ``ts``, ``norm``... of every peak; empty
        (with columns ``ra``, ``dec``, ``ts``) when there is none.
    """
    from astropy.table import Table
    from gammapy.estimators.utils import find_peaks_in_flux_map

    peaks = find_peaks_in_flux_map(
        maps,
        threshold=math.sqrt(ts_threshold),
        min_distance=f"{min_distance_deg} deg",
    )
    return peaks if len(peaks) else Table(names=("ra", "dec", "ts"))


def fit_source(
    dataset,
    peak,
    peaks,
    index: float,
    width_deg: float,
    ts_extension: float,
    frame: str,
) -> dict:
    """Fit a point source and a Gaussian at ``peak`` on a cutout; keep the better.

    Parameters
    ----------
    dataset : `~gammapy.datasets.MapDataset`
        The dataset (its background taken as known).
    peak : `~astropy.table.Row`
        The detection (`find_sources`).
    peaks : `~astropy.table.Table`
        All detections: those inside the cutout are fitted along as point sources
        at their peaks (amplitude free).
    index : float
        Start value of the spectral index.
    width_deg : float
        Width of the cutout (deg); the position stays inside it.
    ts_extension : float
        The Gaussian is kept when its -2 log L is lower than the point source's
        by at least this (one more parameter).
    frame : {"icrs", "galactic"}
        Frame of the fitted positions.

    Returns
    -------
    dict
        Position (``lon_deg``, ``lat_deg`` in ``frame``, ``ra_deg``,
        ``dec_deg``), ``amplitude`` at 1 TeV (cm-2 s-1 TeV-1), ``index``,
        ``sigma_deg`` (NaN for a point source), their ``*_error``, ``ts`` (of
        the peak), ``ts_extension`` (measured), ``extended``, ``success``.
    """
    import astropy.units as u
    import numpy as np
    from astropy.coordinates import SkyCoord
    from gammapy.modeling import Fit
    from gammapy.modeling.models import (
        FoVBackgroundModel,
        GaussianSpatialModel,
        Models,
        PointSpatialModel,
        PowerLawSpectralModel,
        SkyModel,
    )

    unit = u.Unit(AMPLITUDE_UNIT)
    position = SkyCoord(peak["ra"], peak["dec"], unit="deg").transform_to(frame)
    lon, lat = position.data.lon.to(u.deg), position.data.lat.to(u.deg)
    cutout = dataset.cutout(position, width=width_deg * u.deg, name="cutout")
    background = FoVBackgroundModel(dataset_name="cutout")
    background.spectral_model.norm.frozen = True
    neighbours = []
    for number, other in enumerate(peaks):
        there = SkyCoord(other["ra"], other["dec"], unit="deg").transform_to(frame)
        if 0 < there.separation(position).deg < width_deg / 2 * math.sqrt(2):
            model = SkyModel(
                spectral_model=PowerLawSpectralModel(
                    index=index, amplitude=_amplitude(other) * unit
                ),
                spatial_model=PointSpatialModel(
                    lon_0=there.data.lon.to(u.deg),
                    lat_0=there.data.lat.to(u.deg),
                    frame=frame,
                ),
                name=f"neighbour-{number}",
            )
            model.spatial_model.lon_0.frozen = True
            model.spatial_model.lat_0.frozen = True
            neighbours.append(model)

    def fitted(spatial, start: dict):
        half = width_deg / 2
        spatial.lon_0.min, spatial.lon_0.max = lon.value - half, lon.value + half
        spatial.lat_0.min, spatial.lat_0.max = lat.value - half, lat.value + half
        source = SkyModel(
            spectral_model=PowerLawSpectralModel(
                index=start["index"], amplitude=start["amplitude"] * unit
            ),
            spatial_model=spatial,
            name="source",
        )
        cutout.models = Models([source, *neighbours, background])
        return source, Fit().run(cutout)

    start = {"index": index, "amplitude": _amplitude(peak)}
    point, point_fit = fitted(
        PointSpatialModel(lon_0=lon, lat_0=lat, frame=frame), start
    )
    point_values = _values(point)
    # The Gaussian starts where the point source ended.
    gaussian = GaussianSpatialModel(
        lon_0=point_values["lon_deg"] * u.deg,
        lat_0=point_values["lat_deg"] * u.deg,
        sigma=GAUSS_START_DEG * u.deg,
        frame=frame,
    )
    gaussian.sigma.min, gaussian.sigma.max = GAUSS_MIN_DEG, GAUSS_MAX_DEG
    gauss, gauss_fit = fitted(gaussian, point_values)
    measured = float(point_fit.total_stat - gauss_fit.total_stat)
    extended = bool(gauss_fit.success and measured >= ts_extension)
    values = _values(gauss) if extended else point_values
    values.setdefault("sigma_deg", np.nan)
    values.setdefault("sigma_error_deg", np.nan)
    detected = SkyCoord(values["lon_deg"], values["lat_deg"], unit="deg", frame=frame)
    return {
        **values,
        "ra_deg": float(detected.icrs.ra.deg),
        "dec_deg": float(detected.icrs.dec.deg),
        "ts": float(peak["ts"]),
        "ts_extension": measured,
        "extended": extended,
        "success": bool((gauss_fit if extended else point_fit).success),
        "frame": frame,
        "n_neighbours": len(neighbours),
    }


def _amplitude(peak) -> float:
    """Return the TS map's flux at a peak as a power-law amplitude at 1 TeV."""
    norm = max(float(peak["norm"]), 0.1) if "norm" in peak.colnames else 1.0
    return norm * KERNEL_AMPLITUDE


def _values(model) -> dict:
    """Return the fitted position, amplitude, index (and sigma) and their errors."""
    spatial, spectral = model.spatial_model, model.spectral_model
    values = {
        "lon_deg": float(spatial.lon_0.value),
        "lon_error_deg": float(spatial.lon_0.error),
        "lat_deg": float(spatial.lat_0.value),
        "lat_error_deg": float(spatial.lat_0.error),
        "amplitude": float(spectral.amplitude.value),
        "amplitude_error": float(spectral.amplitude.error),
        "index": float(spectral.index.value),
        "index_error": float(spectral.index.error),
    }
    if hasattr(spatial, "sigma"):
        values["sigma_deg"] = float(spatial.sigma.value)
        values["sigma_error_deg"] = float(spatial.sigma.error)
    return values
