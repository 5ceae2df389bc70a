"""Archive access through IVOA protocols, against a real GAVO DaCHS server.

A session fixture publishes the 30 shared H.E.S.S. DL3 DR1 runs with our resource
descriptor on a private PostgreSQL + DaCHS (127.0.0.1) and the tests search it
(TAP/ObsCore), fetch from it (DataLink, HTTP) and analyse what they fetched. The
failure modes a real archive cannot be made to show on demand (HTTP errors, a
malformed VOTable, a broken or corrupt download) come from a tiny http.server on
127.0.0.1 speaking the same protocol.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import shutil
import subprocess
import threading
import time
import typing
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from sat.archive import install
from sat.archive.fetch import MANIFEST, fetch, remote_size, whole_events_file
from sat.archive.publish import ArchiveError, LocalArchive, free_port, serve
from sat.archive.query import HC_TEV_M, ObsQuery, search
from sat.archive.usecase import ArchiveSource, cache_folder, observations_folder
from sat.cli.main import main
from sat.errors import ConfigError, DataError

pytestmark = [
    pytest.mark.verifies_requirement("C-SAT-0180"),
    pytest.mark.verifies_usecase("SUSS-UC-SAT-110"),
]

CRAB = (83.633333, 22.014444)  # RA_OBJ, DEC_OBJ of the DR1 Crab runs
CRAB_RUNS = {23523, 23526, 23559, 23592}
RUN = "hess_dl3_dr1_obs_id_023523.fits.gz"


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _error_line(result) -> str:
    """The single line a failing command printed (and check it is one line)."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


@pytest.fixture(scope="session")
def hess(gammapy_data) -> Path:
    return gammapy_data / "hess-dl3-dr1"


@pytest.fixture(scope="session")
def obs_index(hess):
    from astropy.table import Table

    return Table.read(hess / "obs-index.fits.gz")


@pytest.fixture(scope="session")
def archive(hess):
    """The real archive: the 30 DR1 runs on a private DaCHS (stopped at the end)."""
    server = LocalArchive({"hess-dl3-dr1": hess})
    server.start()
    yield server
    server.stop()
    assert server.leftovers() == [], "processes left behind"


# --- searching -------------------------------------------------------------------


def test_crab_cone_search_finds_exactly_its_four_runs(archive, obs_index):
    found = search(archive.tap_url, ObsQuery(ra=CRAB[0], dec=CRAB[1], radius=2.0))
    assert {int(o.obs_id) for o in found.observations} == CRAB_RUNS
    table = found.results.to_table()
    assert set(table["dataproduct_type"]) == {"event"}
    assert set(table["calib_level"]) == {2}
    rows = {int(row["OBS_ID"]): row for row in obs_index}
    mjdref = obs_index.meta["MJDREFI"] + obs_index.meta["MJDREFF"]
    for observation in found.observations:
        row = rows[int(observation.obs_id)]
        assert observation.collection == "hess-dl3-dr1"
        assert observation.target == "Crab"
        assert observation.facility == "HESS"
        # ObsCore stores wavelengths (em_min from the highest energy, in metres).
        assert observation.energy_min == pytest.approx(row["SAFE_ENERGY_LO"], 1e-6)
        assert observation.energy_max == pytest.approx(row["SAFE_ENERGY_HI"], 1e-6)
        assert observation.t_min == pytest.approx(mjdref + row["TSTART"] / 86400, 1e-10)
        assert observation.t_max == pytest.approx(mjdref + row["TSTOP"] / 86400, 1e-10)
        assert observation.ra == pytest.approx(row["RA_PNT"])
        assert observation.exptime == pytest.approx(row["LIVETIME"])
        assert observation.access_url.startswith(f"{archive.url}/getproduct/")
    wavelengths = table["em_min"][0], table["em_max"][0]
    energies = HC_TEV_M / wavelengths[1], HC_TEV_M / wavelengths[0]
    assert energies[0] < energies[1]


def test_target_search_finds_the_six_pks_2155_runs(archive, obs_index):
    found = search(archive.tap_url, ObsQuery(target="PKS 2155-304"))
    expected = {
        int(row["OBS_ID"])
        for row in obs_index
        if row["TARGET_NAME"] == "PKS 2155-304 (steady)"
    }
    assert len(expected) == 6
    assert {int(o.obs_id) for o in found.observations} == expected


def test_time_energy_collection_and_id_filters(archive):
    crab = {"ra": CRAB[0], "dec": CRAB[1]}
    # The first night of the Crab runs (2004-12-04/05) has two of them.
    night = ObsQuery(**crab, start="2004-12-04", stop="2004-12-05T12:00:00")
    assert {o.obs_id for o in search(archive.tap_url, night).observations} == {
        "23523",
        "23526",
    }
    # Runs whose safe range reaches below 0.75 TeV: 23526 (0.71) and 23559 (0.66).
    low = ObsQuery(**crab, energy_max=0.75)
    assert {o.obs_id for o in search(archive.tap_url, low).observations} == {
        "23526",
        "23559",
    }
    high = ObsQuery(**crab, energy_min=120.0)  # above every run's 100 TeV
    assert search(archive.tap_url, high).observations == []
    ids = ObsQuery(obs_ids=("23523", "20136"), collection="hess-dl3-dr1")
    assert [o.obs_id for o in search(archive.tap_url, ids).observations] == [
        "20136",
        "23523",
    ]
    assert len(search(archive.tap_url, ObsQuery(facility="HESS")).observations) == 30
    assert search(archive.tap_url, ObsQuery(collection="no-such")).observations == []


def test_cli_search_prints_a_table_and_json(archive):
    runner = CliRunner()
    result = runner.invoke(
        main, ["archive", "search", "--archive", archive.tap_url, "--target", "crab"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].split()[:3] == ["obs_id", "collection", "target"]
    assert sorted(int(line.split()[0]) for line in lines[1:-1]) == sorted(CRAB_RUNS)
    assert lines[-1] == "4 observations, 1.75 h"
    result = runner.invoke(
        main,
        ["archive", "search", "--target", "crab", "--json", "--max", "2"],
        env={"CTAO_SAT_ARCHIVE": archive.tap_url},
    )
    answer = json.loads(result.output)
    assert answer["count"] == 2 and "TOP 2" in answer["query"]
    assert answer["observations"][0]["target"] == "Crab"
    result = runner.invoke(
        main,
        [
            "archive",
            "search",
            "--archive",
            archive.tap_url,
            "--obs-id",
            "23523",
            "--adql",
        ],
    )
    assert result.output.startswith("SELECT ") and "23523" in result.output


def test_a_search_without_match_says_so(archive, tmp_path):
    result = CliRunner().invoke(
        main, ["archive", "search", "--archive", archive.tap_url, "--target", "Vela"]
    )
    assert result.exit_code == 0
    assert result.output.strip() == (
        f"No observation in {archive.tap_url} matches target 'Vela', "
        "dataproduct type 'event'."
    )
    # Nothing to fetch is an error: the destination is not created.
    result = CliRunner().invoke(
        main,
        [
            *("archive", "fetch", "--archive", archive.tap_url, "--target", "Vela"),
            *("--dest", tmp_path / "never-made"),
        ],
    )
    assert "nothing to fetch" in _error_line(result)
    assert not (tmp_path / "never-made").exists()


def test_an_adql_error_of_the_service_is_one_line(archive):
    result = CliRunner().invoke(
        main,
        ["archive", "search", "--archive", archive.tap_url, "--where", "nosuch = 1"],
    )
    line = _error_line(result)
    assert f"archive {archive.tap_url} rejected the ObsCore query" in line
    assert "nosuch" in line


# --- fetching --------------------------------------------------------------------


@pytest.fixture(scope="session")
def fetched(archive, tmp_path_factory):
    """The Crab runs fetched from the archive (target search)."""
    folder = tmp_path_factory.mktemp("fetched") / "crab"
    found = search(archive.tap_url, ObsQuery(target="crab"))
    start = time.perf_counter()
    report = fetch(found, folder)
    report.seconds = time.perf_counter() - start
    return report


def test_fetch_gives_a_data_store_with_the_archive_files(fetched, hess):
    from gammapy.data import DataStore
    from gammapy.data.hdu_index_table import HDUIndexTable

    assert fetched.via == "datalink"  # DaCHS offers DataLink: we used it
    assert len(fetched.downloaded) == 4 and fetched.skipped == []
    store = DataStore.from_dir(fetched.folder)
    assert set(store.obs_table["OBS_ID"]) == CRAB_RUNS
    assert set(store.obs_table["TARGET_NAME"]) == {"Crab"}
    observations = store.get_observations()
    assert len(observations) == 4
    assert (
        sum(len(obs.events.table) for obs in observations) == 7613 + 7581 + 7601 + 7334
    )
    original = HDUIndexTable.read(hess / "hdu-index.fits.gz")
    for obs_id in CRAB_RUNS:
        mine = store.hdu_table[store.hdu_table["OBS_ID"] == obs_id]
        theirs = original[original["OBS_ID"] == obs_id]
        assert sorted(zip(mine["HDU_TYPE"], mine["HDU_CLASS"], strict=True)) == sorted(
            zip(theirs["HDU_TYPE"], theirs["HDU_CLASS"], strict=True)
        )
        # The very same bytes as the published file.
        (path,) = {
            Path(mine.base_dir) / row["FILE_DIR"] / row["FILE_NAME"] for row in mine
        }
        assert _sha256(path) == _sha256(hess / "data" / path.name)
    manifest = json.loads((fetched.folder / MANIFEST).read_text())
    assert {run["obs_id"] for run in manifest["runs"].values()} == {
        str(i) for i in CRAB_RUNS
    }


def test_fetching_again_skips_and_a_partial_file_resumes(archive, fetched, tmp_path):
    found = search(archive.tap_url, ObsQuery(target="crab"))
    again = fetch(found, fetched.folder)
    assert again.downloaded == [] and len(again.skipped) == 4
    # DaCHS honours HTTP Range: an interrupted transfer resumes from its .part.
    url = next(o.access_url for o in found.observations if o.obs_id == "23523")
    request = urllib.request.Request(url, headers={"Range": "bytes=100-199"})
    with urllib.request.urlopen(request) as response:
        assert response.status == 206 and len(response.read()) == 100
    whole = (fetched.folder / "hess-dl3-dr1" / RUN).read_bytes()
    part = tmp_path / "crab" / "hess-dl3-dr1" / f"{RUN}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(whole[: len(whole) // 2])
    report = fetch(found, tmp_path / "crab")
    assert len(report.downloaded) == 4
    assert (tmp_path / "crab" / "hess-dl3-dr1" / RUN).read_bytes() == whole
    assert not part.exists()


def test_cli_fetch_reports_and_accumulates_runs(archive, tmp_path):
    runner = CliRunner()
    base = ["archive", "fetch", "--archive", archive.tap_url, "--dest", tmp_path]
    result = runner.invoke(main, [*base, "--obs-id", "23523"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("fetched 1 runs (0.5 MiB") and "datalink" in (
        result.output
    )
    assert f"observations: {{datastore: {tmp_path}}}" in result.output
    result = runner.invoke(main, [*base, "--obs-id", "23523", "--obs-id", "23526"])
    assert "fetched 1 runs" in result.output and "1 were already there" in (
        result.output
    )
    from gammapy.data import DataStore

    assert set(DataStore.from_dir(tmp_path).obs_table["OBS_ID"]) == {23523, 23526}


def test_spectrum_1d_on_archive_runs_equals_local_data(archive, tmp_path):
    """spectrum-1d with ``archive:`` (search + fetch) reproduces the local fit."""
    from sat.usecases.runner import run_usecase

    config = {"spectral_models": ["power-law"]}
    local = run_usecase("spectrum-1d", config, tmp_path / "local", quiet=True)
    source = {"url": archive.tap_url, "dest": str(tmp_path / "dl3")}
    remote = run_usecase(
        "spectrum-1d", {**config, "archive": source}, tmp_path / "remote", quiet=True
    )
    assert [r["obs_id"] for r in remote["runs"]] == [r["obs_id"] for r in local["runs"]]
    for name, parameter in local["parameters"].items():
        # The fetched obs-index has the target position of the files' headers in
        # double precision; the DR1 obs-index rounds it to float32 (1e-6 deg):
        # the ON region moves by that much, the fit by ~1e-7.
        assert remote["parameters"][name]["value"] == pytest.approx(
            parameter["value"], rel=1e-5
        )
        assert remote["parameters"][name]["error"] == pytest.approx(
            parameter["error"], rel=1e-4
        )
    assert [c["verdict"] for c in remote["validation"]] == ["PASS", "PASS"]
    assert remote["stacked"]["n_on"] == local["stacked"]["n_on"]
    # The folder fetched is a data store a config can name directly.
    folder = observations_folder(tmp_path / "dl3", None, dataset="hess-dl3-dr1")
    assert (folder / "obs-index.fits.gz").is_file()


def test_use_case_archive_settings():
    with pytest.raises(
        ConfigError, match=r"key 'observations.datastore'.*no obs-index"
    ):
        observations_folder("/nonexistent", None, dataset="hess-dl3-dr1")
    source = ArchiveSource(url="http://127.0.0.1:9/tap")
    default = "$GAMMAPY_DATA/hess-dl3-dr1"
    with pytest.raises(ConfigError, match="give a target"):
        observations_folder(default, source, dataset="hess-dl3-dr1")
    with pytest.raises(ConfigError, match=r"'observations\.datastore' and 'archive'"):
        observations_folder("/elsewhere", source, dataset="hess-dl3-dr1")
    folder = cache_folder("http://127.0.0.1:9/tap")
    assert folder.name.startswith("127.0.0.1_9-") and folder != cache_folder("x")


# --- the query --------------------------------------------------------------------


def test_the_adql_uses_obscore_columns_and_quotes_input():
    query = ObsQuery(
        target="O'Neil",
        ra=10.0,
        dec=-5.0,
        radius=1.5,
        start=53000,
        stop="2004-01-01",
        energy_min=1.0,
        energy_max=10.0,
        collection="c",
        facility="HESS",
        obs_ids=("1", "2"),
        where="s_fov > 4",
        maxrec=5,
    )
    adql = query.adql()
    assert adql.startswith("SELECT TOP 5 obs_id, obs_collection")
    assert "LOWER(target_name) LIKE '%o''neil%'" in adql
    assert (
        "CONTAINS(POINT('ICRS', s_ra, s_dec), CIRCLE('ICRS', 10.0, -5.0, 1.5))" in adql
    )
    assert "t_max >= 53000.0" in adql and "t_min <= 53005.0" in adql
    assert f"em_min <= {HC_TEV_M!r}" in adql
    assert f"em_max >= {HC_TEV_M / 10!r}" in adql
    assert "obs_id IN ('1', '2')" in adql and "(s_fov > 4)" in adql
    assert "pointed within 1.5 deg" in query.describe()
    assert ObsQuery(dataproduct_type=None).describe() == "any observation"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"ra": 10.0}, "both --ra and --dec"),
        ({"ra": 400.0, "dec": 0.0}, "no such position"),
        ({"radius": 0}, "radius must be positive"),
        ({"energy_min": -1.0}, "positive energy"),
        ({"energy_min": 10.0, "energy_max": 1.0}, "empty energy range"),
        ({"start": "2005-01-01", "stop": "2004-01-01"}, "empty time range"),
        ({"start": "yesterday"}, "neither an MJD nor an ISO date"),
    ],
)
def test_bad_query_settings_are_config_errors(settings, message):
    with pytest.raises(ConfigError, match=message):
        ObsQuery(**settings)


def test_cli_needs_an_archive_address(monkeypatch):
    monkeypatch.delenv("CTAO_SAT_ARCHIVE", raising=False)
    result = CliRunner().invoke(main, ["archive", "search", "--target", "crab"])
    assert result.exit_code == 2 and "--archive URL" in result.output


# --- failures of the archive, with a tiny local server ---------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    """Routes: /MODE/tap/sync (a TAP answer) and /MODE/files/NAME (a download)."""

    run: bytes = b""
    votables: typing.ClassVar[dict] = {}

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.do_GET()

    def do_GET(self):
        mode, _, rest = self.path.strip("/").partition("/")
        if rest.startswith("tap/sync"):
            if mode == "slow":
                time.sleep(3)
            if mode in ("http500", "slow"):
                return self._send(500, b"database on fire", "text/plain")
            if mode == "malformed":
                body = b'<?xml version="1.0"?><VOTABLE><RESOURCE type="results"><TAB'
                return self._send(200, body, "application/x-votable+xml")
            return self._send(200, self.votables[mode], "application/x-votable+xml")
        if mode == "missing":
            return self._send(404, b"no such file", "text/plain")
        if mode == "busy":
            return self._send(503, b"try later", "text/plain")
        if mode == "nosize":  # HTTP/1.0 style: the body ends when the server hangs up
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"SIMPLE")
            self.close_connection = True
            return
        data = self.run
        if mode == "corrupt":  # the right size, damaged in the middle
            middle = len(data) // 2
            data = data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64])
            data += self.run[middle + 64 :]
        start, status = 0, 200
        if self.headers.get("Range"):
            first, _, last = self.headers["Range"].split("=")[1].partition("-")
            start, status = int(first), 206
            end = int(last) + 1 if last else len(data)
        else:
            end = len(data)
        self.send_response(status)
        self.send_header("Content-Length", str(end - start))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
        self.end_headers()
        if mode == "broken" and end - start > 1:  # half of it, then hang up
            self.wfile.write(data[start : start + (end - start) // 2])
            self.close_connection = True
            return
        self.wfile.write(data[start:end])

    def _send(self, status, body, kind):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that gave up (the time-out test) is expected


def _votable(base: str, mode: str, size: int) -> bytes:
    """A one-run ObsCore answer whose file is served by ``mode``."""
    from astropy.io.votable import from_table
    from astropy.io.votable.tree import Info
    from astropy.table import Table

    row = {
        "obs_id": "23523",
        "obs_collection": "fake",
        "obs_publisher_did": "ivo://fake/23523",
        "dataproduct_type": "event",
        "calib_level": 2,
        "target_name": "Crab",
        "facility_name": "HESS",
        "instrument_name": "H.E.S.S. Phase I",
        "s_ra": 83.63,
        "s_dec": 21.51,
        "s_fov": 5.0,
        "t_min": 53343.92,
        "t_max": 53343.94,
        "t_exptime": 1581.7,
        "em_min": HC_TEV_M / 100,
        "em_max": HC_TEV_M / 0.87,
        "access_url": ""
        if mode == "noaddress"
        else f"{base}/{mode}/files/" + ("get?id=23523" if mode == "nameless" else RUN),
        "access_format": "application/fits",
        # An archive listing ten times the real size is inconsistent.
        "access_estsize": size * (10 if mode == "wrongsize" else 1) // 1024,
    }
    votable = from_table(Table(rows=[row]))
    votable.resources[0].infos.append(Info(name="QUERY_STATUS", value="OK"))
    stream = io.BytesIO()
    votable.to_xml(stream)
    return stream.getvalue()


@pytest.fixture(scope="module")
def broken_archive(hess):
    """A local http.server playing an archive that fails in every way."""
    _Handler.run = (hess / "data" / RUN).read_bytes()
    server = _QuietServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    base = f"http://127.0.0.1:{server.server_port}"
    _Handler.votables = {
        mode: _votable(base, mode, len(_Handler.run))
        for mode in (
            *("broken", "corrupt", "wrongsize", "good"),
            *("missing", "nameless", "noaddress"),
        )
    }
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base
    server.shutdown()
    server.server_close()
    thread.join(10)


def _fetch(url, dest, *extra):
    return CliRunner().invoke(
        main,
        [
            *("archive", "fetch", "--archive", url, "--target", "crab"),
            *("--dest", str(dest), "--retries", "0", *extra),
        ],
    )


def test_an_archive_that_does_not_answer(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/tap"
    line = _error_line(_fetch(url, tmp_path / "dest"))
    assert line == (
        f"Error: archive {url} does not answer (Connection refused): check the "
        "address and that the archive is running"
    )


def test_an_http_error_a_malformed_votable_and_a_time_out(broken_archive, tmp_path):
    dest = tmp_path / "dest"
    line = _error_line(_fetch(f"{broken_archive}/http500/tap", dest))
    assert "answered the ObsCore query with HTTP 500" in line
    line = _error_line(_fetch(f"{broken_archive}/malformed/tap", dest))
    assert "sent a malformed VOTable for the ObsCore query" in line
    line = _error_line(_fetch(f"{broken_archive}/slow/tap", dest, "--timeout", 1))
    assert "did not answer the ObsCore query within 1 s" in line
    assert not dest.exists()


def test_a_download_that_breaks_leaves_only_a_part_file(broken_archive, tmp_path):
    line = _error_line(_fetch(f"{broken_archive}/broken/tap", tmp_path))
    assert f"cannot download fake/{RUN}" in line and "run the command again" in line
    assert not (tmp_path / "obs-index.fits.gz").exists()
    assert not (tmp_path / "fake" / RUN).exists()
    assert (tmp_path / "fake" / f"{RUN}.part").is_file()  # for the next attempt
    # The same file, served whole: the next fetch resumes and completes it.
    result = _fetch(f"{broken_archive}/good/tap", tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fake" / RUN).read_bytes() == _Handler.run
    assert (tmp_path / "obs-index.fits.gz").is_file()


def test_a_corrupt_download_is_deleted(broken_archive, tmp_path):
    line = _error_line(_fetch(f"{broken_archive}/corrupt/tap", tmp_path))
    assert f"fake/{RUN} downloaded from {broken_archive}/corrupt/files/" in line
    assert "is corrupt: not a valid gzip stream" in line
    assert "the bad download was deleted" in line
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["fake"]


def test_a_missing_file_and_a_file_without_a_name(broken_archive, tmp_path):
    line = _error_line(_fetch(f"{broken_archive}/missing/tap", tmp_path))
    assert line == (
        f"Error: cannot download {broken_archive}/missing/files/{RUN}: "
        "HTTP 404 Not Found"
    )
    result = _fetch(f"{broken_archive}/nameless/tap", tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fake" / "obs_23523.fits").read_bytes() == _Handler.run


def test_sizes_the_server_cannot_give(broken_archive, tmp_path):
    line = _error_line(_fetch(f"{broken_archive}/noaddress/tap", tmp_path))
    assert "gives no address for observation 23523 (no access_url, no DataLink)" in line
    with pytest.raises(DataError, match="gives no size"):
        remote_size(f"{broken_archive}/nosize/files/{RUN}")
    with pytest.raises(DataError, match="HTTP 503 Service Unavailable"):
        remote_size(f"{broken_archive}/busy/files/{RUN}", retries=1)  # retried once
    url = f"http://127.0.0.1:{free_port()}/{RUN}"
    with pytest.raises(DataError, match=f"cannot download {url}: .*refused"):
        remote_size(url, retries=0)


def test_a_size_that_does_not_match_the_archive(broken_archive, tmp_path):
    line = _error_line(_fetch(f"{broken_archive}/wrongsize/tap", tmp_path))
    assert "the archive is inconsistent; nothing was downloaded" in line
    assert not (tmp_path / "obs-index.fits.gz").exists()


def test_a_folder_not_made_by_fetch_is_refused(broken_archive, tmp_path):
    (tmp_path / "obs-index.fits.gz").write_bytes(b"")
    line = _error_line(_fetch(f"{broken_archive}/good/tap", tmp_path))
    assert "is not a folder made by ctao-sat archive fetch" in line
    (tmp_path / MANIFEST).write_text("[1, 2]")
    assert "is damaged" in _error_line(_fetch(f"{broken_archive}/good/tap", tmp_path))


def test_the_content_check_of_a_file(tmp_path, hess):
    with pytest.raises(DataError, match="not a valid FITS file"):
        whole_events_file(Path(__file__))
    from astropy.io import fits

    with fits.open(hess / "data" / RUN) as hdus:
        fits.HDUList([hdus[0], hdus["GTI"]]).writeto(tmp_path / "gti.fits")
    with pytest.raises(DataError, match="no EVENTS HDU"):
        whole_events_file(tmp_path / "gti.fits")
    whole_events_file(hess / "data" / RUN)


# --- publishing ------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the servers as ctaosat")
def test_data_the_archive_user_cannot_read_is_refused(tmp_path, hess):
    # pytest's tmp_path is private to root: the unprivileged servers cannot read it.
    for name in ("obs-index.fits.gz", "hdu-index.fits.gz"):
        shutil.copy(hess / name, tmp_path / name)
    archive = LocalArchive({"private": tmp_path})
    with pytest.raises(ArchiveError, match="user ctaosat cannot read"):
        archive.start()
    assert archive.workdir is None and archive.processes == {}


def test_what_is_missing_is_named(monkeypatch):
    monkeypatch.setattr(install, "DACHS", "/nonexistent/dachs")
    monkeypatch.setattr(install, "postgres_bindir", lambda: None)
    assert install.missing() == list(install.PACKAGES)
    with pytest.raises(ArchiveError, match=r"missing python3-gavo, postgresql"):
        LocalArchive({}).start()
    monkeypatch.setattr(install.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="no apt-get"):
        install.install()
    assert install.main() == 1
    assert install.command(["x"])[-3:] == ["-q", "--no-install-recommends", "x"]


def test_apt_get_updates_then_installs_and_fails_loudly(monkeypatch, tmp_path):
    # A stand-in apt-get on PATH records each call and the frontend it ran under.
    calls = tmp_path / "calls"
    fake = tmp_path / "bin" / "apt-get"
    fake.parent.mkdir()
    fake.write_text(
        f'#!/bin/sh\necho "$DEBIAN_FRONTEND $*" >> {calls}\n'
        'case "$*" in *no-such-package) exit 100;; esac\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    monkeypatch.setattr(install.os, "geteuid", lambda: 0)  # root: no sudo
    shown = []
    assert install.apt_get(["texlive-latex-base"], log=shown.append) >= 0
    ran = calls.read_text().splitlines()
    assert ran == [
        "noninteractive update -q",
        "noninteractive install -y -q --no-install-recommends texlive-latex-base",
    ]
    assert shown == [f"$ apt-get {line.split(' ', 1)[1]}" for line in ran]
    with pytest.raises(subprocess.CalledProcessError):
        install.apt_get(["no-such-package"], log=shown.append)


def test_serve_collections_from_the_command_line(hess):
    from sat.cli.archive import _collections

    assert _collections(()) == {"hess-dl3-dr1": hess}
    assert _collections(("a=/x/y", "/p/q")) == {"a": Path("/x/y"), "q": Path("/p/q")}


def test_publishing_needs_data_stores_and_dachs(tmp_path, hess):
    assert install.missing() == []  # the test sessions and nox -s archive install them
    messages = []
    assert install.install(log=messages.append) == 0.0
    assert "are installed" in messages[0]
    with pytest.raises(ArchiveError, match=r"has no obs-index\.fits\.gz"):
        LocalArchive({"empty": tmp_path}).start()
    result = CliRunner().invoke(main, ["archive", "serve", f"x={tmp_path}"])
    assert "collection 'x'" in _error_line(result)
    lines = []
    with pytest.raises(ArchiveError):
        serve({"empty": tmp_path}, None, log=lines.append)


def test_the_archive_leaves_no_process_behind(archive):
    """Stopping the archive ends PostgreSQL, its backends and DaCHS (by PID)."""
    import signal

    pids = archive.leftovers()
    assert len(pids) >= 3  # postmaster, its backends, DaCHS
    # What `ctao-sat archive serve` does when a server dies: notice, stop all.
    archive.processes["dachs"].send_signal(signal.SIGTERM)
    assert archive.wait(poll=0.1) == "dachs"
    archive.stop()
    assert archive.leftovers() == []
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _zombie_or_gone(pid)
    assert not archive.workdir.exists()


def _zombie_or_gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True
