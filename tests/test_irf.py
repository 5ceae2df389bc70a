"""The public CTAO IRFs by name: loading, key numbers, CLI, plots, errors."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from sat.cli.main import main
from sat.errors import ConfigError, DataError
from sat.irf import irf_info, irf_summary, known_irfs, load_irf
from tests.conftest import assert_user_error

pytestmark = pytest.mark.verifies_requirement("C-SAT-0150")

NAMES = list(known_irfs())


def test_the_public_irfs_are_known():
    assert NAMES == ["prod5-south-z20-50h", "prod5-north-z20-50h", "1dc-south-z20-50h"]
    south = irf_info("prod5-south-z20-50h")
    assert south.site == "ctao-south" and "14 MSTs + 37 SSTs" in south.array
    north = irf_info("PROD5-North-z20-50h ")  # case and spaces do not matter
    assert north.site == "ctao-north" and "4 LSTs + 9 MSTs" in north.array
    for name in NAMES[:2]:
        info = irf_info(name)
        assert "10.5281/zenodo.5499840" in info.source
        assert info.licence == "CC BY 4.0" and not info.legacy
        assert (info.zenith_deg, info.livetime_h) == (20.0, 50.0)
    assert irf_info("1dc-south-z20-50h").legacy


@pytest.mark.parametrize("name", NAMES)
def test_every_irf_loads_with_gammapy(name):
    from gammapy.irf import (
        Background3D,
        EffectiveAreaTable2D,
        EnergyDependentMultiGaussPSF,
        EnergyDispersion2D,
    )

    irfs = load_irf(name)
    assert isinstance(irfs["aeff"], EffectiveAreaTable2D)
    assert isinstance(irfs["edisp"], EnergyDispersion2D)
    assert isinstance(irfs["psf"], EnergyDependentMultiGaussPSF)
    assert isinstance(irfs["bkg"], Background3D)


@pytest.fixture(scope="module")
def summaries():
    """Key numbers at 1 and 10 TeV of every IRF (computed once)."""
    return {
        (name, energy): irf_summary(name, energy_tev=energy)
        for name in NAMES
        for energy in (1.0, 10.0)
    }


@pytest.mark.parametrize("name", NAMES)
def test_key_numbers_are_physical(summaries, name):
    s = summaries[name, 1.0]
    # A km2-scale array: 0.1 to 10 km2 at 1 TeV.
    assert 1e5 < s["aeff_m2"] < 1e7
    # Arcminute-scale angular resolution at 1 TeV.
    assert 0.02 < s["psf_r68_deg"] < 0.15
    # Energy resolution of ~10 % at 1 TeV.
    assert 0.04 < s["energy_resolution"] < 0.2
    # Residual cosmic rays: a few per second and square degree in the whole band.
    assert 0.1 < s["background_rate_integral"] < 100
    assert s["background_rate"] > 0
    low, high = s["energy_range_tev"]
    assert low < 0.02 and high > 150
    assert s["aeff_range_tev"][0] < 1.0
    assert s["offset_max_deg"] == 6.0
    # The resolution improves with energy; the area grows.
    assert summaries[name, 10.0]["psf_r68_deg"] < s["psf_r68_deg"]
    assert summaries[name, 10.0]["aeff_m2"] > s["aeff_m2"]


def test_north_reaches_lower_energies_and_south_higher(summaries):
    north = summaries["prod5-north-z20-50h", 10.0]
    south = summaries["prod5-south-z20-50h", 10.0]
    # LSTs in the North lower the threshold; 37 SSTs over ~3 km2 in the South
    # give it a larger area at high energies.
    assert north["aeff_range_tev"][0] < 0.5 * south["aeff_range_tev"][0]
    assert south["aeff_m2"] > 2 * north["aeff_m2"]


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ConfigError) as error:
        load_irf("prod6-south")
    message = str(error.value)
    assert "prod6-south" in message
    assert all(name in message for name in NAMES)


def test_summary_refuses_what_the_irf_does_not_cover():
    with pytest.raises(ConfigError, match="outside the field of view"):
        irf_summary("prod5-south-z20-50h", offset_deg=7.0)
    with pytest.raises(ConfigError, match="outside the energy range"):
        irf_summary("prod5-south-z20-50h", energy_tev=1000.0)
    with pytest.raises(ConfigError, match="negative"):
        irf_summary("prod5-south-z20-50h", offset_deg=-1.0)


def test_missing_and_corrupt_irf_files(gammapy_data, tmp_path, monkeypatch):
    info = irf_info("prod5-south-z20-50h")
    monkeypatch.setenv("GAMMAPY_DATA", str(tmp_path))
    with pytest.raises(DataError, match="ctao-sat data download cta-caldb"):
        load_irf(info.name)
    # The dataset is there (its marker, the South file) but truncated, and the
    # North file is missing.
    source = gammapy_data / info.dataset / info.file
    target = tmp_path / info.dataset / info.file
    target.parent.mkdir(parents=True)
    target.write_bytes(source.read_bytes()[:5000])
    with pytest.raises(DataError, match=f"cannot read .*{info.file}"):
        load_irf(info.name)
    with pytest.raises(DataError, match="is missing: run: ctao-sat data download"):
        load_irf("prod5-north-z20-50h")
    shutil.copyfile(source, target)
    assert load_irf(info.name)["aeff"] is not None


def test_cli_list():
    runner = CliRunner()
    result = runner.invoke(main, ["irf", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == NAMES
    assert "(legacy)" in lines[2] and "(legacy)" not in lines[0]
    result = runner.invoke(main, ["irf", "list", "--json"])
    listed = json.loads(result.output)
    assert [item["name"] for item in listed] == NAMES
    assert listed[0]["licence"] == "CC BY 4.0"


def test_cli_show_text_and_json(summaries):
    runner = CliRunner()
    result = runner.invoke(main, ["irf", "show", "prod5-south-z20-50h", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    expected = summaries["prod5-south-z20-50h", 1.0]
    assert shown["aeff_m2"] == pytest.approx(expected["aeff_m2"])
    assert shown["psf_r68_deg"] == pytest.approx(expected["psf_r68_deg"])
    result = runner.invoke(
        main, ["irf", "show", "prod5-north-z20-50h", "--energy", "0.1"]
    )
    assert result.exit_code == 0, result.output
    assert "at 0.1 TeV, offset 0.5 deg" in result.output
    for label in ("effective area", "PSF 68 %", "energy resolution", "background"):
        assert label in result.output
    assert "zenodo.5499840" in result.output


def test_cli_show_plots_every_component(tmp_path):
    from matplotlib.image import imread

    result = CliRunner().invoke(
        main, ["irf", "show", "1dc-south-z20-50h", "--plot", str(tmp_path / "plots")]
    )
    assert result.exit_code == 0, result.output
    for component in ("aeff", "psf", "edisp", "bkg"):
        path = tmp_path / "plots" / f"1dc-south-z20-50h-{component}.png"
        assert f"plot: {path}" in result.output
        image = imread(path)
        # A real figure with several panels, not an empty canvas.
        assert image.shape[0] > 300 and image.shape[1] > 500
        assert image[..., :3].std() > 0.05


@pytest.mark.verifies_requirement("C-SAT-0040")
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["irf", "show", "nope"],
            "Error: unknown IRF 'nope'; known: " + ", ".join(NAMES),
        ),
        (
            ["irf", "show", "prod5-south-z20-50h", "--offset", "6.5"],
            "outside the field of view of IRF 'prod5-south-z20-50h' (0 to 6 deg)",
        ),
    ],
)
def test_cli_errors_are_one_line(arguments, message):
    result = CliRunner().invoke(main, arguments)
    assert_user_error(result, message)
