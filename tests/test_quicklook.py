"""Quick-look products of real runs: maps, theta², ON/OFF numbers, first spectrum."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from sat.cli.main import main
from sat.errors import DataError
from sat.validation import Reference, compare
from tests.conftest import assert_user_error, hess_run_file

pytestmark = [
    pytest.mark.verifies_requirement("C-SAT-0190"),
    pytest.mark.verifies_usecase("SUSS-UC-SAT-090"),
]

CRAB_RUN = 23523
# Crab index of the H.E.S.S. DR1 1D analysis (Mohrmann et al. 2019, A&A 632, A72).
CRAB_INDEX = Reference(
    "index",
    2.63,
    0.07,
    "",
    "Mohrmann et al. 2019, A&A 632, A72 (4 Crab runs, 1D)",
    3.0,
    "one run, 6 energy bins, no tuning: the run's own statistical error dominates; "
    "3 sigma of the combined errors",
)


@pytest.fixture(scope="module")
def crab(gammapy_data, tmp_path_factory):
    """The CLI quick look of one Crab run (ring background), run once."""
    output = tmp_path_factory.mktemp("quicklook")
    result = CliRunner().invoke(
        main,
        [
            "quicklook",
            str(gammapy_data / "hess-dl3-dr1"),
            "--target",
            "Crab Nebula",
            "--obs-id",
            str(CRAB_RUN),
            "--output",
            str(output),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    return output, result.output


def test_crab_run_products_and_numbers(crab):
    output, printed = crab
    (summary,) = json.loads((output / "summary.json").read_text())
    folder = output / f"obs_{CRAB_RUN:06d}"
    assert json.loads((folder / "summary.json").read_text()) == summary
    assert summary["obs_id"] == CRAB_RUN
    assert summary["target_position"]["ra_deg"] == pytest.approx(83.633, abs=1e-3)
    # ON/OFF numbers in 0.11 deg around the Crab, mirrored OFF, one 28 min run.
    theta2 = summary["theta2"]
    assert theta2["n_on"] > 150 and theta2["n_off"] < 30
    assert theta2["significance"] > 10
    assert theta2["excess"] == pytest.approx(theta2["n_on"] - theta2["n_off"])
    # The ring-background map peaks at the Crab.
    maps = summary["maps"]
    assert maps["significance_at_target"] > 15
    assert maps["max_significance"] == pytest.approx(
        maps["significance_at_target"], rel=0.1
    )
    assert maps["counts"] > 1000
    fit = summary["spectrum"]["fit"]
    assert fit["success"]
    verdict = compare(CRAB_INDEX, fit["index"], fit["index_error"])
    assert verdict["verdict"] == "PASS", verdict
    # Amplitude at 1 TeV near 3e-11 cm-2 s-1 TeV-1 (Crab).
    assert 1.5e-11 < fit["amplitude"] < 5e-11
    assert summary["time_s"] < 60
    png = (folder / "quicklook.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000
    # The run's live time with its counts; the quick look's own duration said as
    # such.
    hours = summary["livetime_s"] / 3600
    assert f"obs {CRAB_RUN}: ON {theta2['n_on']} OFF {theta2['n_off']}" in printed
    assert f"sigma) in {hours:.2f} h live time, map max" in printed
    assert f"(looked at in {summary['time_s']:.1f} s)" in printed


def test_bare_dl3_file_gives_the_store_numbers(crab, gammapy_data, tmp_path):
    """A DL3 file with its IRFs, without a data store: the same quick look."""
    output, _ = crab
    (from_store,) = json.loads((output / "summary.json").read_text())
    data = gammapy_data / "hess-dl3-dr1" / "data"
    other = 23526
    files = [data / hess_run_file(obs_id) for obs_id in (CRAB_RUN, other)]
    arguments = [*map(str, files), "--obs-id", str(CRAB_RUN), "--output", tmp_path]
    result = CliRunner().invoke(main, ["quicklook", *map(str, arguments), "-q"])
    assert result.exit_code == 0, result.output
    (summary,) = json.loads((tmp_path / "summary.json").read_text())
    # The target comes from the file's header (RA_OBJ, DEC_OBJ), not an index.
    assert summary["target_position"]["from"] == "file RA_OBJ/DEC_OBJ (Crab Nebula)"
    assert summary["target_position"]["ra_deg"] == pytest.approx(83.633, abs=1e-3)
    for key in ("obs_id", "n_events", "livetime_s", "theta2"):
        assert summary[key] == from_store[key], key
    # The header's position differs from the obs-index's in the 6th decimal.
    assert summary["maps"] == pytest.approx(from_store["maps"], rel=1e-5)
    fit, expected = summary["spectrum"].pop("fit"), from_store["spectrum"].pop("fit")
    assert summary["spectrum"] == pytest.approx(from_store["spectrum"], rel=1e-5)
    assert fit["success"] and fit["index"] == pytest.approx(expected["index"], 1e-4)
    assert (tmp_path / f"obs_{CRAB_RUN:06d}" / "quicklook.png").is_file()
    assert not (tmp_path / f"obs_{other:06d}").exists()


def test_bare_files_bad_input_is_one_line(gammapy_data, tmp_path):
    from astropy.io import fits

    dl3 = gammapy_data / "hess-dl3-dr1" / "data" / hess_run_file(CRAB_RUN)
    # Events and GTI only, as ctao-simulate writes them (its IRFs sit elsewhere).
    events_only = tmp_path / "events.fits.gz"
    with fits.open(dl3) as hdus:
        fits.HDUList([hdus[0], hdus["EVENTS"], hdus["GTI"]]).writeto(events_only)
    runner = CliRunner()
    cases = [
        ([str(events_only)], "has no aeff, edisp, bkg IRF"),
        (
            [str(dl3), "--obs-id", "1"],
            f"runs [1] are not in the files given; they hold [{CRAB_RUN}]",
        ),
        ([str(dl3), "--target", "Crab"], "drop the target or give the data store"),
        ([str(tmp_path / "none.fits")], "does not exist"),
    ]
    for arguments, message in cases:
        result = runner.invoke(main, ["quicklook", *arguments, "-q"])
        assert_user_error(result, message)
    assert not (tmp_path / "quicklook").exists()


def test_fov_background_and_significance_peak(gammapy_data, tmp_path):
    """FoV background without a target: the significance peak is the Crab."""
    from sat.dl3.store import open_store
    from sat.quicklook import QuicklookSettings, quicklook_observation

    store = open_store(gammapy_data / "hess-dl3-dr1")
    # Hide the obs-index target position: the quick look must find the source.
    store.obs_table.remove_columns(["RA_OBJ", "DEC_OBJ"])
    summary = quicklook_observation(
        store,
        store.obs(CRAB_RUN),
        tmp_path,
        settings=QuicklookSettings(background="fov"),
    )
    position = summary["target_position"]
    assert position["from"].startswith("significance peak")
    assert position["ra_deg"] == pytest.approx(83.633, abs=0.05)
    assert position["dec_deg"] == pytest.approx(22.014, abs=0.05)
    assert summary["background"] == "fov"
    assert summary["theta2"]["significance"] > 10
    assert np.isfinite(summary["maps"]["max_significance"])


def test_errors_are_one_line(gammapy_data, tmp_path):
    from sat.quicklook import run_quicklook

    with pytest.raises(DataError, match="not a data store"):
        run_quicklook(tmp_path, tmp_path / "out")
    runner = CliRunner()
    store = str(gammapy_data / "hess-dl3-dr1")
    result = runner.invoke(main, ["quicklook", store, "--target", "Vega", "-q"])
    assert result.exit_code == 1
    assert "Crab" in result.output and "Traceback" not in result.output
    result = runner.invoke(main, ["quicklook", store, "--obs-id", "1", "-q"])
    assert result.exit_code == 1 and "[1]" in result.output
