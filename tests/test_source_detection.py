"""The source-detection use case: a simulated survey field and the H.E.S.S. fields.

The simulated part runs once with the default field and population and is
checked from its files (completeness recomputed from truth.ecsv, detections
against the truth, the source-free twin); the H.E.S.S. part runs once and must
find its three targets at their catalogue positions. A threshold too low must
fail on false detections, and a wrong catalogue position on real data must fail.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml
from astropy.coordinates import SkyCoord
from astropy.table import Table
from click.testing import CliRunner

from sat.cli.main import main
from sat.errors import ValidationFailed
from sat.result import RESULT
from sat.usecases.runner import run_usecase
from tests.conftest import assert_user_error

pytestmark = [
    pytest.mark.verifies_usecase("SUSS-UC-SAT-150"),
    pytest.mark.verifies_requirement("C-SAT-0070"),
]

# A small field with one pointing, for the runs that only need the verdicts.
SMALL = {
    "parts": ["simulation"],
    "simulation": {"width_lon_deg": 3.0, "width_lat_deg": 2.0, "n_pointings": 1},
    "population": {"n_sources": 3, "edge_margin_deg": 0.3},
}


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """The default simulated survey: (folder, result)."""
    output = tmp_path_factory.mktemp("detection") / "simulated"
    config = {"parts": ["simulation"]}
    return output, run_usecase("source-detection", config, output, quiet=True)


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """The default search of the H.E.S.S. DR1 fields: (folder, result)."""
    output = tmp_path_factory.mktemp("detection") / "real"
    config = {"parts": ["real-data"]}
    return output, run_usecase("source-detection", config, output, quiet=True)


@pytest.mark.verifies_requirement("C-SAT-0080")
def test_simulated_survey_completeness_and_purity(simulated):
    output, result = simulated
    checks = {c["quantity"]: c for c in result["validation"]}
    assert all(c["verdict"] == "PASS" for c in checks.values()), checks
    truth = Table.read(output / "truth.ecsv")
    assert len(truth) == 20 and 0 < np.sum(truth["extended"]) < 20
    # Fluxes span the threshold: some sources are certain, some hopeless.
    p = np.asarray(truth["p_detect"])
    assert np.sum(p > 0.99) >= 5 and np.sum(p < 0.01) >= 2
    detected = checks["sources detected"]
    assert detected["measured"] == np.sum(truth["detected"])
    assert detected["value"] == pytest.approx(p.sum())
    assert detected["error"] == pytest.approx(math.sqrt(np.sum(p * (1 - p)) + 1))
    bright = np.asarray(truth["expected_sqrt_ts"]) >= 10
    assert np.all(truth["detected"][bright])
    # The source-free twin: no false detection at TS 25 in the whole field.
    false = checks["false detections per deg2"]
    assert false["measured"] == 0 and false["maximum"] > 0
    area = result["simulation"]["area_deg2"]
    assert area == pytest.approx(18.0, rel=0.01)
    rates = {r["ts"]: r["n"] for r in result["simulation"]["false_rates"]}
    # At TS 4 (2 sigma) the noise gives many peaks: the measurement works.
    assert rates[4.0] > 20 and rates[4.0] >= rates[9.0] >= rates[25.0] == 0


def test_detections_against_the_truth(simulated):
    output, result = simulated
    truth = Table.read(output / "truth.ecsv")
    catalogue = Table.read(output / "detections.ecsv")
    assert np.all(catalogue["ts"] > 25) and np.all(catalogue["success"])
    matched = catalogue[catalogue["match"] >= 0]
    true = truth[matched["match"]]
    found, simulated_at = (
        SkyCoord(table["lon_deg"], table["lat_deg"], unit="deg", frame="galactic")
        for table in (matched, true)
    )
    offset = found.separation(simulated_at).deg
    error = np.hypot(matched["lon_error_deg"], matched["lat_error_deg"])
    # Every detection within 4 radial errors of its source, well inside 0.2 deg.
    assert np.all(offset < 4 * error) and np.all(offset < 0.05)
    # Bright Gaussian sources are fitted as Gaussians of about their width.
    gaussian = matched[matched["extended"]]
    assert len(gaussian) >= 1
    for row in gaussian:
        assert truth["extended"][row["match"]]
        width = truth["sigma_deg"][row["match"]]
        assert abs(row["sigma_deg"] - width) < 4 * row["sigma_error_deg"]
    statistics = result["simulation"]["statistics"]
    assert statistics["flux_pulls"] >= 8 and statistics["position_pulls"] >= 20
    assert statistics["spurious"] == int(np.sum(catalogue["match"] < 0))


def test_products_and_plots(simulated):
    from gammapy.maps import Map
    from gammapy.modeling.models import Models
    from matplotlib.image import imread

    output, _ = simulated
    for name in ("field.png", "validation.png"):
        image = imread(output / name)
        assert image.shape[1] > 900 and image[..., :3].std() > 0.05, name
    sqrt_ts = Map.read(output / "maps" / "field_sqrt_ts.fits")
    assert sqrt_ts.geom.frame == "galactic" and np.nanmax(sqrt_ts.data) > 10
    truth = Models.read(output / "models" / "truth.yaml")
    assert len(truth) == 21  # 20 sources and the background
    saved = json.loads((output / RESULT).read_text())
    assert saved["simulation"]["irf"]["name"] == "prod5-south-z20-50h"


@pytest.mark.verifies_requirement("C-SAT-0080")
def test_a_threshold_too_low_fails_on_false_detections(tmp_path):
    # TS 9 (3 sigma before trials). The peaks are not fitted: purity does not
    # depend on the fits, and fitting every noise peak takes minutes.
    config = {**SMALL, "detection": {"ts_threshold": 9.0, "fit": False}}
    output = tmp_path / "low"
    with pytest.raises(ValidationFailed, match="false detections per deg2"):
        run_usecase("source-detection", config, output, quiet=True)
    saved = json.loads((output / RESULT).read_text())
    false = next(
        c for c in saved["validation"] if c["quantity"] == "false detections per deg2"
    )
    assert false["verdict"] == "FAIL"
    statistics = saved["simulation"]["statistics"]
    assert statistics["false_detections"] > statistics["false_allowed"]


@pytest.mark.verifies_requirement("C-SAT-0080")
def test_hess_fields_find_their_targets_at_catalogue_positions(real):
    output, result = real
    assert [c["verdict"] for c in result["validation"]] == ["PASS"] * 3
    fields = result["real_data"]["fields"]
    assert set(fields) == {"Crab Nebula", "MSH 15-52", "PKS 2155-304"}
    for target, field in fields.items():
        assert field["ts"] > 25, target
        # Within 2 arcmin; the combined error holds the 20 arcsec systematic.
        assert field["offset_deg"] < 2 / 60, target
        assert field["offset_error_deg"] >= 20 / 3600
    # The Crab is the brightest, the six steady-state runs of PKS 2155-304 the
    # faintest (6 sigma in a 3D search).
    assert fields["Crab Nebula"]["ts"] > 1000 and fields["MSH 15-52"]["ts"] > 200
    assert fields["MSH 15-52"]["extended"] and not fields["Crab Nebula"]["extended"]
    rows = Table.read(output / "real_detections.ecsv")
    pks = rows[rows["field"] == "PKS 2155-304"][0]
    # The blazar's steep spectrum (Mohrmann et al. 2019, 3D: 3.50 +- 0.23).
    assert abs(pks["index"] - 3.50) < 3 * math.hypot(pks["index_error"], 0.23)


@pytest.mark.verifies_requirement("C-SAT-0080")
def test_a_wrong_catalogue_position_fails(tmp_path):
    # gammacat's MSH 15-52 lies 0.14 deg from the HGPS and the H.E.S.S. paper:
    # checked against it, the detection is far outside the errors.
    field = {"target": "MSH 15-52", "catalogue_name": "MSH 15-52"}
    config = {"parts": ["real-data"], "real_data": {"fields": [field]}}
    with pytest.raises(ValidationFailed, match="MSH 15-52: offset from gammacat"):
        run_usecase("source-detection", config, tmp_path / "msh", quiet=True)


def test_print_config_lists_every_key():
    result = CliRunner().invoke(main, ["run", "source-detection", "--print-config"])
    assert result.exit_code == 0, result.output
    config = yaml.safe_load(result.output)
    assert config["detection"]["ts_threshold"] == 25.0
    assert config["parts"] == ["simulation", "real-data"]
    assert [f["target"] for f in config["real_data"]["fields"]] == [
        "Crab Nebula",
        "MSH 15-52",
        "PKS 2155-304",
    ]


@pytest.mark.verifies_requirement("C-SAT-0040")
@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"population": {"min_separation_deg": 0.3}},
            "must be at least twice detection.min_distance_deg",
        ),
        (
            {"population": {"flux_min_crab": 0.1, "flux_max_crab": 0.01}},
            "flux_max_crab must be larger than flux_min_crab",
        ),
        ({"parts": []}, "key 'parts': List should have at least 1 item"),
        ({"real_data": None}, "parts has 'real-data' but real_data is null"),
        (
            {
                "parts": ["simulation"],
                "simulation": {"width_lon_deg": 14.0, "n_pointings": 1},
            },
            "outside the field of view of IRF",
        ),
        (
            {"parts": ["simulation"], "population": {"n_sources": 200}},
            "cannot place 200 sources",
        ),
        (
            {
                "parts": ["real-data"],
                "real_data": {
                    "fields": [{"target": "Crab Nebula", "catalogue_name": "Krab"}]
                },
            },
            "'Krab' is not in gammacat",
        ),
        ({"detection": {"ts_treshold": 9}}, "unknown key 'detection.ts_treshold'"),
        (
            {
                "real_data": {
                    "datasets": {"geom": {"wcs": {"skydir": {"lon": "1 deg"}}}}
                }
            },
            "leave lon and lat null",
        ),
        (
            {"n_jobs": 2},
            "unknown key 'n_jobs' (allowed: irf, simulation, population, "
            "detection, real_data, general, parts)",
        ),
    ],
)
def test_bad_inputs_give_one_line(tmp_path, config, message):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    output = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        ["run", "source-detection", "--config", str(path), "--output", str(output)],
    )
    assert_user_error(result, message)
    assert not output.exists()
