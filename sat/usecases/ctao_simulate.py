"""Simulated CTAO observations of a source: DL3 events, analysis, pull statistics.

For each of ``n_seeds`` random seeds, Gammapy's `MapDatasetEventSampler` draws the
events of one observation of the configured source with a public CTAO IRF, at the
IRF's site, with the source at its upper culmination; `Observation.write` stores
them as GADF DL3 and `sat.simulate.simulate_runs` indexes them. The analysis then
reads them back through Gammapy's `DataStore` like real data and fits the source:

- ``analysis: 1d``: ON/OFF spectrum with reflected regions (point source), WStat;
- ``analysis: 3d``: binned 3D fit of the spatial and spectral model with the IRF
  background (normalisation free), Cash.

One simulation recovers the input within its errors (REFERENCES.md: 1 h, prod5
South 1D, index 2.56 ± 0.09 for 2.5) but proves little: the validation is the
distribution of the pulls (fit - truth) / error of index and amplitude over the
seeds, whose mean must be 0 and width 1 if the fit is unbiased and its errors right.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from sat.usecases.base import (
    Example,
    Outcome,
    RunContext,
    UseCase,
    UseCaseConfig,
)
from sat.usecases.models import AMPLITUDE_UNIT
from sat.validation import converged_check, pull_checks, pull_statistics

# Sky-map pixel size of the simulation and the 3D analysis (deg): several pixels
# per PSF 68 % radius (0.05 to 0.2 deg for the prod5 IRFs above 0.1 TeV).
BINSZ_DEG = 0.02
# Margin (deg) around the analysis regions that the simulated sky map covers, so
# that the PSF tails of the source and the background around the regions are in.
MARGIN_DEG = 0.3


class Source(UseCaseConfig):
    """The simulated source: position (ICRS), spatial model and its size."""

    # Default: declination of the CTAO-South latitude + 20 deg, so the source
    # culminates at the 20 deg zenith angle of the prod5 IRFs at CTAO-South.
    ra_deg: float = Field(default=0.0, ge=0, lt=360)
    """RA of the source (deg, ICRS)."""
    dec_deg: float = Field(default=-4.68, ge=-90, le=90)
    """Dec of the source (deg, ICRS); -4.68 culminates at 20 deg zenith angle at
    CTAO-South."""
    spatial: Literal["point", "gauss", "disk"] = "point"
    """Spatial model: point, gauss or disk."""
    width_deg: float = Field(default=0.0, ge=0)
    """Gaussian sigma or disk radius (deg); 0 for a point source."""

    @model_validator(mode="after")
    def _width(self):
        if self.spatial != "point" and self.width_deg <= 0:
            raise ValueError(f"spatial {self.spatial!r} needs width_deg > 0")
        return self


class Spectrum(UseCaseConfig):
    """The simulated power law."""

    index: float = 2.5
    """Spectral index."""
    amplitude: float = Field(default=1e-12, gt=0)
    """Differential flux at the reference energy (cm-2 s-1 TeV-1)."""
    reference_tev: float = Field(default=1.0, gt=0)
    """Reference energy (TeV)."""


class CtaoSimulateConfig(UseCaseConfig):
    """Configuration of the CTAO simulation and its pull test."""

    irf: str = "prod5-south-z20-50h"
    """CTAO IRF the events are drawn with (ctao-sat irf list); its site is where."""
    source: Source = Field(default_factory=Source)
    """The simulated source: position and shape."""
    spectrum: Spectrum = Field(default_factory=Spectrum)
    """The simulated power law."""
    livetime_h: float = Field(default=1.0, gt=0)
    """Live time of each simulated observation (h)."""
    offset_deg: float = Field(default=0.5, ge=0)
    """Offset of the pointing from the source (deg)."""
    energy_min_tev: float = Field(default=0.1, gt=0)
    """Lowest reconstructed energy simulated and analysed (TeV)."""
    energy_max_tev: float = Field(default=100.0, gt=0)
    """Highest reconstructed energy (TeV)."""
    bins_per_decade: int = Field(default=5, gt=0)
    """Reconstructed-energy bins per decade."""
    analysis: Literal["1d", "3d"] = "1d"
    """Analysis of the simulated events: 1d (reflected regions, point source) or 3d
    (binned fit of the maps)."""
    on_radius_deg: float = Field(default=0.11, gt=0)
    """Radius of the ON region of the 1d analysis (deg)."""
    seed: int = Field(default=0, ge=0)
    """Random seed of the first observation; the others follow (seed + 1, ...)."""
    n_seeds: int = Field(default=20, ge=3)
    """Number of simulated observations (one per seed) in the pull test."""

    @model_validator(mode="after")
    def _consistent(self):
        if self.energy_max_tev <= self.energy_min_tev:
            raise ValueError("energy_max_tev must be larger than energy_min_tev")
        if self.analysis == "1d":
            if self.source.spatial != "point":
                raise ValueError(
                    "analysis '1d' (reflected regions) assumes a point source: "
                    f"use analysis '3d' for spatial {self.source.spatial!r}"
                )
            if self.offset_deg < 2 * self.on_radius_deg:
                raise ValueError(
                    f"offset_deg must be at least 2 x on_radius_deg "
                    f"({2 * self.on_radius_deg:g}) for reflected OFF regions"
                )
        return self


class CtaoSimulate(UseCase):
    """Simulate CTAO observations, write DL3, analyse them, check the pulls."""

    name = "ctao-simulate"
    usecase_id = "SUSS-UC-SAT-050"
    summary = "Simulated CTAO observations (DL3), fitted over many seeds: pulls"
    Config = CtaoSimulateConfig
    datasets = ("cta-caldb",)
    examples: ClassVar[dict[str, Example]] = {
        "extended-3d": Example(
            "An extended source (Gaussian, sigma 0.2 deg) fitted in 3D: the pulls of "
            "a spatial and spectral fit with the IRF background.",
            {"analysis": "3d", "source": {"spatial": "gauss", "width_deg": 0.2}},
        ),
    }

    def run(self, config: CtaoSimulateConfig, context: RunContext) -> Outcome:
        """Simulate, write and index the DL3 files, analyse them, test the pulls."""
        import astropy.units as u
        import numpy as np
        from astropy.coordinates import AltAz, SkyCoord
        from astropy.table import Table
        from gammapy.maps import WcsGeom
        from gammapy.modeling.models import Models

        from sat.dl3.store import open_store
        from sat.irf import energy_axes
        from sat.simulate import (
            SimulatedRun,
            create_observation,
            instrument,
            simulate_runs,
            simulation_dataset,
            transit_time,
        )

        array = instrument(config.irf)
        info, path, irfs, location = array.info, array.path, array.irfs, array.location
        context.add_inputs(path)
        _check_irf_ranges(config, irfs)

        source = SkyCoord(config.source.ra_deg, config.source.dec_deg, unit="deg")
        pointing = source.directional_offset_by(0 * u.deg, config.offset_deg * u.deg)
        livetime = config.livetime_h * u.h
        start = transit_time(pointing, location) - livetime / 2
        altaz = pointing.transform_to(
            AltAz(obstime=start + livetime / 2, location=location)
        )
        zenith = 90 - float(altaz.alt.deg)

        energy_axis, energy_axis_true = energy_axes(irfs, config)
        radius = config.offset_deg + _source_radius(config) + MARGIN_DEG
        if config.analysis == "3d":
            radius = _source_radius(config) + MARGIN_DEG
        width = 2 * radius
        center = pointing if config.analysis == "1d" else source
        geom = WcsGeom.create(
            skydir=center,
            width=width,
            binsz=BINSZ_DEG,
            frame="icrs",
            axes=[energy_axis],
        )
        truth = _sky_model(config, source)
        models = Models([truth])
        models.write(
            context.product("models/truth.yaml"), overwrite=True, write_covariance=False
        )

        seeds = [config.seed + i for i in range(config.n_seeds)]
        obs_ids = list(range(1, config.n_seeds + 1))
        with context.step(
            f"preparing the simulation ({info.name}, {config.livetime_h:g} h, "
            f"offset {config.offset_deg:g} deg)"
        ):
            template = create_observation(
                irfs, pointing, location, livetime, obs_ids[0], start
            )
            dataset = simulation_dataset(template, geom, energy_axis_true)
        runs = (
            SimulatedRun(
                create_observation(irfs, pointing, location, livetime, obs_id, start),
                dataset,
                models,
                seed,
            )
            for seed, obs_id in zip(seeds, obs_ids, strict=True)
        )
        folder = context.workdir / "dl3"
        context.add_products(
            *simulate_runs(
                context.progress(runs, "simulating observations", config.n_seeds),
                folder,
                irf_file=path,
            )
        )

        store = open_store(folder)
        rows = []
        for seed, obs_id in context.progress(
            list(zip(seeds, obs_ids, strict=True)), f"analysing ({config.analysis})"
        ):
            observation = store.get_observations([obs_id])[0]
            fit = (_fit_1d if config.analysis == "1d" else _fit_3d)(
                config, observation, source, geom, energy_axis_true
            )
            rows.append({"seed": seed, "obs_id": obs_id, **fit})
        table = Table(rows=rows)
        for name, true in (
            ("index", config.spectrum.index),
            ("amplitude", config.spectrum.amplitude),
        ):
            table[f"{name}_pull"] = (table[name] - true) / table[f"{name}_error"]
        table.meta["irf"] = info.name
        table.write(context.product("pulls.ecsv"), format="ascii.ecsv", overwrite=True)

        converged = table[table["success"]]
        validation = [converged_check(len(table), len(converged))]
        n = len(converged)
        statistics = {}
        for name in ("index", "amplitude"):
            pulls = np.asarray(converged[f"{name}_pull"])
            validation += pull_checks(name, pulls)
            statistics[name] = {
                **pull_statistics(pulls, converged[name]),
                "mean_error": float(np.mean(converged[f"{name}_error"])),
            }
        context.keep(models=models, pulls=table)
        what = (
            f"Simulated: {config.n_seeds} observations of {config.livetime_h:g} h "
            f"(one per seed), {info.name} at {info.site}, zenith {zenith:.0f}°, "
            f"source {config.offset_deg:g}° from the pointing; {config.analysis} "
            "analysis"
        )
        context.save_figure(
            _plot_pulls(converged, config.n_seeds, what), "pulls.png", dpi=110
        )

        parameters = {
            name: {
                "value": statistics[name]["mean_fitted"],
                "error": statistics[name]["std_fitted"] / math.sqrt(max(n, 1)),
                "unit": unit,
            }
            for name, unit in (("index", ""), ("amplitude", AMPLITUDE_UNIT))
        }
        first = rows[0]
        summary = [
            f"{config.n_seeds} simulated {config.livetime_h:g} h observations with "
            f"{info.name} at {info.site} (pointing zenith angle {zenith:.1f} deg at "
            f"mid-observation, IRF "
            f"{info.zenith_deg:g} deg), {config.analysis} analysis",
            f"seed {first['seed']}: index {first['index']:.3f} ± "
            f"{first['index_error']:.3f}, amplitude {first['amplitude']:.3g} ± "
            f"{first['amplitude_error']:.2g} {AMPLITUDE_UNIT} (truth "
            f"{config.spectrum.index}, {config.spectrum.amplitude:.3g} "
            f"{AMPLITUDE_UNIT})",
            *(
                f"{name} pulls: mean {s['pull_mean']:+.3f}, width {s['pull_std']:.3f}"
                f" (mean fitted {s['mean_fitted']:.4g}, typical error "
                f"{s['mean_error']:.3g})"
                for name, s in statistics.items()
            ),
        ]
        extra = {
            "irf": info.as_dict(),
            "zenith_deg": zenith,
            "pointing": {"ra_deg": pointing.ra.deg, "dec_deg": pointing.dec.deg},
            "observation_start": start.isot,
            "pull_statistics": statistics,
            "n_converged": n,
            "fits": rows,
        }
        return Outcome(parameters, validation, summary, extra)


def _source_radius(config: CtaoSimulateConfig) -> float:
    """Radius (deg) holding the source: the ON region, or 3 widths if extended."""
    if config.source.spatial == "point":
        return config.on_radius_deg
    return max(config.on_radius_deg, 3 * config.source.width_deg)


def _check_irf_ranges(config: CtaoSimulateConfig, irfs: dict) -> None:
    """Refuse energies and offsets the IRF does not cover (one-line ConfigError)."""
    from sat.errors import ConfigError
    from sat.irf import check_energy_range

    check_energy_range(config.irf, irfs, config.energy_min_tev, config.energy_max_tev)
    fov = irfs["aeff"].axes["offset"].edges.max().to_value("deg")
    needed = config.offset_deg + _source_radius(config)
    if needed > fov:
        raise ConfigError(
            f"offset_deg {config.offset_deg:g} puts the source region "
            f"({needed:g} deg from the pointing) outside the field of view of IRF "
            f"{config.irf!r} ({fov:g} deg)"
        )


def _sky_model(config: CtaoSimulateConfig, position, name: str = "source"):
    """Return the configured source as a Gammapy `SkyModel`."""
    import astropy.units as u
    from gammapy.modeling.models import (
        DiskSpatialModel,
        GaussianSpatialModel,
        PointSpatialModel,
        PowerLawSpectralModel,
        SkyModel,
    )

    spectral = PowerLawSpectralModel(
        index=config.spectrum.index,
        amplitude=config.spectrum.amplitude * u.Unit(AMPLITUDE_UNIT),
        reference=config.spectrum.reference_tev * u.TeV,
    )
    width = config.source.width_deg * u.deg
    lon, lat = position.ra, position.dec
    spatial = {
        "point": lambda: PointSpatialModel(lon_0=lon, lat_0=lat, frame="icrs"),
        "gauss": lambda: GaussianSpatialModel(
            lon_0=lon, lat_0=lat, sigma=width, frame="icrs"
        ),
        "disk": lambda: DiskSpatialModel(lon_0=lon, lat_0=lat, r_0=width, frame="icrs"),
    }[config.source.spatial]()
    return SkyModel(spectral_model=spectral, spatial_model=spatial, name=name)


def _start_model(config: CtaoSimulateConfig, position):
    """Return the fit's start: the truth's shape, index 2 and half the amplitude."""
    model = _sky_model(config, position, name="fit")
    model.spectral_model.index.value = 2.0
    model.spectral_model.amplitude.value = 0.5 * config.spectrum.amplitude
    return model


def _result(model, result, **extra) -> dict:
    """Fitted index and amplitude (with errors) of one seed."""
    spectral = model.spectral_model
    return {
        "success": bool(result.success),
        "index": float(spectral.index.value),
        "index_error": float(spectral.index.error),
        "amplitude": float(spectral.amplitude.value),
        "amplitude_error": float(spectral.amplitude.error),
        **extra,
    }


def _fit_1d(config, observation, source, geom, energy_axis_true) -> dict:
    """Reflected-regions ON/OFF spectrum of one observation and its WStat fit."""
    import astropy.units as u
    from gammapy.datasets import SpectrumDataset
    from gammapy.maps import RegionGeom
    from gammapy.modeling import Fit
    from gammapy.modeling.models import SkyModel
    from regions import CircleSkyRegion

    from sat.dl3.makers import spectrum_makers

    # offset >= 2 x radius (config check) leaves room for several OFF regions.
    region = CircleSkyRegion(source, config.on_radius_deg * u.deg)
    dataset = SpectrumDataset.create(
        geom=RegionGeom.create(region, axes=[geom.axes["energy"]]),
        energy_axis_true=energy_axis_true,
        name=f"obs-{observation.obs_id}",
    )
    for maker in spectrum_makers(containment_correction=True):
        dataset = maker.run(dataset, observation)
    model = SkyModel(
        spectral_model=_start_model(config, source).spectral_model, name="fit"
    )
    dataset.models = [model]
    result = Fit().run([dataset])
    alpha = float(dataset.alpha.data.mean())
    return _result(
        model,
        result,
        n_on=int(dataset.counts.data.sum()),
        n_off=int(dataset.counts_off.data.sum()),
        alpha=alpha,
    )


def _fit_3d(config, observation, source, geom, energy_axis_true) -> dict:
    """Binned 3D fit of one observation (IRF background, normalisation free)."""
    from gammapy.datasets import MapDataset
    from gammapy.makers import MapDatasetMaker
    from gammapy.modeling import Fit
    from gammapy.modeling.models import FoVBackgroundModel, Models

    name = f"obs-{observation.obs_id}"
    empty = MapDataset.create(geom, energy_axis_true=energy_axis_true, name=name)
    dataset = MapDatasetMaker().run(empty, observation)
    model = _start_model(config, source)
    background = FoVBackgroundModel(dataset_name=name)
    dataset.models = Models([model, background])
    result = Fit().run([dataset])
    return _result(
        model,
        result,
        n_counts=int(dataset.counts.data.sum()),
        background_norm=float(background.spectral_model.norm.value),
        background_norm_error=float(background.spectral_model.norm.error),
    )


def _plot_pulls(table, n_seeds: int, what: str):
    """Histograms of the index and amplitude pulls over N(0, 1); return the figure.

    ``what`` (the simulated observations) is written under the figure.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    from sat.plots import caption

    figure, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    grid = np.linspace(-4, 4, 200)
    for ax, name in zip(axes, ("index", "amplitude"), strict=True):
        pulls = np.asarray(table[f"{name}_pull"])
        bins = np.linspace(-4, 4, 17)
        ax.hist(pulls, bins=bins, histtype="stepfilled", alpha=0.6, label="fits")
        expected = len(pulls) * (bins[1] - bins[0]) * np.exp(-(grid**2) / 2)
        ax.plot(
            grid,
            expected / np.sqrt(2 * np.pi),
            "k-",
            label="expected: N(0, 1)",
        )
        ax.set_xlabel(f"{name} pull: (fit − truth) / fit error")
        ax.set_title(
            f"{name}: mean {np.mean(pulls):+.2f}, std {np.std(pulls, ddof=1):.2f}"
        )
        ax.legend()
    axes[0].set_ylabel(f"seeds (of {n_seeds})")
    axes[1].set_ylabel("seeds")
    caption(figure, what)
    return figure


USECASE = CtaoSimulate
