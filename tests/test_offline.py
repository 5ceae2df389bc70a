"""Offline operation: PINT's clock corrections and ephemeris with no network.

The PINT checks run in a fresh interpreter with an empty astropy cache, every
non-loopback socket blocked and every astropy download attempt recorded: first
without `configure_pint` (PINT must try to fetch its clock index: the problem is
real), then with it (no attempt at all, the staged files and DE421 are used).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sat import offline
from sat.errors import DataError
from tests.conftest import REPO

pytestmark = pytest.mark.verifies_requirement("C-SAT-0050")

SCRIPT = textwrap.dedent(
    """
    import json, os, socket, sys, time
    from pathlib import Path

    from tests.conftest import _loopback_only

    socket.socket.connect = _loopback_only
    import astropy.utils.data as astropy_data

    attempts = []
    original = astropy_data._download_file_from_source

    def recording(source_url, *args, **kwargs):
        attempts.append(source_url)
        return original(source_url, *args, **kwargs)

    astropy_data._download_file_from_source = recording
    import pint.logging

    pint.logging.setup(level="ERROR", capturewarnings=False)
    from sat import offline

    staged = sys.argv[1]
    report = {}
    # 1. PINT_CLOCK_OVERRIDE and astropy offline are not enough.
    offline.configure()
    os.environ["PINT_CLOCK_OVERRIDE"] = staged
    from pint.observatory import find_clock_file

    try:
        find_clock_file("gps2utc.clk", format="tempo2")
        report["unseeded"] = "no error"
    except Exception as error:
        report["unseeded"] = type(error).__name__
    report["unseeded_attempts"] = list(attempts)
    attempts.clear()

    # 2. With configure_pint: a GBT TOA needs the GPS, GBT and BIPM clocks and
    # the Earth's position from DE421.
    setup = offline.configure_pint(staged)
    import numpy as np
    import pint.toa

    toas = pint.toa.get_TOAs_array(
        (np.array([56000.0]), np.array([0.0])),
        obs="gbt",
        freqs=1400,
        ephem="DE421",
        include_bipm=True,
    )
    report["attempts"] = list(attempts)
    report["clock_files"] = offline.pint_clock_files()
    report["ephemeris"] = setup["ephemeris"]
    report["clkcorr_s"] = float(toas.get_flag_value("clkcorr", as_type=float)[0][0])
    report["ssb_obs_km"] = float(np.linalg.norm(toas.table["ssb_obs_pos"][0]))
    report["cache"] = setup["cache"]
    report["seeded"] = setup["seeded"]

    # 3. A second call refreshes the index only.
    from astropy.utils.data import download_file
    from pint.observatory import global_clock_corrections as gcc

    def mtime(path):
        url = gcc.global_clock_correction_url_base + path
        return Path(download_file(url, cache=True, sources=[])).stat().st_mtime_ns

    clock = gcc.Index(download_policy="if_missing").files["gps2utc.clk"].file
    before = mtime(clock), mtime(gcc.index_name)
    time.sleep(0.05)
    offline.configure_pint(staged)
    after = mtime(clock), mtime(gcc.index_name)
    report["clock_file_reimported"] = after[0] != before[0]
    report["index_refreshed"] = after[1] > before[1]
    report["attempts_after_second_call"] = list(attempts)
    print(json.dumps(report))
    """
)


@pytest.fixture(scope="module")
def fresh_process(tmp_path_factory):
    """Run SCRIPT in a fresh interpreter with an empty astropy cache."""
    cache = tmp_path_factory.mktemp("astropy-cache")
    staged = Path(os.environ["GAMMAPY_DATA"], "pulsar", "clock-corrections")
    environment = {
        key: value for key, value in os.environ.items() if key != "PINT_CLOCK_OVERRIDE"
    }
    environment["ASTROPY_CACHE_DIR"] = str(cache)
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(staged)],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return cache, staged, json.loads(completed.stdout.strip().splitlines()[-1])


def test_without_seeding_pint_reaches_for_the_network(fresh_process):
    _, _, report = fresh_process
    # The problem configure_pint solves: even with PINT_CLOCK_OVERRIDE, PINT asks
    # for its global clock index (and fails offline).
    assert report["unseeded"] == "URLError"
    assert report["unseeded_attempts"] == [
        "https://raw.githubusercontent.com/ipta/pulsar-clock-corrections/main/index.txt"
    ]


def test_configured_pint_uses_staged_clock_files_and_de421(fresh_process):
    cache, staged, report = fresh_process
    assert report["attempts"] == []
    names = {Path(path).name: Path(path) for path in report["clock_files"]}
    assert set(names) == {"gps2utc.clk", "time_gbt.dat", "tai2tt_bipm2023.clk"}
    assert all(path.parent == staged for path in names.values())
    assert report["ephemeris"] == str(offline.de421_path())
    # GPS + GBT maser + TT(BIPM2023) - TT(TAI) (~27.7 us) in 2012.
    assert 2.0e-5 < report["clkcorr_s"] < 3.5e-5
    # GBT is about 1 AU from the solar-system barycentre.
    assert 1.46e8 < report["ssb_obs_km"] < 1.53e8
    assert Path(report["cache"]) == cache
    assert len(report["seeded"]) > 50


def test_second_configuration_refreshes_only_the_index(fresh_process):
    _, _, report = fresh_process
    assert report["index_refreshed"] is True
    assert report["clock_file_reimported"] is False
    assert report["attempts_after_second_call"] == []


def test_configure_pint_errors_name_the_fix(tmp_path):
    with pytest.raises(DataError) as error:
        offline.configure_pint(tmp_path / "nowhere")
    message = str(error.value)
    assert "ctao-sat data download pulsar-clock-corrections" in message
    assert "\n" not in message
    staged = Path(os.environ["GAMMAPY_DATA"], "pulsar", "clock-corrections")
    with pytest.raises(DataError, match="install the skyfield-data package"):
        offline.configure_pint(staged, ephemeris=tmp_path / "de421.bsp")


def test_de421_ships_with_skyfield_data():
    path = offline.de421_path()
    assert path is not None and path.name == "de421.bsp"
    # The JPL DE421 SPK kernel, 1900-2050.
    assert 15e6 < path.stat().st_size < 20e6
    assert path.read_bytes()[:8] == b"DAF/SPK "


def test_status_finds_the_staged_clock_files(monkeypatch, tmp_path):
    monkeypatch.delenv("PINT_CLOCK_OVERRIDE", raising=False)
    report = offline.status()
    clock = report["PINT clock corrections"]
    assert clock["ready"] is True
    assert Path(clock["where"]) == Path(
        os.environ["GAMMAPY_DATA"], "pulsar", "clock-corrections"
    )
    assert report["JPL DE421 ephemeris"]["ready"] is True
    monkeypatch.setenv("PINT_CLOCK_OVERRIDE", str(tmp_path))
    assert offline.status()["PINT clock corrections"] == {
        "ready": False,
        "where": str(tmp_path),
    }
    monkeypatch.delenv("PINT_CLOCK_OVERRIDE")
    monkeypatch.delenv("GAMMAPY_DATA")
    assert offline.status()["PINT clock corrections"]["ready"] is False
