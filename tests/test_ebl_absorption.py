"""The ebl-absorption use case: PKS 2155-304 (H.E.S.S. DR1) and CTAO pull tests.

A run with lighter simulations than the default (30 seeds, 12 for the EBL norm)
runs once and is checked from its files: the real-data fits against the paper
and the de-absorbed published spectra, the relation between observed and
intrinsic index, the pulls. The EBL table is checked against the FITS file read
by hand. The deliberately wrong analysis (no EBL) must fail both parts.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml
from astropy.table import Table
from click.testing import CliRunner

from sat.cli.main import main
from sat.errors import ConfigError, DataError
from sat.result import RESULT
from sat.usecases.ebl_absorption import (
    EBL_TABLES,
    HESS_2010,
    MOHRMANN,
    ebl_absorption,
)
from sat.usecases.runner import run_usecase
from tests.conftest import assert_matches_measured, assert_user_error

pytestmark = [
    pytest.mark.verifies_usecase("SUSS-UC-SAT-130"),
    pytest.mark.verifies_requirement("C-SAT-0070"),
]

LIGHT = {"simulation": {"n_seeds": 30, "ebl_norm": {"n_seeds": 12}}}
# The observed power law is the lightcurve use case's (same runs, reduction and
# fit): its measured regression reference (tests/test_lightcurve.py).
MEASURED_OBSERVED = {"index": (3.520, 0.247), "amplitude": (1.889e-11, 0.227e-11)}


@pytest.fixture(scope="module")
def ebl(tmp_path_factory):
    """The default analysis with lighter simulations, run once: (output, result)."""
    output = tmp_path_factory.mktemp("ebl") / "default"
    return output, run_usecase("ebl-absorption", LIGHT, output, quiet=True)


@pytest.mark.verifies_requirement("C-SAT-0080")
def test_observed_and_intrinsic_spectra_match_the_papers(ebl):
    _, result = ebl
    assert result.passed, [check.describe() for check in result.failures]
    parameters = result["parameters"]
    assert_matches_measured(
        {name: parameters[name] for name in MEASURED_OBSERVED}, MEASURED_OBSERVED
    )
    checks = [c for c in result["validation"] if c.fit == "PKS 2155-304, H.E.S.S. DR1"]
    sources = {(c.quantity, c.source.split(",")[0]) for c in checks}
    assert sources == {
        ("index", "Mohrmann et al. 2019"),
        ("amplitude", "Mohrmann et al. 2019"),
        ("intrinsic_index", "Mohrmann et al. 2019"),
        ("intrinsic_amplitude", "Mohrmann et al. 2019"),
        ("intrinsic_index", "H.E.S.S. Collaboration 2010"),
    }
    # The intrinsic spectrum is harder than the observed one by what the EBL
    # takes: at z = 0.116, d tau / d ln E is 0.5 to 0.9 between 0.3 and 1 TeV
    # (Domínguez 2011), where these runs weigh.
    real = result["real_data"]
    shift = real["index_shift"]
    assert 0.6 < shift["measured"] < 1.0
    for name in (MOHRMANN, HESS_2010):
        # The published spectra de-absorbed through the same runs shift alike:
        # the shift depends on the energies weighed, not on the data.
        assert shift["expected"][name] == pytest.approx(shift["measured"], abs=0.05)
    deabsorbed = real["deabsorbed_references"][MOHRMANN]
    assert deabsorbed["index"] == pytest.approx(3.464 - shift["expected"][MOHRMANN])
    # The intrinsic flux at E0 = 0.65 TeV exceeds the observed one by about
    # exp(tau(0.65 TeV)) = 2.3.
    ratio = (
        parameters["intrinsic_amplitude"]["value"] / parameters["amplitude"]["value"]
    )
    assert 2.0 < ratio < 2.7
    assert real["n_runs"] == 6 and real["ebl_model"] == "dominguez"


def test_ebl_table_is_the_published_one(gammapy_data):
    from astropy.io import fits

    # tau(E, z) read by hand from the XSPEC table (PARAMETERS, ENERGIES in keV,
    # SPECTRA: exp(-tau) per redshift), interpolated linearly in z at 1 TeV.
    path = gammapy_data / "ebl" / EBL_TABLES["dominguez"].file
    with fits.open(path) as hdus:
        redshifts = hdus["SPECTRA"].data["PARAMVAL"].ravel()
        energies = np.sqrt(
            hdus["ENERGIES"].data["ENERG_LO"] * hdus["ENERGIES"].data["ENERG_HI"]
        )
        spectra = hdus["SPECTRA"].data["INTPSPEC"]
    z, unique = np.unique(redshifts, return_index=True)
    column = np.argmin(np.abs(energies - 1e9))  # 1 TeV in keV
    by_hand = np.interp(0.116, z, spectra[unique, column])
    absorption = ebl_absorption("dominguez", 0.116)
    import astropy.units as u

    value = float(absorption(energies[column] * u.keV))
    assert value == pytest.approx(by_hand, rel=0.02)
    assert 0.2 < value < 0.4  # tau(1 TeV, z = 0.116) about 1.2 (Domínguez 2011)
    assert absorption.redshift.frozen and absorption.alpha_norm.frozen


def test_ebl_tables_are_found_through_the_dataset(monkeypatch, tmp_path):
    with pytest.raises(ConfigError, match="redshift 5 is outside the EBL model"):
        ebl_absorption("dominguez", 5.0)
    monkeypatch.setenv("GAMMAPY_DATA", str(tmp_path))
    with pytest.raises(DataError, match="ctao-sat data download ebl"):
        ebl_absorption("franceschini", 0.1)


@pytest.mark.verifies_requirement("C-SAT-0080")
def test_pulls_are_standard_normal(ebl):
    from scipy import stats

    output, result = ebl
    simulation = result["simulation"]
    table = Table.read(output / "pulls.ecsv")
    n = LIGHT["simulation"]["n_seeds"]
    assert len(table) == n and all(table["success"])
    truth = simulation["pull_test"]["truth"]
    low, high = (
        math.sqrt(stats.chi2.ppf(q, n - 1) / (n - 1)) for q in (0.00135, 0.99865)
    )
    for name in ("index", "amplitude"):
        pulls = (table[name] - truth[name]) / table[f"{name}_error"]
        assert np.allclose(pulls, table[f"{name}_pull"])
        assert abs(np.mean(pulls)) < 3 / math.sqrt(n)
        assert low < np.std(pulls, ddof=1) < high
    free = Table.read(output / "pulls_ebl_norm.ecsv")
    assert len(free) == LIGHT["simulation"]["ebl_norm"]["n_seeds"]
    # The EBL normalisation of a bright source is recovered around 1, within a
    # few percent (its typical error).
    assert np.all(np.abs(free["ebl_norm"] - 1) < 4 * free["ebl_norm_error"])
    assert 0.01 < np.median(free["ebl_norm_error"]) < 0.1
    norm = result["parameters"]["ebl_norm"]
    assert abs(norm["value"] - 1) < 3 * norm["error"]
    quantities = {(c.fit, c.quantity) for c in result["validation"]}
    assert ("simulation, EBL norm free", "ebl_norm pull width") in quantities
    assert ("simulation, EBL norm fixed", "index pull mean") in quantities


def test_products_and_plots(ebl):
    from gammapy.estimators import FluxPoints
    from gammapy.modeling.models import Models
    from matplotlib.image import imread

    output, result = ebl
    for name in ("spectrum.png", "pulls.png"):
        image = imread(output / name)
        assert image.shape[1] > 700 and image[..., :3].std() > 0.05
    models = Models.read(output / "models" / "intrinsic.yaml")
    spectral = models[0].spectral_model
    assert spectral.model2.redshift.value == pytest.approx(0.116)
    points = FluxPoints.read(output / "flux_points.ecsv")
    assert points.energy_axis.nbin >= 4
    saved = json.loads((output / RESULT).read_text())
    assert saved["usecase_id"] == "SUSS-UC-SAT-130"
    inputs = {entry["path"].split("/")[-1] for entry in saved["provenance"]["inputs"]}
    assert {"ebl_dominguez11.fits.gz", "ebl_franceschini.fits.gz"} <= inputs
    assert set(result["products"]) >= {
        "flux_points.ecsv",
        "models/intrinsic.yaml",
        "models/observed.yaml",
        "pulls.ecsv",
        "pulls_ebl_norm.ecsv",
        "spectrum.png",
        "pulls.png",
    }


@pytest.mark.verifies_requirement("C-SAT-0080")
def test_analysis_without_ebl_fails(tmp_path):
    # The observed power law taken for the intrinsic spectrum: too soft by about
    # 0.85 on the real data, and biased pulls on the simulated sky.
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump({"ebl_model": "none", "simulation": {"n_seeds": 10}})
    )
    output = tmp_path / "no-ebl"
    result = CliRunner().invoke(
        main,
        ["run", "ebl-absorption", "-q", "--config", str(path), "--output", str(output)],
    )
    assert result.exit_code == 1, result.output
    assert "validation failed for" in result.output
    saved = json.loads((output / RESULT).read_text())
    failed = {
        (check.get("fit"), check["quantity"])
        for check in saved["validation"]
        if check["verdict"] == "FAIL"
    }
    assert ("PKS 2155-304, H.E.S.S. DR1", "intrinsic_index") in failed
    assert ("simulation, EBL norm fixed", "index pull mean") in failed
    # The observed spectrum itself is right.
    assert ("PKS 2155-304, H.E.S.S. DR1", "index") not in failed
    assert "pulls_ebl_norm.ecsv" not in saved["products"]


@pytest.mark.verifies_requirement("C-SAT-0040")
@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"ebl_model": "finke"}, "key 'ebl_model': Input should be 'dominguez'"),
        ({"redshift": 7}, "redshift 7 is outside the EBL model 'dominguez'"),
        ({"simulation": {"n_seeds": 2}}, "greater than or equal to 3"),
        ({"simulation": {"irf": "prod6"}}, "unknown IRF 'prod6'"),
        ({"simulation": {"energy_min_tev": 0.001}}, "is outside IRF"),
        ({"simulation": {"energy_max_tev": 0.05}}, "must be larger than"),
        ({"simulation": {"ebl_norm": {"flux": 3}}}, "unknown key 'simulation."),
    ],
)
def test_bad_inputs_give_one_line(tmp_path, config, message):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    output = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["run", "ebl-absorption", "--config", str(path), "--output", str(output)]
    )
    assert_user_error(result, message)
    assert not output.exists()
