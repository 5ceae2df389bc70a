"""The Python API of a notebook: `sat.run` returns Gammapy objects, writes on request.

Real runs of joint-crab on the H.E.S.S. and MAGIC spectra (seconds) and of a
ctao-simulate too short to pass its pull test (a failed validation). The
examples of the API documentation run as doctests: `sat.api` and the modules a
scientist uses next (`sat.irf`, `sat.sites`, `sat.quicklook`, `sat.archive`,
`sat.simulate`).
"""

from __future__ import annotations

import doctest
import importlib
import json
import os
import subprocess
import sys
import warnings

import pytest

import sat
from sat.errors import ConfigError, ValidationWarning
from sat.result import RESULT, Result

pytestmark = pytest.mark.verifies_requirement("C-SAT-0301")

CRAB = {"instruments": ["hess", "magic"]}


@pytest.fixture(scope="module")
def in_memory(tmp_path_factory):
    """(result, the folder the run was started in, TMPDIR): nothing asked written."""
    folder = tmp_path_factory.mktemp("cwd")
    scratch = tmp_path_factory.mktemp("tmpdir")
    patch = pytest.MonkeyPatch()
    patch.chdir(folder)
    patch.setenv("TMPDIR", str(scratch))
    patch.setattr("tempfile.tempdir", None)  # TMPDIR is read again
    try:
        result = sat.run("joint-crab", CRAB, quiet=True)
    finally:
        patch.undo()
    return result, folder, scratch


def test_a_run_in_memory_writes_nothing(in_memory):
    result, folder, scratch = in_memory
    assert list(folder.iterdir()) == []
    assert list(scratch.iterdir()) == []  # its scratch folder is gone too
    assert result.output is None
    assert "sed.png" in result.products  # what a written run would hold


def test_the_result_holds_the_gammapy_objects(in_memory):
    from gammapy.datasets import Datasets
    from gammapy.modeling.models import Models

    result, _, _ = in_memory
    datasets, models = result.gammapy.datasets, result.gammapy.models
    assert isinstance(datasets, Datasets) and isinstance(models, Models)
    assert len(datasets) == 6  # 4 H.E.S.S. runs, 2 MAGIC runs
    # The models are the fitted ones: their values are result.json's.
    alpha = models[0].spectral_model.alpha
    assert alpha.value == result.parameters["alpha"].value
    assert alpha.error == result.parameters["alpha"].error
    assert result.gammapy.flux_points is None  # joint-crab makes none
    assert result.gammapy.names() == ["datasets", "models"]
    # Gammapy works on them: the joint likelihood at the best fit.
    assert datasets.stat_sum() == pytest.approx(
        result["fits"]["joint"]["total_stat"], rel=1e-9
    )


def test_the_result_reads_like_result_json(in_memory, tmp_path):
    result, _, _ = in_memory
    assert result.passed and result.validation
    assert json.loads(result.to_json())["usecase"] == "joint-crab"
    shown = repr(result)
    assert shown.startswith("<Result joint-crab: PASS (6 checks); gammapy: datasets")
    assert "figures: sed.png; output: None>" in shown


def test_a_run_writes_when_asked_and_reads_back(tmp_path):
    result = sat.run("joint-crab", {"instruments": ["hess"]}, output=tmp_path / "o")
    assert result.output == tmp_path / "o"
    assert (tmp_path / "o" / RESULT).is_file() and (
        tmp_path / "o" / "sed.png"
    ).is_file()
    again = sat.read_result(tmp_path / "o")
    assert isinstance(again, Result) and again.output == tmp_path / "o"
    assert again.parameters == result.parameters
    assert again.gammapy.names() == [] and again.figures == {}


def test_config_as_object_and_as_yaml(tmp_path):
    config = sat.get_config("joint-crab")
    config.instruments = ["hess"]
    with pytest.raises(ValueError):
        config.instruments = "hess, magic"  # validated on assignment
    from_object = sat.run("joint-crab", config, quiet=True)
    path = tmp_path / "crab.yaml"
    path.write_text("instruments: [hess]\n")
    from_yaml = sat.run("joint-crab", path, quiet=True)
    assert from_object.parameters == from_yaml.parameters
    assert from_object.provenance.config == from_yaml.provenance.config
    assert config.instruments == ["hess"]  # the caller's object is not changed


def test_a_failed_validation_warns_and_returns_the_result():
    with pytest.warns(ValidationWarning, match="ctao-simulate: validation failed"):
        result = sat.run(
            "ctao-simulate", {"n_seeds": 3, "livetime_h": 0.0005}, quiet=True
        )
    assert not result.passed and result.failures
    assert list(result.figures) == ["pulls.png"]


def test_unknown_names_are_one_line_errors():
    with pytest.raises(ConfigError, match="unknown use case 'crab'; known: spectrum"):
        sat.run("crab")
    with pytest.raises(ConfigError, match="joint-crab has no example 'x'"):
        sat.get_config("joint-crab", example="x")


def test_list_usecases_is_the_registry():
    from sat.usecases.registry import usecases

    assert list(sat.list_usecases()) == list(usecases())


def test_import_sat_stays_cheap():
    code = (
        "import sys, sat\n"
        "assert callable(sat.run) and 'run' in dir(sat)\n"
        "print(sorted({'gammapy', 'astropy', 'numpy', 'yaml'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
    with pytest.raises(AttributeError, match="no attribute 'frobnicate'"):
        sat.frobnicate  # noqa: B018


# --- the API documentation's examples ----------------------------------------------

DOCUMENTED = ["sat.api", "sat.irf", "sat.sites", "sat.quicklook", "sat.archive"]
DOCUMENTED += ["sat.simulate"]


@pytest.mark.parametrize("name", DOCUMENTED)
def test_the_documented_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples that write, write here
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    report = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Gammapy's RuntimeWarnings on the way
        for test in finder.find(module):
            runner.run(test, out=report.append)
    results = runner.summarize(verbose=False)
    assert results.attempted >= 3, f"{name} documents no example"
    assert results.failed == 0, "".join(report)


def test_the_api_page_runs_as_written(tmp_path):
    import re

    from tests.conftest import REPO

    page = (REPO / "docs" / "reference" / "api.rst").read_text()
    (block,) = re.findall(r"\.\. code-block:: python\n\n(.*?)\n\n(?=\S)", page, re.S)
    code = "\n".join(line.removeprefix("   ") for line in block.splitlines())
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "unit='erg'" in done.stdout
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_the_docs_build_leaves_no_scratch_folder(tmp_path):
    # Every docs build (and every reading of its conf.py) left an empty
    # ctao-sat-docs-* folder in /tmp, where its gallery pages ran display.run.
    from tests.conftest import REPO

    env = {k: v for k, v in os.environ.items() if k != "CTAO_SAT_RESULTS"}
    code = (
        "import os, runpy, sys\n"
        f"runpy.run_path({str(REPO / 'docs' / 'conf.py')!r})\n"
        "print(os.environ['CTAO_SAT_RESULTS'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**env, "TMPDIR": str(tmp_path)},
        cwd=REPO / "docs",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(str(tmp_path / "ctao-sat-docs-"))
    assert list(tmp_path.iterdir()) == []
