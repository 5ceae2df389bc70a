"""What a quick look is given: the runs, the target, the binning and radii."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sat.config import BaseConfig
from sat.errors import DataError


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
