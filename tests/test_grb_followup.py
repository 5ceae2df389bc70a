"""The grb-followup use case: a fading, EBL-absorbed burst seen by CTAO-North.

A run with fewer seeds than the default (8) runs once and is checked from its
files: the pulls of decay index, spectral index and amplitude, the light-curve
goodness of fit, the time to 5 sigma against its expectation, the light curve
and time-resolved spectra. The simulation's time steps and bins are checked
against each other, and the deliberately wrong decay model must fail.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import yaml
from astropy.table import Table
from click.testing import CliRunner

from sat.cli.main import main
from sat.result import RESULT
from sat.usecases.grb_followup import time_to
from sat.usecases.runner import run_usecase
from tests.conftest import assert_user_error

pytestmark = [
    pytest.mark.verifies_usecase("SUSS-UC-SAT-140"),
    pytest.mark.verifies_requirement("C-SAT-0070"),
]

N_SEEDS = 8


@pytest.fixture(scope="module")
def grb(tmp_path_factory):
    """The default burst and analysis with 8 seeds, run once: (output, result)."""
    output = tmp_path_factory.mktemp("grb") / "default"
    return output, run_usecase("grb-followup", {"n_seeds": N_SEEDS}, output, quiet=True)


@pytest.mark.verifies_requirement("C-SAT-0080")
def test_decay_and_spectrum_are_recovered(grb):
    from scipy import stats

    output, result = grb
    assert result.passed, [check.describe() for check in result.failures]
    table = Table.read(output / "seeds.ecsv")
    assert len(table) == N_SEEDS and all(table["success"])
    truth = result["truth"]
    low, high = (
        math.sqrt(stats.chi2.ppf(q, N_SEEDS - 1) / (N_SEEDS - 1))
        for q in (0.00135, 0.99865)
    )
    for name in ("decay_index", "index", "amplitude"):
        pulls = (table[name] - truth[name]) / table[f"{name}_error"]
        assert np.allclose(pulls, table[f"{name}_pull"])
        assert abs(np.mean(pulls)) < 3 / math.sqrt(N_SEEDS)
        assert low < np.std(pulls, ddof=1) < high
    # The decay index of one hour of a bright burst is measured to about 0.1.
    assert 0.03 < np.median(table["decay_index_error"]) < 0.3
    fit = result["pull_statistics"]["light_curve_fit"]
    assert fit["dof"] == N_SEEDS * (8 - 2)
    assert fit["ts"] == pytest.approx(np.sum(table["light_curve_ts"]))
    assert all(table["light_curve_ts"] > -1e-3)  # nested models: never negative
    quantities = [check.quantity for check in result["validation"]]
    assert quantities.count("time-resolved index") == 3
    assert "light-curve misfit significance" in quantities


def test_time_to_5_sigma(grb):
    output, result = grb
    table = Table.read(output / "seeds.ecsv")
    expected = result["parameters"]["time_to_5sigma_asimov"]["value"]
    start, stop = result["observation_s"]
    assert start < expected < stop
    # The seeds scatter around the expected time (the Asimov significance
    # crosses 5 where the median seed does, up to the first-passage effect).
    assert np.min(table["time_to_5sigma_s"]) < expected * 1.5
    assert np.median(table["time_to_5sigma_s"]) == pytest.approx(expected, rel=0.3)
    assert result["parameters"]["time_to_5sigma"]["unit"] == "s"
    asimov = np.array(result["asimov_significance"])
    assert asimov.max() > 5 and np.all(np.isfinite(asimov))


def test_time_to_is_interpolated_in_log_time():
    ends = np.array([100.0, 1000.0])
    assert time_to(5, 10.0, ends, np.array([5.0, 9.0])) == pytest.approx(100.0)
    # Halfway from 3 to 7 sigma between 100 s and 1000 s: sqrt(1e5) s.
    assert time_to(5, 10.0, ends, np.array([3.0, 7.0])) == pytest.approx(10**2.5)
    assert time_to(5, 10.0, ends, np.array([1.0, 2.0])) == math.inf


def test_light_curve_and_spectra_products(grb):
    from gammapy.estimators import FluxPoints
    from matplotlib.image import imread

    output, result = grb
    light_curve = FluxPoints.read(output / "lightcurve.ecsv", format="lightcurve")
    edges = result["time_bin_edges_s"]
    assert len(edges) == 9 and edges[0] == 60.0 and edges[-1] == 3660.0
    table = light_curve.to_table(format="lightcurve", sed_type="flux")
    assert len(table) == 8
    flux = np.ravel(table["flux"])
    # A decaying burst: the first bin is far brighter than the last.
    assert flux[0] > 20 * abs(flux[-1])
    # Three parts of the bins where the burst is expected above 3 sigma: from
    # the start, one after the other, before the background-dominated tail.
    segments = result["time_resolved_spectra"]
    assert [s["segment"] for s in segments] == [1, 2, 3]
    assert segments[0]["start_s"] == pytest.approx(60.0)
    for before, after in itertools.pairwise(segments):
        assert after["start_s"] == pytest.approx(before["stop_s"])
    assert segments[-1]["stop_s"] < 3660.0 and all(s["excess"] > 20 for s in segments)
    for index in range(1, 4):
        points = FluxPoints.read(output / "spectra" / f"segment_{index}.ecsv")
        assert points.energy_axis.nbin >= 4
    for name in ("lightcurve.png", "spectra.png", "pulls.png"):
        image = imread(output / name)
        assert image.shape[1] > 600 and image[..., :3].std() > 0.05
    saved = json.loads((output / RESULT).read_text())
    assert saved["usecase_id"] == "SUSS-UC-SAT-140"
    assert saved["irf"]["name"] == "prod5-north-z20-50h"


def test_steps_add_up_to_the_bins():
    # The fits use bins whose IRF reduction covers their whole interval; the
    # significance uses the steps: the exposures and backgrounds must add up.
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from astropy.time import Time
    from gammapy.maps import MapAxis

    from sat.irf import load_irf, true_energy_axis
    from sat.usecases.onoff_simulation import prepare

    t0 = Time("2025-01-01T00:00:00")
    source = SkyCoord(150, 48.8, unit="deg")
    energy = MapAxis.from_energy_bounds(0.03, 10, 3, unit="TeV")
    energy_true = true_energy_axis(load_irf("prod5-north-z20-50h"), 0.03, 10)
    edges = [60.0, 80.0, 100.0]
    steps, whole = (
        prepare(
            "prod5-north-z20-50h",
            source,
            0.5,
            0.15,
            energy,
            energy_true,
            intervals,
            3,
            t0,
        )
        for intervals in (
            [(t0 + a * u.s, (b - a) * u.s) for a, b in itertools.pairwise(edges)],
            [(t0 + 60 * u.s, 40 * u.s)],
        )
    )
    summed = sum(dataset.exposure.data for dataset in steps.templates)
    assert np.allclose(summed, whole.templates[0].exposure.data, rtol=1e-6)
    background = sum(counts.data for counts in steps.backgrounds)
    assert np.allclose(background, whole.backgrounds[0].data, rtol=1e-6)
    assert float(steps.templates[0].alpha.data.mean()) == pytest.approx(1 / 3)


@pytest.mark.verifies_requirement("C-SAT-0080")
def test_exponential_decay_fails(tmp_path):
    # Gammapy's light-curve tutorial decays exponentially; a burst decays as a
    # power law. Over a decade in time the light curves reject the exponential.
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"decay_model": "exponential", "n_seeds": 6}))
    output = tmp_path / "exponential"
    result = CliRunner().invoke(
        main,
        ["run", "grb-followup", "-q", "--config", str(path), "--output", str(output)],
    )
    assert result.exit_code == 1, result.output
    assert "light-curve misfit significance" in result.output
    saved = json.loads((output / RESULT).read_text())
    failed = [c["quantity"] for c in saved["validation"] if c["verdict"] == "FAIL"]
    assert "light-curve misfit significance" in failed
    assert saved["pull_statistics"]["light_curve_fit"]["p_value"] < 1e-4
    assert all("decay_time_s" in row for row in saved["seeds"])


@pytest.mark.verifies_requirement("C-SAT-0040")
@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"decay_model": "broken"}, "key 'decay_model': Input should be 'power-law'"),
        ({"n_time_bins": 2}, "key 'n_time_bins': Input should be greater than"),
        ({"segments": 9}, "segments must be at most n_time_bins"),
        ({"source": {"redshift": 9}}, "redshift 9 is outside the EBL model"),
        ({"irf": "prod6"}, "unknown IRF 'prod6'"),
        ({"energy_min_tev": 0.001}, "is outside IRF 'prod5-north-z20-50h'"),
        ({"delay_s": -5}, "key 'delay_s': Input should be greater than 0"),
    ],
)
def test_bad_inputs_give_one_line(tmp_path, config, message):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    output = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["run", "grb-followup", "--config", str(path), "--output", str(output)]
    )
    assert_user_error(result, message)
    assert not output.exists()
