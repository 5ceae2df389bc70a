"""Quick-look products of one DL3 observation, in seconds, with Gammapy.

Per run: counts, excess and significance maps (Gammapy's `RingBackgroundMaker` or
`FoVBackgroundMaker`, then `ExcessMapEstimator`), the theta² distribution and the
ON/OFF numbers of the target (`make_theta_squared_table`), and a first spectrum
(a reflected-regions power-law fit in a few energy bins). One PNG panel and one
JSON summary per run. Nothing here re-implements Gammapy: it only chooses the
binning and wires the makers and estimators.

Examples
--------
The quick look of one H.E.S.S. Crab run, as ``ctao-sat quicklook`` makes it
(``quicklook.png`` and ``summary.json`` in the folder given):

>>> from pathlib import Path
>>> from gammapy.data import DataStore
>>> from sat.quicklook import quicklook_observation
>>> store = DataStore.from_dir("$GAMMAPY_DATA/hess-dl3-dr1")
>>> summary = quicklook_observation(
...     store, store.obs(23523), "quicklook/obs_023523", target="Crab Nebula"
... )
>>> print(f"{summary['livetime_s'] / 3600:.2f} h live time")
0.44 h live time
>>> numbers = summary["theta2"]
>>> numbers["n_on"], numbers["n_off"], round(numbers["significance"], 1)
(189, 15, 13.3)
>>> sorted(path.name for path in Path("quicklook/obs_023523").iterdir())
['quicklook.png', 'summary.json']
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Literal

from pydantic import Field

from sat.config import BaseConfig
from sat.errors import DataError

__all__ = [
    "REQUIRED_IRFS",
    "QuicklookConfig",
    "QuicklookFailed",
    "QuicklookSettings",
    "quicklook_observation",
    "read_observations",
    "run_quicklook",
]


class QuicklookSettings(BaseConfig):
    """Binning and radii of the quick look (defaults for IACT point sources).

    Attributes
    ----------
    background : str
        "ring" (ring background around each pixel, the H.E.S.S. quick-look
        standard) or "fov" (IRF background template scaled to the field of view).
    map_width_deg, binsz_deg : float
        Sky maps centred on the target; 0.02 deg pixels sample the PSF (0.05-0.1
        deg 68 % radius) several times.
    offset_max_deg : float
        Events and exposure beyond this offset are dropped (IRFs degrade).
    on_radius_deg : float
        ON region radius: 0.11 deg, the H.E.S.S. DR1 point-source cut.
    correlation_radius_deg : float
        Radius over which counts are summed for the excess and significance maps.
    ring_inner_deg, ring_width_deg : float
        The ring of the ring background (outside the exclusion region).
    exclusion_radius_deg : float
        Region around the target excluded from the background estimates.
    energy_min_tev, energy_max_tev : float
        Reconstructed-energy range of maps and spectrum.
    spectrum_bins : int
        Energy bins of the first spectrum ("few bins": quick and robust).
    theta2_max_deg2 : float
        Range of the theta² distribution.
    """

    background: Literal["ring", "fov"] = "ring"
    map_width_deg: float = 3.0
    binsz_deg: float = 0.02
    offset_max_deg: float = 2.0
    on_radius_deg: float = 0.11
    correlation_radius_deg: float = 0.1
    ring_inner_deg: float = 0.5
    ring_width_deg: float = 0.3
    exclusion_radius_deg: float = 0.3
    energy_min_tev: float = 0.3
    energy_max_tev: float = 100.0
    spectrum_bins: int = 6
    theta2_max_deg2: float = 0.2


class QuicklookFailed(DataError):
    """No run could be looked at.

    Attributes
    ----------
    failures : list of dict
        ``{"obs_id", "source", "error"}`` of each run.
    """

    def __init__(self, failures: list[dict]):
        self.failures = failures
        if len(failures) == 1:
            super().__init__(failures[0]["error"])
        else:
            super().__init__(
                f"all {len(failures)} runs failed (listed above); nothing written"
            )


class QuicklookConfig(BaseConfig):
    """What to look at, and how (``ctao-sat quicklook``).

    Attributes
    ----------
    paths : list of str
        One data store folder (obs-index and hdu-index), or DL3 files that hold
        events and IRFs, one run each.
    obs_ids : list of int
        Runs to look at (default: all, or those of ``target``).
    target : str, optional
        Target name in the store's obs-index (its runs, its position).
    settings : QuicklookSettings
        Binning and radii.
    """

    paths: list[str] = Field(min_length=1)
    obs_ids: list[int] = Field(default_factory=list)
    target: str | None = None
    settings: QuicklookSettings = Field(default_factory=QuicklookSettings)


def _position(store, observation, target):
    """Return (position, how it was found) of the quick look's target, or None."""
    import numpy as np

    from sat.dl3.select import run_target, target_position

    if store is None:
        # A bare DL3 file: its events header names the target (RA_OBJ, DEC_OBJ).
        known = observation.meta.target
        if known.position is not None and np.isfinite(known.position.ra.deg):
            name = known.name or "object"
            return known.position.icrs, f"file RA_OBJ/DEC_OBJ ({name})"
        return None, "significance peak (no target position in the file)"
    if target:
        return target_position(store, target), f"obs-index position of {target!r}"
    known = run_target(store, observation.obs_id)
    if known is not None:
        position, name = known
        return position, f"obs-index RA_OBJ/DEC_OBJ ({name})"
    return None, "significance peak (no target position in the obs-index)"


def _maps(observation, position, settings, exclude=True):
    """Make the counts, excess and significance images around ``position``."""
    import astropy.units as u
    from gammapy.datasets import MapDataset
    from gammapy.estimators import ExcessMapEstimator
    from gammapy.makers import (
        FoVBackgroundMaker,
        MapDatasetMaker,
        RingBackgroundMaker,
        SafeMaskMaker,
    )
    from gammapy.maps import MapAxis, WcsGeom
    from regions import CircleSkyRegion

    energy = MapAxis.from_energy_bounds(
        settings.energy_min_tev, settings.energy_max_tev, 2, unit="TeV"
    )
    geom = WcsGeom.create(
        skydir=position,
        width=settings.map_width_deg,
        binsz=settings.binsz_deg,
        frame="icrs",
        axes=[energy],
    )
    # Without a target (first pass, to find the peak) nothing is excluded.
    exclusion = None
    if exclude:
        exclusion = ~geom.to_image().region_mask(
            [CircleSkyRegion(position, settings.exclusion_radius_deg * u.deg)]
        )
    empty = MapDataset.create(geom, name=f"obs-{observation.obs_id}")
    maker = MapDatasetMaker(selection=["counts", "background", "exposure"])
    safe = SafeMaskMaker(
        methods=["offset-max"], offset_max=settings.offset_max_deg * u.deg
    )
    dataset = safe.run(maker.run(empty, observation), observation)
    if settings.background == "ring":
        image = dataset.to_image()
        dataset = RingBackgroundMaker(
            r_in=settings.ring_inner_deg * u.deg,
            width=settings.ring_width_deg * u.deg,
            exclusion_mask=exclusion,
        ).run(image)
    else:
        dataset = FoVBackgroundMaker(method="scale", exclusion_mask=exclusion).run(
            dataset
        )
        # The fitted norm lives in the dataset's background model, which
        # `to_image` drops: apply it to the background map first.
        dataset.background = dataset.npred_background()
        dataset.models = None
        dataset = dataset.to_image()
    estimator = ExcessMapEstimator(
        correlation_radius=settings.correlation_radius_deg * u.deg,
        selection_optional=[],
    )
    result = estimator.run(dataset)
    return dataset, result


def _theta2(observation, position, settings):
    """Theta² table and ON/OFF numbers inside the ON radius (mirrored OFF)."""
    import numpy as np
    from gammapy.data import Observations
    from gammapy.makers.utils import ThetaSquaredTable
    from gammapy.maps import MapAxis
    from gammapy.stats import WStatCountsStatistic

    r2 = settings.on_radius_deg**2
    # Bins of r²/3 so that the ON radius is a bin edge.
    nbin = int(np.ceil(settings.theta2_max_deg2 / (r2 / 3)))
    axis = MapAxis.from_bounds(
        0, nbin * r2 / 3, nbin=nbin, interp="lin", unit="deg2", name="theta_squared"
    )
    table = ThetaSquaredTable(Observations([observation]), axis, position).run()
    inside = table["theta2_max"].quantity.to_value("deg2") <= r2 * (1 + 1e-9)
    n_on = int(np.sum(table["counts"][inside]))
    n_off = int(np.sum(table["counts_off"][inside]))
    alpha = float(np.mean(table["alpha"][inside]))
    stat = WStatCountsStatistic(n_on, n_off, alpha)
    numbers = {
        "on_radius_deg": settings.on_radius_deg,
        "n_on": n_on,
        "n_off": n_off,
        "alpha": alpha,
        "excess": float(stat.n_sig),
        "significance": float(stat.sqrt_ts),
    }
    return table, numbers


def _spectrum(observation, position, settings):
    """Reflected-regions ON/OFF spectrum and its power-law fit."""
    import astropy.units as u
    from gammapy.datasets import SpectrumDataset
    from gammapy.makers import SafeMaskMaker
    from gammapy.maps import MapAxis, RegionGeom, WcsGeom
    from gammapy.modeling import Fit
    from gammapy.modeling.models import PowerLawSpectralModel, SkyModel
    from regions import CircleSkyRegion

    from sat.dl3.makers import spectrum_makers

    energy = MapAxis.from_energy_bounds(
        settings.energy_min_tev,
        settings.energy_max_tev,
        settings.spectrum_bins,
        unit="TeV",
    )
    energy_true = MapAxis.from_energy_bounds(
        0.5 * settings.energy_min_tev,
        2 * settings.energy_max_tev,
        4 * settings.spectrum_bins,
        unit="TeV",
        name="energy_true",
    )
    region = CircleSkyRegion(position, settings.on_radius_deg * u.deg)
    geom = RegionGeom.create(region=region, axes=[energy])
    pointing = observation.get_pointing_icrs(observation.tmid)
    mask_geom = WcsGeom.create(
        skydir=pointing, width=2 * settings.offset_max_deg + 1, binsz=0.02
    )
    exclusion = ~mask_geom.region_mask(
        [CircleSkyRegion(position, settings.exclusion_radius_deg * u.deg)]
    )
    dataset = SpectrumDataset.create(geom=geom, energy_axis_true=energy_true)
    safe = SafeMaskMaker(methods=["aeff-max"], aeff_percent=10)
    # No PSF containment correction: the quick look's first, rough spectrum.
    for maker in spectrum_makers(False, exclusion, safe):
        dataset = maker.run(dataset, observation)
    model = PowerLawSpectralModel(
        index=2.5, amplitude="1e-12 cm-2 s-1 TeV-1", reference="1 TeV"
    )
    dataset.models = [SkyModel(spectral_model=model, name="target")]
    fit = {"success": False}
    if dataset.counts_off is not None and dataset.mask_safe.data.any():
        result = Fit().run([dataset])
        index, amplitude = model.parameters["index"], model.parameters["amplitude"]
        fit = {
            "success": bool(result.success),
            "index": float(index.value),
            "index_error": float(index.error),
            "amplitude": float(amplitude.value),
            "amplitude_error": float(amplitude.error),
            "amplitude_unit": str(amplitude.unit),
            "reference_tev": 1.0,
            "stat": float(result.total_stat),
        }
    return dataset, fit


def _plot(title, what, maps, theta2, numbers, spectrum, fit, settings):
    """Draw the quick look of one run: maps, theta², excess spectrum, fit.

    ``what`` (the run's live time, zenith, date) is written under the figure.

    Returns
    -------
    `~matplotlib.figure.Figure`
    """
    import astropy.units as u
    import matplotlib.pyplot as plt
    import numpy as np

    from sat.plots import caption, colorbar, label, unit_text

    correlated = f"within {settings.correlation_radius_deg:g}°"
    counts = maps[0].counts.reduce_over_axes()
    excess = maps[1]["npred_excess"].reduce_over_axes()
    significance = maps[1]["sqrt_ts"].reduce_over_axes()
    wcs = counts.geom.wcs
    figure = plt.figure(figsize=(16, 9), layout="constrained")
    pixel = f"{settings.binsz_deg:g}° pixel"
    for i, (image, name, bar, cmap) in enumerate(
        (
            (counts, "counts (not smoothed)", f"counts per {pixel}", "viridis"),
            (excess, f"excess, summed {correlated}", "excess counts", "RdBu_r"),
            (
                significance,
                f"significance, {correlated}",
                "significance (σ)",
                "RdBu_r",
            ),
        )
    ):
        ax = figure.add_subplot(2, 3, i + 1, projection=wcs)
        data = image.data
        limit = np.nanmax(np.abs(data)) if cmap == "RdBu_r" else None
        shown = ax.imshow(
            data,
            origin="lower",
            cmap=cmap,
            vmin=-limit if limit else None,
            vmax=limit,
        )
        ax.set_title(name)
        ax.coords[0].set_axislabel("Right ascension")
        ax.coords[1].set_axislabel("Declination")
        colorbar(figure, shown, ax, bar)
    ax = figure.add_subplot(2, 3, 4)
    centres = 0.5 * (theta2["theta2_min"] + theta2["theta2_max"])
    ax.errorbar(
        centres,
        theta2["counts"],
        np.sqrt(theta2["counts"]),
        fmt="o",
        ms=3,
        label="ON (around the target)",
    )
    ax.step(centres, theta2["counts_off"], where="mid", label="OFF (mirrored)")
    ax.axvline(settings.on_radius_deg**2, color="k", ls="--", label="ON region radius²")
    ax.set_xlabel(label("θ² from the target", "deg2"))
    ax.set_ylabel("events per bin")
    ax.legend()
    ax.set_title(
        f"ON {numbers['n_on']}, OFF {numbers['n_off']}, {numbers['significance']:.1f} σ"
    )
    ax = figure.add_subplot(2, 3, 5)
    spectrum.plot_excess(ax=ax)
    ax.set_xlabel(label("Reconstructed energy", "TeV"))
    ax.set_ylabel("excess counts per bin")
    ax.legend()
    ax.set_title("excess counts (reflected regions)")
    ax = figure.add_subplot(2, 3, 6)
    ax.axis("off")
    lines = [title, ""]
    if fit["success"]:
        lines += [
            "power-law fit (reference 1 TeV):",
            f"  index     {fit['index']:.2f} ± {fit['index_error']:.2f}",
            f"  amplitude {fit['amplitude']:.3g} ± {fit['amplitude_error']:.2g}",
            f"            {unit_text(u.Unit(fit['amplitude_unit']))}",
        ]
    else:
        lines.append("power-law fit: did not converge")
    ax.text(0, 1, "\n".join(lines), va="top", family="monospace")
    figure.suptitle(title)
    caption(figure, what)
    return figure


def quicklook_observation(store, observation, output, target=None, settings=None):
    """Make the quick-look products of one observation.

    Parameters
    ----------
    store : `gammapy.data.DataStore` or None
        The store holding the observation (its obs-index gives the target); None
        for an observation read from one DL3 file (its header gives the target).
    observation : `gammapy.data.Observation`
        The run.
    output : path-like
        Folder of the products: ``quicklook.png`` and ``summary.json``.
    target : str, optional
        Target name in the obs-index (default: the run's RA_OBJ/DEC_OBJ, else the
        peak of the significance map). Not used without a store.
    settings : QuicklookSettings, optional
        Binning and radii (default: `QuicklookSettings`).

    Returns
    -------
    dict
        The summary written to ``summary.json`` (numbers, fit, time in seconds).
    """
    import astropy.units as u
    import numpy as np

    settings = settings or QuicklookSettings()
    start = time.perf_counter()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    position, found = _position(store, observation, target)
    if position is None:
        pointing = observation.get_pointing_icrs(observation.tmid)
        _, first = _maps(observation, pointing, settings, exclude=False)
        significance = first["sqrt_ts"].reduce_over_axes()
        peak = np.unravel_index(
            np.nanargmax(significance.data), significance.data.shape
        )
        position = significance.geom.pix_to_coord((peak[1], peak[0]))
        from astropy.coordinates import SkyCoord

        position = SkyCoord(position[0], position[1], frame="icrs")
    maps = _maps(observation, position, settings)
    significance = maps[1]["sqrt_ts"].reduce_over_axes().data
    # Pixels without OFF counts in their ring (map edges) have no finite value.
    significance = significance[np.isfinite(significance)]
    theta2, numbers = _theta2(observation, position, settings)
    spectrum, fit = _spectrum(observation, position, settings)
    info = spectrum.info_dict()
    elapsed = time.perf_counter() - start
    summary = {
        "obs_id": int(observation.obs_id),
        "target_position": {
            "ra_deg": round(float(position.icrs.ra.deg), 4),
            "dec_deg": round(float(position.icrs.dec.deg), 4),
            "from": found,
        },
        "livetime_s": float(observation.observation_live_time_duration.to_value(u.s)),
        "n_events": len(observation.events.table),
        "background": settings.background,
        "maps": {
            "counts": float(np.nansum(maps[0].counts.data)),
            "max_significance": float(np.nanmax(significance)),
            "significance_at_target": float(
                maps[1]["sqrt_ts"]
                .reduce_over_axes()
                .get_by_coord({"skycoord": position})[0]
            ),
        },
        "theta2": numbers,
        "spectrum": {
            "n_on": int(info["counts"]),
            "n_off": int(info["counts_off"]),
            "excess": float(info["excess"]),
            "significance": float(info["sqrt_ts"]),
            "fit": fit,
        },
        "settings": settings.model_dump(),
        "time_s": round(elapsed, 2),
    }
    # The figure says which run and what is in it; how long the quick look
    # took is in summary.json (time_s), not where it could read as live time.
    from sat.plots import ObservationSummary

    figure = _plot(
        f"Run {observation.obs_id}" + (f": {target}" if target else ""),
        ObservationSummary.from_observations([observation]).text()
        + f"; {settings.background} background",
        maps,
        theta2,
        numbers,
        spectrum,
        fit,
        settings,
    )
    figure.savefig(output / "quicklook.png", dpi=80, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    summary["time_s"] = round(time.perf_counter() - start, 2)
    (output / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


# What a quick look needs of a run's IRFs: exposure, background, energy dispersion.
REQUIRED_IRFS = ("aeff", "edisp", "bkg")


def read_observations(files, obs_ids=None):
    """Read observations from DL3 files that hold events, GTI and IRFs.

    Parameters
    ----------
    files : list of path-like
        One DL3 file per run (GADF: events, GTI and the IRF HDUs, as in H.E.S.S.
        DR1); Gammapy finds the HDUs by their HDUCLAS keywords.
    obs_ids : list of int, optional
        Keep only these runs.

    Returns
    -------
    `gammapy.data.Observations`
        The runs, in the order of ``files``.

    Raises
    ------
    DataError
        A file cannot be read or lacks an IRF a quick look needs (named), or an
        asked run is not among the files.
    """
    from gammapy.data import Observations

    runs = _file_runs(files, obs_ids)
    return Observations([run.open() for run in runs])


class _Run:
    """One run to look at: its id, where it is, and how to open it (may fail)."""

    def __init__(self, obs_id, where: str, opener):
        self.obs_id = obs_id
        self.where = where
        self.open = opener


def _read_file(path: Path):
    """Read the observation of one DL3 file, its content checked first."""
    from gammapy.data import Observation

    from sat.dl3.files import verify_file
    from sat.errors import DataError, reading

    verify_file(path)  # a truncated file is named as such, not as missing IRFs
    with reading(path):
        observation = Observation.read(path)
    missing = [irf for irf in REQUIRED_IRFS if irf not in observation.available_irfs]
    if missing:
        raise DataError(
            f"{path} has no {', '.join(missing)} IRF: a quick look needs them; "
            "give the data store folder whose hdu-index links the run's IRFs"
        )
    return observation


def _file_runs(files, obs_ids=None) -> list[_Run]:
    """Return the runs of DL3 files (those of ``obs_ids`` only, when given)."""
    from sat.dl3.hdus import file_obs_id
    from sat.errors import DataError

    runs = []
    for path in map(Path, files):
        if not path.is_file():
            raise DataError(f"{path} does not exist: give DL3 files or a data store")
        obs_id = file_obs_id(path)
        runs.append(_Run(obs_id, str(path), lambda path=path: _read_file(path)))
    if obs_ids:
        present = [run.obs_id for run in runs if run.obs_id is not None]
        absent = sorted(set(obs_ids) - set(present))
        if absent:
            raise DataError(
                f"runs {absent} are not in the files given; they hold {present}"
            )
        # An unreadable file may hold one of them: it stays, to be named.
        runs = [run for run in runs if run.obs_id in obs_ids or run.obs_id is None]
    return runs


def _store_runs(where: Path, obs_ids=None, target=None) -> tuple[object, list[_Run]]:
    """Return the data store in ``where`` and its runs (``target``, ``obs_ids``)."""
    from sat.dl3.files import verify_files
    from sat.dl3.select import select_observations
    from sat.dl3.store import open_store

    store = open_store(where)  # not a data store: one line naming what it lacks
    observations = select_observations(store, target=target, obs_ids=obs_ids)

    def opener(observation):
        def open_run():
            # Every file of the run read through first: Gammapy reads HDUs lazily
            # and a truncated file would surface as a missing IRF.
            verify_files(store, [int(observation.obs_id)])
            return observation

        return open_run

    runs = [
        _Run(int(o.obs_id), f"observation {o.obs_id} of {where}", opener(o))
        for o in observations
    ]
    return store, runs


def _failure(run: _Run, error: BaseException) -> dict:
    """Return the entry of a run that could not be looked at, with its cause."""
    from sat.errors import SatError

    message = " ".join(str(error).split()) or type(error).__name__
    if not isinstance(error, SatError):  # a Gammapy failure on this run's content
        message = f"{run.where}: {type(error).__name__}: {message}"
    return {"obs_id": run.obs_id, "source": run.where, "error": message}


def run_quicklook(
    path, output, obs_ids=None, target=None, settings=None, progress=None
):
    """Quick look at the observations of a data store folder or of DL3 files.

    A run that cannot be looked at (a damaged file, missing IRFs, a failure in
    Gammapy) does not stop the others: its entry names the cause.

    Parameters
    ----------
    path : path-like or list of path-like
        A data store folder (obs-index.fits.gz, hdu-index.fits.gz), or DL3 files
        holding events and IRFs (one run each, see `read_observations`).
    output : path-like
        Folder of the products, one sub-folder per run (``obs_NNNNNN``).
    obs_ids : list of int, optional
        Runs to look at (default: all, or those of ``target``).
    target : str, optional
        Target name in the obs-index (a data store only: a file's header names
        its target).
    settings : QuicklookSettings
        Binning and radii.
    progress : callable, optional
        ``progress(iterable, desc)`` wrapper (a tqdm bar).

    Returns
    -------
    list of dict
        One entry per run (also in ``output/summary.json``): its summary, or
        ``{"obs_id", "source", "error"}`` for a run that failed (no sub-folder).

    Raises
    ------
    DataError
        The folder is not a data store, a run or the target is not there, or a
        file does not exist.
    """
    import shutil

    from sat.errors import DataError

    settings = settings or QuicklookSettings()
    paths = [Path(p) for p in ([path] if isinstance(path, (str, Path)) else path)]
    if len(paths) == 1 and paths[0].is_dir():
        store, runs = _store_runs(paths[0], obs_ids, target)
    else:
        if target:
            raise DataError(
                "a target name selects runs of a data store's obs-index; DL3 files "
                "name their own target: drop the target or give the data store"
            )
        store, runs = None, _file_runs(paths, obs_ids)
    output = Path(output)
    summaries = []
    iterable = progress(runs, "quick look") if progress else runs
    for run in iterable:
        folder = None
        try:
            observation = run.open()
            name = f"obs_{observation.obs_id:06d}"
            if (output / name).exists():  # two files of one run: keep the first
                raise DataError(f"{run.where}: run {observation.obs_id} given twice")
            folder = output / name
            summaries.append(
                quicklook_observation(
                    store, observation, folder, target=target, settings=settings
                )
            )
        except Exception as error:  # one run's failure: named, the others go on
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)  # no half-made products
            summaries.append(_failure(run, error))
    output.mkdir(parents=True, exist_ok=True)
    (output / "summary.json").write_text(json.dumps(summaries, indent=2) + "\n")
    return summaries
