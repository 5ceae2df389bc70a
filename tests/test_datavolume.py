"""The DL3+ data volume model: checked on DL3 files it did not make.

H.E.S.S. DR1 (real data) and CTA 1DC (simulated by ctools from their IRF): events
predicted from each run's live time and background IRF, event bytes from the row
width and the compression of the other runs. Simulated runs of our own are a
bookkeeping check only.
"""

from __future__ import annotations

import json
import math

import pytest
from astropy.io import fits
from astropy.table import Table
from click.testing import CliRunner

from sat.cli.main import main
from sat.datavolume import (
    Scenario,
    Site,
    check_against_files,
    check_real_runs,
    event_rate,
    measure_dl3,
    real_run_checks,
    simulate_runs,
    volume_table,
)

pytestmark = [
    pytest.mark.verifies_requirement("C-SAT-0200"),
    pytest.mark.verifies_usecase("SUSS-UC-SAT-100"),
]

IRF = "prod5-south-z20-50h"
HALF_WIDTH = 1.0
CRAB_FRACTION = 0.1


def test_bytes_per_event_of_the_hess_runs(gammapy_data):
    files = sorted((gammapy_data / "hess-dl3-dr1/data").glob("*.fits.gz"))[:4]
    measured = measure_dl3(files)
    with fits.open(files[0]) as hdul:
        row = hdul["EVENTS"].header["NAXIS1"]
    # Raw: the EVENTS row width exactly (FITS padding spread over the events).
    assert measured["bytes_per_event"]["raw"] == pytest.approx(row, abs=0.5)
    assert 0.3 * row < measured["bytes_per_event"]["gzip"] < row
    # H.E.S.S. DR1 carries its IRFs in every run file.
    assert measured["irf_bytes"]["gzip"] > 1e5
    assert measured["overhead_bytes"]["gzip"] < measured["overhead_bytes"]["raw"]


@pytest.fixture(scope="module")
def real(gammapy_data):
    """`check_real_runs` on every H.E.S.S. DR1 and CTA 1DC run."""
    from sat.dl3.store import open_store

    releases = {
        "H.E.S.S. DR1": open_store(gammapy_data / "hess-dl3-dr1"),
        "CTA 1DC": open_store(gammapy_data / "cta-1dc" / "index" / "gps"),
    }
    return check_real_runs(releases)


def test_per_run_predictions_hold_on_dl3_it_did_not_make(real):
    hess = [r for r in real if r["release"] == "H.E.S.S. DR1"]
    cta = [r for r in real if r["release"] == "CTA 1DC"]
    assert len(hess) == 30 and len(cta) == 2
    for row in cta:
        # ctobssim drew these events from the IRF: the background events (MC_ID
        # of its "Background model") are the IRF x live time, to Poisson noise.
        assert row["selection"]["declared"] and row["selection"]["radius_deg"] == 5
        assert abs(row["background_sigma"]) < 4, row
        # The rest are the gamma rays of the 1DC sky model (Galactic plane).
        assert row["events"] > row["background_events"]
    for row in hess:
        # A template without per-run normalisation: within a factor 2.
        assert row["background_sigma"] is None
        assert 0.5 < row["events_ratio"] < 2, row
    # Bytes per event: the format's row width x the compression of the others.
    for row in real:
        assert row["events_bytes_ratio"] == pytest.approx(1, abs=0.05), row
    assert {r["row_bytes"] for r in hess} == {28}
    assert {r["row_bytes"] for r in cta} == {36, 40}  # 111630 adds PHASE
    assert {r["compression"] for r in cta} == {"raw"}
    checks = real_run_checks(real)
    assert len(checks) == 3
    assert all(check["verdict"] == "PASS" for check in checks), checks


def _scaled(rows, release, events=1.0, event_bytes=1.0):
    """Rows as a wrong model would predict them (predictions x the factors)."""
    wrong = []
    for row in rows:
        row = dict(row)
        if row["release"] == release:
            predicted = row["predicted_events"] * events
            row["predicted_events"] = predicted
            row["events_ratio"] = row["events"] / predicted
            if row["background_events"] is not None:
                row["background_sigma"] = (
                    row["background_events"] - predicted
                ) / math.sqrt(predicted)
            row["events_bytes_ratio"] /= event_bytes
        wrong.append(row)
    return wrong


@pytest.mark.parametrize(
    ("release", "factors", "failing"),
    [
        # ONTIME taken for LIVETIME (1800 s instead of 1764 s): 2 % more events.
        ("CTA 1DC", {"events": 1800 / 1764}, "simulated background"),
        # A field 0.1 deg wider than the declared 5 deg circle: 4 % more.
        ("CTA 1DC", {"events": (5.1 / 5) ** 2}, "simulated background"),
        # The H.E.S.S. row width (28 bytes) taken for the 1DC format (36, 40).
        ("CTA 1DC", {"event_bytes": 28 / 36}, "event bytes"),
        # Real runs predicted from a background 3x too high.
        ("H.E.S.S. DR1", {"events": 3.0}, "events of real runs"),
    ],
)
def test_a_wrong_prediction_fails(real, release, factors, failing):
    checks = real_run_checks(_scaled(real, release, **factors))
    failed = [check["quantity"] for check in checks if check["verdict"] == "FAIL"]
    assert len(failed) == 1 and failed[0].startswith(failing), checks


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """Simulated runs of several live times and offsets, and their predicted rates."""
    cases = [(0.1, 0.5), (0.2, 0.5), (0.3, 1.2)]
    files = simulate_runs(
        IRF, cases, tmp_path_factory.mktemp("runs"), HALF_WIDTH, CRAB_FRACTION
    )
    rates = []
    for (_, offset), (_, livetime) in zip(cases, files, strict=True):
        rate = event_rate(IRF, HALF_WIDTH, crab_fraction=CRAB_FRACTION, offset=offset)
        rates.append((rate["background_hz"] + rate["gamma_hz"], livetime))
    return files, rates


def test_bookkeeping_agrees_with_runs_simulated_from_the_same_model(simulated):
    files, rates = simulated
    # Bytes per event measured on the first run, sizes predicted for the others.
    measured = measure_dl3([files[0][0]])
    rows = check_against_files([f for f, _ in files[1:]], rates[1:], measured)
    for row in rows:
        # The event count is Poisson around the IRF prediction: 4 sigma.
        assert abs(row["poisson_sigma"]) < 4, row
        assert row["events_ratio"] == pytest.approx(1, abs=0.05)
        # gzip packs longer runs slightly better: 15 %.
        assert row["bytes_ratio"] == pytest.approx(1, abs=0.15), row


def test_volume_table_and_retention():
    scenario = Scenario(
        years=3,
        sites={"ctao-south": Site(irf=IRF, hours_per_year=1000)},
        run_minutes=30,
        irf_bytes_per_run=1e5,
        retention_years={"DL4 per run": 1, "quick-look": 2},
    )
    measured = {
        "bytes_per_event": {"raw": 30.0, "gzip": 20.0},
        "overhead_bytes": {"raw": 2e4, "gzip": 2e3},
    }
    rates = {"ctao-south": {"background_hz": 50.0, "gamma_hz": 0.5}}
    table = volume_table(scenario, measured, {"3d": 1e6, "1d": 1e4}, rates)
    assert len(table) == 3 * 6
    dl3 = table[table["level"] == "DL3 events"]
    runs = 1000 * 60 / 30
    per_run = 50.5 * 1800 * 20 + 2e3
    assert dl3["runs"][0] == runs
    assert dl3["produced_bytes"][0] == pytest.approx(runs * per_run)
    assert list(dl3["stored_bytes"]) == pytest.approx(
        [runs * per_run * y for y in (1, 2, 3)]
    )
    dl4 = table[table["level"] == "DL4 per run"]
    assert list(dl4["stored_bytes"]) == pytest.approx([runs * 1.01e6] * 3)
    quick = table[table["level"] == "quick-look"]
    assert quick["stored_bytes"][2] == pytest.approx(2 * quick["produced_bytes"][2])
    irfs = table[table["level"] == "DL3 IRFs"]
    assert irfs["produced_bytes"][0] == pytest.approx(runs * 1e5)


def test_cli_writes_table_plot_and_assumptions(gammapy_data, tmp_path):
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        "years: 2\n"
        "sites:\n  ctao-north:\n    irf: prod5-north-z20-50h\n    hours_per_year: 800\n"
        f"fov_half_width_deg: {HALF_WIDTH}\n"
        "dl4_width_deg: 1.0\n"
    )
    run = gammapy_data / "hess-dl3-dr1/data/hess_dl3_dr1_obs_id_023523.fits.gz"
    output = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        [
            "datavolume",
            "--scenario",
            str(scenario),
            "--measure",
            str(run),
            "--output",
            str(output),
            "--no-check",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "ctao-north" in result.output and "Hz background" in result.output
    assert "per-run predictions NOT checked (--no-check)" in result.output
    assert "(model-only)" in result.output
    table = Table.read(output / "datavolume.ecsv")
    assert set(table["year"]) == {1, 2} and set(table["site"]) == {"ctao-north"}
    assumptions = json.loads((output / "assumptions.json").read_text())
    rate = assumptions["event_rates_hz"]["ctao-north"]
    # The prod5 North background in 2 x 2 deg: tens of Hz over 0.03-200 TeV.
    assert 1 < rate["background_hz"] < 100 and 0 < rate["gamma_hz"] < 1
    assert "hours_per_year" not in assumptions["descriptions"]  # a Site field
    assert "run_minutes" in assumptions["descriptions"]
    events = table[(table["level"] == "DL3 events") & (table["year"] == 1)]
    runs = 800 * 60 / 28
    assert events["runs"][0] == round(runs)
    total_rate = rate["background_hz"] + rate["gamma_hz"]
    assert events["events_per_run"][0] == round(total_rate * 28 * 60)
    assert (output / "datavolume.png").read_bytes()[:4] == b"\x89PNG"
    assert math.isfinite(float(table["stored_bytes"].sum()))


def test_cli_bad_scenario_is_one_line(tmp_path):
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("yeers: 2\n")
    result = CliRunner().invoke(main, ["datavolume", "--scenario", str(scenario)])
    assert result.exit_code == 1
    assert "yeers" in result.output and "Traceback" not in result.output


def test_cli_checks_on_real_dl3_and_says_what_is_model_only(
    gammapy_data, tmp_path, monkeypatch, real
):
    import sat.datavolume

    # The runs were checked by the fixture: reuse them, a wrong one fails.
    monkeypatch.setattr(sat.datavolume, "check_real_runs", lambda *a, **k: real)
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        "years: 1\nsites:\n  ctao-south:\n    irf: prod5-south-z20-50h\n"
        f"fov_half_width_deg: {HALF_WIDTH}\ndl4_width_deg: 1.0\n"
    )
    run = gammapy_data / "hess-dl3-dr1/data/hess_dl3_dr1_obs_id_023523.fits.gz"
    arguments = ["datavolume", "--scenario", str(scenario), "--measure", str(run)]
    output = tmp_path / "out"
    result = CliRunner().invoke(main, [*arguments, "--output", str(output), "-q"])
    assert result.exit_code == 0, result.output
    assert "checked on DL3 files it did not make" in result.output
    assert "H.E.S.S. DR1 30 runs, CTA 1DC 2 runs" in result.output
    assert result.output.count("  PASS  ") == 3
    assert "model-only (no file or public figure checks these)" in result.output
    assert "none for DL3+" in result.output
    assumptions = json.loads((output / "assumptions.json").read_text())
    assert assumptions["validation"]["details"] == "real_runs.json"
    assert len(json.loads((output / "real_runs.json").read_text())) == 32
    assert assumptions["public_figures"] and assumptions["model_only"]

    wrong = _scaled(real, "CTA 1DC", events=1800 / 1764)
    monkeypatch.setattr(sat.datavolume, "check_real_runs", lambda *a, **k: wrong)
    output = tmp_path / "wrong"
    result = CliRunner().invoke(main, [*arguments, "--output", str(output), "-q"])
    assert result.exit_code == 1
    assert "validation failed for simulated background events" in result.output
    assert "Traceback" not in result.output
    assert (output / "datavolume.ecsv").is_file()
