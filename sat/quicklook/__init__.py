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

from sat.quicklook.analysis import (
    first_spectrum,
    sky_maps,
    target_position_of,
    theta2_numbers,
)
from sat.quicklook.config import QuicklookConfig, QuicklookFailed, QuicklookSettings
from sat.quicklook.plot import plot_quicklook
from sat.quicklook.runs import (
    REQUIRED_IRFS,
    failure,
    file_runs,
    read_observations,
    store_runs,
)

# The public API; each name but the two functions below lives in the submodule
# it is imported from (config, analysis, plot, runs).
__all__ = [
    "REQUIRED_IRFS",
    "QuicklookConfig",
    "QuicklookFailed",
    "QuicklookSettings",
    "quicklook_observation",
    "read_observations",
    "run_quicklook",
]


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
    position, found = target_position_of(store, observation, target)
    if position is None:
        pointing = observation.get_pointing_icrs(observation.tmid)
        _, first = sky_maps(observation, pointing, settings, exclude=False)
        significance = first["sqrt_ts"].reduce_over_axes()
        peak = np.unravel_index(
            np.nanargmax(significance.data), significance.data.shape
        )
        position = significance.geom.pix_to_coord((peak[1], peak[0]))
        from astropy.coordinates import SkyCoord

        position = SkyCoord(position[0], position[1], frame="icrs")
    maps = sky_maps(observation, position, settings)
    significance = maps[1]["sqrt_ts"].reduce_over_axes().data
    # Pixels without OFF counts in their ring (map edges) have no finite value.
    significance = significance[np.isfinite(significance)]
    theta2, numbers = theta2_numbers(observation, position, settings)
    spectrum, fit = first_spectrum(observation, position, settings)
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

    figure = plot_quicklook(
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
        store, runs = store_runs(paths[0], obs_ids, target)
    else:
        if target:
            raise DataError(
                "a target name selects runs of a data store's obs-index; DL3 files "
                "name their own target: drop the target or give the data store"
            )
        store, runs = None, file_runs(paths, obs_ids)
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
            summaries.append(failure(run, error))
    output.mkdir(parents=True, exist_ok=True)
    (output / "summary.json").write_text(json.dumps(summaries, indent=2) + "\n")
    return summaries
