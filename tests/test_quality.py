"""Data-quality verdicts on real runs and on broken copies of a real run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.io import fits
from click.testing import CliRunner

from sat.cli.main import main
from sat.quality import check_paths, overall_verdict

pytestmark = [
    pytest.mark.verifies_requirement("C-SAT-0190"),
    pytest.mark.verifies_usecase("SUSS-UC-SAT-090"),
]

RUN = "hess_dl3_dr1_obs_id_023523.fits.gz"


@pytest.fixture(scope="module")
def real_reports(gammapy_data):
    """Verdicts of the 30 H.E.S.S. DR1 runs and the 2 CTA 1DC runs (checked once)."""
    return check_paths(
        [gammapy_data / "hess-dl3-dr1", gammapy_data / "cta-1dc/index/gps"]
    )


def test_every_real_run_passes_or_warns_with_reasons(real_reports):
    assert len(real_reports) == 32
    for report in real_reports:
        assert report.verdict in ("PASS", "WARN"), report.as_dict()
        assert all(f.reason for f in report.findings)
        assert report.stats["n_events"] > 1000
        assert 0 < report.stats["livetime_s"] <= report.stats["ontime_s"]
    by_id = {r.obs_id: r for r in real_reports}
    # Run 20283 has no events in the last ~500 s of its GTI: a rate WARN.
    reasons = [f.reason for f in by_id[20283].findings if f.check == "rate"]
    assert reasons and "time bins" in reasons[0]
    # The 1DC runs: a few events out of time order, GTI without units.
    checks = {(f.check, f.level) for f in by_id[110380].findings}
    assert {("events", "WARN"), ("gti", "WARN")} <= checks
    # The H.E.S.S. Crab runs are at 45-49 deg zenith, the PKS 2155 runs at 36-37 deg.
    assert 44 < by_id[23523].stats["zenith_deg"] < 50
    assert overall_verdict(real_reports) == "WARN"


def _copy(source, folder, name, edit=None):
    """Write a copy of ``source`` named ``name`` after ``edit(hdul)``."""
    path = folder / name
    with fits.open(source) as hdul:
        hdul = fits.HDUList([hdu.copy() for hdu in hdul])
        if edit:
            edit(hdul)
        hdul.writeto(path)
    return path


def _drop(name):
    def edit(hdul):
        del hdul[name]

    return edit


def _unit(hdul):
    hdul["EVENTS"].columns["ENERGY"].unit = "GeV"


def _empty(hdul):
    hdul["EVENTS"] = fits.BinTableHDU(
        hdul["EVENTS"].data[:0], header=hdul["EVENTS"].header, name="EVENTS"
    )


def _shuffle(hdul):
    time = hdul["EVENTS"].data["TIME"]
    time[:] = np.random.default_rng(1).permutation(time)


def _deadc(hdul):
    hdul["EVENTS"].header["DEADC"] = 1.5


def _livetime(hdul):
    hdul["EVENTS"].header["LIVETIME"] *= 0.5


def _pointing(hdul):
    hdul["EVENTS"].header["RA_PNT"] = (hdul["EVENTS"].header["RA_PNT"] + 90) % 360


def _gap(hdul):
    data = hdul["EVENTS"].data
    time = data["TIME"]
    middle = (time > time[0] + 600) & (time < time[0] + 900)
    hdul["EVENTS"] = fits.BinTableHDU(
        data[~middle], header=hdul["EVENTS"].header, name="EVENTS"
    )


def _keys(hdul):
    del hdul["EVENTS"].header["OBS_ID"]
    del hdul["EVENTS"].header["TSTART"]


def _irf_energy(hdul):
    hdul["AEFF"].columns["ENERG_LO"].unit = "eV"
    hdul["AEFF"].columns["ENERG_HI"].unit = "eV"


def _gti_reversed(hdul):
    data = hdul["GTI"].data
    data["START"], data["STOP"] = data["STOP"].copy(), data["START"].copy()


def _gti_unit(hdul):
    hdul["GTI"].columns["START"].unit = "d"


def _gti_empty(hdul):
    hdul["GTI"] = fits.BinTableHDU(
        hdul["GTI"].data[:0], header=hdul["GTI"].header, name="GTI"
    )


def _energy_nan(hdul):
    hdul["EVENTS"].data["ENERGY"][:10] = np.nan


def _off_sky(hdul):
    hdul["EVENTS"].header["DEC_PNT"] = 120.0


def _aeff_zero(hdul):
    hdul["AEFF"].data["EFFAREA"][:] = 0


def _no_mission_keys(hdul):
    del hdul["EVENTS"].header["TELESCOP"]


BROKEN = {
    # name: (edit, verdict, check, words in the reason)
    "no-edisp": (_drop("EDISP"), "FAIL", "hdus", "no EDISP HDU"),
    "no-gti": (_drop("GTI"), "FAIL", "hdus", "no GTI HDU"),
    "energy-in-gev": (_unit, "FAIL", "events", "ENERGY has unit 'GeV'"),
    "empty": (_empty, "FAIL", "events", "event list is empty"),
    "shuffled": (_shuffle, "FAIL", "events", "not time-ordered"),
    "deadc": (_deadc, "FAIL", "deadtime", "DEADC = 1.5"),
    "livetime": (_livetime, "FAIL", "deadtime", "ONTIME x DEADC"),
    "pointing": (_pointing, "FAIL", "pointing", "is the pointing position right"),
    "keys": (_keys, "FAIL", "events", "lacks OBS_ID, TSTART"),
    "irf-energy-ev": (_irf_energy, "FAIL", "irf", "aeff energy axis"),
    "rate-gap": (_gap, "WARN", "rate", "Poisson outliers"),
    "gti-reversed": (_gti_reversed, "FAIL", "gti", "ends before it starts"),
    "gti-unit": (_gti_unit, "FAIL", "gti", "GTI column START has unit 'd'"),
    "gti-empty": (_gti_empty, "FAIL", "gti", "GTI table is empty"),
    "energy-nan": (_energy_nan, "FAIL", "events", "non-positive or NaN"),
    "off-sky": (_off_sky, "FAIL", "pointing", "is not on the sky"),
    "aeff-zero": (_aeff_zero, "FAIL", "irf", "aeff values are NaN or nowhere"),
    "no-telescop": (_no_mission_keys, "WARN", "events", "lacks GADF keys TELESCOP"),
}


@pytest.fixture(scope="module")
def broken(gammapy_data, tmp_path_factory):
    """Broken copies of a real H.E.S.S. run, and a truncated one."""
    source = gammapy_data / "hess-dl3-dr1/data" / RUN
    folder = tmp_path_factory.mktemp("broken")
    paths = {
        name: _copy(source, folder, f"{name}.fits", edit)
        for name, (edit, *_) in BROKEN.items()
    }
    paths["intact"] = _copy(source, folder, "intact.fits")
    data = source.read_bytes()
    for name, suffix in (("truncated-gz", ".fits.gz"), ("truncated", ".fits")):
        raw = data if suffix == ".fits.gz" else paths["intact"].read_bytes()
        paths[name] = folder / f"{name}{suffix}"
        paths[name].write_bytes(raw[: len(raw) // 2])
    (folder / "garbage.fits").write_bytes(b"not a FITS file at all")
    paths["garbage"] = folder / "garbage.fits"
    return paths


def _single(path):
    (report,) = check_paths([path])
    return report


def test_an_intact_copy_of_a_real_run_passes(broken):
    report = _single(broken["intact"])
    assert report.verdict in ("PASS", "WARN")
    assert report.obs_id == 23523
    assert all(f.check == "gti" for f in report.findings)


@pytest.mark.parametrize("name", BROKEN)
def test_each_broken_copy_is_caught_with_its_reason(broken, name):
    _, verdict, check, words = BROKEN[name]
    report = _single(broken[name])
    assert report.verdict == verdict, report.as_dict()
    reasons = [f.reason for f in report.findings if f.check == check]
    assert any(words in reason for reason in reasons), report.as_dict()


@pytest.mark.parametrize("name", ["truncated-gz", "truncated", "garbage"])
def test_a_corrupt_file_fails_naming_it(broken, name):
    report = _single(broken[name])
    assert report.verdict == "FAIL"
    assert any(
        f.check == "read" and "cannot read" in f.reason and name in f.reason
        for f in report.findings
    ), report.as_dict()


def test_a_store_with_a_missing_file_and_a_folder_without_index(gammapy_data, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    for index in ("obs-index.fits.gz", "hdu-index.fits.gz"):
        (store / index).symlink_to(gammapy_data / "hess-dl3-dr1" / index)
    (store / "data").mkdir()
    run = gammapy_data / "hess-dl3-dr1/data" / RUN
    (store / "data" / RUN).symlink_to(run)
    reports = {r.obs_id: r for r in check_paths([store])}
    assert reports[23523].verdict in ("PASS", "WARN")
    missing = reports[20136]
    assert missing.verdict == "FAIL"
    assert any("does not exist" in f.reason for f in missing.findings)
    (report,) = check_paths([tmp_path / "store" / "data"])
    assert report.verdict == "FAIL" and "no obs-index" in report.findings[0].reason


def test_a_run_missing_from_the_obs_index_warns(gammapy_data, tmp_path):
    from astropy.table import Table

    source = gammapy_data / "hess-dl3-dr1"
    obs_table = Table.read(source / "obs-index.fits.gz")
    obs_table[obs_table["OBS_ID"] != 20136].write(tmp_path / "obs-index.fits.gz")
    hdu_table = Table.read(source / "hdu-index.fits.gz")
    keep = [int(i) in (20136, 23523) for i in hdu_table["OBS_ID"]]
    hdu_table[keep].write(tmp_path / "hdu-index.fits.gz")
    (tmp_path / "data").symlink_to(source / "data")
    reports = {r.obs_id: r for r in check_paths([tmp_path])}
    assert reports[20136].verdict == "WARN"
    assert "not in obs-index" in reports[20136].findings[0].reason
    # Runs of the obs-index without HDUs in the hdu-index fail.
    assert reports[20137].verdict == "FAIL"
    assert any("no EVENTS HDU" in f.reason for f in reports[20137].findings)
    assert reports[23523].verdict in ("PASS", "WARN")


def test_cli_exit_codes_and_json(gammapy_data, broken):
    runner = CliRunner()
    good = runner.invoke(main, ["check", "-q", str(broken["intact"])])
    assert good.exit_code == 0, good.output
    assert "obs 23523" in good.output and "1 observations" in good.output
    bad = runner.invoke(
        main, ["check", "--json", str(broken["intact"]), str(broken["truncated-gz"])]
    )
    assert bad.exit_code == 1
    result = json.loads(bad.output)
    assert result["verdict"] == "FAIL"
    verdicts = [o["verdict"] for o in result["observations"]]
    assert verdicts[1] == "FAIL" and verdicts[0] != "FAIL"
    assert "Traceback" not in bad.output
    text = runner.invoke(main, ["check", str(broken["shuffled"])])
    assert text.exit_code == 1 and "FAIL [events] events are not time-ordered" in (
        text.output
    )
    missing = runner.invoke(main, ["check", str(broken["intact"].parent / "nope")])
    assert missing.exit_code == 1
    assert "does not exist" in missing.output and "Traceback" not in missing.output
