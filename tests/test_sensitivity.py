"""The sensitivity use case: CTAO differential sensitivity and its live-time scaling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from astropy.table import Table
from click.testing import CliRunner

from sat.cli.main import main
from sat.usecases.runner import run_usecase
from sat.usecases.sensitivity import background_tolerance, energy_edges, scaling
from tests.conftest import assert_user_error

pytestmark = [
    pytest.mark.verifies_usecase("SUSS-UC-SAT-060"),
    pytest.mark.verifies_requirement("C-SAT-0070"),
]

LIVETIMES = (0.5, 5.0, 50.0)


@pytest.fixture(scope="module")
def south(tmp_path_factory):
    """The default run (prod5 South; 0.5, 5 and 50 h): (folder, result, tables)."""
    output = tmp_path_factory.mktemp("sensitivity") / "south"
    result = run_usecase("sensitivity", None, output, quiet=True)
    tables = {t: Table.read(output / f"sensitivity_{t:g}h.ecsv") for t in LIVETIMES}
    return output, result, tables


@pytest.mark.verifies_requirement("C-SAT-0080")
def test_background_limited_bins_scale_as_sqrt_time(south):
    _, result, tables = south
    assert all(check["verdict"] == "PASS" for check in result["validation"])
    # Recomputed from the ECSV tables: significance-limited bins where the
    # background dominates (S/B <= 0.25 at both live times) scale as sqrt(t).
    checked = 0
    for short, long in ((0.5, 5.0), (0.5, 50.0), (5.0, 50.0)):
        a, b = tables[short], tables[long]
        for i in range(len(a)):
            limited = a["criterion"][i] == b["criterion"][i] == "significance"
            dominated = all(t["excess"][i] <= 0.25 * t["background"][i] for t in (a, b))
            if limited and dominated:
                ratio = a["e2dnde"][i] / b["e2dnde"][i]
                assert ratio / math.sqrt(long / short) == pytest.approx(1, abs=0.10)
                checked += 1
    assert checked >= 1
    rows = [row for row in result["scaling"] if row["regime"] == "background"]
    assert len(rows) == checked
    assert result["background_tolerance"] == pytest.approx(0.0992, abs=1e-4)


@pytest.mark.verifies_requirement("C-SAT-0080")
def test_gamma_limited_bins_scale_as_time(south):
    _, _, tables = south
    a, b = tables[0.5], tables[50.0]
    gamma = (a["criterion"] == "gamma") & (b["criterion"] == "gamma")
    # At high energies 10 gammas decide at every live time: flux ~ 1 / t.
    assert gamma.sum() >= 5 and all(a["e_ref"][gamma] > 5)
    ratio = a["e2dnde"][gamma] / b["e2dnde"][gamma]
    assert np.allclose(ratio, 100, rtol=1e-6)
    assert np.all(a["excess"][gamma] == 10)


def test_curves_are_physical(south):
    _, result, tables = south
    table = tables[50.0]
    assert table["e2dnde"].unit == "erg / (s cm2)"
    assert table.meta["livetime_h"] == 50.0 and table.meta["alpha"] == 0.2
    # CTAO's 5 bins per decade from 25 GeV to 158 TeV.
    assert len(table) == 19
    assert table["e_min"][0] == pytest.approx(10**-1.6)
    # Longer observations are more sensitive in every bin.
    for short, long in ((0.5, 5.0), (5.0, 50.0)):
        assert np.all(tables[short]["e2dnde"] > tables[long]["e2dnde"])
    # The 50 h minimum: of order 1e-13 erg cm-2 s-1 at a few TeV (CTAO's curve).
    minimum = result["minima"]["50h"]
    assert 3e-14 < minimum["e2dnde"] < 3e-13
    assert 1 < minimum["e_ref_tev"] < 10
    assert result["parameters"]["minimum_50h"]["value"] == minimum["e2dnde"]
    # The ON region follows the PSF: it shrinks with energy.
    radius = table["on_radius"].quantity.to_value("deg")
    assert radius[0] > 2 * radius[10] and 0.02 < radius[10] < 0.1
    checks = {check["quantity"]: check for check in result["validation"]}
    assert checks["log10 minimum 50 h sensitivity"]["measured"] == pytest.approx(
        math.log10(minimum["e2dnde"])
    )


def test_plot(south):
    from matplotlib.image import imread

    output, result, _ = south
    assert "sensitivity.png" in result["products"]
    image = imread(output / "sensitivity.png")
    assert image.shape[1] > 600 and image[..., :3].std() > 0.05


def test_north_is_better_at_low_and_south_at_high_energies(south, tmp_path):
    _, _, tables = south
    result = run_usecase(
        "sensitivity",
        {"irf": "prod5-north-z20-50h", "livetimes_h": [5, 50]},
        tmp_path / "north",
        quiet=True,
    )
    north = Table.read(tmp_path / "north" / "sensitivity_50h.ecsv")
    south50 = tables[50.0]
    assert np.all(north["e_ref"] == south50["e_ref"])
    low, high = north["e_ref"] < 0.1, north["e_ref"] > 20
    # LSTs in the North; a large SST array in the South.
    assert np.all(north["e2dnde"][low] < south50["e2dnde"][low])
    assert np.all(north["e2dnde"][high] > south50["e2dnde"][high])
    assert all(check["verdict"] == "PASS" for check in result["validation"])


def test_legacy_irf_without_a_50_hour_curve(tmp_path):
    result = run_usecase(
        "sensitivity",
        {"irf": "1dc-south-z20-50h", "livetimes_h": [20, 5]},
        tmp_path / "1dc",
        quiet=True,
    )
    checks = [check["quantity"] for check in result["validation"]]
    assert checks == [
        "background-limited ratio / sqrt(t_long / t_short)",
        "signal-limited ratio / (t_long / t_short)",
    ]
    assert set(result["minima"]) == {"5h", "20h"}
    assert result["irf"]["legacy"]


@pytest.mark.verifies_requirement("C-SAT-0080")
def test_no_background_dominated_bin_fails_the_run(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"livetimes_h": [1, 10]}))
    output = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        ["run", "sensitivity", "-q", "--config", str(path), "--output", str(output)],
    )
    assert result.exit_code == 1
    assert "validation failed" in result.output
    assert "no background-dominated bin" in result.output
    # The products are there to look at.
    assert (output / "sensitivity_10h.ecsv").is_file()


@pytest.mark.verifies_requirement("C-SAT-0080")
def test_scaling_check_fails_a_wrong_curve(south):
    from sat.validation import Reference, compare

    _, _, tables = south
    wrong = {t: table.copy() for t, table in tables.items()}
    # A live time taken as 4x longer than it is: the curve is 4x too low.
    wrong[5.0]["e2dnde"] = wrong[5.0]["e2dnde"] / 4
    rows = scaling(wrong, 0.25)
    worst = max(
        (row["ratio_over_expected"] for row in rows if row["regime"] == "background"),
        key=lambda value: abs(value - 1),
    )
    reference = Reference("ratio", 1.0, background_tolerance(0.25, 5), "", "", 1, "")
    assert compare(reference, worst)["verdict"] == "FAIL"
    # Without a background-dominated bin there is nothing to check: a failure.
    rows = scaling({0.5: tables[0.5], 50.0: tables[50.0]}, 0.25)
    assert not [row for row in rows if row["regime"] == "background"]
    assert compare(reference, float("nan"))["verdict"] == "FAIL"


def test_energy_edges():
    edges = energy_edges(0.02, 199, 5).to_value("TeV")
    assert edges[0] == pytest.approx(10**-1.6) and edges[-1] == pytest.approx(10**2.2)
    assert np.allclose(np.diff(np.log10(edges)), 0.2)


@pytest.mark.verifies_requirement("C-SAT-0040")
@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"livetimes_h": [50]}, "key 'livetimes_h': List should have at least 2 items"),
        ({"livetimes_h": [-1, 50]}, "every live time must be positive"),
        ({"livetimes_h": [5, 5]}, "each live time at most once"),
        ({"irf": "nope"}, "unknown IRF 'nope'; known: prod5-south-z20-50h"),
        ({"energy_max_tev": 1000}, "energy range 0.02 - 1000 TeV is outside IRF"),
        ({"offset_deg": 6}, "outside the field of view of IRF"),
        ({"energy_min_tev": 1.1, "energy_max_tev": 1.5}, "no complete bin of 5"),
        ({"energy_min_tev": 10, "energy_max_tev": 1}, "must be larger than"),
    ],
)
def test_bad_inputs_give_one_line(tmp_path, config, message):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    output = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["run", "sensitivity", "--config", str(path), "--output", str(output)]
    )
    assert_user_error(result, message)
    assert not output.exists()
