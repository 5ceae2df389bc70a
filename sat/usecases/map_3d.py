"""3D (spectro-morphological) analysis of an extended source: MSH 15-52.

The stacked-cube analysis of H.E.S.S. DL3 DR1 with Gammapy's makers: for every run
a `MapDatasetMaker` fills counts, exposure, background template, PSF and energy
dispersion on a sky cube, a `SafeMaskMaker` keeps the trusted energies and offsets,
and a `FoVBackgroundMaker` scales the background template to the counts outside the
exclusion regions; `DatasetsMaker` (through `sat.reduction`) loops over the runs and
stacks them. A Gaussian with a power-law spectrum and the background norm are then
fitted to the cube (Cash statistic), an `ExcessMapEstimator` makes the significance
map (background only) and the residual significance map (background and source).

The fitted spectrum is validated against the 3D analysis of Mohrmann et al. 2019
(A&A 632, A72) of the same 20 runs.

Binning and run time (measured on 2 cores, gammapy 2.1): the defaults (0.02 deg
pixels on 3 x 3 deg, 8 bins per decade in reconstructed and true energy, IRF maps
every 0.2 deg, runs up to 1.5 deg from the pointing) take about 40 s of CPU time;
coarser energy bins speed nothing up much but move the safe threshold: with 4 bins
per decade the first safe bin starts at 0.56 TeV instead of 0.42 TeV and the
amplitude rises by 2 sigma (see ``WHY`` below).
"""

from __future__ import annotations

import math
import re
from typing import Literal

from pydantic import Field

from sat.parallel import with_parallel_keys
from sat.usecases.base import (
    Outcome,
    RunContext,
    UseCase,
    UseCaseConfig,
    fitted_parameters,
)
from sat.usecases.options import (
    Circle,
    EnergyAxis,
    RunSelection,
    SafeMask,
    SkyPosition,
)
from sat.validation import Reference, compare

AMPLITUDE_UNIT = "cm-2 s-1 TeV-1"


class MapGeometry(UseCaseConfig):
    """The sky cube: centre, size and pixels; IRF maps on a coarser grid."""

    center: SkyPosition | None = None  # None: the target position (obs-index)
    width_deg: float = Field(default=3.0, gt=0, le=10)
    binsz_deg: float = Field(default=0.02, gt=0, le=0.5)
    irf_binsz_deg: float = Field(default=0.2, gt=0, le=2)


class Background(UseCaseConfig):
    """`FoVBackgroundMaker` per run, then the stacked template's norm (and tilt)."""

    method: Literal["scale", "fit"] = "scale"
    fit_tilt: bool = False


class SourceModel(UseCaseConfig):
    """Start values of the Gaussian + power-law source model."""

    position: SkyPosition | None = None  # None: the map centre
    position_range_deg: float = Field(default=0.5, gt=0)
    sigma_deg: float = Field(default=0.15, gt=0)
    sigma_range_deg: tuple[float, float] = (0.01, 1.0)
    index: float = 2.4
    amplitude: float = Field(default=3e-12, gt=0)  # cm-2 s-1 TeV-1
    reference_energy_tev: float = Field(default=1.4, gt=0)


def _default_exclusions() -> list[Circle]:
    # MSH 15-52 itself (Gaussian sigma ~0.1 deg, so 0.5 deg is > 4 sigma + PSF)
    # and HESS J1503-582 (HGPS, 0.28 deg), at the edge of the default map.
    return [
        Circle(radius_deg=0.5),
        Circle(ra_deg=225.83, dec_deg=-58.26, radius_deg=0.4),
    ]


class Map3DConfig(RunSelection):
    """Configuration of the 3D analysis."""

    target: str | None = "MSH 15-52"
    geometry: MapGeometry = Field(default_factory=MapGeometry)
    # 8 bins per decade: the first safe bin then starts at 0.42 TeV, the
    # threshold of the paper (its Table 5: 0.422-0.562 TeV).
    energy_reco: EnergyAxis = Field(
        default_factory=lambda: EnergyAxis(min_tev=0.1, max_tev=100, nbins=24)
    )
    energy_true: EnergyAxis = Field(
        default_factory=lambda: EnergyAxis(min_tev=0.05, max_tev=150, nbins=28)
    )
    exclusion_regions: list[Circle] = Field(default_factory=_default_exclusions)
    # The DL3 safe threshold of each run and events up to 1.5 deg from the
    # pointing, as in the paper (Table 5).
    safe_mask: SafeMask = Field(
        default_factory=lambda: SafeMask(
            methods=["aeff-default", "offset-max"], offset_max_deg=1.5
        )
    )
    background: Background = Field(default_factory=Background)
    source: SourceModel = Field(default_factory=SourceModel)
    correlation_radius_deg: float = Field(default=0.1, gt=0)


# backend, n_jobs, skip_failed: how the runs are reduced (sat.parallel).
Map3DConfig = with_parallel_keys(Map3DConfig)


# --- validation ------------------------------------------------------------------

SOURCE = "Mohrmann et al. 2019, A&A 632, A72, 3D analysis of MSH 15-52 (E0 1.4 TeV)"
PUBLISHED_TARGET = "MSH 15-52"  # TARGET_NAME of the 20 runs the paper analysed
PUBLISHED = {"amplitude": (2.914e-12, 0.136e-12), "index": (2.413, 0.053)}
PUBLISHED_REFERENCE_TEV = 1.4
# Same events, but the analysis differs: the paper fitted its own background model
# per run, we scale the DL3 template per run (FoVBackgroundMaker) and fit its norm
# on the stack; the symmetric Gaussian, the binning and Gammapy itself differ too.
# The published errors are statistical only. With the defaults (threshold 0.42 TeV
# as in the paper) gammapy 2.1 lands within 0.3 sigma of both values; analysis
# choices the paper leaves open move the result by more: 4 bins per decade (first
# safe bin at 0.56 TeV) +0.47e-12 on the amplitude (2.0 sigma), a free background
# tilt -0.13 on the index (1.6 sigma), edisp-bias thresholds +0.26e-12 (1.2 sigma).
# 1.5 sigma of the combined errors accepts the default and small changes, and fails
# a result no longer comparable to the paper: a wrong reference energy (factor 2.2),
# a lost IRF component or a threshold at 0.56 TeV.
N_SIGMA = 1.5
WHY = (
    "same 20 runs and threshold (0.42 TeV) as the paper, other background "
    "treatment and binning: defaults agree within 0.3 sigma, a 0.56 TeV threshold "
    "moves the amplitude 2 sigma, a free background tilt the index 1.6 sigma; "
    "1.5 sigma accepts the paper's analysis and fails those"
)


def references() -> list[Reference]:
    """Return the published 3D power law of MSH 15-52 as references."""
    amplitude, index = PUBLISHED["amplitude"], PUBLISHED["index"]
    return [
        Reference("index", *index, "", SOURCE, N_SIGMA, WHY),
        Reference("amplitude", *amplitude, AMPLITUDE_UNIT, SOURCE, N_SIGMA, WHY),
    ]


def _reference_applies(
    config: Map3DConfig, obs_ids: list[int], sample: list[int]
) -> str | None:
    """Return why there is no published reference, or None when there is one.

    The reference is the paper's fit of every MSH 15-52 run (``sample``: the runs
    of that target in the obs-index), at its reference energy.
    """
    if sorted(obs_ids) != sorted(sample):
        return (
            f"no published 3D reference for these {len(obs_ids)} runs (the paper's: "
            f"the {len(sample)} runs of {PUBLISHED_TARGET})"
        )
    if not math.isclose(
        config.source.reference_energy_tev, PUBLISHED_REFERENCE_TEV, rel_tol=1e-6
    ):
        return (
            "no published reference at E0 "
            f"{config.source.reference_energy_tev} TeV (published: 1.4 TeV)"
        )
    return None


# --- the use case ----------------------------------------------------------------


class Map3D(UseCase):
    """3D stacked-cube analysis of an extended source in H.E.S.S. DL3 DR1."""

    name = "map-3d"
    usecase_id = "SUSS-UC-SAT-020"
    summary = "3D cube analysis of an extended source (MSH 15-52, H.E.S.S. DR1)"
    Config = Map3DConfig
    datasets = ("hess-dl3-dr1",)

    def run(self, config: Map3DConfig, context: RunContext) -> Outcome:
        """Reduce and stack the runs, fit, make maps, validate."""
        import astropy.units as u
        from gammapy.datasets import MapDataset
        from gammapy.makers import FoVBackgroundMaker, MapDatasetMaker, SafeMaskMaker
        from gammapy.maps import WcsGeom
        from gammapy.modeling import Fit
        from gammapy.modeling.models import FoVBackgroundModel, Models

        from sat.data import require
        from sat.errors import ConfigError, DataError
        from sat.observations import runs_of, source_position
        from sat.reduction import checked_runs, reduce_observations
        from sat.stacking import StackingMaker, stacked_runs

        geometry = config.geometry
        if geometry.center is None and not config.target:
            raise ConfigError(
                "key 'geometry.center': give the map centre when no target is named"
            )
        selection = checked_runs(
            context, require("hess-dl3-dr1"), config.target, config.obs_ids
        )
        observations, obs_ids = selection.observations, selection.obs_ids
        sample = runs_of(selection.store.obs_table, PUBLISHED_TARGET)
        given = None if geometry.center is None else geometry.center.coord()
        center, label = source_position(selection.store, config.target, given)

        energy_axis = config.energy_reco.axis("energy")
        energy_axis_true = config.energy_true.axis("energy_true")
        geom = WcsGeom.create(
            skydir=center,
            width=geometry.width_deg,
            binsz=geometry.binsz_deg,
            frame="icrs",
            proj="TAN",
            axes=[energy_axis],
        )
        stacked = MapDataset.create(
            geom,
            energy_axis_true=energy_axis_true,
            binsz_irf=geometry.irf_binsz_deg,
            name="stacked",
        )
        exclusion = _exclusion_mask(geom, center, config.exclusion_regions)
        makers = [
            MapDatasetMaker(
                selection=["counts", "exposure", "background", "psf", "edisp"]
            ),
            SafeMaskMaker(
                methods=list(config.safe_mask.methods),
                bias_percent=config.safe_mask.bias_percent,
                aeff_percent=config.safe_mask.aeff_percent,
                offset_max=config.safe_mask.offset_max_deg * u.deg,
            ),
            FoVBackgroundMaker(
                method=config.background.method, exclusion_mask=exclusion
            ),
        ]
        stacked = reduce_observations(
            context,
            config,
            makers,
            stacked,
            observations,
            selection.files,
            f"reducing and stacking {len(obs_ids)} runs",
            maker_class=StackingMaker,
        ).datasets[0]
        runs = stacked_runs(stacked)
        outside = sorted(set(obs_ids) - set(runs))
        if not stacked.mask_safe.data.any() or stacked.counts.data.sum() == 0:
            raise DataError(
                f"no safe counts of {label} in the map ({len(outside)} of "
                f"{len(obs_ids)} runs outside it): check the map centre, its width "
                "and the safe-mask settings"
            )

        source_name = re.sub(r"[^A-Za-z0-9_.+-]+", "_", label)
        sky_model = _sky_model(config.source, center, source_name)
        background = FoVBackgroundModel(dataset_name=stacked.name)
        background.spectral_model.tilt.frozen = not config.background.fit_tilt
        stacked.models = Models([sky_model, background])
        with context.step("fitting the Gaussian and the background norm"):
            result = Fit().run([stacked])
        fitted = Models([sky_model, background])

        with context.step("making the significance and residual maps"):
            maps = _significance_maps(
                stacked, background, config.correlation_radius_deg
            )

        with context.step("writing products"):
            stacked.write(context.product("dataset/stacked.fits"), overwrite=True)
            context.write_models(fitted, "models.yaml")
            maps["significance"].write(
                context.product("maps/significance.fits"), overwrite=True
            )
            maps["residual"].write(
                context.product("maps/residual_significance.fits"), overwrite=True
            )
            _plot_overview(
                stacked,
                maps,
                sky_model,
                config,
                center,
                exclusion,
                label,
                context.product("overview.png"),
            )

        parameters = fitted_parameters(Models([sky_model]))
        extra = {
            "fit": {
                "success": bool(result.success),
                "message": str(result.message),
                "total_stat": float(result.total_stat),
                "background": fitted_parameters(Models([background])),
            },
            "runs": runs,
            "runs_outside_map": outside,
            "stacked": _stacked_stats(stacked),
            "maps": _map_stats(maps, _off_source(stacked, exclusion)),
        }
        no_reference = _reference_applies(config, runs, sample)
        validation = []
        if no_reference is None:
            validation = [
                compare(
                    ref,
                    parameters[ref.quantity]["value"],
                    parameters[ref.quantity]["error"],
                )
                for ref in references()
            ]
        summary = _summary(label, parameters, extra, config)
        if outside:
            summary.append(f"runs outside the map, not stacked: {outside}")
        summary.append(no_reference or f"validated against {SOURCE}")
        return Outcome(parameters, validation, summary, extra)


def _exclusion_mask(geom, center, circles: list[Circle]):
    """Boolean image of the map: True where the background may be normalised."""
    import numpy as np
    from gammapy.maps import Map

    image = geom.to_image()
    if not circles:
        return Map.from_geom(image, data=np.ones(image.data_shape, dtype=bool))
    regions = [circle.region(center) for circle in circles]
    return image.region_mask(regions, inside=False)


def _sky_model(source: SourceModel, center, name: str):
    """Return the Gaussian + power-law model, its position and width bounded.

    Without bounds MINUIT's first steps in RA can leave the map (it tried RA 246
    deg from 228.5) and the fit fails; the bounds are far from the solution.
    """
    import astropy.units as u
    from gammapy.modeling.models import (
        GaussianSpatialModel,
        PowerLawSpectralModel,
        SkyModel,
    )

    start = center if source.position is None else source.position.coord()
    spatial = GaussianSpatialModel(
        lon_0=start.ra, lat_0=start.dec, sigma=source.sigma_deg * u.deg, frame="icrs"
    )
    reach = source.position_range_deg
    spatial.lon_0.min = start.ra.deg - reach / max(math.cos(start.dec.radian), 0.01)
    spatial.lon_0.max = start.ra.deg + reach / max(math.cos(start.dec.radian), 0.01)
    spatial.lat_0.min = max(start.dec.deg - reach, -90)
    spatial.lat_0.max = min(start.dec.deg + reach, 90)
    spatial.sigma.min, spatial.sigma.max = source.sigma_range_deg
    spectral = PowerLawSpectralModel(
        index=source.index,
        amplitude=source.amplitude * u.Unit(AMPLITUDE_UNIT),
        reference=source.reference_energy_tev * u.TeV,
    )
    return SkyModel(spectral_model=spectral, spatial_model=spatial, name=name)


def _significance_maps(stacked, background, radius_deg: float) -> dict:
    """Significance (background only) and residual significance (all models).

    `ExcessMapEstimator` takes the dataset's predicted counts as the background:
    with the fitted background model alone that is the source significance, with
    the source model too the residual significance.
    """
    import astropy.units as u
    from gammapy.estimators import ExcessMapEstimator
    from gammapy.modeling.models import Models

    edges = stacked.counts.geom.axes["energy"].edges[[0, -1]]
    estimator = ExcessMapEstimator(
        correlation_radius=radius_deg * u.deg, energy_edges=edges
    )
    models = stacked.models
    maps = {}
    try:
        stacked.models = Models([background])
        significance = estimator.run(stacked)
        stacked.models = models
        residual = estimator.run(stacked)
    finally:
        stacked.models = models
    maps["significance"] = significance["sqrt_ts"].reduce_over_axes()
    maps["excess"] = significance["npred_excess"].reduce_over_axes()
    maps["residual"] = residual["sqrt_ts"].reduce_over_axes()
    return maps


def _stacked_stats(stacked) -> dict:
    """Return counts, background and livetime of the stacked cube (safe range)."""
    import numpy as np

    mask = stacked.mask_safe.data
    safe = np.flatnonzero(mask.any(axis=(1, 2)))
    edges = stacked.counts.geom.axes["energy"].edges.to_value("TeV")
    counts = float(stacked.counts.data[mask].sum())
    background = float(stacked.npred_background().data[mask].sum())
    return {
        "livetime_s": float(stacked.gti.time_sum.to_value("s")),
        "counts": counts,
        "background": background,
        "excess": counts - background,
        "safe_energy_tev": [float(edges[safe[0]]), float(edges[safe[-1] + 1])],
    }


def _off_source(stacked, exclusion):
    """Boolean image: pixels with safe data outside the exclusion regions."""
    return stacked.mask_safe.data.any(axis=0) & exclusion.data


def _map_stats(maps: dict, off_source) -> dict:
    """Peak significance and its position; residual significance off the sources."""
    import astropy.units as u
    import numpy as np

    significance = maps["significance"]
    data = np.nan_to_num(significance.data, nan=-np.inf)
    peak = np.unravel_index(np.argmax(data), data.shape)
    position = significance.geom.pix_to_coord(peak[::-1])
    ra, dec = (u.Quantity(value, "deg").to_value("deg").item() for value in position)
    residual = maps["residual"].data[off_source & np.isfinite(maps["residual"].data)]
    return {
        "peak_significance": float(data[peak]),
        "peak_ra_deg": float(ra),
        "peak_dec_deg": float(dec),
        "residual_max_abs": float(np.nanmax(np.abs(maps["residual"].data))),
        "residual_off_source_mean": float(residual.mean()),
        "residual_off_source_std": float(residual.std()),
    }


def _summary(label, parameters, extra, config) -> list[str]:
    """Human-readable lines for the end of the run."""
    stacked, maps = extra["stacked"], extra["maps"]
    low, high = stacked["safe_energy_tev"]

    def value(name, fmt):
        p = parameters[name]
        return f"{p['value']:{fmt}} ± {p['error']:.2g}"

    state = "" if extra["fit"]["success"] else " (fit did NOT converge)"
    return [
        f"{label}: {len(extra['runs'])} runs, {stacked['livetime_s'] / 3600:.2f} h, "
        f"{low:.2f}-{high:.0f} TeV, counts {stacked['counts']:.0f}, excess "
        f"{stacked['excess']:.0f}, peak significance "
        f"{maps['peak_significance']:.1f} sigma",
        f"power law at E0 {config.source.reference_energy_tev} TeV: amplitude "
        f"{value('amplitude', '.4g')} cm-2 s-1 TeV-1, index "
        f"{value('index', '.3f')}{state}",
        f"Gaussian: RA {value('lon_0', '.3f')} deg, Dec {value('lat_0', '.3f')} deg, "
        f"sigma {value('sigma', '.3f')} deg",
        f"residual significance off the exclusion regions: mean "
        f"{maps['residual_off_source_mean']:.2f}, std "
        f"{maps['residual_off_source_std']:.2f}",
    ]


def _plot_overview(stacked, maps, sky_model, config, center, exclusion, label, path):
    """Plot counts, significance and fitted Gaussian, residuals, their histogram."""
    import astropy.units as u
    import matplotlib.pyplot as plt
    import numpy as np
    from regions import CircleSkyRegion

    figure = plt.figure(figsize=(15, 12))
    wcs = maps["significance"].geom.wcs
    counts = stacked.counts * stacked.mask_safe
    counts_image = counts.sum_over_axes(keepdims=False).smooth(
        config.correlation_radius_deg / 2 * u.deg
    )
    spatial = sky_model.spatial_model
    gaussian = [
        CircleSkyRegion(spatial.position, n * spatial.sigma.quantity) for n in (1, 2)
    ]

    axes = figure.add_subplot(2, 2, 1, projection=wcs)
    counts_image.plot(ax=axes, add_cbar=True, stretch="sqrt", cmap="inferno")
    axes.set_title("counts (safe energies, smoothed)")

    axes = figure.add_subplot(2, 2, 2, projection=wcs)
    maps["significance"].plot(ax=axes, add_cbar=True, cmap="magma", vmin=-3)
    axes.contour(
        np.nan_to_num(maps["significance"].data),
        levels=[5, 10, 20],
        colors="w",
        linewidths=0.6,
    )
    for region, style in zip(gaussian, ("-", "--"), strict=True):
        region.to_pixel(wcs).plot(ax=axes, edgecolor="cyan", linestyle=style, lw=1.5)
    _plot_exclusions(axes, wcs, center, config.exclusion_regions)
    axes.set_title(
        f"significance (r = {config.correlation_radius_deg} deg): contours 5, 10, "
        "20; fitted Gaussian 1, 2 sigma"
    )

    axes = figure.add_subplot(2, 2, 3, projection=wcs)
    maps["residual"].plot(ax=axes, add_cbar=True, cmap="RdBu_r", vmin=-5, vmax=5)
    _plot_exclusions(axes, wcs, center, config.exclusion_regions)
    axes.set_title("residual significance (data - background - model)")

    axes = figure.add_subplot(2, 2, 4)
    values = maps["residual"].data[_off_source(stacked, exclusion)]
    values = values[np.isfinite(values)]
    bins = np.linspace(-6, 6, 61)
    axes.hist(values, bins=bins, density=True, histtype="step", color="k", lw=1.5)
    x = np.linspace(-6, 6, 241)
    axes.plot(x, np.exp(-(x**2) / 2) / math.sqrt(2 * math.pi), "C3", label="N(0, 1)")
    axes.set_yscale("log")
    axes.set_ylim(1e-5, 1)
    axes.set_xlabel("residual significance (safe pixels outside the exclusions)")
    axes.set_title(f"mean {values.mean():.2f}, std {values.std():.2f}")
    axes.legend()
    figure.suptitle(f"{label}: 3D analysis of H.E.S.S. DR1", y=0.94)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


def _plot_exclusions(axes, wcs, center, circles: list[Circle]) -> None:
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from regions import CircleSkyRegion

    for circle in circles:
        position = (
            center
            if circle.ra_deg is None
            else SkyCoord(circle.ra_deg, circle.dec_deg, unit="deg")
        )
        CircleSkyRegion(position, circle.radius_deg * u.deg).to_pixel(wcs).plot(
            ax=axes, edgecolor="0.6", linestyle=":", lw=1
        )


USECASE = Map3D
