"""
Many short CTAO runs reduced in parallel (``survey``)
=====================================================

Short simulated CTAO runs of a small survey field are written as DL3, reduced one
by one into reflected-regions spectra by Gammapy's ``DatasetsMaker`` on a parallel
backend (here ``multiprocessing`` with 2 workers; ``ray`` runs on a Ray cluster),
and fitted jointly. The reduction's wall and CPU time and the peak memory of
each worker are in ``result.json`` (``reduction``).

This page runs 20 runs instead of the default 200 (the scaling benchmark,
``benchmarks/scaling.py``, runs the large sizes).
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
OVERRIDES = {"n_runs": 20, "backend": "multiprocessing", "n_jobs": 2}
usecase = get_usecase(NAME)
print(usecase.usecase_id, "-", usecase.summary)
print(dump_config(load_config(usecase.Config, OVERRIDES)))

# %%
# The same run from the command line:
#
# .. code-block:: console
#
#     ctao-sat run survey --backend multiprocessing --n-jobs 2 --output results/survey
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
print(json.dumps(result["reduction"], indent=2))

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
