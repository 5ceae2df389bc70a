"""What sat relies on in Gammapy beyond its public API: checked, named when it changes.

`sat.reduction.ObservationsMaker` is Gammapy's `DatasetsMaker` through its public
methods (``make_dataset``, ``callback``, ``error_callback``, ``run``), plus one
facts Gammapy does not document. The maker keeps the datasets collected so far in
instance attributes (``_datasets``, and ``_dataset`` for the reference or the
stack). ObservationsMaker leaves them out when the maker is pickled for a worker
(``ObservationsMaker._MAIN_ONLY``); otherwise every task would carry every result
so far, a payload growing with each run. A Gammapy that renames them would stay
correct and silently slow: these tests fail instead, naming the attribute, in the
suite and in ``nox -s canary`` (the newest Gammapy, without our pins). And a
dataset's name is its ``_name``: ObservationsMaker names each new dataset
``obs_<id>`` in place instead of deep-copying it to rename it.
"""

from __future__ import annotations

import pickle

import pytest

pytestmark = pytest.mark.verifies_requirement("C-SAT-0320")

CRAB_RUNS = [23523, 23526]


def _reduction_inputs(gammapy_data):
    """Two Crab runs, their files, a small spectrum reference and 1D makers."""
    import astropy.units as u
    from gammapy.datasets import SpectrumDataset
    from gammapy.maps import MapAxis, RegionGeom
    from regions import CircleSkyRegion

    from sat.dl3.files import verify_files
    from sat.dl3.makers import spectrum_makers
    from sat.dl3.select import select_observations, target_position
    from sat.dl3.store import open_store

    store = open_store(gammapy_data / "hess-dl3-dr1")
    observations = select_observations(store, obs_ids=CRAB_RUNS)
    region = CircleSkyRegion(target_position(store, "Crab"), 0.11 * u.deg)
    axis = MapAxis.from_energy_bounds(0.5, 50, 4, unit="TeV")
    reference = SpectrumDataset.create(geom=RegionGeom.create(region, axes=[axis]))
    return reference, observations, verify_files(store, CRAB_RUNS), spectrum_makers()


def _holding_datasets(state: dict) -> list[str]:
    """The attributes of a maker's state that hold Gammapy datasets."""
    from gammapy.datasets import Dataset

    def holds(value) -> bool:
        if isinstance(value, Dataset):
            return True
        if isinstance(value, list | tuple):
            return any(holds(item) for item in value)
        return False

    return sorted(name for name, value in state.items() if holds(value))


def test_datasetsmaker_keeps_its_results_where_observationsmaker_drops_them(
    gammapy_data,
):
    from gammapy.makers import DatasetsMaker

    from sat.reduction import ObservationsMaker

    reference, observations, _, makers = _reduction_inputs(gammapy_data)
    maker = DatasetsMaker(makers, stack_datasets=False, n_jobs=1)
    maker.run(reference, observations)
    holding = _holding_datasets(vars(maker))
    dropped = set(ObservationsMaker._MAIN_ONLY)
    assert set(holding) <= dropped, (
        f"gammapy.makers.DatasetsMaker now keeps its datasets in {holding}: "
        "ObservationsMaker._MAIN_ONLY (sat/reduction.py) drops "
        f"{sorted(dropped)} when it pickles the maker for a worker; add the new "
        "names, or every task carries every result so far"
    )
    assert holding, (
        "gammapy.makers.DatasetsMaker keeps no dataset on the maker after run(): "
        "ObservationsMaker._MAIN_ONLY names attributes Gammapy no longer has"
    )


def test_a_maker_pickled_for_a_worker_carries_no_dataset(gammapy_data):
    from sat.reduction import ObservationsMaker

    reference, observations, files, makers = _reduction_inputs(gammapy_data)
    maker = ObservationsMaker(makers, files)
    reduced = maker.run(reference, observations)
    assert len(reduced) == len(CRAB_RUNS)
    state = maker.__getstate__()
    assert _holding_datasets(state) == [], (
        f"ObservationsMaker sends {_holding_datasets(state)} to every worker: "
        "Gammapy's DatasetsMaker keeps its results under a new name; add it to "
        "ObservationsMaker._MAIN_ONLY (sat/reduction.py)"
    )
    # What does travel: the makers and the file names, a few kilobytes.
    assert len(pickle.dumps(maker)) < 100_000
    assert pickle.loads(pickle.dumps(maker)).files == files


@pytest.mark.verifies_requirement("C-SAT-0323")
@pytest.mark.parametrize("name", ["spectrum-1d", "lightcurve", "map-3d"])
def test_gammapy_blocks_come_from_its_public_analysisconfig(name):
    """Each block is Gammapy's own, reached from the public `AnalysisConfig`."""
    from gammapy.analysis import AnalysisConfig
    from pydantic import BaseModel, PlainValidator

    from sat.usecases.registry import get_usecase

    config_class = get_usecase(name).Config
    config = config_class()
    blocks = {}
    for field_name, field in config_class.model_fields.items():
        hooks = [
            m.func.__self__ for m in field.metadata if isinstance(m, PlainValidator)
        ]
        if not hooks:
            continue
        target = hooks[0].target
        assert target.startswith("gammapy."), target
        value = getattr(config, field_name)
        if isinstance(value, BaseModel) and field_name in AnalysisConfig.model_fields:
            blocks[field_name] = value.model_dump()
    # Gammapy's AnalysisConfig takes the use case's blocks as they are.
    assert {"observations", "datasets"} <= set(blocks)
    analysis = AnalysisConfig(**blocks)
    for key, block in blocks.items():
        assert getattr(analysis, key).model_dump() == block, key


def test_a_dataset_is_named_by_its_name_attribute(gammapy_data):
    from gammapy.datasets import Datasets

    from sat.reduction import ObservationsMaker

    reference, observations, files, makers = _reduction_inputs(gammapy_data)
    reduced = ObservationsMaker(makers, files).run(reference, observations)
    expected = [f"obs_{obs_id}" for obs_id in CRAB_RUNS]
    assert reduced.names == expected, (
        "a Gammapy dataset no longer takes its name from `_name`: "
        "ObservationsMaker.reduce_observation (sat/reduction.py) names each run's "
        "dataset there; rename by dataset.copy(name=...) instead"
    )
    # The names hold where Gammapy looks them up: in a Datasets and on disk.
    assert Datasets(list(reduced))["obs_23526"].name == "obs_23526"
    assert reduced[0].to_dict()["name"] == "obs_23523"
