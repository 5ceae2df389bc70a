"""The command line: fast start, versions, info, and user errors without tracebacks."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

import sat
from sat.cli import main

pytestmark = pytest.mark.verifies_requirement("C-SAT-0040")


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"ctao-sat, version {sat.__version__}"


def test_help_does_not_import_the_scientific_stack():
    code = (
        "import sys; from sat.cli import main\n"
        "try:\n    main(['--help'], prog_name='ctao-sat')\n"
        "except SystemExit:\n    pass\n"
        "heavy = {'gammapy', 'astropy', 'numpy', 'pint', 'naima', 'yaml'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "Usage: ctao-sat" in out
    assert out.strip().splitlines()[-1] == "[]"


def test_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(main, ["frobnicate"])
    assert result.exit_code == 2
    assert "No such command 'frobnicate'" in result.output
    assert "Traceback" not in result.output


def test_unknown_option_is_a_usage_error():
    result = CliRunner().invoke(main, ["info", "--colour"])
    assert result.exit_code == 2
    assert "No such option" in result.output


def test_info_table_shows_expected_and_installed():
    result = CliRunner().invoke(main, ["info"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    regions = next(line for line in lines if line.startswith("regions "))
    assert regions.split()[1:3] == ["0.11", "0.11"]
    assert "Offline readiness" in result.output
    assert "GAMMAPY_DATA" in result.output


def test_info_json():
    result = CliRunner().invoke(main, ["info", "--json"])
    payload = json.loads(result.output)
    assert payload["release"]["version"] == sat.__version__
    assert all(row["ok"] for row in payload["packages"])
    assert payload["offline"]["GAMMAPY_DATA"]["ready"] is True
    assert payload["offline"]["IERS tables"]["ready"] is True
