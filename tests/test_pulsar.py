"""The pulsar use case: PINT timing of PSR J0030+0451 and phase-resolved Vela.

The default analysis runs once (module fixture) with every non-loopback socket
blocked and every astropy download attempt recorded, so that nothing can pass only
because PINT swallowed a failed download. Further runs check a broken timing model
(the validation must fail), other phase ranges, and the one-line errors.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from sat import offline
from sat.cli.main import main
from sat.config import load_config
from sat.errors import ConfigError, DataError
from sat.result import RESULT
from sat.usecases.pulsar import DEFAULT_EVENTS, PulsarConfig
from sat.usecases.runner import run_usecase
from tests.conftest import _loopback_only

pytestmark = [
    pytest.mark.verifies_usecase("SUSS-UC-SAT-070"),
    pytest.mark.verifies_requirement("C-SAT-0070"),
]

# Measured with the pinned stack (pint-pulsar 1.1.8, DE421) on the default files.
H_WEIGHTED, H_UNWEIGHTED, N_PHOTONS = 3081.31, 2720.11, 6973
VELA = {"n_on": 117, "n_off": 219, "excess": 44.0, "truth": 35.0}
TRUTH_INDEX = "index - index of the simulated pulsar photons"


@pytest.fixture(scope="module")
def offline_guard():
    """Block the network and record every download astropy attempts.

    Module scoped, so it covers the module fixtures (which run before the
    function-scoped network block of conftest).
    """
    import astropy.utils.data as astropy_data

    attempts = []
    original = astropy_data._download_file_from_source

    def recording(source_url, *args, **kwargs):
        attempts.append(source_url)
        return original(source_url, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", _loopback_only)
        patch.setattr(astropy_data, "_download_file_from_source", recording)
        yield attempts


def _forget_pint_clocks():
    """Forget the clock files PINT loaded earlier in this test process.

    PINT reads the GPS and BIPM clock files once per process (module globals) and
    logs where they came from only then: after a pulsar run earlier in the session
    (tests/test_plots.py) this run's pint.log would not say it, as a fresh
    ``ctao-sat run pulsar`` does.
    """
    import pint.observatory

    pint.observatory._gps_clock = None
    pint.observatory._bipm_clock_versions.clear()


@pytest.fixture(scope="module")
def pulsar(tmp_path_factory, offline_guard):
    """The default analysis (J0030 timing + Vela), run once: (output, result)."""
    _forget_pint_clocks()
    output = tmp_path_factory.mktemp("pulsar") / "default"
    result = run_usecase("pulsar", None, output, quiet=True)
    return output, result


def checks(result) -> dict:
    """The validation verdicts by quantity."""
    return {check["quantity"]: check for check in result["validation"]}


@pytest.mark.verifies_requirement("C-SAT-0080")
def test_j0030_h_test_detects_the_pulsar(pulsar):
    _, result = pulsar
    timing = result["timing"]
    assert timing["pulsar"] == "J0030+0451"
    assert timing["n_photons"] == N_PHOTONS
    assert timing["weight_column"] == "PSRJ0030+0451"
    # The file keeps photons with weight > 0.4.
    assert 0.4 * N_PHOTONS < timing["sum_weights"] < N_PHOTONS
    assert timing["h_test"] == pytest.approx(H_WEIGHTED, rel=1e-4)
    assert timing["h_test_unweighted"] == pytest.approx(H_UNWEIGHTED, rel=1e-4)
    # Weights favour pulsar photons: the weighted H-test is the stronger one.
    assert timing["h_test"] > timing["h_test_unweighted"] > 1380
    assert timing["h_test_sigma"] > 50
    # Fermi mission, 2008-08 to 2015-07.
    assert 54680 < timing["mjd_range"][0] < timing["mjd_range"][1] < 57220
    check = checks(result)["h_test"]
    assert check["verdict"] == "PASS"
    assert check["minimum"] == 1380 and check["maximum"] is None


@pytest.mark.verifies_requirement("C-SAT-0050")
def test_pint_ran_offline_on_the_staged_clock_files(pulsar, offline_guard):
    _, result = pulsar
    staged = Path(os.environ["GAMMAPY_DATA"], "pulsar", "clock-corrections")
    used = result["timing"]["offline"]
    # Nothing was even attempted: a swallowed failed download would show here.
    assert offline_guard == []
    # The absolute phase refers to a TOA at GBT (TZRSITE 1): GPS and GBT clocks.
    names = {Path(path).name for path in used["clock_files"]}
    assert {"gps2utc.clk", "time_gbt.dat"} <= names
    # Each is the staged file itself (a file from PINT's global repository would
    # be named without a folder).
    for path in used["clock_files"]:
        assert Path(path).parent == staged.absolute(), path
    assert used["ephemeris"] == str(offline.de421_path())
    assert used["clock_files_seeded"] > 50
    assert set(used["clock_files_not_staged"]) == {
        "jb2gps.clk",
        "mk2utc.clk",
        "mk2utc_observatory.clk",
        "time_jb.dat",
    }
    from pint import solar_system_ephemerides

    assert solar_system_ephemerides.loaded_ephems["de421"] == used["ephemeris"]


def test_phases_product_reproduces_the_h_test(pulsar):
    output, result = pulsar
    from astropy.table import Table
    from pint.eventstats import hmw

    table = Table.read(output / "timing" / "phases.fits")
    assert len(table) == N_PHOTONS
    phases, weights = np.asarray(table["PULSE_PHASE"]), np.asarray(table["WEIGHT"])
    assert phases.min() >= 0 and phases.max() < 1
    assert float(hmw(phases, weights)) == pytest.approx(result["timing"]["h_test"])
    # The file's own PULSE_PHASE comes from a newer ephemeris than the psrcat par
    # file: same pulse, drifting by a few hundredths of a cycle over 7 years.
    from astropy.io import fits

    own = fits.getdata(
        Path(os.environ["GAMMAPY_DATA"], "pulsar", "pint-examples", DEFAULT_EVENTS)
    )["PULSE_PHASE"]
    difference = np.angle(np.mean(np.exp(2j * np.pi * (phases - own)))) / 2 / np.pi
    spread = np.std((phases - own - difference + 0.5) % 1 - 0.5)
    assert spread < 0.05


@pytest.mark.verifies_requirement("C-SAT-0080")
def test_vela_phase_resolved_excess_and_spectrum(pulsar):
    _, result = pulsar
    vela = result["phase_resolved"]
    assert (vela["n_on"], vela["n_off"]) == (VELA["n_on"], VELA["n_off"])
    assert vela["alpha"] == pytest.approx(1 / 3)
    assert vela["excess"] == pytest.approx(VELA["excess"])
    assert vela["excess_error"] == pytest.approx(np.sqrt(117 + 219 / 9))
    assert vela["true_pulsed_excess"] == pytest.approx(VELA["truth"])
    assert 3.0 < vela["sqrt_ts"] < 5.0
    assert vela["fit"]["success"]
    index = result["parameters"]["index"]
    # With the exposure corrected for the PSF share inside 0.2 deg (without it:
    # 3.46 +- 0.66, ~0.3 too hard).
    assert index["value"] == pytest.approx(3.71, abs=0.01)
    assert index["error"] == pytest.approx(0.75, abs=0.01)
    # The simulated pulsar photons alone, through the same dataset.
    truth = vela["true_photons_index"]
    assert truth["on_phase"]["value"] == pytest.approx(4.05, abs=0.01)
    assert truth["on_phase"]["error"] == pytest.approx(0.47, abs=0.01)
    assert truth["all_phases"]["value"] == pytest.approx(4.18, abs=0.01)
    # ... consistent with the 1DC input (4.5) within their own error.
    assert abs(truth["all_phases"]["value"] - 4.5) < truth["all_phases"]["error"]
    verdicts = checks(result)
    assert set(verdicts) == {"h_test", "excess", "sqrt_ts", "index", TRUTH_INDEX}
    assert all(check["verdict"] == "PASS" for check in verdicts.values())
    assert verdicts["index"]["value"] == 4.5
    assert verdicts["excess"]["value"] == pytest.approx(VELA["truth"])
    difference = verdicts[TRUTH_INDEX]
    assert difference["measured"] == pytest.approx(
        index["value"] - truth["on_phase"]["value"]
    )
    # Nested fits: the spread is what the background adds.
    assert difference["measured_error"] == pytest.approx(
        np.sqrt(index["error"] ** 2 - truth["on_phase"]["error"] ** 2)
    )


@pytest.mark.verifies_requirement("C-SAT-0080")
def test_an_unscaled_off_phase_fails_the_truth_check(pulsar):
    from gammapy.datasets import SpectrumDatasetOnOff

    from sat.validation import Reference, compare

    output, result = pulsar
    vela = result["phase_resolved"]
    path = output / "phase_resolved" / "dataset.fits"
    # OFF not scaled by the ratio of phase widths (alpha 1 instead of 1/3).
    wrong = SpectrumDatasetOnOff.read(path)
    wrong.acceptance_off = wrong.acceptance
    info = wrong.info_dict()
    excess_error = np.sqrt(info["counts"] + info["counts_off"])
    reference = Reference("excess", vela["true_pulsed_excess"], 0, "", "", 3, "")
    assert compare(reference, float(info["excess"]), excess_error)["verdict"] == "FAIL"
    # The index cannot tell: at 40-400 GeV the unpulsed background has nearly
    # the pulsar's spectrum (ON counts alone fit 3.62), so one run's index only
    # catches shape errors larger than ~1 (2 x 0.56, the background's share of
    # the index error). The excess above is what catches a wrong background.
    assert vela["excess_error"] == pytest.approx(11.9, abs=0.1)


def test_products_and_result_json(pulsar):
    output, result = pulsar
    from gammapy.datasets import SpectrumDatasetOnOff
    from gammapy.estimators import FluxPoints
    from gammapy.modeling.models import Models

    written = json.loads((output / RESULT).read_text())
    assert written["usecase"] == "pulsar"
    assert written["usecase_id"] == "SUSS-UC-SAT-070"
    assert written["products"] == sorted(written["products"])
    for product in written["products"]:
        path = output / product
        assert path.is_file() and path.stat().st_size > 0, product
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # PINT's own log says it took the staged files over its global repository's.
    log = (output / "timing" / "pint.log").read_text()
    assert "gps2utc.clk overrides global clock file" in log
    models = Models.read(output / "phase_resolved" / "model.yaml")
    index = models["pulsar"].spectral_model.index.value
    assert index == pytest.approx(result["parameters"]["index"]["value"])
    dataset = SpectrumDatasetOnOff.read(output / "phase_resolved" / "dataset.fits")
    assert dataset.counts.data[dataset.mask_safe.data].sum() == VELA["n_on"]
    points = FluxPoints.read(output / "phase_resolved" / "flux_points.ecsv")
    assert len(points.energy_ref) == 6
    inputs = {Path(item["path"]).name for item in written["provenance"]["inputs"]}
    assert {DEFAULT_EVENTS, "PSRJ0030+0451_psrcat.par"} <= inputs
    assert "gps_baseline_111630.fits" in inputs


@pytest.mark.verifies_requirement("C-SAT-0080")
def test_wrong_timing_model_fails_the_validation(tmp_path, pulsar):
    # F0 off by 1 uHz: ~200 cycles of drift over 7 years smear the pulse away.
    examples = Path(os.environ["GAMMAPY_DATA"], "pulsar", "pint-examples")
    par = (examples / "PSRJ0030+0451_psrcat.par").read_text()
    wrong = tmp_path / "wrong.par"
    wrong.write_text(par.replace("205.530699274922", "205.530700274922"))
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump({"timing": {"par_file": str(wrong)}, "phase_resolved": None})
    )
    output = tmp_path / "out"
    outcome = CliRunner().invoke(
        main, ["run", "pulsar", "--config", str(config), "--output", str(output), "-q"]
    )
    assert outcome.exit_code == 1
    assert "validation failed for h_test" in outcome.output
    assert "Traceback" not in outcome.output
    result = json.loads((output / RESULT).read_text())
    assert result["timing"]["h_test"] < 100
    assert checks(result)["h_test"]["verdict"] == "FAIL"
    assert "phase_resolved" not in result


def test_other_phase_ranges_keep_the_truth_check(tmp_path, pulsar):
    on = [[0.3, 0.4], [0.5, 0.6]]
    result = run_usecase(
        "pulsar",
        {"timing": None, "phase_resolved": {"on_phase": on, "phase_bins": 20}},
        tmp_path / "out",
        quiet=True,
    )
    vela = result["phase_resolved"]
    assert vela["on_phase"] == on
    assert vela["alpha"] == pytest.approx(2 / 3)
    # The threshold was derived for the default ranges only.
    assert set(checks(result)) == {"excess", "index", TRUTH_INDEX}
    assert all(check["verdict"] == "PASS" for check in result["validation"])
    assert vela["true_pulsed_excess"] > VELA["truth"]
    assert "timing" not in result


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"timing": None, "phase_resolved": None}, "nothing to do"),
        ({"phase_resolved": {"on_phase": [[0.6, 0.5]]}}, "start < stop"),
        ({"phase_resolved": {"on_phase": [[0.5, 1.2]]}}, "start < stop"),
        ({"phase_resolved": {"off_phase": [[0.55, 0.8]]}}, "overlaps"),
        ({"phase_resolved": {"on_phase": []}}, "at least one"),
        ({"phase_resolved": {"fit_energy_tev": [0.4, 0.04]}}, "energy_min"),
        ({"timing": {"phase_bin": 10}}, "unknown key 'timing.phase_bin'"),
    ],
)
def test_bad_config_is_one_line(overrides, message):
    with pytest.raises(ConfigError, match=message) as error:
        load_config(PulsarConfig, overrides)
    assert "\n" not in str(error.value)


def test_missing_clock_files_name_the_download(tmp_path, pulsar):
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump({"clock_dir": str(tmp_path / "nowhere"), "phase_resolved": None})
    )
    outcome = CliRunner().invoke(
        main,
        ["run", "pulsar", "--config", str(config), "--output", str(tmp_path / "o")],
    )
    assert outcome.exit_code == 1
    lines = outcome.output.strip().splitlines()
    assert lines[-1].startswith("Error: PINT clock corrections not found")
    assert "ctao-sat data download pulsar-clock-corrections" in lines[-1]
    assert "Traceback" not in outcome.output
    assert not (tmp_path / "o").exists()


def test_missing_dataset_names_the_download(tmp_path, monkeypatch):
    monkeypatch.setenv("GAMMAPY_DATA", str(tmp_path))
    with pytest.raises(DataError, match="ctao-sat data download pint-examples"):
        run_usecase("pulsar", {"phase_resolved": None}, tmp_path / "o", quiet=True)
    with pytest.raises(DataError, match="ctao-sat data download cta-1dc"):
        run_usecase("pulsar", {"timing": None}, tmp_path / "o", quiet=True)


def test_bad_inputs_are_one_line_errors(tmp_path, pulsar):
    with pytest.raises(DataError, match=r"key 'timing\.par_file': no file nope\.par"):
        run_usecase(
            "pulsar",
            {"timing": {"par_file": "nope.par"}, "phase_resolved": None},
            tmp_path / "a",
            quiet=True,
        )
    with pytest.raises(ConfigError, match="no column 'WEIGHTS' in"):
        run_usecase(
            "pulsar",
            {"timing": {"weight_column": "WEIGHTS"}, "phase_resolved": None},
            tmp_path / "b",
            quiet=True,
        )
    with pytest.raises(DataError, match="run 4242 is not in the CTA 1DC index"):
        run_usecase(
            "pulsar",
            {"timing": None, "phase_resolved": {"obs_id": 4242}},
            tmp_path / "c",
            quiet=True,
        )
    with pytest.raises(DataError, match="run 110380 has no PHASE column"):
        run_usecase(
            "pulsar",
            {"timing": None, "phase_resolved": {"obs_id": 110380}},
            tmp_path / "d",
            quiet=True,
        )
