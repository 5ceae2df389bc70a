"""The spectrum-1d analysis as a plain Gammapy script, for the overhead benchmark.

What a scientist would write without ctao-sat: the same runs (the Crab runs of
H.E.S.S. DL3 DR1), the same makers and settings as `sat.usecases.spectrum_1d`
with its default configuration (reflected regions, r_on 0.11 deg, PSF containment
correction, edisp-bias safe mask, 24/48 energy bins), the same two fits, the
same flux points and the same products (flux points, models, OGIP datasets,
two plots). No config validation, file checks, provenance or result.json: that is
the overhead `benchmarks/overhead.py` measures. The fitted power law is written to
``parameters.json`` so the benchmark can check both did the same analysis.
"""

import argparse
import json
import math
import os
from pathlib import Path

import astropy.units as u
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from astropy.coordinates import SkyCoord
from gammapy.data import DataStore
from gammapy.datasets import Datasets, FluxPointsDataset, SpectrumDataset
from gammapy.estimators import FluxPointsEstimator
from gammapy.makers import (
    DatasetsMaker,
    ReflectedRegionsBackgroundMaker,
    SafeMaskMaker,
    SpectrumDatasetMaker,
)
from gammapy.maps import MapAxis, RegionGeom
from gammapy.modeling import Fit
from gammapy.modeling.models import (
    LogParabolaSpectralModel,
    Models,
    PowerLawSpectralModel,
    SkyModel,
)
from regions import CircleSkyRegion

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--output", type=Path, required=True)
out = parser.parse_args().output
(out / "models").mkdir(parents=True, exist_ok=True)
(out / "datasets").mkdir(exist_ok=True)

store = DataStore.from_dir(Path(os.environ["GAMMAPY_DATA"], "hess-dl3-dr1"))
table = store.obs_table
crab = table[np.char.strip(np.asarray(table["TARGET_NAME"], dtype=str)) == "Crab"]
observations = store.get_observations(list(crab["OBS_ID"]))
position = SkyCoord(crab["RA_OBJ"][0], crab["DEC_OBJ"][0], unit="deg", frame="icrs")

energy_reco = MapAxis.from_energy_bounds(0.1, 100, 24, unit="TeV")
energy_true = MapAxis.from_energy_bounds(0.05, 150, 48, unit="TeV", name="energy_true")
on_region = CircleSkyRegion(position, 0.11 * u.deg)
reference = SpectrumDataset.create(
    geom=RegionGeom.create(region=on_region, axes=[energy_reco]),
    energy_axis_true=energy_true,
)
makers = [
    SpectrumDatasetMaker(
        selection=["counts", "exposure", "edisp"], containment_correction=True
    ),
    ReflectedRegionsBackgroundMaker(),
    SafeMaskMaker(
        methods=["edisp-bias"], bias_percent=10, aeff_percent=10, offset_max=3 * u.deg
    ),
]
reduced = DatasetsMaker(makers, stack_datasets=False, n_jobs=1).run(
    reference, observations
)
datasets = Datasets(
    [d for d in reduced if d.counts_off is not None and d.mask_safe.data.any()]
)

amplitude = 1e-12 * u.Unit("cm-2 s-1 TeV-1")
models = {
    "power-law": SkyModel(
        PowerLawSpectralModel(index=2.0, amplitude=amplitude, reference=1.45 * u.TeV),
        name="Crab",
    ),
    "log-parabola": SkyModel(
        LogParabolaSpectralModel(
            alpha=2.0, beta=0.1, amplitude=amplitude, reference=1.45 * u.TeV
        ),
        name="Crab",
    ),
}
for name, model in models.items():
    datasets.models = [model]
    Fit().run(datasets)
    Models([model]).write(out / "models" / f"{name}.yaml", overwrite=True)
datasets.models = [models["power-law"]]

low = min(d.energy_range_safe[0].quantity.to_value("TeV").item() for d in datasets)
high = max(d.energy_range_safe[1].quantity.to_value("TeV").item() for d in datasets)
edges = MapAxis.from_energy_bounds(
    low, high, max(1, round(4 * math.log10(high / low))), unit="TeV"
).edges
flux_points = FluxPointsEstimator(
    energy_edges=edges, source="Crab", selection_optional=["ul"]
).run(datasets)
flux_points.write(out / "flux_points.ecsv", sed_type="likelihood", overwrite=True)
for dataset in [datasets.stack_reduce(name="stacked"), *datasets]:
    dataset.write(
        out / "datasets" / f"{dataset.name}.fits", format="ogip", overwrite=True
    )

figure, (top, bottom) = plt.subplots(2, 1, figsize=(7, 7), sharex=True)
FluxPointsDataset(models=[models["power-law"]], data=flux_points).plot_fit(
    ax_spectrum=top, ax_residuals=bottom
)
models["log-parabola"].spectral_model.plot(
    flux_points.energy_axis.edges[[0, -1]], ax=top, sed_type="e2dnde", ls="--"
)
figure.savefig(out / "spectrum.png", dpi=120, bbox_inches="tight")
plt.close(figure)
runs = datasets.info_table(cumulative=False)
cumulative = datasets.info_table(cumulative=True)
figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
left.bar(np.arange(len(runs)), runs["excess"])
right.plot(cumulative["livetime"].quantity.to_value("h"), cumulative["sqrt_ts"], "o-")
figure.savefig(out / "runs.png", dpi=120, bbox_inches="tight")
plt.close(figure)

power_law = models["power-law"].spectral_model
(out / "parameters.json").write_text(
    json.dumps(
        {
            p.name: {"value": float(p.value), "error": float(p.error)}
            for p in power_law.parameters
            if not p.frozen
        },
        indent=2,
    )
)
