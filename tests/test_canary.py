"""The canary reports doctor and test failures of an environment, and never fails."""

import json

import pytest

from satdev import canary

pytestmark = pytest.mark.verifies_requirement("C-SAT-0020")


def test_canary_report_on_a_real_doctor_and_test_run(tmp_path, capsys):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_probe.py").write_text(
        "def test_ok():\n    pass\n\n"
        "def test_broken():\n    raise ImportError('regions removed a helper')\n"
    )
    output = tmp_path / "report"
    assert canary.main(["--output", str(output), str(suite)]) == 0
    report = json.loads((output / "report.json").read_text())
    # This environment is the release: nothing newer, doctor passes.
    assert report["upstream_newer"] == []
    assert report["doctor_ok"] is True
    assert report["tests"]["total"] == 2
    [failure] = report["tests"]["failed"]
    assert failure["test"].endswith("test_broken")
    assert "regions removed a helper" in failure["message"]
    assert report["breaks"] is True
    markdown = (output / "report.md").read_text()
    assert "1 of 2 failed" in markdown and "BREAKS" in markdown
    assert markdown in capsys.readouterr().out


def test_render_lists_upstream_drift_and_doctor_failures():
    report = {
        "upstream_newer": [{"name": "regions", "pinned": "0.11", "upstream": "0.13"}],
        "doctor_ok": False,
        "doctor_failures": [{"name": "regions", "detail": "found 0.13"}],
        "tests": {"ran": False, "failed": []},
        "breaks": True,
    }
    text = canary.render(report)
    assert "| regions | 0.11 | 0.13 |" in text
    assert "## ctao-sat doctor: FAIL" in text and "- regions: found 0.13" in text
