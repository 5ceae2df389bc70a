"""Every figure of ctao-sat is one an astronomer would put on a slide (issue 21).

Every registered use case runs (a light configuration where the default takes
minutes) and each of its figures is checked on its matplotlib objects by
`tests.figures.problems`: labels in words with units, a legend entry for every
drawn element, colorbars with units, titles that fit, tick labels that do not
overlap, a caption saying what data it shows. So are the figures of
``ctao-sat irf show --plot``, ``quicklook`` and ``datavolume``. A use case
added to the registry is covered without touching this file.

The checker itself is tested on figures that break each rule, as Gammapy's own
``peek()`` and plots do: a check that cannot fail proves nothing.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import sat
from sat.cli.main import main
from sat.config import load_config
from sat.plots import ObservationSummary, caption, colorbar, label, run_ticks
from sat.usecases.registry import usecases
from tests.conftest import REPO, hess_run_file
from tests.figures import caption_of, label_problem, problems

pytestmark = pytest.mark.verifies_requirement("C-SAT-0303")

# Light but real configurations where the defaults take minutes (the others run
# their defaults, or the lighter configuration of their gallery page).
LIGHT = {
    "joint-crab": {"instruments": ["hess", "magic"]},
    "ctao-simulate": {"n_seeds": 3, "livetime_h": 0.05},
    "survey": {"n_runs": 4, "livetime_s": 120.0, "bins_per_decade": 4},
    "dark-matter-limits": {
        "masses_tev": [0.5, 1.0, 5.0],
        "width_deg": 3.0,
        "binsz_deg": 0.25,
        "coverage": {"n_seeds": 10},
    },
    "source-detection": {
        "simulation": {"width_lon_deg": 3.0, "width_lat_deg": 2.0, "n_pointings": 1},
        "population": {"n_sources": 3, "edge_margin_deg": 0.3},
        "real_data": {
            "fields": [{"target": "Crab Nebula", "catalogue_name": "Crab nebula"}]
        },
    },
}


def light_config(name: str) -> dict:
    """Return the light configuration of use case ``name`` for this test."""
    if name in LIGHT:
        return LIGHT[name]
    gallery = yaml.safe_load((REPO / "docs" / "gallery.yaml").read_text())
    return (gallery.get(name) or {}).get("overrides") or {}


@pytest.fixture(scope="module", params=sorted(usecases()))
def run(request, tmp_path_factory):
    """(name, result) of a run of every use case, figures kept in memory.

    The run starts from what ``--print-config`` prints for the light
    configuration: the printed YAML runs unchanged (C-SAT-0302).
    """
    name = request.param
    folder = tmp_path_factory.mktemp(name)
    light = folder / "light.yaml"
    light.write_text(yaml.safe_dump(light_config(name)))
    args = ["run", name, "--print-config"]
    if light_config(name):
        args += ["--config", str(light)]
    printed = CliRunner().invoke(main, args)
    assert printed.exit_code == 0, printed.output
    (folder / "printed.yaml").write_text(printed.output)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a light run may miss its reference
        result = sat.run(name, folder / "printed.yaml", quiet=True)
    expected = load_config(usecases()[name].Config, light_config(name) or None)
    assert result.provenance.config == expected.model_dump(mode="json")
    yield name, result
    for figure in result.figures.values():
        plt.close(figure)


@pytest.mark.verifies_requirement("C-SAT-0302")  # it ran from the printed YAML
def test_every_figure_of_every_use_case_is_fit_for_a_slide(run):
    name, result = run
    pngs = {product.path for product in result.products if product.kind == "figure"}
    assert pngs, f"{name} draws no figure"
    assert set(result.figures) == pngs  # every PNG written is a kept figure
    found = {product: problems(figure) for product, figure in result.figures.items()}
    assert {product: p for product, p in found.items() if p} == {}, name


def test_figures_of_observations_say_which_observations(run):
    name, result = run
    observations = result.get("observations")
    if observations is None:
        return  # a use case on spectra, simulations or an IRF: captioned above
    summary = ObservationSummary(
        observations["n_runs"],
        observations["livetime_h"],
        tuple(observations["zenith_deg"]),
        tuple(observations["dates"]),
        observations["instrument"],
    )
    for product, figure in result.figures.items():
        assert summary.text() in caption_of(figure), f"{name}: {product}"


def test_irf_figures(tmp_path):
    from sat.irf import known_irfs, plot_irf
    from sat.irf_plots import irf_figures

    for name in known_irfs():
        figures = irf_figures(name)
        assert sorted(figures) == ["aeff", "bkg", "edisp", "psf"]
        for component, figure in figures.items():
            assert problems(figure) == [], f"{name} {component}"
            assert name in caption_of(figure)
            # Nothing empty: every curve panel has curves with finite values.
            for ax in figure.axes:
                for line in ax.lines:
                    assert np.isfinite(np.asarray(line.get_ydata(), float)).any()
            plt.close(figure)
    written = plot_irf("prod5-north-z20-50h", tmp_path)
    assert [path.name for path in written] == [
        f"prod5-north-z20-50h-{c}.png" for c in ("aeff", "psf", "edisp", "bkg")
    ]


def test_irf_effective_area_panels_show_the_area(tmp_path):
    # `irf show --plot` once drew an empty "relative effective area" panel.
    from sat.irf import load_irf
    from sat.irf_plots import irf_figures

    figure = irf_figures("prod5-south-z20-50h")["aeff"]
    aeff = load_irf("prod5-south-z20-50h")["aeff"]
    peak = aeff.data.max() * aeff.unit.to("m2")
    for ax in figure.axes[:2]:
        shown = max(np.nanmax(line.get_ydata()) for line in ax.lines)
        assert 0.3 * peak < shown <= 1.01 * peak
    plt.close(figure)


def test_quicklook_figure(gammapy_data, tmp_path, monkeypatch):
    from sat import quicklook

    drawn = []
    draw = quicklook.plot_quicklook

    def keep(*args, **kwargs):
        drawn.append(draw(*args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(quicklook, "plot_quicklook", keep)
    files = [gammapy_data / "hess-dl3-dr1" / "data" / hess_run_file(23523)]
    (summary,) = quicklook.run_quicklook(files, tmp_path)
    assert "error" not in summary
    (figure,) = drawn
    assert problems(figure) == []
    text = caption_of(figure)
    assert "1 run, 0.44 h live time" in text and "2004-12-04" in text
    # How long the quick look took is in summary.json, never on the figure,
    # where it would read as the run's duration.
    shown = [t.get_text() for t in figure.findobj(plt.Text)]
    assert not [t for t in shown if f"{summary['time_s']:.1f} s" in t]
    plt.close(figure)


# --- the checker fails what it must fail -------------------------------------------


def test_gammapy_labels_and_missing_units_are_refused():
    assert label_problem("e2dnde [erg s-1 cm-2]", "y")
    assert label_problem("Energy [$\\mathrm{TeV}$]", "x")
    assert label_problem("Effective area", "y")  # a quantity with a unit
    assert label_problem("", "x")
    assert label_problem(label("E² dN/dE", "erg cm-2 s-1"), "y") is None
    assert label_problem(label("Energy", "TeV"), "x") is None
    assert label_problem("significance (σ)", "cb") is None
    assert label_problem("excess counts per bin", "y") is None


def test_a_band_without_legend_entry_fails():
    figure, ax = plt.subplots()
    ax.plot([1, 2], [1, 2], label="fit")
    ax.fill_between([1, 2], [0.5, 1], [1.5, 3])  # a butterfly, unnamed
    ax.set_xlabel(label("Energy", "TeV"))
    ax.set_ylabel(label("Flux", "cm-2 s-1"))
    ax.legend()
    caption(figure, "test data")
    found = problems(figure)
    assert len(found) == 1 and "FillBetweenPolyCollection" in found[0], found
    plt.close(figure)


def test_an_image_without_colorbar_unit_and_a_wide_title_fail():
    figure, (left, right) = plt.subplots(1, 2, figsize=(8, 4))
    image = left.imshow(np.ones((4, 4)))
    figure.colorbar(image, ax=left)  # no label
    left.set_xlabel(label("Longitude", "deg"))
    left.set_ylabel(label("Latitude", "deg"))
    left.set_title("a title that is far too long to fit above its axes " * 2)
    right.imshow(np.ones((4, 4)))  # no colorbar at all
    right.set_xlabel(label("Longitude", "deg"))
    right.set_ylabel(label("Latitude", "deg"))
    found = problems(figure)
    assert any("colorbar: no label" in p for p in found), found
    assert any("image without colorbar" in p for p in found), found
    assert any("too wide" in p for p in found), found
    assert any("no caption" in p for p in found), found
    plt.close(figure)


def test_run_labels_stay_readable_at_forty_runs():
    numbers = [str(20000 + 37 * i) for i in range(40)]
    figure, ax = plt.subplots(figsize=(7, 4))
    ax.bar(range(40), np.arange(40), label="excess")
    ax.set_xticks(range(40), numbers)  # as a plot without run_ticks does
    ax.set_xlabel("run")
    ax.set_ylabel("excess counts")
    ax.legend()
    caption(figure, "40 runs")
    assert any("tick labels overlap" in p for p in problems(figure))
    run_ticks(ax, numbers)
    assert problems(figure) == []
    shown = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert 10 <= len(shown) <= 25 and shown[0] == numbers[0]
    plt.close(figure)


def test_colorbar_helper_labels_with_units():
    figure, ax = plt.subplots()
    bar = colorbar(figure, ax.imshow(np.ones((3, 3)) * 1e-4), ax, "Rate", "s-1 sr-1")
    assert bar.ax.get_ylabel() == "Rate (s⁻¹ sr⁻¹)"
    plt.close(figure)


def test_observation_summary_of_real_runs(gammapy_data):
    from gammapy.data import DataStore

    store = DataStore.from_dir(gammapy_data / "hess-dl3-dr1")
    summary = ObservationSummary.from_observations(
        store.get_observations([23523, 23526, 23559, 23592])
    )
    table = store.obs_table.select_obs_id([23523, 23526, 23559, 23592])
    assert summary.n_runs == 4
    # The live time is the obs-index's, the zenith the one the runs' headers
    # record (ALT_PNT, which the obs-index repeats as ZEN_PNT), the dates those
    # of the runs.
    assert summary.livetime_h == pytest.approx(table["LIVETIME"].sum() / 3600, 1e-3)
    assert summary.zenith_deg[0] == pytest.approx(table["ZEN_PNT"].min(), abs=1e-4)
    assert summary.zenith_deg[1] == pytest.approx(table["ZEN_PNT"].max(), abs=1e-4)
    assert summary.dates == ("2004-12-04", "2004-12-08")
    assert summary.text().startswith("HESS: 4 runs, 1.75 h live time, zenith ")


def test_observation_summary_reads_the_zenith_without_transforming(
    gammapy_data, monkeypatch
):
    # A run whose header records its pointing needs no AltAz transform (whose
    # first call costs a 1D analysis ~1 s loading astropy's IERS tables); a run
    # without one (simulated in memory) is transformed at mid-run.
    from astropy.coordinates import SkyCoord
    from gammapy.data import DataStore, FixedPointingInfo, Observation

    store = DataStore.from_dir(gammapy_data / "hess-dl3-dr1")
    recorded = store.get_observations([23523])
    expected = 90 - recorded[0].meta.pointing.altaz_mean.alt.deg

    def transform(self, time):
        raise AssertionError("transformed a run whose header has ALT_PNT")

    with monkeypatch.context() as patched:
        patched.setattr(Observation, "get_pointing_altaz", transform)
        summary = ObservationSummary.from_observations(recorded)
    assert summary.zenith_deg == pytest.approx((expected, expected))

    observation = recorded[0]
    simulated = Observation.create(
        pointing=FixedPointingInfo(fixed_icrs=SkyCoord(83.63, 22.51, unit="deg")),
        livetime="1 h",
        tstart=observation.tstart,
        irfs={"aeff": observation.aeff},
        location=observation.meta.location,
    )
    zenith = simulated.get_pointing_altaz(simulated.tmid).zen.deg
    summary = ObservationSummary.from_observations([simulated])
    assert summary.zenith_deg == (pytest.approx(zenith), pytest.approx(zenith))
    assert summary.instrument == ""


def test_figures_are_kept_not_left_open_in_pyplot(tmp_path):
    before = set(plt.get_fignums())
    result = sat.run("joint-crab", {"instruments": ["hess"]}, quiet=True)
    assert set(plt.get_fignums()) == before
    assert list(result.figures) == ["sed.png"]
    result.figures["sed.png"].savefig(Path(tmp_path, "again.png"))  # still drawable
