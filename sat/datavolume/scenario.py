"""The data-volume scenario: sites, hours, runs, binning, retention; and the levels.

Every default says where it comes from (an assumption of the scenario, or a
measurement it replaces); `sat.datavolume` derives or measures the rest.
"""

from __future__ import annotations

from pydantic import Field

from sat.config import BaseConfig

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
