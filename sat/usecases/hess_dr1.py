"""What Mohrmann et al. 2019 (A&A 632, A72) published on the H.E.S.S. DL3 DR1 runs.

The paper of the data release analysed the same runs as spectrum-1d, lightcurve
and map-3d: its power-law spectra are their references. Each use case states its
own tolerance and why; the published facts, and what defines them (the runs by
their obs-index target name, the reference energy, the ON-region radius), live
here once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sat.usecases.models import AMPLITUDE_UNIT
from sat.validation import Reference

__all__ = [
    "PAPER",
    "PUBLISHED_1D",
    "PUBLISHED_3D",
    "STEADY_SAMPLE",
    "Published",
    "references",
]

PAPER = "Mohrmann et al. 2019, A&A 632, A72"


@dataclass(frozen=True)
class Published:
    """A published power-law spectrum and the analysis choices that define it.

    Attributes
    ----------
    amplitude, index : tuple of float
        Value and error (amplitude in ``AMPLITUDE_UNIT`` at the reference energy).
    reference_energy_tev : float
        The reference energy of the fit.
    on_radius_deg : float or None
        The ON-region radius of a 1D analysis (None for the 3D one).
    obs_ids : tuple of int
        The runs the paper fitted: the reference holds for exactly these.
    """

    amplitude: tuple[float, float]
    index: tuple[float, float]
    reference_energy_tev: float
    on_radius_deg: float | None = None
    obs_ids: tuple[int, ...] = ()

    def same_runs(self, obs_ids) -> bool:
        """Return whether ``obs_ids`` are exactly the runs the paper fitted."""
        return sorted(map(int, obs_ids)) == sorted(self.obs_ids)

    def matches(self, reference_energy, on_radius=None) -> bool:
        """Return whether an analysis at this energy (and ON radius) repeats it."""
        same = math.isclose(
            reference_energy.to_value("TeV"), self.reference_energy_tev, rel_tol=1e-6
        )
        if self.on_radius_deg is None or on_radius is None:
            return same
        return same and math.isclose(
            on_radius.to_value("deg"), self.on_radius_deg, rel_tol=1e-6
        )

    def describe(self) -> str:
        """Return the analysis choices in words: reference energy, ON radius."""
        text = f"E0 {self.reference_energy_tev} TeV"
        if self.on_radius_deg is not None:
            text += f", r_on {self.on_radius_deg} deg"
        return text


# The runs the paper fitted: every DR1 run of each TARGET_NAME (Mohrmann et al.
# 2019, Table 1), named here so that a store holding some of them, or other runs
# of the same name, is not taken for the paper's selection.
CRAB_RUNS = (23523, 23526, 23559, 23592)
PKS_2155_STEADY_RUNS = (47802, 47803, 47804, 47827, 47828, 47829)
MSH_15_52_RUNS = (
    *(20136, 20137, 20151, 20282, 20283, 20301, 20302, 20303, 20322, 20323),
    *(20324, 20325, 20343, 20344, 20345, 20346, 20365, 20366, 20367, 20368),
)
# 1D reflected-regions power laws, keyed by the TARGET_NAME of the DR1 obs-index.
PUBLISHED_1D = {
    "Crab": Published((1.629e-11, 0.088e-11), (2.629, 0.074), 1.45, 0.11, CRAB_RUNS),
    "PKS 2155-304 (steady)": Published(
        (1.749e-11, 0.207e-11), (3.464, 0.246), 0.65, 0.11, PKS_2155_STEADY_RUNS
    ),
    "MSH 15-52": Published(
        (2.698e-12, 0.158e-12), (2.346, 0.059), 1.4, 0.3, MSH_15_52_RUNS
    ),
}
# The runs of PKS 2155-304 the paper calls its steady-state sample.
STEADY_SAMPLE = "PKS 2155-304 (steady)"
# The 3D analysis of MSH 15-52 (all 20 runs of that TARGET_NAME).
PUBLISHED_3D = {
    "MSH 15-52": Published(
        (2.914e-12, 0.136e-12), (2.413, 0.053), 1.4, obs_ids=MSH_15_52_RUNS
    )
}


def references(published: Published, source: str, n_sigma: float, why: str):
    """Return the index and amplitude of ``published`` as validation references.

    Parameters
    ----------
    published : Published
        The published spectrum.
    source : str
        Where it comes from (paper, table, target), for the report.
    n_sigma, why : float, str
        The use case's tolerance and why it is that.
    """
    return [
        Reference("index", *published.index, "", source, n_sigma, why),
        Reference(
            "amplitude", *published.amplitude, AMPLITUDE_UNIT, source, n_sigma, why
        ),
    ]
