"""
A survey field of many short CTAO runs (``survey``)
===================================================

Many short observations of a point source, pointed in turn around it like a
small survey field, are simulated with a public CTAO IRF, written as DL3, reduced
run by run into ON/OFF spectra by Gammapy's ``DatasetsMaker`` (serial,
multiprocessing or Ray backend), and fitted jointly; the fit must recover the
simulated truth.

.. note::
   Lighter than the defaults to keep the docs build short: 20 runs instead of
   200, on the serial backend. ``ctao-sat run survey`` uses 200 runs; the
   benchmarks compare the backends.
"""

# %%
# Configuration
# -------------
# ``dump_config`` shows every key with its value: the defaults of the use case
# plus the overrides passed here. ``ctao-sat run survey --print-config`` prints
# the defaults.
import json
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
from astropy.table import Table

from sat.errors import ValidationFailed
from sat.usecases.config import dump_config, load_config
from sat.usecases.registry import get_usecase
from sat.usecases.runner import RESULT, run_usecase
from sat.validation import describe

NAME = "survey"
OVERRIDES = {"n_runs": 20}
usecase = get_usecase(NAME)
print(usecase.usecase_id, "-", usecase.summary)
print(dump_config(load_config(usecase.Config, OVERRIDES)))

# %%
# The same run from the command line, with this configuration saved as
# ``light.yaml``:
#
# .. code-block:: console
#
#     ctao-sat run survey --config light.yaml --output results/survey
#
# Run
# ---
# :func:`~sat.usecases.runner.run_usecase` checks the data, runs the use case and
# writes the products and ``result.json`` atomically into the output folder.
output = Path(tempfile.mkdtemp(prefix="ctao-sat-docs-")) / NAME
try:
    result = run_usecase(NAME, OVERRIDES, output, quiet=True)
except ValidationFailed as error:  # the products are written: show them anyway
    print(f"VALIDATION FAILED: {error}")
    result = json.loads((output / RESULT).read_text())
print("\n".join(result["summary"]))

# %%
# Plots
# -----
# The PNG products of the run, as written by the use case.
for product in result["products"]:
    if product.endswith(".png"):
        image = plt.imread(output / product)
        height, width = image.shape[:2]
        figure, axes = plt.subplots(figsize=(8, 8 * height / width))
        axes.imshow(image)
        axes.set_axis_off()
        axes.set_title(product)
        figure.tight_layout()

# %%
# ``survey`` writes no plot: re-plot the stacked ON/OFF spectrum of all runs
# from its products (the OGIP spectrum and the fitted model), with Gammapy.
from gammapy.datasets import SpectrumDatasetOnOff  # noqa: E402
from gammapy.modeling.models import Models  # noqa: E402

stacked = SpectrumDatasetOnOff.read(output / "datasets" / "stacked.fits")
models = Models.read(output / "models" / "power-law.yaml")
for model in models:
    model.datasets_names = None  # fitted on the runs, shown on their sum
stacked.models = models
axes_fit, axes_residuals = stacked.plot_fit()
axes_fit.set_title(f"{OVERRIDES['n_runs']} runs stacked: excess and joint fit")

# %%
# Fitted parameters
# -----------------
for parameter, fitted in result["parameters"].items():
    if not isinstance(fitted, dict) or "value" not in fitted:
        print(f"{parameter:32s} {fitted}")
        continue
    error = fitted.get("error")
    error = f" ± {error:.3g}" if error is not None else ""
    print(f"{parameter:32s} {fitted['value']:.4g}{error} {fitted.get('unit', '')}")

# %%
# Validation against the references
# ---------------------------------
# Each check compares a measured quantity with its published or statistical
# reference (``validation`` in ``result.json``): PASS when the deviation is
# within the tolerance, in units of the combined error.
names = ("verdict", "quantity", "measured", "reference (tolerance)", "source")
table = Table(names=names, dtype=[str] * len(names))
for check in result["validation"]:
    # describe(): "q = measured vs reference ± error (...)" or "..., allowed [a, b]"
    line = describe(check)
    reference = line.partition(" vs ")[2] or "within " + line.partition(", allowed ")[2]
    measured = f"{check['measured']:.4g} ± {check['measured_error']:.2g}"
    source = check.get("source", "")
    table.add_row((check["verdict"], check["quantity"], measured, reference, source))
if not result["validation"]:
    print("no reference applies to this configuration")
table  # noqa: B018 (sphinx-gallery shows the last expression)

# %%
# Why these references and tolerances, as the use case states them:
for why in dict.fromkeys(check.get("why", "") for check in result["validation"]):
    print("-", why)
