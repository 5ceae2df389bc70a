"""quicklook, check and datavolume run through the use cases' runner.

Each writes the same `sat.result.Result` (result.json) as ``ctao-sat run``: its
products listed, its checks, its provenance; with no output folder the runner
keeps nothing on disk and returns the result.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from sat.cli.main import main
from sat.errors import ValidationFailed
from sat.result import RESULT, BoundsCheck, Result
from sat.usecases.operations import OPERATIONS, Check, DataVolume, Quicklook
from sat.usecases.runner import run
from tests.conftest import hess_run_file

pytestmark = [
    pytest.mark.verifies_requirement("C-SAT-0070"),
    pytest.mark.verifies_requirement("C-SAT-0190"),
    pytest.mark.verifies_requirement("C-SAT-0324"),
]


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_quicklook_writes_a_result_like_a_use_case(gammapy_data, tmp_path):
    output = tmp_path / "ql"
    config = {
        "paths": [str(gammapy_data / "hess-dl3-dr1")],
        "obs_ids": [23523],
        "settings": {"spectrum_bins": 4},
    }
    result = run(Quicklook, config, output, quiet=True)
    written = Result.read(output)
    assert written == result
    assert (written.usecase, written.usecase_id) == ("quicklook", "SUSS-UC-SAT-090")
    # Every file is a product, and the products are every file.
    assert _files(output) == {*written.products, RESULT}
    assert {"obs_023523/quicklook.png", "summary.json"} <= set(written.products)
    (looked_at,) = written.validation
    assert looked_at.passed and looked_at.measured == looked_at.value == 1
    assert written["runs"][0]["obs_id"] == 23523
    assert written.summary[0].startswith("obs 23523: ON ")
    assert "in 0.44 h live time" in written.summary[0]
    assert written.provenance.config["settings"]["spectrum_bins"] == 4


def test_check_without_output_keeps_nothing_and_fails_a_bad_file(
    gammapy_data, tmp_path
):
    good = gammapy_data / "hess-dl3-dr1" / "data" / hess_run_file(23523)
    bad = tmp_path / "cut.fits.gz"
    bad.write_bytes(good.read_bytes()[:20000])
    scratch = set(Path(tempfile.gettempdir()).glob("ctao-sat-check-*"))
    with pytest.raises(ValidationFailed, match="FAIL findings of obs None") as error:
        run(Check, {"paths": [str(good), str(bad)]}, quiet=True)
    result = error.value.result
    assert error.value.output is None
    assert set(Path(tempfile.gettempdir()).glob("ctao-sat-check-*")) == scratch
    verdicts = [check.verdict for check in result.validation]
    assert verdicts in (["PASS", "FAIL"], ["WARN", "FAIL"])
    assert all(isinstance(check, BoundsCheck) for check in result.validation)
    assert result.summary == [f"2 observations: {_counts(verdicts)}"]
    assert result["verdict"] == "FAIL" and result.products == []


def _counts(verdicts) -> str:
    return ", ".join(f"{verdicts.count(v)} {v}" for v in ("PASS", "WARN", "FAIL"))


def test_check_writes_its_result_when_asked(gammapy_data, tmp_path):
    good = gammapy_data / "hess-dl3-dr1" / "data" / hess_run_file(23523)
    output = tmp_path / "verdicts"
    outcome = CliRunner().invoke(
        main, ["check", str(good), "--output", str(output), "--json"]
    )
    assert outcome.exit_code == 0, outcome.output
    printed = json.loads(outcome.stdout)
    written = Result.read(output)
    assert (
        written.usecase == "check"
        and written["observations"] == printed["observations"]
    )
    assert [check.passed for check in written.validation] == [True]


def test_datavolume_result_has_its_checks_and_totals(gammapy_data, tmp_path):
    run_file = gammapy_data / "hess-dl3-dr1" / "data" / hess_run_file(23523)
    config = {
        "scenario": {
            "years": 1,
            "sites": {"ctao-south": {"irf": "prod5-south-z20-50h"}},
            "fov_half_width_deg": 1.0,
            "dl4_width_deg": 1.0,
        },
        "measure": [str(run_file)],
        "check": False,
    }
    assert DataVolume().required_datasets(DataVolume.Config(**config)) == ("cta-caldb",)
    output = tmp_path / "volume"
    result = run(DataVolume, config, output, quiet=True)
    assert result.usecase_id == "SUSS-UC-SAT-100" and result.validation == []
    assert result.parameters["stored_tb"].unit == "TB"
    assert result.parameters["stored_tb"].value == pytest.approx(
        sum(result["stored_gb"].values()) / 1e3
    )
    assert _files(output) == {*result.products, RESULT}
    assert "datavolume.ecsv" in result.products
    inputs = [entry["path"] for entry in result.provenance.inputs]
    assert inputs == [str(run_file)]


def test_operations_are_not_listed_as_use_cases():
    from sat.usecases.registry import usecases

    assert set(OPERATIONS) == {"quicklook", "check", "datavolume"}
    assert not set(OPERATIONS) & set(usecases())
