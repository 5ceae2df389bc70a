"""
SDC tutorial: an ON/OFF spectrum step by step
=============================================

For Science Data Challenge participants: the 1D ON/OFF analysis of the Crab
Nebula in the H.E.S.S. DR1 runs, written out step by step with Gammapy itself,
then the same analysis with one command, ``ctao-sat run spectrum-1d``, and the
two results side by side. ``spectrum-1d`` calls exactly these Gammapy makers,
estimators and ``Fit``: it adds the data checks, a strict configuration, the
validation against the published result and the provenance of ``result.json``.
"""

# %%
# 1. Open the data store and select the observations
# --------------------------------------------------
# A DL3 data store (GADF) has an observation index and an HDU index; the use
# cases find the data under ``GAMMAPY_DATA`` (``ctao-sat data list``).
import json
import os
import subprocess
import sys
from pathlib import Path

import astropy.units as u
import matplotlib.pyplot as plt
import numpy as np
from astropy.coordinates import Angle, SkyCoord
from gammapy.data import DataStore
from gammapy.datasets import Datasets, SpectrumDataset
from gammapy.estimators import FluxPointsEstimator
from gammapy.makers import (
    ReflectedRegionsBackgroundMaker,
    SafeMaskMaker,
    SpectrumDatasetMaker,
)
from gammapy.maps import MapAxis, RegionGeom
from gammapy.modeling import Fit
from gammapy.modeling.models import PowerLawSpectralModel, SkyModel
from regions import CircleSkyRegion

from sat.usecases import display

data_store = DataStore.from_dir(Path(os.environ["GAMMAPY_DATA"]) / "hess-dl3-dr1")
table = data_store.obs_table
obs_ids = [int(i) for i in table["OBS_ID"][table["TARGET_NAME"] == "Crab"]]
observations = data_store.get_observations(obs_ids)
print(f"{len(observations)} Crab runs: {obs_ids}")

# %%
# 2. Define the ON region and the energy axes
# -------------------------------------------
# A circle of 0.11 deg around the Crab (the H.E.S.S. DR1 paper's choice for point
# sources); reconstructed energy 0.1-100 TeV, true energy a bit wider so that the
# energy dispersion is fully sampled.
target = SkyCoord(83.633, 22.014, unit="deg", frame="icrs")
on_region = CircleSkyRegion(center=target, radius=Angle("0.11 deg"))
energy_axis = MapAxis.from_energy_bounds(0.1, 100, nbin=24, unit="TeV")
energy_axis_true = MapAxis.from_energy_bounds(
    0.05, 150, nbin=48, unit="TeV", name="energy_true"
)
geom = RegionGeom.create(region=on_region, axes=[energy_axis])
empty = SpectrumDataset.create(geom=geom, energy_axis_true=energy_axis_true)

# %%
# 3. Reduce each run: counts, exposure, background from reflected regions
# -----------------------------------------------------------------------
# The reflected-regions method takes OFF regions at the same offset from the
# pointing as the ON region; the safe mask keeps the energies where the energy
# bias is below 10 %.
dataset_maker = SpectrumDatasetMaker(
    containment_correction=True, selection=["counts", "exposure", "edisp"]
)
background_maker = ReflectedRegionsBackgroundMaker()
safe_mask_maker = SafeMaskMaker(methods=["edisp-bias"], bias_percent=10)

datasets = Datasets()
for observation in observations:
    dataset = dataset_maker.run(empty.copy(name=str(observation.obs_id)), observation)
    dataset_on_off = background_maker.run(dataset, observation)
    datasets.append(safe_mask_maker.run(dataset_on_off, observation))

info = datasets.info_table(cumulative=True)
print(info["name", "counts", "counts_off", "excess", "sqrt_ts", "livetime"])

# %%
# 4. Fit a power law to all runs jointly
# --------------------------------------
spectral_model = PowerLawSpectralModel(
    index=2.6, amplitude="4e-11 cm-2 s-1 TeV-1", reference="1.45 TeV"
)
datasets.models = [SkyModel(spectral_model=spectral_model, name="crab")]
fit_result = Fit().run(datasets=datasets)
print(fit_result)
print(spectral_model.parameters.to_table()["name", "value", "error", "unit"])

# %%
# 5. Flux points and the SED
# --------------------------
energy_edges = np.geomspace(0.7, 40, 9) * u.TeV
flux_points = FluxPointsEstimator(energy_edges=energy_edges, source="crab").run(
    datasets=datasets
)
figure, axes = plt.subplots(figsize=(7, 5))
energy_bounds = [0.7, 40] * u.TeV
spectral_model.plot(energy_bounds, ax=axes, sed_type="e2dnde", label="power law")
spectral_model.plot_error(energy_bounds, ax=axes, sed_type="e2dnde")
flux_points.plot(ax=axes, sed_type="e2dnde", label="flux points")
axes.set_title("Crab Nebula, H.E.S.S. DR1, step by step with Gammapy")
axes.legend()
figure.tight_layout()

# %%
# 6. The same analysis with one command
# -------------------------------------
# ``ctao-sat run spectrum-1d`` runs these steps with the same choices (its
# defaults; here the power law only), writes the OGIP spectra, the flux points,
# the plots and ``result.json``, and checks the fit against Mohrmann et al. 2019:
#
# .. code-block:: console
#
#     $ printf 'spectral_models: [power-law]\n' > crab.yaml
#     $ ctao-sat run spectrum-1d --config crab.yaml --output crab
#
# It is run here exactly so (``python -m sat.cli`` is ``ctao-sat``), in
# ``results/sdc-onoff-tutorial`` beside this notebook:
work = display.results_folder("sdc-onoff-tutorial")
work.mkdir(parents=True, exist_ok=True)
(work / "crab.yaml").write_text("spectral_models: [power-law]\n")
command = [sys.executable, "-m", "sat.cli", "run", "spectrum-1d", "--quiet"]
command += ["--config", str(work / "crab.yaml"), "--output", str(work / "crab")]
done = subprocess.run(command, capture_output=True, text=True)
print(done.stdout or done.stderr, f"exit code {done.returncode}")
result = json.loads((work / "crab" / "result.json").read_text())

# %%
# 7. Side by side
# ---------------
# Both fits use the same runs, regions, energy axes and safe mask: they agree
# to numerical precision of the minimiser. The use case also reports how its fit
# compares with the published one.
for name, fitted in result["parameters"].items():
    if not name.endswith(("index", "amplitude")):
        continue
    mine = spectral_model.parameters[name.rsplit(".", 1)[-1]]
    print(
        f"{name:28s} ctao-sat {fitted['value']:.4g} ± {fitted['error']:.2g}"
        f"   step by step {mine.value:.4g} ± {mine.error:.2g}"
    )
for check in result["validation"]:
    print(check["verdict"], check["quantity"], "vs", check["source"])
