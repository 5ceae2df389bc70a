"""The sensitivity curves: CTAO's energy bins and Gammapy's `SensitivityEstimator`.

As in Gammapy's "Point source sensitivity" tutorial, for one IRF and live time
at a time.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sat.usecases.sensitivity.config import SensitivityConfig


SENSITIVITY_UNIT = "erg cm-2 s-1"


def energy_edges(energy_min_tev, energy_max_tev, bins_per_decade):
    """CTAO's bins: centred on 10**(k / bins_per_decade) TeV, inside the range.

    With 5 per decade the edges are 0.02, 0.0316, 0.0501, 0.0794, 0.126 TeV...
    (10**-1.7, 10**-1.5, ...), as in CTAO's published curves and the background
    axis of the CTA IRFs. A range end within 1 % of a bin of an edge (the
    published tables round the edges to 3 digits) includes that edge.
    """
    import astropy.units as u
    import numpy as np

    from sat.errors import ConfigError

    slack = 0.01
    low = math.ceil(math.log10(energy_min_tev) * bins_per_decade - 0.5 - slack)
    high = math.floor(math.log10(energy_max_tev) * bins_per_decade - 0.5 + slack)
    if high <= low:
        raise ConfigError(
            f"no complete bin of {bins_per_decade} per decade between "
            f"{energy_min_tev:g} and {energy_max_tev:g} TeV: widen the range"
        )
    return 10 ** ((np.arange(low, high + 1) + 0.5) / bins_per_decade) * u.TeV


def sensitivity_table(config: SensitivityConfig, irfs, location, livetime_h: float):
    """Run Gammapy's `SensitivityEstimator` for one live time.

    Returns
    -------
    `~astropy.table.Table`
        Gammapy's sensitivity table (e_ref, e_min, e_max, e2dnde, excess,
        background, criterion) plus the ON-region radius of each bin.
    """
    import astropy.units as u
    import numpy as np
    from astropy.coordinates import SkyCoord
    from gammapy.data import FixedPointingInfo, Observation
    from gammapy.datasets import SpectrumDataset, SpectrumDatasetOnOff
    from gammapy.estimators import SensitivityEstimator
    from gammapy.makers import SpectrumDatasetMaker
    from gammapy.maps import MapAxis, RegionGeom
    from gammapy.modeling.models import PowerLawSpectralModel
    from regions import CircleSkyRegion

    from sat.irf import true_energy_axis

    edges = energy_edges(
        config.energy_min_tev, config.energy_max_tev, config.bins_per_decade
    )
    energy_axis = MapAxis.from_energy_edges(edges)
    energy_axis_true = true_energy_axis(
        irfs, edges[0].to_value("TeV"), edges[-1].to_value("TeV")
    )
    pointing = SkyCoord(0, 0, unit="deg")
    offset = config.offset_deg * u.deg
    center = pointing.directional_offset_by(0 * u.deg, offset)
    # Any radius: the exposure and background are rescaled to the PSF radius below.
    region = CircleSkyRegion(center, 0.1 * u.deg)
    empty = SpectrumDataset.create(
        geom=RegionGeom.create(region, axes=[energy_axis]),
        energy_axis_true=energy_axis_true,
    )
    observation = Observation.create(
        pointing=FixedPointingInfo(fixed_icrs=pointing),
        irfs=irfs,
        livetime=livetime_h * u.h,
        location=location,
    )
    maker = SpectrumDatasetMaker(selection=["exposure", "edisp", "background"])
    dataset = maker.run(empty, observation)
    dataset.exposure *= config.containment
    radius = observation.psf.containment_radius(
        energy_true=energy_axis.center, offset=offset, fraction=config.containment
    )
    area_ratio = (1 - np.cos(radius)) / (1 - np.cos(region.radius))
    dataset.background *= area_ratio.to_value("").reshape((-1, 1, 1))
    on_off = SpectrumDatasetOnOff.from_spectrum_dataset(
        dataset=dataset, acceptance=1, acceptance_off=config.acceptance_off
    )
    estimator = SensitivityEstimator(
        spectral_model=PowerLawSpectralModel(
            index=config.spectral_index, amplitude="1 cm-2 s-1 TeV-1"
        ),
        n_sigma=config.n_sigma,
        gamma_min=config.gamma_min,
        bkg_syst_fraction=config.bkg_syst_fraction,
    )
    table = estimator.run(on_off)
    table["on_radius"] = radius.to("deg")
    table.meta.update(
        {
            "irf": config.irf,
            "livetime_h": livetime_h,
            "offset_deg": config.offset_deg,
            "n_sigma": config.n_sigma,
            "gamma_min": config.gamma_min,
            "bkg_syst_fraction": config.bkg_syst_fraction,
            "alpha": 1 / config.acceptance_off,
            "containment": config.containment,
        }
    )
    return table


def minima(tables: dict) -> dict:
    """Return each curve's minimum: ``{livetime_h: (E2dN/dE, energy in TeV)}``.

    E2dN/dE is in `SENSITIVITY_UNIT`.
    """
    import numpy as np

    return {
        livetime: (
            float(np.min(table["e2dnde"].quantity.to_value(SENSITIVITY_UNIT))),
            float(table["e_ref"].quantity[np.argmin(table["e2dnde"])].to("TeV").value),
        )
        for livetime, table in tables.items()
    }
