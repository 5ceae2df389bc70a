"""Fault injection: science inputs guarded before any work, under a memory cap.

A position far outside the runs' field of view once grew past 24 GB (Gammapy's
reflected-regions finder built a 0.01 deg mask out to it) and, 8 deg away, fitted
noise before failing in a plot. Now the regions and maps are checked against the
field of view the runs' IRFs describe, and the memory of a geometry is estimated,
before anything is reduced. The memory cases run in a child process whose address
space is capped at 1 GB (``resource.setrlimit``): a regression fails there, in a
MemoryError, instead of taking the machine down; the error must be our one line.
"""

from __future__ import annotations

import json

import pytest
import yaml

from sat.errors import DataError
from sat.result import RESULT
from sat.usecases.runner import run_usecase
from tests.faultkit import (
    address_space_cap,
    assert_one_line,
    cli,
    damage,
    hess_file,
    run_child,
    store_copy,
)

pytestmark = pytest.mark.verifies_requirement("C-SAT-0284")

GB = 1_000_000_000
# Far from every run: 66 deg from run 23523's pointing, and 8 deg.
FAR = {"lon": "10 deg", "lat": "80 deg"}
EIGHT_DEG = {"lon": "83.633 deg", "lat": "29.5 deg"}


def _config(tmp_path, values: dict):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def _at(position: dict, radius="0.11 deg") -> dict:
    return {"frame": "icrs", **position, "radius": radius}


CAPPED = [
    (
        "spectrum-1d-66-deg-away",
        "spectrum-1d",
        {
            "target": None,
            "observations": {"obs_ids": [23523]},
            "datasets": {"on_region": _at(FAR)},
        },
        [
            "the ON region (datasets.on_region: r 0.11 deg at RA 10.000 Dec 80.000)",
            "outside the field of view of every selected run",
            "run 23523 points 66.00 deg away and its IRFs reach 2.75 deg",
        ],
    ),
    (
        "spectrum-1d-8-deg-away",
        "spectrum-1d",
        {
            "target": None,
            "observations": {"obs_ids": [23523]},
            "datasets": {"on_region": _at(EIGHT_DEG)},
        },
        ["run 23523 points 7.99 deg away"],
    ),
]
# The same guards, cheaper: in this process, its address space capped at its
# current size + 1 GB.
CAPPED_HERE = [
    (
        "spectrum-1d-far-from-30-runs",
        "spectrum-1d",
        {"target": None, "datasets": {"on_region": _at(FAR)}},
        ["(the nearest of 30)"],
    ),
    (
        "spectrum-1d-on-region-larger-than-the-fov",
        "spectrum-1d",
        {"datasets": {"on_region": {"radius": "5 deg"}}},
        ["the ON region (target: r 5 deg", "its IRFs reach 2.75 deg"],
    ),
    (
        "spectrum-1d-million-energy-bins",
        "spectrum-1d",
        {
            "datasets": {
                "geom": {
                    "axes": {
                        "energy": {"nbins": 100_000},
                        "energy_true": {"nbins": 200_000},
                    }
                }
            }
        },
        ["key 'datasets.geom.axes'", "TiB of memory", "use fewer energy bins"],
    ),
    (
        "map-3d-centred-far-away",
        "map-3d",
        {
            "target": None,
            "datasets": {"geom": {"wcs": {"skydir": {"frame": "icrs", **FAR}}}},
        },
        ["the map (datasets.geom.wcs", "outside the field of view of every"],
    ),
]
CAPPED += [
    (
        "map-3d-cube-of-a-billion-pixels",
        "map-3d",
        {
            "datasets": {
                "geom": {
                    "wcs": {
                        "binsize": "0.0005 deg",
                        "width": {"width": "10 deg", "height": "10 deg"},
                    }
                }
            }
        },
        ["key 'datasets.geom'", "20000 x 20000 pixels", "use larger pixels"],
    ),
]


@pytest.mark.parametrize(
    "usecase, values, needles",
    [case[1:] for case in CAPPED],
    ids=[case[0] for case in CAPPED],
)
def test_guard_ends_in_one_line_under_a_memory_cap(
    tmp_path, request, usecase, values, needles
):
    config = _config(tmp_path, values)
    output = tmp_path / "out"
    outcome = run_child(
        "run", usecase, "--config", config, "--output", output, "-q",
        address_space=GB, timeout=180,
    )  # fmt: skip
    request.node.user_properties += [
        ("seconds", round(outcome.seconds, 1)),
        ("cpu_s", round(outcome.cpu_s, 1)),
        ("peak_rss_mib", round(outcome.peak_rss_mib)),
    ]
    assert "MemoryError" not in outcome.stderr, outcome.stderr
    assert_one_line(outcome, 1, *needles)
    assert outcome.peak_rss_mib < 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]


@pytest.mark.parametrize(
    "usecase, values, needles",
    [case[1:] for case in CAPPED_HERE],
    ids=[case[0] for case in CAPPED_HERE],
)
def test_guard_ends_in_one_line_in_process_capped(tmp_path, usecase, values, needles):
    config = _config(tmp_path, values)
    with address_space_cap(GB):
        outcome = cli("run", usecase, "--config", config, "--output", tmp_path / "o")
    assert not isinstance(outcome.exception, MemoryError)
    assert_one_line(outcome, 1, *needles)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]


def test_exclusion_region_outside_every_run(tmp_path):
    values = {
        "observations": {"obs_ids": [23523, 23526]},
        "spectral_models": ["power-law"],
        "exclusion_regions": [
            {"radius": "0.3 deg"},
            {"frame": "icrs", "lon": "200 deg", "lat": "-20 deg", "radius": "0.5 deg"},
        ],
    }
    config = _config(tmp_path, values)
    outcome = cli("run", "spectrum-1d", "--config", config, "--output", tmp_path / "o")
    assert_one_line(
        outcome,
        1,
        "key 'exclusion_regions.1'",
        "at RA 200.000 Dec -20.000",
        "outside the field of view of every run",
        "check its coordinates",
    )
    assert not (tmp_path / "o").exists()


def test_runs_that_cannot_contribute_are_named(gammapy_data):
    """A position 2.8 deg from three Crab pointings, 1.8 deg from the fourth."""
    from astropy.coordinates import SkyCoord

    from sat.dl3.store import open_store
    from sat.fov import covering_runs, field_of_view

    store = open_store(gammapy_data / "hess-dl3-dr1")
    observations = store.get_observations([23523, 23526, 23559, 23592])
    fov = field_of_view(observations[0])
    assert (fov.radius_deg, fov.limit) == (2.75, "aeff")
    position = SkyCoord(83.633, 24.3, unit="deg")
    kept, dropped = covering_runs(observations, position, 0.11, "datasets.on_region")
    assert [int(o.obs_id) for o in kept] == [23526]
    assert len(dropped) == 3
    assert dropped[0].startswith("run 23523: the ON region is 2.79 deg from its")
    assert all("its IRFs reach 2.75 deg" in line for line in dropped)
    with pytest.raises(DataError, match="outside the field of view of every"):
        covering_runs(observations, position, 2.0, "datasets.on_region")


@pytest.mark.verifies_requirement("C-SAT-0285")
def test_two_of_the_papers_four_runs_have_no_reference(tmp_path):
    values = {
        "observations": {"obs_ids": [23523, 23526]},
        "spectral_models": ["power-law"],
        "flux_points": {"energy": {"nbins": 2}},
    }
    result = run_usecase("spectrum-1d", values, tmp_path / "out", quiet=True)
    assert result.validation == []  # nothing to PASS
    assert (
        "no reference for this selection: Crab was published for the 4 runs "
        "23523, 23526, 23559, 23592; this analysis fits 2 runs, 2 of them"
    ) in result.summary
    written = json.loads((tmp_path / "out" / RESULT).read_text())
    assert written["validation"] == []


@pytest.fixture
def damaged_store(tmp_path, gammapy_data):
    store = store_copy(gammapy_data, tmp_path / "store")
    path = store / "data" / hess_file(gammapy_data, 23526).name
    damage(path, "truncated", hess_file(gammapy_data, 23526))
    return store


def test_damaged_run_stops_the_run_naming_it(damaged_store, tmp_path):
    values = {"observations": {"datastore": str(damaged_store)}}
    config = _config(tmp_path, values)
    outcome = cli("run", "spectrum-1d", "--config", config, "--output", tmp_path / "o")
    assert_one_line(
        outcome,
        1,
        "hess_dl3_dr1_obs_id_023526.fits.gz",
        "end-of-stream marker",
        "--skip-failed to go on without the run",
    )
    assert not (tmp_path / "o").exists()


@pytest.mark.verifies_requirement("C-SAT-0286")
def test_skip_failed_says_which_run_it_dropped(damaged_store, tmp_path):
    values = {
        "observations": {"datastore": str(damaged_store)},
        "spectral_models": ["power-law"],
        "flux_points": {"energy": {"nbins": 2}},
    }
    config = _config(tmp_path, values)
    output = tmp_path / "o"
    outcome = cli(
        "run", "spectrum-1d", "--config", config, "--output", output, "--skip-failed"
    )
    assert outcome.code == 0, outcome.stderr
    warning = [line for line in outcome.stdout.splitlines() if "WARNING" in line]
    assert len(warning) == 1
    assert "1 run(s) skipped (skip_failed): run 23526: cannot read" in warning[0]
    result = json.loads((output / RESULT).read_text())
    assert [r["obs_id"] for r in result["runs"]] == [23523, 23559, 23592]
    assert result["failed_runs"][0].startswith("run 23526: cannot read")
    # Three of the paper's four runs: no reference, said so.
    assert result["validation"] == []
    assert any("no reference for this selection" in s for s in result["summary"])
