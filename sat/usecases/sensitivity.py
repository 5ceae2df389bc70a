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

Validation against CTAO's published curve: with the 1DC South IRF (the default,
the prod3b-v1 production) and CTAO's definition, the 50 h curve is compared bin
by bin with CTAO's published prod3b-v1 South 20 deg 50 h differential sensitivity
(shipped in ``sat/data/references``, see `published_comparison`). Differences
known in advance set the expectation and the tolerance: CTAO optimises its
direction cut in each bin where we take the PSF's 68 % containment, which in the
gamma-limited bins (10 excess events decide) makes ours higher by the published
direction-cut efficiency over 0.68; elsewhere both agree up to the differences
between the IRF and the published effective area and background (a factor 1.3).
Bins where the IRF itself differs from the published instrument by more than
that are reported, not validated.

Validation against physics, between every pair of live times t_short < t_long:

- where the background dominates (significance-limited in both curves, excess
  at most ``max_signal_to_background`` of the background), the required excess
  grows as sqrt(t) while the exposure grows as t, so the sensitivity ratio is
  sqrt(t_long / t_short);
- where the minimum of ``gamma_min`` excess counts decides in both curves, the
  ratio is t_long / t_short;
- with a prod5 IRF, for which no table of the curve is published with the IRFs,
  only the order of magnitude of the 50 h minimum is checked (1e-13 erg cm-2 s-1
  within a factor 3, read off CTAO's performance page).
"""

from __future__ import annotations

import math
from itertools import combinations

from pydantic import Field, field_validator, model_validator

from sat.usecases.base import Outcome, RunContext, UseCase, UseCaseConfig
from sat.validation import Bounds, Reference, check_bounds, compare

SENSITIVITY_UNIT = "erg cm-2 s-1"
# CTAO's published prod3b-v1 performance files (sat/data/references), the
# production of the 1DC IRF: differential sensitivity per live time, and for 50 h
# the effective area with and without the direction cut and the background rate.
PUBLISHED = "cta-performance-prod3b-v1"
PUBLISHED_IRF = "1dc-south-z20-50h"
PUBLISHED_FILE = "CTA-Performance-prod3b-v1-South-20deg-{}.txt"
PUBLISHED_CURVES = {50.0: "50h", 5.0: "05h", 0.5: "30m"}
PUBLISHED_LIVETIME = 50.0  # the live time the IRF's cuts were optimised for
PUBLISHED_SOURCE = (
    "CTA Consortium and Observatory, CTA performance files prod3b-v1, South, "
    "20 deg, 50 h differential sensitivity (ctaplot 0.6.6 sdist, "
    "sat/data/references/cta-performance-prod3b-v1)"
)
# The 1DC IRF is a binned copy of the same simulations: its effective area and
# background rate differ from the published files by up to ~25 % per bin
# (statistics and smoothing of the Monte Carlo). The area enters the expectation
# (sensitivity ~ 1/A); the background rate, up to a factor 1.3, moves a
# background-limited sensitivity (~ sqrt(B), or B at the 1/20 floor) by up to as
# much: a factor 1.3 either way. Bins where it differs by more are not compared.
PUBLISHED_TOLERANCE = 1.3
PUBLISHED_WHY = (
    "expected: (f / 0.68 where 10 gammas decide, CTAO's optimised direction cut "
    "keeping the published fraction f of the gammas where we keep 0.68; else 1) x "
    "published / IRF effective area; the IRF's background rate, within a factor "
    "1.3 of the published one in a compared bin, moves the rest by up to 1.3"
)
# At least this share of the published bins must be validated: a run where the
# IRF matches the published instrument nowhere has validated nothing.
MIN_VALIDATED_FRACTION = 2 / 3
# The definition behind the published curves (CTA performance page).
CTAO_DEFINITION = {
    "n_sigma": 5.0,
    "gamma_min": 10.0,
    "bkg_syst_fraction": 0.05,
    "acceptance_off": 5.0,
    "bins_per_decade": 5,
    "containment": 0.68,
    # The IRF's innermost offset node: CTAO's curves are for a source near the
    # centre of the field of view.
    "offset_deg": 0.5,
}
# CTAO performance pages (https://www.ctao.org/for-scientists/performance/): the
# prod5 Alpha 50 h differential sensitivity curves of both arrays have their
# minimum at ~1e-13 erg cm-2 s-1, at a few TeV. Our regions are not CTAO's optimised
# cuts, so this is an order-of-magnitude check: log10 within 0.5 (a factor 3).
PROD5_LOG10_MIN_50H = -13.0
PROD5_LOG10_TOLERANCE = 0.5
PROD5_SOURCE = (
    "CTAO performance page, prod5 Alpha configuration, 50 h differential "
    "sensitivity figure (https://www.ctao.org/for-scientists/performance/)"
)
# Gamma-limited bins need the same excess at both live times: the flux ratio is
# exactly t_long / t_short up to floating-point rounding.
SIGNAL_LIMITED_TOLERANCE = 1e-3


class SensitivityConfig(UseCaseConfig):
    """Configuration of the differential sensitivity."""

    # The 1DC South IRF: the one whose published curve can be compared with.
    irf: str = PUBLISHED_IRF
    """CTAO IRF (ctao-sat irf list); 1dc-south-z20-50h has a published curve to compare
    with."""
    livetimes_h: list[float] = Field(
        default_factory=lambda: [0.5, 5.0, 50.0], min_length=2
    )
    """Observation times of the curves (h), at least two."""
    offset_deg: float = Field(default=0.5, ge=0)
    """Offset of the source from the pointing (deg)."""
    # CTAO's range: 20 bins of 0.2 in log10, from 10**-1.7 to 10**2.3 TeV.
    energy_min_tev: float = Field(default=0.02, gt=0)
    """Lower edge of the energy bins (TeV)."""
    energy_max_tev: float = Field(default=199.5, gt=0)
    """Upper edge of the energy bins (TeV)."""
    bins_per_decade: int = Field(default=5, gt=0)
    """Energy bins per decade."""
    containment: float = Field(default=0.68, gt=0, lt=1)
    """PSF containment fraction of the ON region in each bin."""
    n_sigma: float = Field(default=5.0, gt=0)
    """Detection significance required in each bin (sigma)."""
    gamma_min: float = Field(default=10.0, gt=0)
    """Minimum number of signal events in each bin."""
    bkg_syst_fraction: float = Field(default=0.05, ge=0)
    """The signal must exceed this fraction of the background (systematics)."""
    acceptance_off: float = Field(default=5.0, gt=0)
    """OFF-region area relative to the ON region (1 / alpha)."""
    spectral_index: float = 2.0
    """Index of the power law assumed inside each bin."""
    # Background-dominated: S/B up to 0.35 (the 30-min curve of the 1DC IRF has
    # S/B ~ 0.3 in its lowest bins); the scaling tolerance follows from it.
    max_signal_to_background: float = Field(default=0.35, gt=0)
    """Bins below this signal-to-background ratio count as background-limited in the
    time-scaling check."""

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


def read_published(kind: str):
    """Read one of CTAO's published prod3b-v1 South 20 deg performance files.

    Parameters
    ----------
    kind : str
        The file's tag: ``50h-DiffSens``, ``05h-DiffSens``, ``30m-DiffSens``,
        ``50h-EffArea``, ``50h-EffAreaNoDirectionCut``, ``50h-BackgroundSqdeg``.

    Returns
    -------
    numpy.ndarray
        One row per line of numbers (the columns of the file: energies in TeV,
        then sensitivity in erg cm-2 s-1, area in m2 or rate in Hz deg-2).
    """
    import numpy as np

    from sat.data import reference_folder

    path = reference_folder(PUBLISHED) / PUBLISHED_FILE.format(kind)
    rows = []
    for line in path.read_text().splitlines():
        try:
            values = [float(word) for word in line.split()]
        except ValueError:
            continue  # a header line
        if values:
            rows.append(values)
    return np.array(rows)


def comparable(config: SensitivityConfig) -> bool:
    """Whether a run follows the IRF and the definition of CTAO's published curve."""
    return (
        config.irf == PUBLISHED_IRF
        and PUBLISHED_LIVETIME in config.livetimes_h
        and all(
            math.isclose(getattr(config, key), value)
            for key, value in CTAO_DEFINITION.items()
        )
    )


def _irf_rates(irfs, offset_deg: float, e_min, e_max):
    """Return the IRF's background rate (Hz deg-2) in each bin at ``offset_deg``."""
    import astropy.units as u
    import numpy as np

    bkg = irfs["bkg"]
    rates = []
    for low, high in zip(e_min, e_max, strict=True):
        energy = np.geomspace(low, high, 9) * u.TeV
        if "offset" in bkg.axes.names:
            where = {"offset": offset_deg * u.deg}
        else:
            where = {"fov_lon": offset_deg * u.deg, "fov_lat": 0 * u.deg}
        values = bkg.evaluate(energy=energy, **where).to_value("s-1 TeV-1 deg-2")
        rates.append(float(np.trapezoid(values * energy.value, np.log(energy.value))))
    return np.array(rates)


def published_comparison(table, irfs, config: SensitivityConfig) -> list[dict]:
    """Compare the 50 h curve with CTAO's published one, bin by bin.

    Parameters
    ----------
    table : `~astropy.table.Table`
        Our 50 h sensitivity table (`sensitivity_table`).
    irfs : dict
        The IRF it was computed with (the 1DC South IRF).
    config : SensitivityConfig
        The run's configuration (offset, containment).

    Returns
    -------
    list of dict
        One row per published bin: its edges, the published and our sensitivity,
        their ratio, our limiting criterion, the expected ratio (the published
        direction-cut efficiency over our containment where 10 gammas decide,
        else 1, over the IRF's effective area relative to the published one),
        the IRF's effective area and background rate over the published ones,
        and whether the bin is compared (10 gammas decide, or the IRF's
        background rate is within the tolerance of the published one) or only
        reported, and why.
    """
    import astropy.units as u
    import numpy as np

    published = read_published("50h-DiffSens")
    with_cut = read_published("50h-EffArea")
    without_cut = read_published("50h-EffAreaNoDirectionCut")
    background = read_published("50h-BackgroundSqdeg")
    ours_min = table["e_min"].quantity.to_value("TeV")
    e_min, e_max = published[:, 0], published[:, 1]
    rates = _irf_rates(irfs, config.offset_deg, e_min, e_max)
    offset = config.offset_deg * u.deg
    rows = []
    for i, (low, high, value) in enumerate(published):
        match = np.flatnonzero(np.isclose(ours_min, low, rtol=0.01))
        points = (without_cut[:, 0] >= low) & (without_cut[:, 0] < high)
        energy = without_cut[points, 0] * u.TeV
        efficiency = float(np.mean(with_cut[points, 1] / without_cut[points, 1]))
        area = irfs["aeff"].evaluate(energy_true=energy, offset=offset)
        area_ratio = float(
            np.mean(area.to_value("m2")) / np.mean(without_cut[points, 1])
        )
        centre = np.argmin(np.abs(np.log(background[:, 0] / math.sqrt(low * high))))
        rate_ratio = float(rates[i] / background[centre, 1])
        row = {
            "e_min_tev": float(low),
            "e_max_tev": float(high),
            "published": float(value),
            "area_ratio": area_ratio,
            "background_ratio": rate_ratio,
            "direction_cut_efficiency": efficiency,
        }
        if not match.size:
            rows.append({**row, "validated": False, "why": "no bin of ours"})
            continue
        j = int(match[0])
        ours = float(table["e2dnde"].quantity[j].to_value(SENSITIVITY_UNIT))
        criterion = str(table["criterion"][j])
        gamma = criterion == "gamma"
        # The sensitivity goes as 1 / effective area: the IRF's own area, measured
        # against the published one, is part of the expectation.
        expected = (efficiency / config.containment if gamma else 1.0) / area_ratio
        # Unless 10 gammas decide, the background rate matters too; it is not
        # folded in (sqrt(B) or B, depending on the criterion): the bin is
        # compared only where the IRF's rate agrees with the published one.
        off = (
            []
            if gamma or 1 / PUBLISHED_TOLERANCE <= rate_ratio <= PUBLISHED_TOLERANCE
            else [f"IRF background rate {rate_ratio:.2f} x published"]
        )
        rows.append(
            {
                **row,
                "ours": ours,
                "ratio": ours / value,
                "criterion": criterion,
                "expected": expected,
                "validated": not off,
                "why": "; ".join(off),
            }
        )
    return rows


def published_checks(rows: list[dict]) -> list[dict]:
    """Verdicts of the comparison: one per validated bin, and their number."""
    checks = []
    for row in rows:
        if not row["validated"]:
            continue
        regime = "10 gammas" if row["criterion"] == "gamma" else row["criterion"]
        checks.append(
            check_bounds(
                Bounds(
                    f"50 h sensitivity / published, {row['e_min_tev']:.3g}-"
                    f"{row['e_max_tev']:.3g} TeV ({regime})",
                    row["expected"] / PUBLISHED_TOLERANCE,
                    row["expected"] * PUBLISHED_TOLERANCE,
                    "",
                    PUBLISHED_SOURCE,
                    PUBLISHED_WHY,
                ),
                row["ratio"],
            )
        )
    checks.append(
        check_bounds(
            Bounds(
                "bins compared with the published curve",
                math.ceil(MIN_VALIDATED_FRACTION * len(rows)),
                len(rows),
                "",
                PUBLISHED_SOURCE,
                "a bin is compared where 10 gammas decide or the IRF's background "
                "rate agrees with the published one within the tolerance; fewer "
                "than 2/3 of the bins compared is no validation",
            ),
            float(len(checks)),
        )
    )
    return checks


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
        comparison = None
        if comparable(config):
            comparison = published_comparison(tables[PUBLISHED_LIVETIME], irfs, config)
            _write_comparison(comparison, context.product("published_comparison.ecsv"))
        context.keep(tables=tables)
        what = (
            f"IRF {info.name} ({info.site}, {info.array}, zenith "
            f"{info.zenith_deg:g}°), source {config.offset_deg:g}° off-axis; per "
            f"bin: {config.n_sigma:g}σ, at least {config.gamma_min:g} γ, signal above "
            f"{100 * config.bkg_syst_fraction:g} % of the background"
        )
        context.save_figure(
            _plot(
                tables,
                f"{info.name}: differential sensitivity",
                what,
                comparison,
            ),
            "sensitivity.png",
            dpi=110,
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
        if comparison is not None:
            validation += published_checks(comparison)
        elif info.production.startswith("prod5") and 50.0 in minima:
            validation.append(
                compare(
                    Reference(
                        "log10 minimum 50 h sensitivity",
                        PROD5_LOG10_MIN_50H,
                        PROD5_LOG10_TOLERANCE,
                        f"log10({SENSITIVITY_UNIT})",
                        PROD5_SOURCE,
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
            *_comparison_summary(comparison, config),
        ]
        extra = {
            "irf": info.as_dict(),
            "minima": {
                f"{livetime:g}h": {"e2dnde": value, "e_ref_tev": energy}
                for livetime, (value, energy) in minima.items()
            },
            "scaling": rows,
            "background_tolerance": tolerance,
            "published_comparison": None
            if comparison is None
            else {
                "source": PUBLISHED_SOURCE,
                "livetime_h": PUBLISHED_LIVETIME,
                "tolerance_factor": PUBLISHED_TOLERANCE,
                "bins": comparison,
            },
        }
        return Outcome(parameters, validation, summary, extra)


def _comparison_summary(comparison, config: SensitivityConfig) -> list[str]:
    """Lines of the summary about the published curve."""
    if comparison is None:
        return [
            f"no published curve for this setup (CTAO's prod3b-v1 curve needs irf "
            f"{PUBLISHED_IRF}, {PUBLISHED_LIVETIME:g} h and CTAO's definition)"
        ]
    compared = [row for row in comparison if row["validated"]]
    ratios = [row["ratio"] / row["expected"] for row in compared]
    lines = [
        f"vs CTAO's published prod3b-v1 50 h curve: {len(compared)}/"
        f"{len(comparison)} bins compared, ours / expected "
        f"{min(ratios, default=math.nan):.2f} to {max(ratios, default=math.nan):.2f} "
        f"(tolerance a factor {PUBLISHED_TOLERANCE:g})"
    ]
    for row in comparison:
        if not row["validated"]:
            ratio = f"{row['ratio']:.2f}" if "ratio" in row else "n/a"
            lines.append(
                f"  reported, not compared: {row['e_min_tev']:.3g}-"
                f"{row['e_max_tev']:.3g} TeV, ours / published {ratio} "
                f"({row['why']})"
            )
    return lines


def _write_comparison(rows: list[dict], path) -> None:
    """Write the bin-by-bin comparison with the published curve (ECSV)."""
    from astropy.table import Table

    columns = (
        "e_min_tev",
        "e_max_tev",
        "published",
        "ours",
        "ratio",
        "criterion",
        "expected",
        "direction_cut_efficiency",
        "area_ratio",
        "background_ratio",
        "validated",
        "why",
    )
    table = Table(
        rows=[[row.get(name, math.nan) for name in columns] for row in rows],
        names=columns,
        dtype=[float] * 5 + [str] + [float] * 4 + [bool, str],
    )
    table.meta.update(
        {
            "source": PUBLISHED_SOURCE,
            "unit": SENSITIVITY_UNIT,
            "tolerance_factor": PUBLISHED_TOLERANCE,
            "why": PUBLISHED_WHY,
        }
    )
    table.write(path, format="ascii.ecsv", overwrite=True)


# What limits the sensitivity in a bin (the table's ``criterion``), in words.
CRITERIA = {
    "significance": "limited by significance",
    "gamma": "limited by the minimum number of γ",
    "bkg": "limited by background systematics",
}


def _plot(tables: dict, title: str, what: str, comparison=None):
    """Sensitivity curves (E^2 dN/dE, erg cm-2 s-1) with the limiting criterion.

    With a published comparison: CTAO's published curves (dashed) and a lower
    panel with ours / published at 50 h, its expectation and tolerance band.
    ``what`` (IRF and criteria) is written under the figure.

    Returns
    -------
    `~matplotlib.figure.Figure`
    """
    import matplotlib.pyplot as plt
    import numpy as np

    from sat.plots import caption, label, legend

    markers = {"significance": "o", "gamma": "*", "bkg": "v"}
    if comparison is None:
        figure, axes = plt.subplots(figsize=(7, 5))
    else:
        figure, (axes, lower) = plt.subplots(
            2,
            1,
            figsize=(7, 7),
            sharex=True,
            gridspec_kw={"height_ratios": [3, 1.3], "hspace": 0.05},
        )
    published_label = "CTAO prod3b-v1 (published)"
    lines = {}
    for livetime, table in tables.items():
        energy = table["e_ref"].quantity.to_value("TeV")
        flux = table["e2dnde"].quantity.to_value(SENSITIVITY_UNIT)
        (lines[livetime],) = axes.plot(energy, flux, "-", label=f"{livetime:g} h")
    # Grey entries for what every curve shares (the legend names each once).
    for criterion, marker in markers.items():
        axes.plot([], [], marker, color="gray", ls="none", label=CRITERIA[criterion])
    if comparison is not None:
        axes.plot([], [], "--", color="gray", label=published_label)
    for livetime, table in tables.items():
        energy = table["e_ref"].quantity.to_value("TeV")
        flux = table["e2dnde"].quantity.to_value(SENSITIVITY_UNIT)
        color = lines[livetime].get_color()
        if comparison is not None and livetime in PUBLISHED_CURVES:
            published = read_published(f"{PUBLISHED_CURVES[livetime]}-DiffSens")
            centre = np.sqrt(published[:, 0] * published[:, 1])
            axes.plot(centre, published[:, 2], "--", color=color, label=published_label)
        for criterion, marker in markers.items():
            selected = table["criterion"] == criterion
            axes.plot(
                energy[selected],
                flux[selected],
                marker,
                color=color,
                ls="none",
                label=CRITERIA[criterion],
            )
    if comparison is not None:
        _plot_ratio(lower, comparison)
    axes.set_xscale("log")
    axes.set_yscale("log")
    (axes if comparison is None else lower).set_xlabel(label("Energy", "TeV"))
    axes.set_ylabel(label("Sensitivity E² dN/dE", SENSITIVITY_UNIT))
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    legend(axes, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    caption(figure, what)
    return figure


def _plot_ratio(axes, comparison: list[dict]) -> None:
    """Ours / published at 50 h per bin, with the expectation and the band."""
    import numpy as np

    rows = [row for row in comparison if "ratio" in row]
    low = np.array([row["e_min_tev"] for row in rows])
    high = np.array([row["e_max_tev"] for row in rows])
    centre = np.sqrt(low * high)
    expected = np.array([row["expected"] for row in rows])
    ratio = np.array([row["ratio"] for row in rows])
    validated = np.array([row["validated"] for row in rows])
    edges = np.append(low, high[-1])
    band = np.append(expected, expected[-1])
    axes.fill_between(
        edges,
        band / PUBLISHED_TOLERANCE,
        band * PUBLISHED_TOLERANCE,
        step="post",
        color="gray",
        alpha=0.25,
        label=f"expected, x/÷ {PUBLISHED_TOLERANCE:g}",
    )
    axes.plot(centre[validated], ratio[validated], "ko", label="compared")
    axes.plot(
        centre[~validated],
        ratio[~validated],
        "o",
        mfc="none",
        mec="k",
        label="reported (IRF differs)",
    )
    axes.axhline(1, color="k", lw=0.5)
    axes.set_xscale("log")
    axes.set_ylabel("ratio, 50 h: ours / CTAO")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")


USECASE = Sensitivity
