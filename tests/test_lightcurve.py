"""The lightcurve use case on the real H.E.S.S. DR1 runs of PKS 2155-304.

The default analysis (the 6 steady-state runs) runs once (module fixture) and its
spectrum, light curve, result.json and products are checked against the paper,
the measured reference and a constant flux; a second run (no containment
correction) must fail its validation.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest

from sat.config import load_config
from sat.errors import ConfigError, DataError, ValidationFailed
from sat.result import RESULT
from sat.stack import load_pins
from sat.usecases.hess_dr1 import PUBLISHED_1D
from sat.usecases.lightcurve import (
    N_SIGMA,
    P_VALUE_MIN,
    LightCurveConfig,
    _reference_note,
    constancy,
    constant_reference,
)
from sat.usecases.runner import run_usecase
from tests.conftest import assert_matches_measured, hess_run_file

pytestmark = [
    pytest.mark.verifies_usecase("SUSS-UC-SAT-030"),
    pytest.mark.verifies_requirement("C-SAT-0070"),
]

PKS_RUNS = (47802, 47803, 47804, 47827, 47828, 47829)
PAPER = PUBLISHED_1D["PKS 2155-304 (steady)"]
# Measured with gammapy 2.1, joint fit of the 6 runs (../shared/REFERENCES.md:
# 3.53 ± 0.25 and 1.89 ± 0.23e-11): the regression reference of the pinned stack.
MEASURED = {"index": (3.520, 0.247), "amplitude": (1.889e-11, 0.227e-11)}


@pytest.fixture(scope="module")
def pks(tmp_path_factory):
    """The default analysis (PKS 2155-304, 6 runs), run once: (output, result)."""
    output = tmp_path_factory.mktemp("lightcurve") / "pks"
    result = run_usecase("lightcurve", None, output, quiet=True)
    return output, result


@pytest.mark.verifies_requirement("C-SAT-0080")
def test_spectrum_matches_measured_and_published(pks):
    _, result = pks
    parameters = result["parameters"]
    assert set(parameters) == {"index", "amplitude"}
    assert_matches_measured(parameters, MEASURED)
    published = {"index": PAPER.index, "amplitude": PAPER.amplitude}
    for name, (value, error) in published.items():
        fitted = parameters[name]
        pull = abs(fitted["value"] - value) / math.hypot(error, fitted["error"])
        assert pull < N_SIGMA, (name, pull)
    assert result["fit"] == {
        "mode": "joint",
        "success": True,
        "total_stat": pytest.approx(result["fit"]["total_stat"]),
    }


@pytest.mark.verifies_requirement("C-SAT-0080")
def test_validation_verdicts(pks):
    _, result = pks
    checks = {check["quantity"]: check for check in result["validation"]}
    assert set(checks) == {"index", "amplitude", "variability_significance"}
    assert all(check["verdict"] == "PASS" for check in checks.values())
    for name in ("index", "amplitude"):
        assert checks[name]["n_sigma"] == N_SIGMA == 1.0
        assert "Mohrmann et al. 2019" in checks[name]["source"]
        assert checks[name]["measured"] == result["parameters"][name]["value"]
    constant = checks["variability_significance"]
    assert constant["n_sigma"] == pytest.approx(2.326, abs=1e-3)  # p = 0.01
    assert constant["measured"] == result["constant_flux"]["variability_significance"]
    assert all(check["why"] for check in checks.values())
    assert result["summary"][-1].endswith("and a constant flux")


def test_light_curve_is_run_wise_and_constant(pks):
    _, result = pks
    rows = result["light_curve"]
    assert [row["obs_id"] for row in rows] == list(PKS_RUNS)
    # Above the highest safe threshold of the runs (0.75 TeV), so that no run's
    # flux is extrapolated below its own threshold.
    assert result["energy_range_tev"] == pytest.approx([0.7499, 100], rel=1e-3)
    assert max(row["safe_energy_tev"][0] for row in rows) == pytest.approx(0.7499, 1e-3)
    for row in rows:
        assert row["flux"] > 0 and row["flux_err"] > 0
        assert row["flux_ul"] > row["flux"]
        assert 0.45 < (row["time_max_mjd"] - row["time_min_mjd"]) * 24 < 0.5  # 28 min
        assert row["is_ul"] == (row["ts"] < 4)
        assert row["counts"] > 5
    starts = [row["time_min_mjd"] for row in rows]
    assert starts == sorted(starts)
    # Around 3e-12 cm-2 s-1 above 0.75 TeV: ~15 % of the Crab, as expected.
    constant = result["constant_flux"]
    assert constant["n_bins"] == 6 and constant["dof"] == 5
    assert 2e-12 < constant["mean"] < 5e-12
    assert constant["p_value"] > P_VALUE_MIN
    assert constant["p_value"] == pytest.approx(0.330, abs=0.01)


def test_result_content(pks, gammapy_data):
    output, result = pks
    assert json.loads((output / RESULT).read_text()) == result
    assert result["usecase"] == "lightcurve"
    assert result["usecase_id"] == "SUSS-UC-SAT-030"
    assert result["dropped_runs"] == [] and result["failed_runs"] == []
    provenance = result["provenance"]
    assert provenance["versions"] == {pin.name: pin.version for pin in load_pins()}
    assert provenance["config"] == LightCurveConfig().model_dump(mode="json")
    sums = {}
    for line in (gammapy_data / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        sums[Path(name).name] = digest
    inputs = {
        Path(entry["path"]).name: entry["sha256"] for entry in provenance["inputs"]
    }
    for obs_id in PKS_RUNS:
        assert inputs[hess_run_file(obs_id)] == sums[hess_run_file(obs_id)]
    assert len(inputs) == len(PKS_RUNS) + 2


def test_products_are_readable_by_gammapy(pks):
    from gammapy.estimators import FluxPoints
    from gammapy.modeling.models import Models
    from matplotlib.image import imread

    output, result = pks
    files = {
        str(path.relative_to(output)) for path in output.rglob("*") if path.is_file()
    }
    assert files == set(result["products"]) | {RESULT}

    light_curve = FluxPoints.read(output / "lightcurve.ecsv", format="lightcurve")
    time_axis = light_curve.geom.axes["time"]
    assert time_axis.nbin == len(PKS_RUNS)
    rows = result["light_curve"]
    assert time_axis.time_min.mjd == pytest.approx([r["time_min_mjd"] for r in rows])
    energy = light_curve.geom.axes["energy"]
    assert energy.nbin == 1
    assert energy.edges[0].to_value("TeV") == pytest.approx(0.7499, rel=1e-3)
    flux = light_curve.flux.quantity.to_value("cm-2 s-1").ravel()
    assert flux == pytest.approx([row["flux"] for row in rows])
    assert all(flux > 0)
    assert light_curve.is_ul.data.ravel().tolist() == [r["is_ul"] for r in rows]

    models = Models.read(output / "models.yaml")
    spectral = models[0].spectral_model
    # The light curve used the fitted spectrum with its index frozen.
    assert spectral.index.frozen
    assert spectral.index.value == pytest.approx(result["parameters"]["index"]["value"])
    assert spectral.reference.quantity == 0.65 * u.TeV

    height, width, _ = imread(output / "lightcurve.png").shape
    assert height > 300 and width > 600


@pytest.mark.verifies_requirement("C-SAT-0080")
def test_missing_containment_correction_fails_validation(tmp_path):
    # Without the PSF containment correction the flux in 0.11 deg drops by a
    # third: the 1 sigma tolerance must fail it. Also covers the stacked fit and
    # a configured light-curve threshold.
    config = {
        "datasets": {"containment_correction": False, "stack": True},
        "light_curve": {"energy_edges": {"min": "1 TeV"}},
    }
    output = tmp_path / "nocc"
    with pytest.raises(ValidationFailed, match=r"amplitude = 1\.4\d*e-11 "):
        run_usecase("lightcurve", config, output, quiet=True)
    result = json.loads((output / RESULT).read_text())
    verdicts = {check["quantity"]: check["verdict"] for check in result["validation"]}
    assert verdicts["amplitude"] == "FAIL"
    assert verdicts["variability_significance"] == "PASS"
    assert result["fit"]["mode"] == "stacked"
    assert result["energy_range_tev"] == [1.0, 100.0]
    amplitude = result["parameters"]["amplitude"]["value"]
    assert amplitude / MEASURED["amplitude"][0] == pytest.approx(0.75, abs=0.05)


def test_one_run_is_not_a_light_curve(tmp_path):
    with pytest.raises(DataError, match="1 run\\(s\\) of PKS 2155-304"):
        config = {"observations": {"obs_ids": [47802]}}
        run_usecase("lightcurve", config, tmp_path / "one", quiet=True)
    assert not (tmp_path / "one").exists()


def test_constancy():
    steady = constancy([1.0, 1.1, 0.9, 1.0], [0.1, 0.1, 0.1, 0.1])
    assert steady["mean"] == pytest.approx(1.0)
    assert steady["mean_error"] == pytest.approx(0.05)
    assert steady["chi2"] == pytest.approx(2.0) and steady["dof"] == 3
    assert steady["p_value"] == pytest.approx(0.5724, abs=1e-4)
    assert steady["variability_significance"] == 0.0  # chi2 below its mean
    flare = constancy([1.0, 1.0, 3.0, 1.0], [0.1, 0.1, 0.1, 0.1])
    assert flare["p_value"] < 1e-20 and flare["variability_significance"] > 9
    # A bin without a usable error is left out; one bin is no test.
    assert constancy([1.0, np.nan, 1.2], [0.1, 0.1, 0.0]) == {"n_bins": 1}
    reference = constant_reference()
    assert reference.n_sigma == pytest.approx(2.326, abs=1e-3)
    assert reference.value == 0.0 and reference.error == 1.0


def test_reference_note():
    runs = list(PKS_RUNS)
    assert _reference_note(LightCurveConfig(), runs, runs) is None
    assert "the 6 runs" in _reference_note(LightCurveConfig(), runs[:3], runs)
    at = LightCurveConfig(
        datasets={"on_region": {"lon": "329.7 deg", "lat": "-30.2 deg"}}
    )
    assert "no published spectrum for these runs" in _reference_note(at, runs, runs)
    wider = LightCurveConfig(datasets={"on_region": {"radius": "0.2 deg"}})
    assert "r_on 0.11 deg" in _reference_note(wider, runs, runs)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"target": None}, "give a target (obs-index name) or datasets.on_region"),
        ({"datasets": {"stack": "both"}}, "key 'datasets.stack'"),
        ({"light_curve": {"energy_edges": {"nbins": 2}}}, "one band (nbins: 1)"),
        (
            {
                "light_curve": {
                    "time_intervals": {"start": "2004-12-04", "stop": "2004-12-05"}
                }
            },
            "light_curve.time_intervals: the light curve is run-wise",
        ),
        ({"time_bins": 3}, "unknown key 'time_bins'"),
        ({"spectral_fit": "stacked"}, "use datasets.stack"),
        ({"energy_min_tev": 1}, "use light_curve.energy_edges.min"),
        ({"n_sigma_ul": 3}, "use light_curve.parameters.n_sigma_ul"),
    ],
)
def test_invalid_config_names_the_key(overrides, message):
    with pytest.raises(ConfigError, match="invalid config") as error:
        load_config(LightCurveConfig, overrides)
    assert message in str(error.value)


def test_band_below_the_thresholds_is_a_config_error(tmp_path):
    # Two Crab runs at a given position: the band starts by default at their
    # highest safe threshold (1 TeV at 46-49 deg zenith), above 0.5 TeV.
    config = {
        "target": None,
        "observations": {"obs_ids": [23523, 23526]},
        "datasets": {"on_region": {"lon": "83.633 deg", "lat": "22.014 deg"}},
        "light_curve": {"energy_edges": {"max": "0.5 TeV"}},
    }
    with pytest.raises(
        ConfigError, match=r"key 'light_curve\.energy_edges\.max': 0\.5 TeV is not"
    ):
        run_usecase("lightcurve", config, tmp_path / "high", quiet=True)
