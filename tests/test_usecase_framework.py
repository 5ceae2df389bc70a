"""The use-case framework: registry, strict YAML configs, atomic output, validation.

Runs use cheap configurations of real use cases (joint-crab on the H.E.S.S.
spectra alone, spectrum-1d with one model); ``run --all`` is the nox session's job.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sat.cli.main import main
from sat.config import load_config
from sat.data import datasets
from sat.outputs import OutputError
from sat.result import RESULT
from sat.usecases.base import UseCaseConfig
from sat.usecases.registry import get_usecase, usecases
from sat.usecases.runner import run_usecase
from sat.usecases.spectrum_1d import Spectrum1DConfig
from sat.validation import Reference, compare, compare_fitted
from satdev import load_catalogue

pytestmark = pytest.mark.verifies_requirement("C-SAT-0070")

# Cheap but real: the H.E.S.S. spectra of Nigro et al. 2019, validated per instrument.
HESS_ONLY = {"instruments": ["hess"]}


def invoke(*args: str):
    """Run ``ctao-sat ARGS`` in-process; return the click result."""
    return CliRunner().invoke(main, list(args))


def write_yaml(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` and return it."""
    path.write_text(text)
    return path


def one_error_line(result) -> str:
    """Assert a one-line user error (exit 1, no traceback) and return it."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    """Names in ``folder``: scratch and old results must not stay behind."""
    return sorted(path.name for path in folder.iterdir())


# --- registry and configs ------------------------------------------------------------


def test_list_shows_every_use_case_by_id():
    result = invoke("run", "--list")
    assert result.exit_code == 0
    rows = [line.split() for line in result.output.splitlines()]
    by_name = {row[0]: row[1] for row in rows}
    assert by_name["spectrum-1d"] == "SUSS-UC-SAT-010"
    assert by_name["joint-crab"] == "SUSS-UC-SAT-040"
    ids = [row[1] for row in rows]
    assert ids == sorted(ids)


def test_registered_use_cases_are_traced_and_cheap_to_list():
    catalogue = load_catalogue().usecases
    known_data = datasets()
    for name, case in usecases().items():
        assert catalogue[case.usecase_id]["name"] == name
        assert issubclass(case.Config, UseCaseConfig)
        assert case.Config.model_config["extra"] == "forbid"
        assert case.summary
        assert set(case.datasets) <= set(known_data)
    # Listing imports every use-case module: none may import the scientific stack.
    code = (
        "import sys; from sat.usecases.registry import usecases; usecases(); "
        "print(sorted(m for m in ('gammapy', 'astropy', 'numpy', 'matplotlib') "
        "if m in sys.modules))"
    )
    heavy = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert heavy.stdout.strip() == "[]"


@pytest.mark.parametrize("name", ["spectrum-1d", "joint-crab"])
def test_print_config_round_trips_through_config(name, tmp_path):
    printed = invoke("run", name, "--print-config")
    assert printed.exit_code == 0
    defaults = get_usecase(name).Config()
    assert yaml.safe_load(printed.output) == defaults.model_dump(mode="json")
    config = write_yaml(tmp_path / "config.yaml", printed.output)
    again = invoke("run", name, "--print-config", "--config", str(config))
    assert again.exit_code == 0 and again.output == printed.output
    assert load_config(type(defaults), config) == defaults


def test_edited_config_round_trips(tmp_path):
    config = write_yaml(
        tmp_path / "msh.yaml",
        "target: MSH 15-52\ndatasets:\n  on_region: {radius: 0.3 deg}\n"
        "reference_energy: 1.4 TeV\n"
        "exclusion_regions:\n  - radius: 0.35 deg\n"
        "  - {lon: 228.5 deg, lat: -59.2 deg, radius: 0.1 deg}\n",
    )
    printed = invoke("run", "spectrum-1d", "--print-config", "--config", str(config))
    assert printed.exit_code == 0
    values = yaml.safe_load(printed.output)
    # The block given updated the default one: its other keys are kept.
    assert values["datasets"]["on_region"] == {
        "frame": "icrs",
        "lon": None,
        "lat": None,
        "radius": "0.3 deg",
    }
    assert values["datasets"]["geom"]["axes"]["energy"]["nbins"] == 24
    assert values["reference_energy"] == "1.4 TeV"
    assert values["exclusion_regions"][1] == {
        "frame": None,
        "lon": "228.5 deg",
        "lat": "-59.2 deg",
        "radius": "0.1 deg",
    }
    assert Spectrum1DConfig.model_validate(values) == load_config(
        Spectrum1DConfig, config
    )


@pytest.mark.verifies_requirement("C-SAT-0040")
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "on_radius: 0.2\n",
            "unknown key 'on_radius' (allowed: observations, target, datasets, "
            "exclusion_regions,",
        ),
        (
            "exclusion_regions:\n  - {radius: 0.3 deg, center: 1}\n",
            "unknown key 'exclusion_regions.0.center' "
            "(allowed: frame, lon, lat, radius)",
        ),
        (
            "datasets: {safe_mask: {bias: 5}}\n",
            "unknown key 'datasets.safe_mask.bias' (allowed: methods, parameters)",
        ),
        ("datasets: {stack: wide}\n", "key 'datasets.stack': Input should be a valid"),
        ("observations: {obs_ids: [23523, x]}\n", "key 'observations.obs_ids.1'"),
        (
            "on_radius_deg: 0.2\n",
            "key 'on_radius_deg' was renamed: use datasets.on_region.radius",
        ),
    ],
)
def test_bad_key_or_type_names_the_key(tmp_path, text, expected):
    config = write_yaml(tmp_path / "bad.yaml", text)
    line = one_error_line(invoke("run", "spectrum-1d", "--config", str(config)))
    assert f"invalid config {config}: " in line
    assert expected in line


@pytest.mark.verifies_requirement("C-SAT-0040")
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("target: Crab\nobs_ids: [23523\non_radius_deg: 0.1\n", "line 3"),
        ("- target\n- Crab\n", "must be a mapping of keys to values"),
    ],
)
def test_unusable_yaml_names_the_file(tmp_path, text, expected):
    config = write_yaml(tmp_path / "broken.yaml", text)
    line = one_error_line(invoke("run", "joint-crab", "--config", str(config)))
    assert str(config) in line and expected in line


@pytest.mark.verifies_requirement("C-SAT-0040")
def test_missing_config_file_is_named(tmp_path):
    missing = tmp_path / "nope.yaml"
    line = one_error_line(invoke("run", "joint-crab", "--config", str(missing)))
    assert f"cannot read config {missing}" in line
    assert "No such file" in line


@pytest.mark.verifies_requirement("C-SAT-0040")
def test_usage_errors():
    assert invoke("run").exit_code == 2
    line = one_error_line(invoke("run", "no-such-case"))
    assert "unknown use case 'no-such-case'; known: " in line
    assert "spectrum-1d" in line and "joint-crab" in line


# --- data ----------------------------------------------------------------------------


@pytest.mark.verifies_requirement("C-SAT-0040")
@pytest.mark.parametrize("state", ["unset", "nowhere", "empty"])
@pytest.mark.parametrize(
    ("name", "dataset"), [("spectrum-1d", "hess-dl3-dr1"), ("joint-crab", "joint-crab")]
)
def test_missing_data_says_what_to_download(
    name, dataset, state, tmp_path, monkeypatch
):
    if state == "unset":
        monkeypatch.delenv("GAMMAPY_DATA")
    else:
        folder = tmp_path / "data"
        if state == "empty":
            folder.mkdir()
        monkeypatch.setenv("GAMMAPY_DATA", str(folder))
    output = tmp_path / "out"
    line = one_error_line(invoke("run", name, "--output", str(output)))
    assert "GAMMAPY_DATA" in line
    assert f"ctao-sat data download {dataset}" in line
    assert not output.exists()


# --- output folder -------------------------------------------------------------------


def test_foreign_output_is_refused(tmp_path):
    output = tmp_path / "mine"
    output.mkdir()
    (output / "notes.txt").write_text("keep me")
    line = one_error_line(invoke("run", "joint-crab", "--output", str(output), "-q"))
    assert f"output {output} already holds files that are not a ctao-sat" in line
    assert (output / "notes.txt").read_text() == "keep me"
    plain = tmp_path / "file"
    plain.write_text("not a folder")
    with pytest.raises(OutputError, match="exists and is not a folder"):
        run_usecase("joint-crab", None, plain, quiet=True)
    assert plain.read_text() == "not a folder"
    assert leftovers(tmp_path) == ["file", "mine"]


@pytest.mark.verifies_usecase("SUSS-UC-SAT-040")
@pytest.mark.verifies_requirement("C-SAT-0050")
def test_rerun_replaces_a_previous_result(tmp_path):
    output = tmp_path / "result"
    output.mkdir()  # an empty folder is fine
    config = write_yaml(tmp_path / "hess.yaml", yaml.safe_dump(HESS_ONLY))
    first = run_usecase("joint-crab", config, output, quiet=True)
    # Without --overwrite a previous result is refused, and kept as it was.
    line = one_error_line(invoke("run", "joint-crab", "--output", str(output)))
    assert "already holds a joint-crab result" in line and "--overwrite" in line
    command = ["run", "joint-crab", "--config", str(config), "--output", str(output)]
    again = CliRunner().invoke(main, [*command, "--overwrite"])
    assert again.exit_code == 0, again.output
    assert leftovers(tmp_path) == ["hess.yaml", "result"]
    second = json.loads((output / RESULT).read_text())
    assert second["parameters"] == first["parameters"]
    assert second["provenance"]["started"] >= first["provenance"]["started"]
    # Progress on stderr (not quiet), the summary and verdicts on stdout.
    assert "... fitting hess" in again.stderr and "done in" in again.stderr
    assert f"joint-crab (SUSS-UC-SAT-040): results in {output}" in again.stdout
    verdicts = [line for line in again.stdout.splitlines() if "hess:" in line]
    assert len(verdicts) == 3 and all("PASS" in line for line in verdicts)
    assert any("amplitude" in line for line in verdicts)

    # Every product is listed, and every listed product is there.
    files = {str(p.relative_to(output)) for p in output.rglob("*") if p.is_file()}
    assert files == set(second["products"]) | {RESULT}
    assert "models/hess_covariance.dat" in files
    checks = {(c["fit"], c["quantity"]) for c in second["validation"]}
    # Table 2's joint row is the five-instrument fit: not compared to H.E.S.S. alone.
    assert checks == {("hess", "amplitude"), ("hess", "alpha"), ("hess", "beta")}
    assert {c["verdict"] for c in second["validation"]} == {"PASS"}
    inputs = [Path(entry["path"]).name for entry in second["provenance"]["inputs"]]
    assert "pha_obs23523.fits" in inputs


def test_failure_inside_a_run_leaves_nothing(tmp_path):
    # The instrument check runs inside `run`, after the scratch folder exists.
    config = write_yaml(tmp_path / "c.yaml", "instruments: [hess, hubble]\n")
    output = tmp_path / "out"
    line = one_error_line(
        invoke("run", "joint-crab", "--config", str(config), "--output", str(output))
    )
    assert "key 'instruments': unknown ['hubble']; allowed: fermi," in line
    assert leftovers(tmp_path) == ["c.yaml"]


# --- validation ----------------------------------------------------------------------


@pytest.mark.verifies_requirement("C-SAT-0080")
def test_compare_tolerance_edges():
    # Errors 3 and 4 combine to 5 exactly: the edge is 2 x 5 away from 20.
    reference = Reference("index", 20.0, 3.0, "", "test", 2.0, "test")
    at_edge = compare(reference, 30.0, 4.0)
    assert at_edge["verdict"] == "PASS" and at_edge["deviation_sigma"] == 2.0
    beyond = compare(reference, 30.1, 4.0)
    assert beyond["verdict"] == "FAIL" and beyond["deviation_sigma"] == 2.02
    assert compare(reference, math.nan, 0.1)["verdict"] == "FAIL"
    exact = Reference("n_spectra", 5, 0, "", "test", 0, "an exact count")
    assert compare(exact, 5)["verdict"] == "PASS"
    assert compare(exact, 6)["deviation_sigma"] == math.inf
    assert [check.passed for check in (at_edge, beyond)] == [True, False]


@pytest.mark.verifies_requirement("C-SAT-0080")
def test_fitted_parameters_are_each_compared_with_their_reference():
    references = [
        Reference("index", 2.6, 0.1, "", "paper", 2.0, "why"),
        Reference("amplitude", 1.0, 0.1, "TeV-1", "paper", 2.0, "why"),
    ]
    fitted = {
        "amplitude": {"value": 2.0, "error": 0.1},  # 7 sigma off
        "index": {"value": 2.7, "error": 0.1},  # 0.7 sigma
    }
    checks = compare_fitted(references, fitted, fit="power-law")
    assert [(c["quantity"], c["verdict"], c["fit"]) for c in checks] == [
        ("index", "PASS", "power-law"),
        ("amplitude", "FAIL", "power-law"),
    ]


@pytest.mark.verifies_usecase("SUSS-UC-SAT-010")
@pytest.mark.verifies_requirement("C-SAT-0080")
@pytest.mark.verifies_requirement("C-SAT-0050")
def test_missed_reference_fails_but_keeps_the_products(tmp_path):
    # A real analysis mistake: the H.E.S.S. DR1 IRFs are full-enclosure, so an
    # on region of 0.11 deg without PSF containment correction loses a third of
    # the Crab flux. The validation must catch it, and keep what was computed.
    config = write_yaml(
        tmp_path / "no-containment.yaml",
        "datasets: {containment_correction: false}\nspectral_models: [power-law]\n"
        "flux_points: {energy: {nbins: 3}}\n",
    )
    output = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        ["run", "spectrum-1d", "--config", str(config), "--output", str(output), "-q"],
    )
    line = one_error_line(result)
    assert "spectrum-1d: validation failed for amplitude = 1.1" in line
    assert "index" not in line  # the spectral shape is unaffected
    assert f"products in {output}" in line
    written = json.loads((output / RESULT).read_text())
    verdicts = {c["quantity"]: c for c in written["validation"]}
    assert verdicts["index"]["verdict"] == "PASS"
    assert verdicts["amplitude"]["verdict"] == "FAIL"
    assert verdicts["amplitude"]["deviation_sigma"] > 4
    for product in written["products"]:
        assert (output / product).is_file()
    assert leftovers(tmp_path) == ["no-containment.yaml", "out"]
