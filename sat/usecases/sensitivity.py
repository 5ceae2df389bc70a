"""Differential point-source sensitivity of a CTAO IRF, at several live times.

As in Gammapy's "Point source sensitivity" tutorial: a `SpectrumDatasetMaker` makes
the exposure, energy dispersion and IRF background of a circular region at
``offset_deg`` from the pointing; the region follows the PSF (its radius is the
68 % containment radius in each energy bin: exposure x 0.68, background scaled to
that area); an ON/OFF dataset with ``acceptance_off`` OFF regions gives Li & Ma
significances, and Gammapy's `SensitivityEstimator` finds in each bin the flux
with ``n_sigma`` significance, at least ``gamma_min`` excess counts and an excess
of at least ``bkg_syst_fraction`` of the background: CTAO's definition (5 sigma,
10 gammas, S/B >= 1/20, 5 bins per decade, alpha = 0.2) by default.

Validation against physics, between every pair of live times t_short < t_long:

- where the background dominates (significance-limited in both curves, excess
  at most ``max_signal_to_background`` of the background), the required excess
  grows as sqrt(t) while the exposure grows as t, so the sensitivity ratio is
  sqrt(t_long / t_short);
- where the minimum of ``gamma_min`` excess counts decides in both curves, the
  ratio is t_long / t_short;
- the minimum of the 50 h curve is of order 1e-13 erg cm-2 s-1, as CTAO publishes.
"""

from __future__ import annotations

import math
from itertools import combinations

from pydantic import Field, field_validator, model_validator

from sat.usecases.base import Outcome, RunContext, UseCase, UseCaseConfig
from sat.validation import Reference, compare

SENSITIVITY_UNIT = "erg cm-2 s-1"
# CTAO performance pages (https://www.ctao.org/for-scientists/performance/): the
# prod5 Alpha 50 h differential sensitivity curves of both arrays have their
# minimum at ~1e-13 erg cm-2 s-1, at a few TeV. Our regions are not CTAO's optimised
# cuts, so this is an order-of-magnitude check: log10 within 0.5 (a factor 3).
PUBLISHED_LOG10_MIN_50H = -13.0
PUBLISHED_LOG10_TOLERANCE = 0.5
PUBLISHED_SOURCE = (
    "CTAO performance page, prod5 Alpha configuration, 50 h differential "
    "sensitivity (https://www.ctao.org/for-scientists/performance/)"
)
# Gamma-limited bins need the same excess at both live times: the flux ratio is
# exactly t_long / t_short up to floating-point rounding.
SIGNAL_LIMITED_TOLERANCE = 1e-3


class SensitivityConfig(UseCaseConfig):
    """Configuration of the differential sensitivity."""

    irf: str = "prod5-south-z20-50h"
    livetimes_h: list[float] = Field(
        default_factory=lambda: [0.5, 5.0, 50.0], min_length=2
    )
    offset_deg: float = Field(default=0.5, ge=0)
    energy_min_tev: float = Field(default=0.02, gt=0)
    energy_max_tev: float = Field(default=199.0, gt=0)
    bins_per_decade: int = Field(default=5, gt=0)
    containment: float = Field(default=0.68, gt=0, lt=1)
    n_sigma: float = Field(default=5.0, gt=0)
    gamma_min: float = Field(default=10.0, gt=0)
    bkg_syst_fraction: float = Field(default=0.05, ge=0)
    acceptance_off: float = Field(default=5.0, gt=0)
    spectral_index: float = 2.0
    max_signal_to_background: float = Field(default=0.25, gt=0)

    @field_validator("livetimes_h", mode="after")
    @classmethod
    def _positive_unique(cls, livetimes: list[float]):
        if any(t <= 0 for t in livetimes):
            raise ValueError("every live time must be positive")
        if len(set(livetimes)) != len(livetimes):
            raise ValueError("each live time at most once")
        return sorted(livetimes)

    @model_validator(mode="after")
    def _range(self):
        if self.energy_max_tev <= self.energy_min_tev:
            raise ValueError("energy_max_tev must be larger than energy_min_tev")
        return self


def energy_edges(energy_min_tev, energy_max_tev, bins_per_decade):
    """Decade-aligned bin edges 10**(k / bins_per_decade) TeV inside the range.

    CTAO's curves use such bins (5 per decade: 0.025, 0.040, 0.063, 0.1 TeV...).
    """
    import astropy.units as u
    import numpy as np

    from sat.errors import ConfigError

    low = math.ceil(math.log10(energy_min_tev) * bins_per_decade - 1e-9)
    high = math.floor(math.log10(energy_max_tev) * bins_per_decade + 1e-9)
    if high <= low:
        raise ConfigError(
            f"no complete bin of {bins_per_decade} per decade between "
            f"{energy_min_tev:g} and {energy_max_tev:g} TeV: widen the range"
        )
    return 10 ** (np.arange(low, high + 1) / bins_per_decade) * u.TeV


def background_tolerance(max_signal_to_background: float, acceptance_off: float):
    """Largest departure from sqrt(t) scaling at a given signal/background ratio.

    In the Gaussian limit of Li & Ma, the required excess s on a background b with
    alpha = 1 / acceptance_off solves s**2 = n**2 (s + (1 + alpha) b), so
    s = n sqrt((1 + alpha) b) sqrt(1 + s / ((1 + alpha) b)): the signal's own
    Poisson noise raises it above the pure sqrt(b) law by the last factor, at most
    sqrt(1 + x / (1 + alpha)) - 1 for s / b <= x.
    """
    alpha = 1 / acceptance_off
    return math.sqrt(1 + max_signal_to_background / (1 + alpha)) - 1


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


def scaling(tables: dict, max_signal_to_background: float) -> list[dict]:
    """Compare every pair of curves bin by bin.

    Parameters
    ----------
    tables : dict
        ``{livetime_h: sensitivity table}``, all with the same energy bins.
    max_signal_to_background : float
        Largest excess / background for a bin to count as background-dominated.

    Returns
    -------
    list of dict
        One row per pair and bin: energy, ``regime`` ("background", "signal" or
        None when the bin is in neither regime in both curves), the ratio
        S(t_short) / S(t_long) and the expected ratio.
    """
    rows = []
    for short, long in combinations(sorted(tables), 2):
        a, b = tables[short], tables[long]
        for i in range(len(a)):
            ratio = float(a["e2dnde"][i] / b["e2dnde"][i])
            criteria = (str(a["criterion"][i]), str(b["criterion"][i]))
            dominated = all(
                float(t["excess"][i]) <= max_signal_to_background * t["background"][i]
                for t in (a, b)
            )
            if criteria == ("significance", "significance") and dominated:
                regime, expected = "background", math.sqrt(long / short)
            elif criteria == ("gamma", "gamma"):
                regime, expected = "signal", long / short
            else:
                regime, expected = None, float("nan")
            rows.append(
                {
                    "t_short_h": short,
                    "t_long_h": long,
                    "e_ref_tev": float(a["e_ref"].quantity[i].to_value("TeV")),
                    "criteria": list(criteria),
                    "signal_to_background": [
                        float(t["excess"][i] / t["background"][i])
                        if t["background"][i] > 0
                        else math.inf
                        for t in (a, b)
                    ],
                    "regime": regime,
                    "ratio": ratio,
                    "expected": expected,
                    "ratio_over_expected": ratio / expected,
                }
            )
    return rows


def _worst(rows: list[dict], regime: str) -> float:
    """Return the ratio / expected farthest from 1 in ``regime`` (NaN if none)."""
    values = [row["ratio_over_expected"] for row in rows if row["regime"] == regime]
    return max(values, key=lambda v: abs(v - 1)) if values else float("nan")


class Sensitivity(UseCase):
    """Differential sensitivity of a CTAO IRF at several live times."""

    name = "sensitivity"
    usecase_id = "SUSS-UC-SAT-060"
    summary = "Differential point-source sensitivity of a CTAO IRF"
    Config = SensitivityConfig
    datasets = ("cta-caldb",)

    def run(self, config: SensitivityConfig, context: RunContext) -> Outcome:
        """Compute the curves, write them, check their scaling with live time."""
        import numpy as np

        from sat.errors import ConfigError
        from sat.irf import check_energy_range, irf_info, irf_path, load_irf
        from sat.sites import get_site

        info = irf_info(config.irf)
        context.add_inputs(irf_path(config.irf))
        irfs = load_irf(config.irf)
        check_energy_range(
            config.irf, irfs, config.energy_min_tev, config.energy_max_tev
        )
        fov = irfs["aeff"].axes["offset"].edges.max().to_value("deg")
        if config.offset_deg >= fov:
            raise ConfigError(
                f"offset_deg {config.offset_deg:g} is outside the field of view of "
                f"IRF {config.irf!r} (0 to {fov:g} deg)"
            )
        location = get_site(info.site)
        # Fails in one line before any work when no bin fits in the range.
        energy_edges(
            config.energy_min_tev, config.energy_max_tev, config.bins_per_decade
        )

        tables = {}
        for livetime in context.progress(config.livetimes_h, "sensitivity curves"):
            table = sensitivity_table(config, irfs, location, livetime)
            table.write(
                context.product(f"sensitivity_{livetime:g}h.ecsv"),
                format="ascii.ecsv",
                overwrite=True,
            )
            tables[livetime] = table
        _plot(
            tables,
            f"{info.name}, {config.bins_per_decade} bins per decade",
            context.product("sensitivity.png"),
        )

        rows = scaling(tables, config.max_signal_to_background)
        tolerance = background_tolerance(
            config.max_signal_to_background, config.acceptance_off
        )
        n_background = sum(row["regime"] == "background" for row in rows)
        n_signal = sum(row["regime"] == "signal" for row in rows)
        background_quantity = "background-limited ratio / sqrt(t_long / t_short)"
        if not n_background:
            background_quantity += (
                " (no background-dominated bin: choose live times with more "
                "background, or a larger max_signal_to_background)"
            )
        validation = [
            compare(
                Reference(
                    background_quantity,
                    1.0,
                    tolerance,
                    "",
                    "Li & Ma significance in the background-dominated limit",
                    1.0,
                    f"{n_background} bins significance-limited with S/B <= "
                    f"{config.max_signal_to_background:g} in both curves; the "
                    f"signal's own noise moves the ratio by at most "
                    f"{100 * tolerance:.1f} %; no such bin is a failure",
                ),
                _worst(rows, "background"),
            )
        ]
        if n_signal:
            validation.append(
                compare(
                    Reference(
                        "signal-limited ratio / (t_long / t_short)",
                        1.0,
                        SIGNAL_LIMITED_TOLERANCE,
                        "",
                        "fixed minimum excess: flux ~ 1 / exposure",
                        1.0,
                        f"{n_signal} bins limited by the {config.gamma_min:g}-gamma "
                        "minimum in both curves need the same excess: exact scaling",
                    ),
                    _worst(rows, "signal"),
                )
            )
        minima = {
            livetime: (
                float(np.min(table["e2dnde"].quantity.to_value(SENSITIVITY_UNIT))),
                float(
                    table["e_ref"].quantity[np.argmin(table["e2dnde"])].to("TeV").value
                ),
            )
            for livetime, table in tables.items()
        }
        if 50.0 in minima:
            validation.append(
                compare(
                    Reference(
                        "log10 minimum 50 h sensitivity",
                        PUBLISHED_LOG10_MIN_50H,
                        PUBLISHED_LOG10_TOLERANCE,
                        f"log10({SENSITIVITY_UNIT})",
                        PUBLISHED_SOURCE,
                        1.0,
                        "order of magnitude: a PSF-containment region is not CTAO's "
                        "optimised cuts; a factor 3 catches unit or live-time errors",
                    ),
                    math.log10(minima[50.0][0]),
                )
            )
        parameters = {
            f"minimum_{livetime:g}h": {
                "value": value,
                "error": 0.0,
                "unit": SENSITIVITY_UNIT,
            }
            for livetime, (value, _) in minima.items()
        }
        summary = [
            f"{info.name} at offset {config.offset_deg:g} deg, "
            f"{config.n_sigma:g} sigma, >= {config.gamma_min:g} gammas, "
            f"S/B >= {config.bkg_syst_fraction:g}, alpha "
            f"{1 / config.acceptance_off:g}",
            *(
                f"{livetime:g} h: minimum {value:.3g} {SENSITIVITY_UNIT} at "
                f"{energy:.3g} TeV"
                for livetime, (value, energy) in minima.items()
            ),
            f"scaling: {n_background} background-limited bins (worst ratio / "
            f"sqrt(t) {_worst(rows, 'background'):.3f}), {n_signal} signal-limited "
            f"bins (worst ratio / t {_worst(rows, 'signal'):.4f})",
        ]
        extra = {
            "irf": info.as_dict(),
            "minima": {
                f"{livetime:g}h": {"e2dnde": value, "e_ref_tev": energy}
                for livetime, (value, energy) in minima.items()
            },
            "scaling": rows,
            "background_tolerance": tolerance,
        }
        return Outcome(parameters, validation, summary, extra)


def _plot(tables: dict, title: str, path) -> None:
    """Sensitivity curves (E^2 dN/dE, erg cm-2 s-1) with the limiting criterion."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    markers = {"significance": "o", "gamma": "*", "bkg": "v"}
    figure, axes = plt.subplots(figsize=(7, 5))
    for livetime, table in tables.items():
        energy = table["e_ref"].quantity.to_value("TeV")
        flux = table["e2dnde"].quantity.to_value(SENSITIVITY_UNIT)
        (line,) = axes.plot(energy, flux, "-", label=f"{livetime:g} h")
        for criterion, marker in markers.items():
            selected = table["criterion"] == criterion
            axes.plot(
                energy[selected],
                flux[selected],
                marker,
                color=line.get_color(),
                ls="none",
            )
    for criterion, marker in markers.items():
        axes.plot([], [], marker, color="gray", ls="none", label=criterion)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("Energy [TeV]")
    axes.set_ylabel(f"Differential sensitivity E$^2$ dN/dE [{SENSITIVITY_UNIT}]")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)


USECASE = Sensitivity
