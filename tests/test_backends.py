"""Serial, multiprocessing and Ray reductions give the same datasets and fits.

Real data (3 H.E.S.S. DR1 Crab runs, 1D) reduced by `sat.reduction.ObservationsMaker`
with every backend, dataset by dataset; the ``survey`` use case (4 simulated CTAO
runs) end to end with every backend, through the CLI overrides; the failures: a
run that cannot be reduced, a Ray cluster that does not answer, bad settings.
Ray runs on a local multi-process cluster started here (``ray.init``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from packaging.requirements import Requirement

from sat.cli.main import main
from sat.config import load_config
from sat.errors import ConfigError
from sat.parallel import ParallelConfig, maker_options, parallel_session
from sat.result import RESULT
from sat.usecases.runner import run_usecase
from sat.usecases.spectrum_1d import Spectrum1DConfig
from sat.usecases.survey import SurveyConfig
from tests.conftest import REPO

pytestmark = [
    pytest.mark.verifies_requirement("C-SAT-0170"),
    pytest.mark.verifies_usecase("SUSS-UC-SAT-120"),
]

CRAB_RUNS = [23523, 23526, 23559]
BACKENDS = [("serial", 1), ("multiprocessing", 2), ("ray", 2)]
SMALL_SURVEY = {"n_runs": 4, "livetime_s": 120.0, "bins_per_decade": 4}


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A local Ray cluster of 2 worker processes for the module.

    Ray's raylet gives its dashboard agent a fixed 15 s to start
    (ray-project/ray#65983). Here that agent imports jsonschema, which imports
    ``rfc3987_syntax`` (pulled into the test environment by cyclonedx's SBOM
    validation) whose grammar takes 4 s of CPU to build: on this shared, loaded
    2-core machine the agent misses the deadline and the raylet aborts. Ray's
    processes get a stub that makes that optional import fail, as without it.
    """
    import ray

    stub = tmp_path_factory.mktemp("ray-stub")
    (stub / "rfc3987_syntax.py").write_text('raise ImportError("ray#65983")\n')
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(
            "PYTHONPATH",
            os.pathsep.join(filter(None, [str(stub), os.environ.get("PYTHONPATH")])),
        )
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        yield ray
        ray.shutdown()


def _general(backend: str, n_jobs: int) -> ParallelConfig:
    """The ``general`` block of ``backend`` (serial is one job)."""
    if backend == "serial":
        return ParallelConfig(n_jobs=1)
    return ParallelConfig(parallel_backend=backend, n_jobs=n_jobs)


def _reduce_crab(gammapy_data: Path, backend: str, n_jobs: int):
    import astropy.units as u
    from gammapy.datasets import SpectrumDataset
    from gammapy.makers import (
        ReflectedRegionsBackgroundMaker,
        SafeMaskMaker,
        SpectrumDatasetMaker,
    )
    from gammapy.maps import MapAxis, RegionGeom
    from regions import CircleSkyRegion

    from sat.dl3.files import verify_files
    from sat.dl3.select import select_observations, target_position
    from sat.dl3.store import open_store
    from sat.reduction import ObservationsMaker

    store = open_store(gammapy_data / "hess-dl3-dr1")
    observations = select_observations(store, obs_ids=CRAB_RUNS)
    region = CircleSkyRegion(target_position(store, "Crab"), 0.11 * u.deg)
    energy = MapAxis.from_energy_bounds(0.1, 100, 12, unit="TeV")
    energy_true = MapAxis.from_energy_bounds(
        0.05, 150, 24, unit="TeV", name="energy_true"
    )
    reference = SpectrumDataset.create(
        geom=RegionGeom.create(region, axes=[energy]), energy_axis_true=energy_true
    )
    makers = [
        SpectrumDatasetMaker(
            selection=["counts", "exposure", "edisp"], containment_correction=True
        ),
        ReflectedRegionsBackgroundMaker(),
        SafeMaskMaker(methods=["edisp-bias"], bias_percent=10),
    ]
    config = _general(backend, n_jobs)
    maker = ObservationsMaker(
        makers, verify_files(store, CRAB_RUNS), **maker_options(config)
    )
    with parallel_session(config):
        datasets = maker.run(reference, observations)
    return datasets, maker


@pytest.fixture(scope="module")
def crab_reductions(gammapy_data, ray_cluster):
    """The 3 Crab runs reduced with each backend: {backend: (datasets, maker)}."""
    return {
        backend: _reduce_crab(gammapy_data, backend, n_jobs)
        for backend, n_jobs in BACKENDS
    }


def test_every_backend_reduces_the_same_datasets(crab_reductions):
    serial, _ = crab_reductions["serial"]
    assert serial.names == [f"obs_{obs_id}" for obs_id in CRAB_RUNS]
    assert sum(d.counts.data.sum() for d in serial) > 300  # the Crab is in there
    for backend in ("multiprocessing", "ray"):
        datasets, _ = crab_reductions[backend]
        assert datasets.names == serial.names, backend
        for mine, reference in zip(datasets, serial, strict=True):
            for name in ("counts", "counts_off", "mask_safe"):
                np.testing.assert_array_equal(
                    getattr(mine, name).data, getattr(reference, name).data
                )
            for name in ("exposure", "acceptance", "acceptance_off"):
                np.testing.assert_allclose(
                    getattr(mine, name).data, getattr(reference, name).data, rtol=1e-12
                )
            # Last-digit differences (1e-11 relative): Ray's workers run numpy's
            # BLAS with one thread (OMP_NUM_THREADS=1), another summation order.
            np.testing.assert_allclose(
                mine.edisp.edisp_map.data,
                reference.edisp.edisp_map.data,
                rtol=1e-9,
                atol=1e-15,
            )
            assert mine.gti.time_sum == reference.gti.time_sum


def test_parallel_backends_ran_in_other_processes(crab_reductions):
    _, serial = crab_reductions["serial"]
    assert {stats.pid for stats in serial.stats} == {os.getpid()}
    for backend in ("multiprocessing", "ray"):
        _, maker = crab_reductions[backend]
        assert sorted(stats.obs_id for stats in maker.stats) == CRAB_RUNS
        assert os.getpid() not in {stats.pid for stats in maker.stats}, backend
        assert all(stats.cpu_s > 0 and stats.peak_rss_mib > 50 for stats in maker.stats)


def test_forked_workers_get_the_reference_once(gammapy_data, monkeypatch):
    """A task carries a run and a key, not the maker and reference dataset again.

    Pickled with every task they cost the main process, which on 2 cores competes
    with the workers, ~4 ms a run (`ObservationsMaker.run`).
    """
    from multiprocessing.reduction import ForkingPickler

    from sat import reduction

    sent = []
    dumps = ForkingPickler.dumps

    def spy(cls, obj, protocol=None):
        payload = dumps(obj, protocol)
        sent.append(len(payload))
        return payload

    monkeypatch.setattr(ForkingPickler, "dumps", classmethod(spy))
    datasets, _ = _reduce_crab(gammapy_data, "multiprocessing", 2)
    assert datasets.names == [f"obs_{obs_id}" for obs_id in CRAB_RUNS]
    assert len(sent) >= len(CRAB_RUNS)
    # A H.E.S.S. run's observation pickles to ~6 kB; the reference and the
    # makers would add ~20 kB more.
    assert max(sent) < 10_000, sent
    assert reduction._INHERITED == {}  # nothing kept after the run


def test_same_fit_with_every_backend(crab_reductions):
    import astropy.units as u
    from gammapy.modeling import Fit
    from gammapy.modeling.models import PowerLawSpectralModel, SkyModel

    fitted = {}
    for backend, (datasets, _) in crab_reductions.items():
        model = SkyModel(
            spectral_model=PowerLawSpectralModel(
                index=2, amplitude=1e-12 * u.Unit("cm-2 s-1 TeV-1"), reference=1 * u.TeV
            ),
            name="crab",
        )
        datasets.models = [model]
        assert Fit().run(datasets).success
        free = model.parameters.free_parameters
        fitted[backend] = np.array([(p.value, p.error) for p in free])
    # Crab-like index from 3 runs: the fit did something real.
    assert 2.3 < fitted["serial"][0][0] < 3.0
    for backend in ("multiprocessing", "ray"):
        values, errors = fitted[backend].T
        np.testing.assert_allclose(values, fitted["serial"][:, 0], rtol=1e-9)
        # Errors come from numerical second derivatives, which amplify the
        # last-digit differences of the IRFs above (3e-8 relative measured).
        np.testing.assert_allclose(errors, fitted["serial"][:, 1], rtol=1e-6)


# --- the survey use case, end to end ----------------------------------------------


def _run_survey(config: Path, output: Path, *options):
    """``ctao-sat run survey --config CONFIG --output OUTPUT -q OPTIONS``."""
    command = ["run", "survey", "--config", str(config), "--output", str(output)]
    return CliRunner().invoke(main, [*command, "-q", *map(str, options)])


@pytest.fixture(scope="module")
def survey_runs(tmp_path_factory):
    """4 short simulated runs, simulated and reduced serially once."""
    output = tmp_path_factory.mktemp("survey") / "serial"
    result = run_usecase("survey", SMALL_SURVEY, output, quiet=True)
    return output, result


@pytest.fixture(scope="module")
def survey_backends(survey_runs, tmp_path_factory, ray_cluster):
    """The same runs reduced through the CLI with multiprocessing and Ray."""
    folder, _ = survey_runs
    config = tmp_path_factory.mktemp("config") / "survey.yaml"
    config.write_text(
        yaml.safe_dump({**SMALL_SURVEY, "datastore": str(folder / "dl3")})
    )
    results = {}
    for backend, n_jobs in BACKENDS[1:]:
        output = folder.parent / backend
        outcome = _run_survey(config, output, "--backend", backend, "--n-jobs", n_jobs)
        assert outcome.exit_code == 0, outcome.output
        results[backend] = json.loads((output / RESULT).read_text())
    return results


def test_survey_recovers_the_simulated_spectrum(survey_runs):
    _, result = survey_runs
    assert [check["verdict"] for check in result["validation"]] == ["PASS", "PASS"]
    assert result["n_runs"] == 4 and result["failed_runs"] == []
    assert result["reduction"]["runs_reduced"] == 4
    assert result["reduction"]["backend"] == "serial"
    assert result["stacked"]["n_on"] > 100
    # The figure: the stacked fit and one excess per run.
    image = plt.imread(survey_runs[0] / "survey.png")
    assert "survey.png" in result["products"]
    assert image.shape[1] > 1.5 * image.shape[0] > 300


def test_survey_gives_the_same_result_with_every_backend(survey_runs, survey_backends):
    _, serial = survey_runs
    for backend, result in survey_backends.items():
        general = result["provenance"]["config"]["general"]
        assert (general["parallel_backend"], general["n_jobs"]) == (backend, 2)
        assert result["reduction"]["backend"] == backend
        assert result["reduction"]["workers"] >= 1
        assert result["stacked"] == serial["stacked"], backend
        for name, parameter in serial["parameters"].items():
            assert result["parameters"][name]["value"] == pytest.approx(
                parameter["value"], rel=1e-9
            ), (backend, name)
            assert result["parameters"][name]["error"] == pytest.approx(
                parameter["error"], rel=1e-6
            ), (backend, name)
    assert survey_backends["ray"]["reduction"]["ray_address"] == "existing session"


@pytest.fixture
def damaged_runs(survey_runs, tmp_path):
    """A copy of the survey runs whose run 3 event file is truncated."""
    folder, _ = survey_runs
    copy = tmp_path / "dl3"
    shutil.copytree(folder / "dl3", copy)
    broken = copy / "obs_000003.fits.gz"
    os.truncate(broken, broken.stat().st_size // 2)
    config = tmp_path / "survey.yaml"
    config.write_text(yaml.safe_dump({**SMALL_SURVEY, "datastore": str(copy)}))
    return config, broken


@pytest.mark.parametrize("backend", ["serial", "multiprocessing"])
def test_a_run_that_fails_is_named_and_fails_the_run(damaged_runs, tmp_path, backend):
    config, broken = damaged_runs
    options = ["--backend", backend] + (
        ["--n-jobs", "2"] if backend != "serial" else []
    )
    outcome = _run_survey(config, tmp_path / "o", *options)
    assert outcome.exit_code == 1, outcome.output
    assert "Traceback" not in outcome.output
    assert f"run 3: cannot read {broken}" in outcome.output
    assert "1 of 4 runs failed, 3 reduced" in outcome.output
    assert "--skip-failed" in outcome.output


def test_skip_failed_keeps_the_other_runs(damaged_runs, tmp_path):
    config, broken = damaged_runs
    output = tmp_path / "skipped"
    outcome = _run_survey(
        config, output, "--backend", "multiprocessing", "--n-jobs", 2, "--skip-failed"
    )
    assert outcome.exit_code == 0, outcome.output
    result = json.loads((output / RESULT).read_text())
    assert result["reduction"]["runs_reduced"] == 3
    assert len(result["failed_runs"]) == 1
    assert result["failed_runs"][0].startswith(f"run 3: cannot read {broken}")
    assert result["provenance"]["config"]["general"]["skip_failed"] is True


def test_ray_address_that_does_not_answer(survey_runs, tmp_path):
    folder, _ = survey_runs
    config = tmp_path / "survey.yaml"
    config.write_text(
        yaml.safe_dump({**SMALL_SURVEY, "datastore": str(folder / "dl3")})
    )
    # A separate process: a failed ray.init leaves state behind in its process.
    environment = {**os.environ, "RAY_ADDRESS": "127.0.0.1:9"}
    command = [str(Path(sys.executable).with_name("ctao-sat")), "run", "survey", "-q"]
    command += ["--config", str(config), "--output", str(tmp_path / "o")]
    command += ["--backend", "ray", "--n-jobs", "2"]
    done = subprocess.run(
        command, env=environment, capture_output=True, text=True, timeout=150
    )
    assert done.returncode == 1, done.stderr
    assert "Ray cluster at RAY_ADDRESS=127.0.0.1:9" in done.stderr
    assert "Traceback" not in done.stderr


# --- settings ---------------------------------------------------------------------


def test_backend_settings_are_checked():
    assert maker_options(ParallelConfig()) == {
        "n_jobs": 1,
        "parallel_backend": "multiprocessing",
    }
    # Gammapy's spelling: n_jobs alone is multiprocessing, 1 is serial.
    general = load_config(Spectrum1DConfig, {"general": {"n_jobs": 2}}).general
    assert (general.backend, maker_options(general)["n_jobs"]) == (
        "multiprocessing",
        2,
    )
    with pytest.raises(ConfigError, match=r"key 'general\.parallel_backend'"):
        load_config(SurveyConfig, {"general": {"parallel_backend": "dask"}})
    with pytest.raises(ConfigError, match="'backend' was renamed: use general"):
        load_config(SurveyConfig, {"backend": "ray"})
    for usecase in ("spectrum-1d", "map-3d", "lightcurve", "survey"):
        outcome = CliRunner().invoke(main, ["run", usecase, "--print-config"])
        printed = yaml.safe_load(outcome.output)
        assert printed["general"] == {
            "n_jobs": 1,
            "parallel_backend": "multiprocessing",
            "skip_failed": False,
        }, usecase


def test_cli_overrides_show_in_the_config(tmp_path):
    outcome = CliRunner().invoke(
        main,
        ["run", "spectrum-1d", "--print-config", "--backend", "ray", "--n-jobs", "3"],
    )
    assert outcome.exit_code == 0, outcome.output
    printed = yaml.safe_load(outcome.output)["general"]
    assert (printed["parallel_backend"], printed["n_jobs"]) == ("ray", 3)
    assert yaml.safe_load(outcome.output)["target"] == "Crab"  # the rest is kept
    outcome = CliRunner().invoke(
        main, ["run", "spectrum-1d", "--backend", "serial", "--n-jobs", "2"]
    )
    assert outcome.exit_code == 2
    assert "--backend serial runs one job" in outcome.output
    outcome = CliRunner().invoke(main, ["run", "sensitivity", "--backend", "ray"])
    assert outcome.exit_code == 2
    assert "does not loop over observations" in outcome.output


def test_ray_missing_is_a_config_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"pip install 'ctao-sat\[ray\]'"):
        with parallel_session(ParallelConfig(parallel_backend="ray", n_jobs=2)):
            pass


def test_ray_extra_is_pinned_exactly():
    from sat.stack import extra_pins

    pins = {pin.name: pin.version for pin in extra_pins("ray")}
    assert "ray" in pins
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    (requirement,) = project["optional-dependencies"]["ray"]
    assert Requirement(requirement).specifier.contains(pins["ray"])
    from importlib.metadata import version

    assert {name: version(name) for name in pins} == pins
