"""Guards on an analysis's sky regions and maps, checked before any work.

A region outside the runs' field of view is not a small mistake: Gammapy's
reflected-regions finder then builds a mask reaching the region at 0.01 deg
pixels (a run pointed 60 deg away: a 26000 x 26000 mask, past 24 GB with what
follows), and a few degrees away it fits noise and fails in the plots. So, before
any reduction:

- `field_of_view`: how far from its pointing a run's IRFs reach (the offset axis
  of the effective area, and of the background model where one is used);
- `covering_runs`: the runs whose field of view holds a region, the others named
  with why; none at all is a one-line error naming the key;
- `check_within`: the same for regions that must overlap some run (exclusions,
  a map's centre);
- `check_memory`: an estimate of what a geometry will take, refused up front
  (one line naming the key) when it exceeds the memory there is.

Gammapy is imported inside the functions.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

from sat.errors import ConfigError, DataError

__all__ = [
    "FieldOfView",
    "available_memory",
    "check_memory",
    "check_within",
    "covering_runs",
    "field_of_view",
    "map_dataset_bytes",
    "spectrum_datasets_bytes",
]

# The share of the available memory a geometry may take: the rest is Gammapy's
# temporaries (coordinates, interpolation) and the fit.
MEMORY_SHARE = 0.5


@dataclass(frozen=True)
class FieldOfView:
    """Where a run sees: its pointing and how far its IRFs reach from it.

    Attributes
    ----------
    obs_id : int
        The run.
    pointing : `~astropy.coordinates.SkyCoord`
        Its pointing (ICRS, at the middle of the run).
    radius_deg : float or None
        The largest offset its IRFs describe (None: no IRF to tell).
    limit : str
        Which IRF sets it, for the messages.
    """

    obs_id: int
    pointing: object
    radius_deg: float | None
    limit: str

    def offset_deg(self, position) -> float:
        """Return the angular distance of ``position`` from the pointing (deg)."""
        return float(self.pointing.separation(position).deg)

    def holds(self, position, radius_deg: float = 0.0) -> bool:
        """Return whether a circle lies inside (unknown reach: True)."""
        if self.radius_deg is None:
            return True
        return self.offset_deg(position) + radius_deg <= self.radius_deg

    def overlaps(self, position, radius_deg: float = 0.0) -> bool:
        """Return whether a circle reaches into the field of view."""
        if self.radius_deg is None:
            return True
        return self.offset_deg(position) - radius_deg < self.radius_deg


def _reach_deg(irf) -> float | None:
    """Return the largest offset an IRF describes, from its axes (deg)."""
    names = irf.axes.names
    if "offset" in names:
        return float(irf.axes["offset"].edges.max().to_value("deg"))
    if {"fov_lon", "fov_lat"} <= set(names):
        # A square in the field-of-view frame: the circle inside it.
        return float(
            min(
                abs(irf.axes[name].edges).max().to_value("deg")
                for name in ("fov_lon", "fov_lat")
            )
        )
    return None


def field_of_view(observation, irfs=("aeff",)) -> FieldOfView:
    """Return the field of view of a run: the reach of its IRFs ``irfs``.

    Parameters
    ----------
    observation : `gammapy.data.Observation`
        The run (its IRFs are read).
    irfs : tuple of str
        The IRFs the analysis uses (``aeff``; ``bkg`` for a 3D analysis): the
        smallest reach wins. A run lacking one of them is left to the reduction
        to name.
    """
    from sat.errors import reading

    reaches = []
    for name in irfs:
        if name not in observation.available_irfs:
            continue
        with reading(f"the {name} IRF of run {observation.obs_id}"):
            reach = _reach_deg(getattr(observation, name))
        if reach is not None:
            reaches.append((reach, name))
    pointing = observation.get_pointing_icrs(observation.tmid)
    if not reaches:
        return FieldOfView(int(observation.obs_id), pointing, None, "no IRF")
    radius, name = min(reaches)
    return FieldOfView(int(observation.obs_id), pointing, radius, name)


def _where(position) -> str:
    icrs = position.icrs
    return f"RA {icrs.ra.deg:.3f} Dec {icrs.dec.deg:.3f}"


def covering_runs(
    observations,
    position,
    radius_deg: float,
    key: str,
    what: str = "the ON region",
    irfs=("aeff",),
    whole: bool = True,
):
    """Keep the runs whose field of view holds a circle; name the others.

    Parameters
    ----------
    observations : `gammapy.data.Observations`
        The selected runs.
    position : `~astropy.coordinates.SkyCoord`
        Centre of the circle (an ON region, a map).
    radius_deg : float
        Its radius.
    key : str
        The config key that places it, named in the error.
    what : str
        What the circle is, in words.
    irfs : tuple of str
        The IRFs the analysis uses (`field_of_view`).
    whole : bool
        The circle must lie inside a run's field of view (an ON region), or only
        reach into it (a map, which each run fills where it sees).

    Returns
    -------
    observations : `gammapy.data.Observations`
        The runs that can contribute, in their order.
    dropped : list of str
        One line per other run: how far the circle is, how far its IRFs reach.

    Raises
    ------
    DataError
        No run can contribute (one line: the nearest run, what to change).
    """
    from gammapy.data import Observations

    kept, dropped, nearest = [], [], None
    for observation in observations:
        fov = field_of_view(observation, irfs)
        inside = fov.holds if whole else fov.overlaps
        if inside(position, radius_deg):
            kept.append(observation)
            continue
        offset = fov.offset_deg(position)
        dropped.append(
            f"run {fov.obs_id}: {what} is {offset:.2f} deg from its pointing, "
            f"its IRFs reach {fov.radius_deg:.2f} deg"
        )
        if nearest is None or offset < nearest[0]:
            nearest = (offset, fov)
    if not kept:
        offset, fov = nearest
        many = "" if len(dropped) == 1 else f" (the nearest of {len(dropped)})"
        raise DataError(
            f"{what} ({key}: r {radius_deg:g} deg at {_where(position)}) is "
            f"outside the field of view of every selected run: run {fov.obs_id}"
            f"{many} points {offset:.2f} deg away and its IRFs reach "
            f"{fov.radius_deg:.2f} deg; select runs pointed near it, or check the "
            "position"
        )
    return Observations(kept), dropped


def check_within(observations, circles, irfs=("aeff",)) -> None:
    """Refuse circles that reach into no run's field of view (a typo, likely).

    Parameters
    ----------
    observations : `gammapy.data.Observations`
        The runs of the analysis.
    circles : list of tuple
        ``(key, position, radius_deg)`` of each circle (an exclusion region...).
    irfs : tuple of str
        The IRFs the analysis uses (`field_of_view`).

    Raises
    ------
    ConfigError
        One line naming the first such circle's key.
    """
    fovs = [field_of_view(observation, irfs) for observation in observations]
    for key, position, radius_deg in circles:
        if any(fov.overlaps(position, radius_deg) for fov in fovs):
            continue
        closest = min(fovs, key=lambda fov: fov.offset_deg(position))
        raise ConfigError(
            f"key {key!r}: the circle of r {radius_deg:g} deg at {_where(position)} "
            f"is outside the field of view of every run (run {closest.obs_id} "
            f"points {closest.offset_deg(position):.2f} deg away, its IRFs reach "
            f"{closest.radius_deg:.2f} deg): check its coordinates"
        )


def available_memory() -> int:
    """Return the bytes this process may still take: RAM available, or its limit.

    The smaller of the system's available memory (``MemAvailable``) and what the
    address-space limit (``ulimit -v``) leaves above the process's current size.
    """
    available = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except OSError:
        pass
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        try:
            size = int(Path("/proc/self/statm").read_text().split()[0])
            size *= os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            size = 0
        left = max(soft - size, 0)
        available = left if available is None else min(available, left)
    return available if available is not None else 1 << 62


def _human(n_bytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n_bytes < 1024 or unit == "TiB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:.1f} TiB"  # pragma: no cover - the loop returns


def check_memory(n_bytes: float, key: str, what: str, advice: str) -> None:
    """Refuse a geometry whose estimated memory exceeds what there is.

    Parameters
    ----------
    n_bytes : float
        The estimate.
    key : str
        The config key that sets the geometry.
    what : str
        What it is, in words (e.g. "a 3D map of 2000 x 2000 pixels x 30 energies").
    advice : str
        What to change.

    Raises
    ------
    ConfigError
        One line naming the key, the estimate and the memory available.
    """
    budget = MEMORY_SHARE * available_memory()
    if n_bytes > budget:
        raise ConfigError(
            f"key {key!r}: {what} needs about {_human(n_bytes)} of memory, more "
            f"than the {_human(budget)} this analysis may use here: {advice}"
        )


# Memory of a 3D map per pixel and energy bin (reconstructed or true), through
# the reduction and the fit of map-3d: its default cube of 150 x 150 pixels
# (24 + 28 energy bins) peaks at 443 MB, the same at 300 x 300 pixels at 667 MB
# (measured, gammapy 2.1): 224 MB for 67 500 pixels x 52 bins.
BYTES_PER_VOXEL = 64


def map_dataset_bytes(n_pixels: int, n_energy: int, n_energy_true: int) -> float:
    """Estimate the memory a 3D map analysis takes for its cube (bytes).

    What the geometry adds to the process (`BYTES_PER_VOXEL` per pixel and
    energy bin), on top of the libraries.
    """
    return float(n_pixels) * (n_energy + n_energy_true) * BYTES_PER_VOXEL


def spectrum_datasets_bytes(n_runs: int, n_energy: int, n_energy_true: int) -> float:
    """Estimate the memory of the per-run ON/OFF spectra of an analysis (bytes).

    Each run's energy dispersion is a dense ``n_energy_true x n_energy`` matrix of
    float64, made through about three temporaries of the same size.
    """
    return float(n_runs) * n_energy_true * n_energy * 8 * 4
