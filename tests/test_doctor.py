"""`ctao-sat doctor`: the pinned environment passes, broken ones are named."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from sat import doctor, stack
from sat.cli import main
from tests.conftest import REPO

pytestmark = pytest.mark.verifies_requirement("C-SAT-0020")


@pytest.fixture(scope="module")
def checks():
    return doctor.run_checks()


def test_every_check_passes_in_the_pinned_environment(checks):
    failed = [f"{c.name}: {c.detail}" for c in checks if c.status == doctor.FAIL]
    assert failed == []
    names = [check.name for check in checks]
    components = [pin.name for pin in stack.load_pins() if pin.component]
    assert names[0] == "python"
    assert names[1 : 1 + len(components)] == components


def test_smoke_checks_report_real_results(checks):
    by_name = {check.name: check for check in checks}
    assert "index 2.5" in by_name["gammapy"].detail
    assert "61.48" in by_name["pint-pulsar"].detail
    assert "erg cm-2 s-1" in by_name["naima"].detail


def test_doctor_cli_json():
    result = CliRunner().invoke(main, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["ok"] is True
    assert {c["status"] for c in payload["checks"]} <= {"PASS", "WARN"}


def test_doctor_cli_table():
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 0
    assert result.output.splitlines()[0].startswith("PASS  python")
    assert "checks passed" in result.output


def test_missing_and_wrong_components_are_named():
    pin = next(p for p in stack.load_pins() if p.name == "naima")
    missing = doctor._check_component(pin, None)
    assert missing.status == doctor.FAIL
    assert "not installed, expected 0.10.4" in missing.detail
    assert "naima==0.10.4" in missing.fix
    wrong = doctor._check_component(pin, "0.9.0")
    assert "found 0.9.0, expected 0.10.4" in wrong.detail


def test_dependency_drift_is_reported():
    pin = next(p for p in stack.load_pins() if p.name == "tqdm")
    check = doctor._check_dependencies([(pin, "4.0.0")])
    assert check.status == doctor.FAIL
    assert "tqdm 4.0.0 (expected 4.70.1)" in check.detail
    assert "'tqdm==4.70.1'" in check.fix


def test_gammapy_data_pointing_nowhere_fails_the_doctor(monkeypatch, tmp_path):
    monkeypatch.setenv("GAMMAPY_DATA", str(tmp_path / "nowhere"))
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 1
    assert "GAMMAPY_DATA" in result.output and "does not exist" in result.output
    assert "Traceback" not in result.output


@pytest.mark.verifies_requirement("C-SAT-0010")
def test_doctor_names_regions_in_a_real_gammapy_2_1_regions_0_12_install(tmp_path):
    """Install gammapy 2.1 with regions 0.12 for real: doctor must name regions."""
    uv = shutil.which("uv")
    assert uv, "uv is a test dependency (pyproject [test] extra)"
    venv = tmp_path / "broken"
    subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    # The release exactly, except regions 0.12 (what upstream metadata allows).
    stack_pins = [p.requirement for p in stack.load_pins() if p.name != "regions"]
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    install = [uv, "pip", "install", "-q", "-p", str(python)]
    subprocess.run([*install, *stack_pins, "regions==0.12"], check=True, env=env)
    # sat's own metadata refuses regions 0.12, so pip users are protected; here we
    # force it in to prove the doctor catches what such an environment does.
    subprocess.run([*install, "--no-deps", str(REPO)], check=True, env=env)
    result = subprocess.run(
        [str(venv / "bin" / "ctao-sat"), "doctor"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 1
    out = result.stdout + result.stderr
    assert "FAIL  regions" in out and "found 0.12, expected 0.11" in out
    # gammapy itself is broken by it, and the doctor says why.
    assert "FAIL  gammapy" in out and "pixel_scale_angle_at_skycoord" in out
    assert "Traceback" not in out
