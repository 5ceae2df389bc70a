"""The spectrum-1d use case on the real H.E.S.S. DR1 runs.

The default Crab analysis runs once (module fixture) and every product is checked
against the published and the measured reference; further runs check the
reproducibility, PKS 2155-304, a run without reference and the failures.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import shutil
from pathlib import Path

import astropy.units as u
import pytest
import yaml
from click.testing import CliRunner

from sat.cli.main import main
from sat.config import load_config
from sat.errors import ConfigError, DataError
from sat.result import RESULT
from sat.stack import load_pins
from sat.usecases.hess_dr1 import PUBLISHED_1D
from sat.usecases.runner import run_usecase
from sat.usecases.spectrum_1d import (
    Spectrum1DConfig,
    _flux_point_range,
    _published_for,
)
from tests.conftest import assert_matches_measured, hess_run_file

pytestmark = [
    pytest.mark.verifies_usecase("SUSS-UC-SAT-010"),
    pytest.mark.verifies_requirement("C-SAT-0070"),
]

CRAB_RUNS = (23523, 23526, 23559, 23592)
# Measured with gammapy 2.1 on these runs (../shared/REFERENCES.md): the regression
# reference of the pinned stack.
MEASURED = {"index": (2.741, 0.081), "amplitude": (1.729e-11, 0.099e-11)}
PAPER = {"index": (2.629, 0.074), "amplitude": (1.629e-11, 0.088e-11)}


@pytest.fixture(scope="module")
def crab(tmp_path_factory):
    """The default analysis (Crab, 4 runs), run once: (output folder, result)."""
    output = tmp_path_factory.mktemp("spectrum-1d") / "crab"
    result = run_usecase("spectrum-1d", None, output, quiet=True)
    return output, result


@pytest.mark.verifies_requirement("C-SAT-0080")
@pytest.mark.verifies_requirement("C-SAT-0050")
def test_crab_fit_matches_measured_and_published(crab):
    _, result = crab
    parameters = result["parameters"]
    assert set(parameters) == {"index", "amplitude"}
    assert_matches_measured(parameters, MEASURED)
    for name, (value, error) in PAPER.items():
        fitted = parameters[name]
        pull = abs(fitted["value"] - value) / math.hypot(error, fitted["error"])
        assert pull < 2, (name, pull)
    assert u.Unit(parameters["amplitude"]["unit"]) == u.Unit("cm-2 s-1 TeV-1")
    assert parameters["index"]["unit"] == ""
    assert all(fit["success"] for fit in result["fits"].values())


@pytest.mark.verifies_requirement("C-SAT-0080")
def test_crab_validation_verdicts(crab):
    _, result = crab
    checks = {check["quantity"]: check for check in result["validation"]}
    assert set(checks) == {"index", "amplitude"}
    for name, check in checks.items():
        assert check["verdict"] == "PASS"
        assert (check["value"], check["error"]) == pytest.approx(PAPER[name])
        assert check["n_sigma"] == 2.0
        assert "Mohrmann et al. 2019" in check["source"]
        assert check["why"]
        assert check["measured"] == result["parameters"][name]["value"]
    # The index is the known ~1 sigma difference from the paper.
    assert 0.8 < checks["index"]["deviation_sigma"] < 1.3
    assert "validated against Mohrmann et al. 2019" in result["summary"][-1]


def test_crab_result_content(crab, gammapy_data):
    output, result = crab
    on_disk = json.loads((output / RESULT).read_text())
    assert on_disk == result
    assert result["usecase"] == "spectrum-1d"
    assert result["usecase_id"] == "SUSS-UC-SAT-010"
    assert [run["obs_id"] for run in result["runs"]] == list(CRAB_RUNS)
    assert result["dropped_runs"] == []
    stacked = result["stacked"]
    assert stacked["livetime_s"] / 3600 == pytest.approx(1.75, abs=0.01)
    assert stacked["n_on"] == sum(run["n_on"] for run in result["runs"])
    assert stacked["excess"] > 300 and stacked["significance"] > 30
    # The Crab spectrum shows no significant curvature in 1.75 h.
    assert 0 <= result["curvature_ts"] < 9
    assert set(result["fits"]) == {"power-law", "log-parabola"}
    assert set(result["fits"]["log-parabola"]["parameters"]) == {
        "amplitude",
        "alpha",
        "beta",
    }

    provenance = result["provenance"]
    pins = {pin.name: pin.version for pin in load_pins()}
    assert provenance["versions"] == pins
    assert provenance["config"] == Spectrum1DConfig().model_dump(mode="json")
    assert 0 < provenance["wall_time_s"] < 900
    sums = {}
    for line in (gammapy_data / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        sums[Path(name).name] = digest
    inputs = {
        Path(entry["path"]).name: entry["sha256"] for entry in provenance["inputs"]
    }
    for obs_id in CRAB_RUNS:
        assert inputs[hess_run_file(obs_id)] == sums[hess_run_file(obs_id)]
    assert {"obs-index.fits.gz", "hdu-index.fits.gz"} <= set(inputs)
    assert len(inputs) == len(CRAB_RUNS) + 2


def test_crab_products_are_readable_by_gammapy(crab):
    from gammapy.datasets import SpectrumDatasetOnOff
    from gammapy.estimators import FluxPoints
    from gammapy.modeling.models import Models
    from matplotlib.image import imread

    output, result = crab
    files = {
        str(path.relative_to(output)) for path in output.rglob("*") if path.is_file()
    }
    assert files == set(result["products"]) | {RESULT}

    models = Models.read(output / "models" / "power-law.yaml")
    spectral = models[0].spectral_model
    assert spectral.index.value == result["parameters"]["index"]["value"]
    assert spectral.index.error == pytest.approx(result["parameters"]["index"]["error"])
    assert spectral.reference.quantity == 1.45 * u.TeV
    curved = Models.read(output / "models" / "log-parabola.yaml")[0]
    assert curved.spectral_model.tag[0] == "LogParabolaSpectralModel"

    flux_points = FluxPoints.read(output / "flux_points.ecsv")
    energy = flux_points.energy_ref
    assert energy.unit.is_equivalent(u.TeV) and all(energy[1:] > energy[:-1])
    significant = (flux_points.ts.data.ravel() > 25) & ~flux_points.is_ul.data.ravel()
    assert significant.sum() >= 4
    # The significant points follow the fitted power law within 3 sigma.
    dnde = flux_points.dnde.quantity.ravel()[significant]
    error = flux_points.dnde_err.quantity.ravel()[significant]
    model = spectral(energy[significant])
    assert all(abs(dnde - model) < 3 * error)

    # OGIP spectra (with ARF, RMF, BKG): the counts and livetime come back.
    stacked = SpectrumDatasetOnOff.read(output / "datasets" / "stacked.fits")
    info = stacked.info_dict()
    assert info["counts"] == result["stacked"]["n_on"]
    assert info["livetime"].to_value("s") == pytest.approx(
        result["stacked"]["livetime_s"]
    )
    for run in result["runs"]:
        path = output / "datasets" / f"obs_{run['obs_id']}.fits"
        info = SpectrumDatasetOnOff.read(path).info_dict()
        assert (info["counts"], info["counts_off"]) == (run["n_on"], run["n_off"])
        assert info["livetime"].to_value("s") == pytest.approx(run["livetime_s"])
        assert info["alpha"] == pytest.approx(run["alpha"])
    for plot in ("spectrum.png", "runs.png"):
        height, width, _ = imread(output / plot).shape
        assert height > 300 and width > 300


@pytest.mark.verifies_requirement("C-SAT-0090")
def test_second_run_gives_identical_parameters(crab, tmp_path):
    _, first = crab
    second = run_usecase("spectrum-1d", None, tmp_path / "again", quiet=True)
    assert second["parameters"] == first["parameters"]
    assert second["fits"] == first["fits"]


@pytest.mark.verifies_requirement("C-SAT-0080")
def test_pks_2155_validates_through_config(tmp_path):
    config = tmp_path / "pks.yaml"
    config.write_text(
        "target: PKS 2155-304\n"
        "reference_energy: 0.65 TeV\n"
        "spectral_models: [power-law]\n"
        "flux_points: {energy: {nbins: 4}}\n"
    )
    result = run_usecase("spectrum-1d", config, tmp_path / "pks", quiet=True)
    assert len(result["runs"]) == 6
    assert [check["verdict"] for check in result["validation"]] == ["PASS", "PASS"]
    # Measured with gammapy 2.1 (REFERENCES.md): 3.53 ± 0.25, 1.89 ± 0.23e-11.
    measured = {"index": (3.53, 0.25), "amplitude": (1.89e-11, 0.23e-11)}
    for name, (value, error) in measured.items():
        fitted = result["parameters"][name]
        assert abs(fitted["value"] - value) < 0.1 * error, (name, fitted)
        assert fitted["error"] == pytest.approx(error, rel=0.05), (name, fitted)
    assert "PKS 2155-304 (steady)" in result["validation"][0]["source"]


def test_position_without_reference(tmp_path):
    # A position (no obs-index name), an exclusion region around a star and one of
    # 1.1 deg around the source: the OFF regions of run 23523 (pointed 0.5 deg away)
    # all lie inside it, those of 23559 (1.5 deg away) do not. It runs on 23559
    # alone and says that nothing validates it.
    config = {
        "target": None,
        "observations": {"obs_ids": [23523, 23559]},
        "datasets": {"on_region": {"lon": "83.633 deg", "lat": "22.014 deg"}},
        "exclusion_regions": [
            {"radius": "1.1 deg"},
            {"lon": "84.411 deg", "lat": "21.142 deg", "radius": "0.3 deg"},
        ],
        "spectral_models": ["log-parabola"],
        "flux_points": {"energy": {"max": "30 TeV", "nbins": 2}},
    }
    result = run_usecase("spectrum-1d", config, tmp_path / "here", quiet=True)
    assert result["validation"] == []
    assert result["summary"][-1] == "no published reference for this position"
    assert result["summary"][0].startswith("RA 83.633 Dec 22.014: 1 runs")
    assert result["dropped_runs"] == ["obs_23523"]
    assert "dropped obs_23523: no OFF region" in result["summary"][1]
    assert set(result["parameters"]) == {"amplitude", "alpha", "beta"}
    assert "curvature_ts" not in result
    assert [run["obs_id"] for run in result["runs"]] == [23559]
    assert result["runs"][0]["n_on"] > 50


def test_no_off_region_at_all_is_an_error(tmp_path):
    config = {
        "observations": {"obs_ids": [23523]},
        "exclusion_regions": [{"radius": "1.1 deg"}],
    }
    with pytest.raises(DataError, match="no run of Crab has OFF regions"):
        run_usecase("spectrum-1d", config, tmp_path / "out", quiet=True)
    assert list(tmp_path.iterdir()) == []


def test_flux_point_range(crab):
    from gammapy.datasets import Datasets, SpectrumDatasetOnOff

    output, result = crab
    datasets = Datasets(
        [
            SpectrumDatasetOnOff.read(output / "datasets" / f"obs_{obs_id}.fits")
            for obs_id in CRAB_RUNS
        ]
    )
    # By default: from the lowest safe threshold of the runs to the highest energy.
    lowest = min(run["safe_energy_tev"][0] for run in result["runs"])
    assert _flux_point_range(Spectrum1DConfig(), datasets) == pytest.approx(
        (lowest, 100)
    )
    beyond = Spectrum1DConfig(flux_points={"energy": {"min": "200 TeV"}})
    with pytest.raises(ConfigError, match=r"key 'flux_points\.energy': empty energy"):
        _flux_point_range(beyond, datasets)


@pytest.mark.verifies_requirement("C-SAT-0285")
def test_reference_applies_only_to_the_published_analysis():
    crab, runs = {"Crab"}, PUBLISHED_1D["Crab"].obs_ids
    assert _published_for(Spectrum1DConfig(), crab, runs)[0] is PUBLISHED_1D["Crab"]
    cases = {
        "this analysis of Crab": Spectrum1DConfig(reference_energy="1 TeV"),
        "analysis of Crab": Spectrum1DConfig(
            datasets={"on_region": {"radius": "0.2 deg"}}
        ),
        "first model other than power-law": Spectrum1DConfig(
            spectral_models=["log-parabola", "power-law"]
        ),
        "this position": Spectrum1DConfig(
            target=None,
            datasets={"on_region": {"lon": "83.6 deg", "lat": "22.0 deg"}},
            observations={"obs_ids": [1]},
        ),
    }
    for expected, config in cases.items():
        published, note = _published_for(config, crab, runs)
        assert published is None and "no published reference" in note
        assert expected in note
    vega = Spectrum1DConfig(target="Vega")
    assert _published_for(vega, {"Vega"}, [1]) == (
        None,
        "no published reference for Vega",
    )
    # The paper's target, not its runs: 2 of 4, or the 4 and another one.
    for selection in ([23523, 23526], [*runs, 23527]):
        published, note = _published_for(Spectrum1DConfig(), crab, selection)
        assert published is None
        assert note.startswith("no reference for this selection: Crab was")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"target": None}, "give a target (obs-index name) or datasets.on_region"),
        (
            {"exclusion_regions": [{"radius": "0.3 deg", "lon": "10 deg"}]},
            "exclusion_regions.0: give both lon and lat",
        ),
        (
            {"datasets": {"geom": {"axes": {"energy": {"min": "200 TeV"}}}}},
            "datasets.geom.axes.energy: max must be above min",
        ),
        ({"spectral_models": ["power-law", "power-law"]}, "key 'spectral_models'"),
        ({"spectral_models": ["broken"]}, "key 'spectral_models.0'"),
        (
            {"datasets": {"safe_mask": {"methods": ["edisp"]}}},
            "key 'datasets.safe_mask.methods.0'",
        ),
        ({"datasets": {"type": "3d"}}, "datasets.type must be 1d"),
        ({"reference_energy": "1 m"}, "key 'reference_energy'"),
        (
            {"datasets": {"on_region": {"radius": 0.1}}},
            "key 'datasets': Angle instances require units",
        ),
        ({"general": {"n_jobs": 0}}, "key 'general.n_jobs'"),
        # Keys of release 2026.11 name their new home.
        ({"on_radius_deg": 0.2}, "use datasets.on_region.radius"),
        ({"position": {"ra_deg": 1}}, "use datasets.on_region.lon and .lat"),
        ({"backend": "ray"}, "use general.parallel_backend"),
        ({"flux_points": {"bins_per_decade": 2}}, "use flux_points.energy.nbins"),
        ({"exclusion_regions": [{"radius_deg": 0.3}]}, "exclusion_regions: radius"),
    ],
)
@pytest.mark.verifies_requirement("C-SAT-0323")
def test_invalid_config_names_the_key(overrides, message):
    with pytest.raises(ConfigError, match="invalid config") as error:
        load_config(Spectrum1DConfig, overrides)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.verifies_requirement("C-SAT-0323")
def test_gammapy_blocks_run_unchanged_and_as_gammapy_reduces_them(tmp_path):
    """A config Gammapy wrote: its observations and datasets blocks, every key.

    Gammapy's example 1D config, with the reflected background its 1D tutorial
    sets, written by ``AnalysisConfig.to_yaml`` (every key spelled, defaults and
    nulls included). Its two blocks, copied as they are into a ctao-sat YAML
    (plus one key of ours), run from the command line; Gammapy's high-level
    ``Analysis`` of the same two blocks gives the same spectra and the same fit.
    """
    from importlib.resources import files

    from gammapy.analysis import Analysis, AnalysisConfig

    example = AnalysisConfig.read(
        files("gammapy.analysis") / "config" / "example-1d.yaml"
    )
    example.datasets.background.method = "reflected"
    written = yaml.safe_load(example.to_yaml())
    blocks = {key: written[key] for key in ("observations", "datasets")}
    config = tmp_path / "gammapy.yaml"
    config.write_text(yaml.safe_dump({**blocks, "spectral_models": ["power-law"]}))
    output = tmp_path / "gammapy"
    done = CliRunner().invoke(
        main, ["run", "spectrum-1d", "--config", str(config), "--output", str(output)]
    )
    assert done.exit_code == 0, done.output
    result = json.loads((output / RESULT).read_text())
    used = result["provenance"]["config"]
    assert used["observations"]["obs_ids"] == [23592, 23559]
    assert used["datasets"]["geom"]["axes"]["energy"]["nbins"] == 73
    assert used["datasets"]["geom"]["axes"]["energy_true"]["nbins"] == 16
    assert used["datasets"]["safe_mask"]["methods"] == ["aeff-default"]
    assert used["datasets"]["on_region"]["radius"] == "0.1 deg"
    assert [run["obs_id"] for run in result["runs"]] == [23559, 23592]
    assert result["summary"][-1] == "no published reference for Crab"

    analysis = Analysis(AnalysisConfig(**blocks))
    analysis.get_observations()
    analysis.get_datasets()
    reference = Spectrum1DConfig().reference_energy
    analysis.set_models(
        "components:\n- name: source\n  type: SkyModel\n  spectral:\n"
        "    type: PowerLawSpectralModel\n    parameters:\n"
        "    - {name: index, value: 2.0}\n"
        "    - {name: amplitude, value: 1.0e-12, unit: cm-2 s-1 TeV-1}\n"
        f"    - {{name: reference, value: {reference.value}, unit: TeV}}\n"
    )
    analysis.run_fit()
    for name in ("index", "amplitude"):
        parameter = analysis.models.parameters[name]
        fitted = result["parameters"][name]
        assert fitted["value"] == pytest.approx(parameter.value, rel=1e-6), name
        assert fitted["error"] == pytest.approx(parameter.error, rel=1e-4), name


@pytest.mark.verifies_requirement("C-SAT-0040")
def test_unknown_target_lists_the_targets(tmp_path):
    config = tmp_path / "vega.yaml"
    config.write_text(yaml.safe_dump({"target": "Vega"}))
    output = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["run", "spectrum-1d", "--config", str(config), "--output", str(output)]
    )
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and "Vega" in lines[0]
    for target in ("Crab", "MSH 15-52", "PKS 2155-304"):
        assert target in lines[0]
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == [config]


@pytest.mark.verifies_requirement("C-SAT-0040")
def test_truncated_run_file_is_named(tmp_path, monkeypatch, gammapy_data):
    root = tmp_path / "data"
    shutil.copytree(gammapy_data / "hess-dl3-dr1", root / "hess-dl3-dr1")
    broken = root / "hess-dl3-dr1" / "data" / hess_run_file(23559)
    broken.chmod(0o644)
    os.truncate(broken, broken.stat().st_size // 2)
    monkeypatch.setenv("GAMMAPY_DATA", str(root))
    with pytest.raises(DataError) as caught:
        run_usecase("spectrum-1d", None, tmp_path / "out", quiet=True)
    message = str(caught.value)
    assert str(broken) in message and "\n" not in message
    assert "end-of-stream marker" in message  # gzip's own words for a cut file
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_damaged_uncompressed_file_is_named(tmp_path, gammapy_data):
    from sat.dl3.files import verify_file

    source = gammapy_data / "hess-dl3-dr1" / "data" / hess_run_file(23523)
    plain = tmp_path / "run.fits"
    plain.write_bytes(gzip.decompress(source.read_bytes()))
    verify_file(plain, ["EVENTS", "AEFF"])  # intact: no error
    with pytest.raises(DataError, match=f"cannot read {plain}: .*NOPE"):
        verify_file(plain, ["EVENTS", "NOPE"])
    os.truncate(plain, plain.stat().st_size - 5000)
    with pytest.raises(DataError, match=f"cannot read {plain}: .*truncated"):
        verify_file(plain, ["EVENTS"])


class FailingMaker:
    """A maker whose input file cannot be read (a module-level class: it pickles)."""

    tag = "FailingMaker"

    def run(self, dataset, observation):
        """Fail as astropy does on a damaged file."""
        raise OSError("Header missing END card.")


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_reduction_names_the_file_also_from_workers(n_jobs, gammapy_data):
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from gammapy.datasets import SpectrumDataset
    from gammapy.maps import MapAxis, RegionGeom
    from regions import CircleSkyRegion

    from sat.dl3.select import select_observations
    from sat.dl3.store import open_store
    from sat.reduction import ObservationsMaker

    store = open_store(gammapy_data / "hess-dl3-dr1")
    observations = select_observations(store, obs_ids=[23523, 23526])
    region = CircleSkyRegion(SkyCoord(83.633, 22.014, unit="deg"), 0.11 * u.deg)
    axis = MapAxis.from_energy_bounds(1, 10, 2, unit="TeV")
    reference = SpectrumDataset.create(geom=RegionGeom.create(region, axes=[axis]))
    files = {23523: [Path("/data/a.fits")], 23526: [Path("/data/b.fits")]}
    maker = ObservationsMaker([FailingMaker()], files, n_jobs=n_jobs)
    with pytest.raises(
        DataError, match=r"cannot read /data/[ab]\.fits: Header missing"
    ):
        maker.run(reference, observations)


def test_checked_runs_record_every_file_and_point_at_the_target(gammapy_data, tmp_path):
    from sat.dl3.runs import checked_runs
    from sat.dl3.select import source_position
    from sat.usecases.base import RunContext

    root = gammapy_data / "hess-dl3-dr1"
    context = RunContext(tmp_path, quiet=True)
    selection = checked_runs(context, root, "Crab Nebula", [23523, 23526, 20136])
    # The Crab runs among those asked for (20136 is not one), in obs-index order.
    assert selection.obs_ids == [23523, 23526]
    assert [int(o.obs_id) for o in selection.observations] == [23523, 23526]
    files = [path for paths in selection.files.values() for path in paths]
    assert [p.name for p in files] == [
        "hess_dl3_dr1_obs_id_023523.fits.gz",
        "hess_dl3_dr1_obs_id_023526.fits.gz",
    ]
    assert context.inputs == [
        root / "obs-index.fits.gz",
        root / "hdu-index.fits.gz",
        *files,
    ]

    position, label = source_position(selection.store, "Crab Nebula")
    assert label == "Crab Nebula"
    assert position.ra.deg == pytest.approx(83.633, abs=1e-3)
    given = position.directional_offset_by(0 * u.deg, 1 * u.deg)
    position, label = source_position(selection.store, None, given)
    assert position is given
    assert label == f"RA {given.ra.deg:.3f} Dec {given.dec.deg:.3f}"
