"""`sat.usecases.display`, which every use-case page of the docs is built from.

One real run that fails its validation (ctao-simulate with a handful of events,
as in test_ctao_simulate.py): the page must still show everything, the failing
check first among equals.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from sat.result import RESULT
from sat.usecases import display

pytestmark = pytest.mark.verifies_requirement("C-SAT-0130")

TINY = {"n_seeds": 3, "livetime_h": 0.0005}


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory):
    """(result, output, printed) of a ctao-simulate run whose pull test fails."""
    capture = pytest.MonkeyPatch()
    lines = []
    capture.setattr("builtins.print", lambda *a, **k: lines.append(" ".join(a)))
    capture.setenv(display.RESULTS_ENV, str(tmp_path_factory.mktemp("results")))
    try:
        result, output = display.run("ctao-simulate", TINY)
    finally:
        capture.undo()
    return result, output, "\n".join(lines)


def test_run_shows_a_failed_validation_and_keeps_the_products(failed_run):
    result, output, printed = failed_run
    where, _, printed = printed.partition("\n")
    assert where == f"results in {output}"
    assert printed.startswith("VALIDATION FAILED: ctao-simulate: validation failed")
    assert result == json.loads((output / RESULT).read_text())
    for line in result["summary"]:
        assert line in printed
    assert output.name == "ctao-simulate" and output.is_dir()


def test_results_go_beside_the_notebook_unless_told_otherwise(monkeypatch, tmp_path):
    monkeypatch.delenv(display.RESULTS_ENV, raising=False)
    assert display.results_folder("survey") == Path("results") / "survey"
    monkeypatch.setenv(display.RESULTS_ENV, str(tmp_path))
    assert display.results_folder("survey") == tmp_path / "survey"


def test_validation_table_has_one_row_per_check(failed_run):
    result, _, _ = failed_run
    table = display.validation_table(result)
    assert list(table["quantity"]) == [c["quantity"] for c in result["validation"]]
    assert list(table["verdict"]) == [c["verdict"] for c in result["validation"]]
    assert "FAIL" in table["verdict"]
    for row, check in zip(table, result["validation"], strict=True):
        assert row["measured"].startswith(f"{check['measured']:.4g} ± ")
        assert row["reference (tolerance)"]  # a reference or an interval
        assert row["source"] == check.get("source", "")


def test_parameters_table_shows_values_errors_and_units(failed_run):
    result, _, _ = failed_run
    table = display.parameters_table(result)
    assert list(table["parameter"]) == list(result["parameters"])
    for row in table:
        fitted = result.parameters[row["parameter"]]
        assert float(row["value"]) == pytest.approx(fitted.value, rel=1e-3)
        assert float(row["error"]) == pytest.approx(fitted.error, rel=1e-2)
        assert row["unit"] == fitted.unit


def test_plot_products_shows_every_png(failed_run):
    result, output, _ = failed_run
    pngs = [p.path for p in result.products if p.path.endswith(".png")]
    assert pngs  # the pull distributions
    figures = display.plot_products(result, output)
    try:
        assert [f.axes[0].get_title() for f in figures] == pngs
        height, width = plt.imread(output / pngs[0]).shape[:2]
        shown = figures[0].get_size_inches()
        assert shown[1] / shown[0] == pytest.approx(height / width)
    finally:
        for figure in figures:
            plt.close(figure)


def test_show_tolerances_prints_each_reason_once(failed_run, capsys):
    result, _, _ = failed_run
    display.show_tolerances(result)
    printed = capsys.readouterr().out.splitlines()
    reasons = {check["why"] for check in result["validation"]}
    assert sorted(printed) == sorted(f"- {why}" for why in reasons)
    display.show_tolerances(result.model_copy(update={"validation": []}))
    assert "no reference applies" in capsys.readouterr().out


def test_show_config_prints_the_overrides(capsys):
    display.show_config("ctao-simulate", TINY)
    printed = capsys.readouterr().out
    assert printed.startswith("SUSS-UC-SAT-")
    assert "n_seeds: 3" in printed and "livetime_h: 0.0005" in printed
