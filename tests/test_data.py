"""The data layer: registry, checksum manifest, `ctao-sat data list/verify/download`.

Downloads run against a real HTTP server on 127.0.0.1 serving copies of the real
shared files; the server can corrupt a file, cut a transfer short, answer 404/500 or
ignore Range requests, so every failure path is exercised for real.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from sat.cli import main
from sat.data import DataFile, datasets, licences, require, select, sources
from sat.data import manifest as manifest_module
from sat.data.download import download, fetch, file_url
from sat.data.registry import _dataset
from sat.data.verify import CORRUPT, MISSING, OK, check_file
from sat.errors import DataError
from sat.provenance import file_sha256

pytestmark = pytest.mark.verifies_requirement("C-SAT-0060")

# Small real datasets the server offers (about 1.4 MiB in all).
SERVED = ("cta-caldb", "crab-hess-fp", "naima-spectra", "joint-crab")
IRF = "cta-caldb/Prod5-South-20deg-AverageAz-14MSTs37SSTs.180000s-v0.1.fits.gz"


def _copy(files, source: Path, dest: Path) -> None:
    for f in files:
        (dest / f.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / f.path, dest / f.path)


def _flip_byte(path: Path, where: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    where = len(data) // 2 if where is None else where
    data[where] ^= 0xFF
    path.write_bytes(bytes(data))


# --------------------------------------------------------------------------------
# A real HTTP server with failure modes
# --------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    """Serves ``server.root`` with Range support and per-file failure ``modes``.

    Modes: ``corrupt`` (one byte flipped), ``truncate`` (Content-Length of the whole
    body, half of it sent, connection closed; ``truncate-once``: only the first
    time), ``longer`` (extra bytes appended), ``no-range`` (Range ignored), or an
    HTTP status code such as ``500``/``404``.
    """

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server
        rel = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/")
        server.requests.append((rel, self.headers.get("Range")))
        mode = server.modes.get(rel, "")
        path = server.root / rel
        if mode.isdigit() or not path.is_file():
            self.send_error(int(mode) if mode.isdigit() else 404)
            return
        data = bytearray(path.read_bytes())
        if mode == "corrupt":
            data[len(data) // 2] ^= 0xFF
        if mode == "longer":
            data += b"trailing garbage"
        start, status = 0, 200
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and mode != "no-range":
            start, status = int(match.group(1)), 206
            if start >= len(data):
                self.send_error(416)
                return
        body = bytes(data[start:])
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header(
                "Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}"
            )
        self.end_headers()
        if mode in ("truncate", "truncate-once"):
            # Promise the whole body, send half, hang up.
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            if mode == "truncate-once":
                server.modes.pop(rel)
            return
        self.wfile.write(body)


class QuietServer(ThreadingHTTPServer):
    """A test HTTP server that keeps its handlers' errors to itself.

    The tests hang up on it mid-answer on purpose; socketserver would print each
    BrokenPipeError from a handler thread on sys.stderr, possibly while a later
    test captures stderr and asserts that it holds no traceback.
    """

    daemon_threads = True

    def handle_error(self, request, client_address):
        self.errors.append(sys.exc_info()[1])


def serve(handler, **attributes) -> QuietServer:
    """Serve ``handler`` on 127.0.0.1 from a daemon thread; ``attributes`` on it."""
    httpd = QuietServer(("127.0.0.1", 0), handler)
    httpd.errors = []
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    for name, value in attributes.items():
        setattr(httpd, name, value)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


@pytest.fixture(scope="module")
def server(tmp_path_factory, gammapy_data):
    """A real HTTP server on 127.0.0.1 serving copies of the shared files."""
    root = tmp_path_factory.mktemp("mirror")
    for dataset in select(SERVED):
        _copy(dataset.files, gammapy_data, root)
    httpd = serve(Handler, root=root, modes={}, requests=[])
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def mirror(server):
    """The server, with no failure modes and an empty request log."""
    server.modes.clear()
    server.requests.clear()
    return server


def _run(*args, env=None):
    result = CliRunner().invoke(main, ["data", *args], env=env)
    assert "Traceback" not in result.output
    return result


def _files(name):
    return {f.path: f for f in datasets()[name].files}


# --------------------------------------------------------------------------------
# Registry and manifest (derived file checked against its source)
# --------------------------------------------------------------------------------


def test_manifest_agrees_with_the_shared_data(gammapy_data):
    built = manifest_module.render(manifest_module.build(gammapy_data))
    committed = manifest_module.MANIFEST.read_text("utf-8")
    assert built == committed, "sat/data/manifest.json is stale: nox -s data_manifest"
    assert manifest_module.main(["--check", "--data", str(gammapy_data)]) == 0


def test_manifest_agrees_with_the_shared_sha256sums(gammapy_data):
    sums = {}
    for line in (gammapy_data / "SHA256SUMS").read_text().splitlines():
        sha, path = line.split(maxsplit=1)
        sums[path.removeprefix("./")] = sha
    files = [f for d in datasets().values() for f in d.files]
    assert len(files) >= 240
    assert {f.path: f.sha256 for f in files} == {f.path: sums[f.path] for f in files}


def test_use_case_datasets_are_registered_with_licences():
    known = datasets()
    for name in (
        "hess-dl3-dr1",
        "joint-crab",
        "cta-caldb",
        "cta-1dc",
        "pulsar-clock-corrections",
        "pint-examples",
        "naima-spectra",
        "crab-hess-fp",
        "catalogs",
        "fermi-3fhl-crab",
        "ebl",
    ):
        assert known[name].files, name
    for dataset in known.values():
        assert dataset.licence in licences(), f"{dataset.name}: licence missing"
        assert dataset.source in sources()
        assert dataset.marker in {f.path for f in dataset.files}
    hess = known["hess-dl3-dr1"].files
    runs = [f for f in hess if "/data/hess_dl3_dr1_obs_id_" in f.path]
    assert len(runs) == 30
    assert {"hess-dl3-dr1/README.txt", "hess-dl3-dr1/obs-index.fits.gz"} <= {
        f.path for f in hess
    }
    assert known["cta-caldb"].origin == "https://doi.org/10.5281/zenodo.5499840"


def test_hess_index_lists_exactly_the_registered_runs(gammapy_data):
    from astropy.io import fits

    with fits.open(gammapy_data / "hess-dl3-dr1/obs-index.fits.gz") as hdus:
        index = hdus[1].data
    runs = {
        int(re.search(r"obs_id_(\d+)", f.path).group(1))
        for f in datasets()["hess-dl3-dr1"].files
        if "/data/" in f.path
    }
    assert set(index["OBS_ID"]) == runs


def _readme(gammapy_data):
    return (gammapy_data / "README.md").read_text()


def test_licences_agree_with_the_shared_readme(gammapy_data):
    text = _readme(gammapy_data)
    readme = dict(re.findall(r"^- \*\*(.+?)\*\*: (.*)$", text, re.M))
    for key, licence in licences().items():
        if "file" in licence:  # not in the README: the licence file is shipped
            assert (gammapy_data / licence["file"]).is_file()
            assert "BSD 3-Clause" in (gammapy_data / licence["file"]).read_text()
        else:
            assert licence["text"] == readme[key], key


def test_download_addresses_agree_with_the_shared_readme(gammapy_data):
    text = _readme(gammapy_data)
    commit = re.search(r"gammapy/gammapy-data commit ([0-9a-f]{40})", text).group(1)
    clock = (gammapy_data / "pulsar/clock-corrections/README.md").read_text()
    clock_commit = re.search(r"commit ([0-9a-f]{40})", clock).group(1)
    rows = dict(re.findall(r"^\| (\S+) \| \d+ \| ([^|]+) \|", text, re.M))
    checked = 0
    for dataset in datasets().values():
        for f in dataset.files:
            source = rows.get(f.path, "").strip()
            if f.url.startswith("package:"):
                assert (manifest_module.DERIVED / f.path).is_file()
                continue
            if dataset.source == "gammapy-data":
                assert f.url.startswith(
                    f"https://raw.githubusercontent.com/gammapy/gammapy-data/{commit}/"
                )
            if source.startswith("gammapy/gammapy-data@"):
                assert f.url.endswith("/" + source.split(":", 1)[1]), f.path
                checked += 1
            elif source.startswith("zblz/naima:"):
                assert f.url.endswith("/" + source.split(":", 1)[1])
                checked += 1
            elif source.startswith("pint-pulsar "):
                version = source.split()[1]
                assert f"/nanograv/PINT/v{version}/" in f.url
                checked += 1
            if dataset.name == "pulsar-clock-corrections":
                assert f"/pulsar-clock-corrections/{clock_commit}/" in f.url
    assert checked > 100
    # Filtered index tables are not upstream's: they are shipped with sat.
    assert _files("hess-dl3-dr1")["hess-dl3-dr1/obs-index.fits.gz"].url.startswith(
        "package:"
    )
    upstream = _files("hess-dl3-dr1")["hess-dl3-dr1/upstream-index/obs-index.fits.gz"]
    assert upstream.url.endswith(f"/{commit}/hess-dl3-dr1/obs-index.fits.gz")


def test_registry_rejects_an_unknown_key():
    entry = {"path": "x", "marker": "x/y", "description": "d", "licnce": "HESS"}
    with pytest.raises(DataError, match=r"unknown key.*licnce"):
        _dataset("x", entry, {})
    plain = _dataset("x", {"path": "x", "marker": "x/y", "description": "d"}, {})
    assert (plain.source, plain.licence, plain.files, plain.size) == (
        "gammapy-data",
        None,
        (),
        0,
    )


def test_manifest_builder_errors():
    dataset = datasets()["hess-dl3-dr1"]
    with pytest.raises(DataError, match=r"README\.txt matches no file"):
        manifest_module.dataset_paths(dataset, ["other/file"])
    bare = _dataset("b", {"path": "naima", "marker": "naima/x", "description": ""}, {})
    with pytest.raises(DataError, match="marker naima/x is not among its 1 files"):
        manifest_module.dataset_paths(bare, ["naima/CrabNebula_HESS_2006.dat"])


def test_manifest_write_and_check(tmp_path, monkeypatch, gammapy_data, capsys):
    monkeypatch.setattr(manifest_module, "MANIFEST", tmp_path / "manifest.json")
    data = str(gammapy_data)
    assert manifest_module.main(["--check", "--data", data]) == 1
    assert "out of date" in capsys.readouterr().err
    assert manifest_module.main(["--write", "--data", data]) == 0
    assert manifest_module.main(["--check", "--data", data]) == 0
    monkeypatch.delenv("GAMMAPY_DATA")
    with pytest.raises(SystemExit):
        manifest_module.main(["--check"])


def test_import_is_cheap():
    code = (
        "import sys, sat.data\n"
        "print(sorted({'yaml', 'numpy', 'astropy', 'tqdm'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_require_still_finds_and_explains(tmp_path, monkeypatch, gammapy_data):
    assert require("joint-crab") == gammapy_data / "joint-crab/spectra"
    monkeypatch.setenv("GAMMAPY_DATA", str(tmp_path))
    with pytest.raises(DataError, match="ctao-sat data download cta-1dc"):
        require("cta-1dc")
    with pytest.raises(DataError, match="unknown dataset 'nope'"):
        require("nope")


# --------------------------------------------------------------------------------
# ctao-sat data list / verify
# --------------------------------------------------------------------------------


def test_list_shows_present_datasets(gammapy_data):
    result = _run("list")
    assert result.exit_code == 0
    rows = {line.split()[0]: line for line in result.output.splitlines()}
    assert rows["hess-dl3-dr1"].split()[1:5] == ["35", "17.1", "MiB", "present"]
    assert "CC-BY-4.0 + H.E.S.S. DR1 terms" in rows["hess-dl3-dr1"]
    assert all(rows[name].split()[4] == "present" for name in datasets())


def test_list_json_and_partial(tmp_path):
    files = datasets()["naima-spectra"].files
    (tmp_path / "naima").mkdir()
    (tmp_path / files[0].path).write_bytes(b"x")
    result = _run("list", "--json", "--dir", str(tmp_path))
    payload = json.loads(result.output)
    rows = {row["name"]: row for row in payload["datasets"]}
    assert rows["naima-spectra"]["status"] == "partial 1/2"
    assert rows["hess-dl3-dr1"]["status"] == "missing"
    assert rows["cta-caldb"]["licence"] == "CTAO-prod5"
    assert rows["cta-caldb"]["bytes"] == sum(
        f.size for f in datasets()["cta-caldb"].files
    )
    assert len(rows["cta-caldb"]["file_list"][0]["sha256"]) == 64
    unset = _run("list", env={"GAMMAPY_DATA": None})
    assert "not set" in unset.output


def test_verify_passes_on_the_shared_data():
    result = _run("verify")
    assert result.exit_code == 0, result.output
    assert re.search(r"All (\d+) files present match their SHA-256", result.output)
    assert "hess-dl3-dr1: 35 files OK" in result.output


def test_verify_names_a_flipped_byte_and_a_missing_file(tmp_path, gammapy_data):
    files = datasets()["joint-crab"].files
    _copy(files, gammapy_data, tmp_path)
    bad = tmp_path / "joint-crab/spectra/hess/pha_obs23523.fits"
    _flip_byte(bad)
    (tmp_path / "joint-crab/spectra/fermi/rmf_obs0.fits").unlink()
    result = _run("verify", "joint-crab", "--dir", str(tmp_path))
    assert result.exit_code == 1
    assert (
        "corrupt  joint-crab/spectra/hess/pha_obs23523.fits (SHA-256" in result.output
    )
    assert "missing  joint-crab/spectra/fermi/rmf_obs0.fits" in result.output
    error = result.stderr.strip()
    assert error.count("\n") == 0 and error.startswith("Error: 2 file(s) failed")
    assert "pha_obs23523.fits (corrupt)" in error
    # Size differences are caught before hashing.
    bad.write_bytes(b"short")
    assert "5 bytes, expected 17280" in check_file(tmp_path, _file(files, bad)).detail


def _file(files, path: Path) -> DataFile:
    return next(f for f in files if path.as_posix().endswith(f.path))


def test_verify_errors(tmp_path):
    empty = _run("verify", "--dir", str(tmp_path))
    assert empty.exit_code == 1 and "no dataset is installed" in empty.stderr
    named = _run("verify", "naima-spectra", "--dir", str(tmp_path))
    assert named.exit_code == 1 and "naima/CrabNebula_HESS_2006.dat (missing)" in (
        named.stderr
    )
    absent = _run("verify", "--dir", str(tmp_path / "nope"))
    assert absent.exit_code == 1 and "does not exist" in absent.stderr
    unknown = _run("verify", "nope", "other")
    assert (
        unknown.exit_code == 1 and "unknown datasets 'nope', 'other'" in unknown.stderr
    )


# --------------------------------------------------------------------------------
# ctao-sat data download (against the real local server)
# --------------------------------------------------------------------------------


def _no_leftovers(root: Path):
    return sorted(p.name for p in root.rglob("*.part"))


def test_clean_download_verifies_and_rerun_skips(mirror, tmp_path):
    dest = tmp_path / "data"
    args = ("download", *SERVED[:3], "--dest", str(dest), "--mirror", mirror.url)
    result = _run(*args)
    assert result.exit_code == 0, result.output
    n = sum(len(datasets()[name].files) for name in SERVED[:3])
    assert f"{n} file(s) downloaded" in result.output
    assert f"export GAMMAPY_DATA={dest.resolve()}" in result.output
    assert len(mirror.requests) == n
    assert _run("verify", *SERVED[:3], "--dir", str(dest)).exit_code == 0
    assert _no_leftovers(dest) == []
    mirror.requests.clear()
    again = _run(*args)
    assert again.exit_code == 0
    assert f"0 file(s) downloaded (0 B), {n} already present and verified" in (
        again.output
    )
    assert mirror.requests == []


def test_corrupt_file_is_rejected_and_not_left_behind(mirror, tmp_path):
    mirror.modes[IRF] = "corrupt"
    dest = tmp_path / "data"
    result = _run("download", "cta-caldb", "--dest", str(dest), "--mirror", mirror.url)
    assert result.exit_code == 1
    error = result.stderr.strip()
    assert error.count("\n") == 0
    assert error.startswith(f"Error: checksum mismatch for {IRF} downloaded from ")
    assert f"{mirror.url}/{IRF}" in error and "deleted" in error
    assert not (dest / IRF).exists() and _no_leftovers(dest) == []
    # The other files of the dataset were still fetched and verified.
    assert "2 file(s) downloaded" in result.output
    assert [rel for rel, _ in mirror.requests].count(IRF) == 1  # no retry of a bad file


def test_longer_file_is_rejected(mirror, tmp_path):
    mirror.modes[IRF] = "longer"
    file = _files("cta-caldb")[IRF]
    with pytest.raises(DataError, match=r"got \d+ bytes.*expected 313598 bytes"):
        fetch(file, tmp_path, file_url(file, mirror.url), retries=0)
    assert not (tmp_path / IRF).exists() and _no_leftovers(tmp_path) == []


def test_truncated_transfer_is_resumed_on_retry(mirror, tmp_path):
    mirror.modes[IRF] = "truncate-once"
    file = _files("cta-caldb")[IRF]
    fetch(file, tmp_path, file_url(file, mirror.url), retries=2, backoff=0)
    assert file_sha256(tmp_path / IRF) == file.sha256
    ranges = [r for rel, r in mirror.requests if rel == IRF]
    assert ranges == [None, f"bytes={file.size // 2}-"]
    assert _no_leftovers(tmp_path) == []


def test_interrupted_download_leaves_a_part_that_the_next_run_resumes(mirror, tmp_path):
    mirror.modes[IRF] = "truncate"
    dest = tmp_path / "data"
    args = ("download", "cta-caldb", "--dest", str(dest), "--mirror", mirror.url)
    result = _run(*args, "--retries", "0")
    assert result.exit_code == 1
    assert f"cannot download {IRF} from {mirror.url}/{IRF} after 1 attempts" in (
        result.stderr
    )
    assert "transfer ended after 156799 of 313598 bytes" in result.stderr
    # Never a partial file that looks complete: only FILE.part exists.
    assert not (dest / IRF).exists()
    assert _no_leftovers(dest) == [Path(IRF).name + ".part"]
    mirror.modes.clear()
    mirror.requests.clear()
    resumed = _run(*args)
    assert resumed.exit_code == 0, resumed.output
    assert mirror.requests == [(IRF, "bytes=156799-")]
    assert check_file(dest, _files("cta-caldb")[IRF]).state == OK


def test_stale_part_and_server_without_range(mirror, tmp_path):
    file = _files("cta-caldb")[IRF]
    part = tmp_path / (IRF + ".part")
    part.parent.mkdir(parents=True)
    # A .part of another file: resuming gives a mismatch, so it starts afresh.
    part.write_bytes(b"\0" * 1000)
    fetch(file, tmp_path, file_url(file, mirror.url), retries=0)
    assert [r for _, r in mirror.requests] == ["bytes=1000-", None]
    assert file_sha256(tmp_path / IRF) == file.sha256
    # A server that ignores Range sends the whole file: it is rewritten, not appended.
    (tmp_path / IRF).unlink()
    part.write_bytes((mirror.root / IRF).read_bytes()[:5000])
    mirror.modes[IRF] = "no-range"
    fetch(file, tmp_path, file_url(file, mirror.url), retries=0)
    assert file_sha256(tmp_path / IRF) == file.sha256
    # A .part longer than the file is discarded.
    (tmp_path / IRF).unlink()
    part.write_bytes(b"\0" * (file.size + 10))
    mirror.modes.clear()
    fetch(file, tmp_path, file_url(file, mirror.url), retries=0)
    assert file_sha256(tmp_path / IRF) == file.sha256


def test_server_error_is_retried_a_bounded_number_of_times(mirror, tmp_path):
    mirror.modes[IRF] = "500"
    file = _files("cta-caldb")[IRF]
    with pytest.raises(DataError) as error:
        fetch(file, tmp_path, file_url(file, mirror.url), retries=2, backoff=0)
    message = str(error.value)
    assert message.startswith(f"cannot download {IRF} from {mirror.url}/{IRF}")
    assert "after 3 attempts: HTTP 500" in message
    assert len(mirror.requests) == 3
    assert not (tmp_path / IRF).exists()


def test_http_404_fails_at_once_with_one_line(mirror, tmp_path):
    mirror.modes[IRF] = "404"
    dest = tmp_path / "data"
    result = _run("download", "cta-caldb", "--dest", str(dest), "--mirror", mirror.url)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: cannot download {IRF}: {mirror.url}/{IRF}: HTTP 404 Not Found"
    )
    assert [rel for rel, _ in mirror.requests].count(IRF) == 1


def test_several_failures_are_listed(mirror, tmp_path):
    files = list(_files("naima-spectra"))
    for rel in files:
        mirror.modes[rel] = "404"
    dest = tmp_path / "data"
    result = _run(
        "download", "naima-spectra", "--dest", str(dest), "--mirror", mirror.url
    )
    assert result.exit_code == 1
    assert result.stderr.count("failed: cannot download naima/") == 2
    assert "Error: 2 files failed (listed above)" in result.stderr


def test_damaged_file_in_place_is_repaired(mirror, tmp_path, capsys):
    file = _files("naima-spectra")["naima/CrabNebula_HESS_2006.dat"]
    (tmp_path / "naima").mkdir()
    (tmp_path / file.path).write_text("not the spectrum")
    report = download(
        select(["naima-spectra"]), tmp_path, mirror=mirror.url, progress=True
    )
    assert [f.path for f in report.downloaded] == sorted(_files("naima-spectra"))
    assert check_file(tmp_path, file).state == OK
    bar = capsys.readouterr().err
    assert "download:" in bar and "/4.08k" in bar  # the tqdm bar, in bytes


def test_mirror_from_the_environment_and_missing_destination(mirror, tmp_path):
    env = {"CTAO_SAT_DATA_MIRROR": mirror.url, "GAMMAPY_DATA": str(tmp_path)}
    result = _run("download", "naima-spectra", "-q", env=env)
    assert result.exit_code == 0, result.output
    assert "export GAMMAPY_DATA" not in result.output
    rxj = _files("naima-spectra")["naima/RXJ1713_HESS_2007.dat"]
    assert check_file(tmp_path, rxj).state == OK
    none = _run("download", "naima-spectra", env={"GAMMAPY_DATA": None})
    assert none.exit_code == 1
    assert (
        none.stderr.strip()
        == "Error: no destination: pass --dest DIR or set GAMMAPY_DATA"
    )
    target = tmp_path / "file"
    target.write_text("")
    blocked = _run("download", "naima-spectra", "--dest", str(target / "sub"))
    assert blocked.exit_code == 1 and "cannot create the destination" in blocked.stderr


@pytest.mark.verifies_requirement("C-SAT-0050")
def test_derived_files_come_from_the_package_without_network(tmp_path, gammapy_data):
    # Upstream files in place; the filtered index tables come from sat itself.
    files = datasets()["cta-1dc"].files
    _copy(
        [f for f in files if not f.url.startswith("package:")], gammapy_data, tmp_path
    )
    result = _run("download", "cta-1dc", "--dest", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "2 file(s) downloaded (2.0 KiB), 6 already present and verified" in (
        result.output
    )
    assert _run("verify", "cta-1dc", "--dir", str(tmp_path)).exit_code == 0


@pytest.mark.verifies_requirement("C-SAT-0050")
def test_unreachable_source_fails_in_one_line(tmp_path):
    with socket.socket() as probe:  # a loopback port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = _run(
        "download",
        "naima-spectra",
        "--dest",
        str(tmp_path),
        "--mirror",
        f"http://127.0.0.1:{port}",
        "--retries",
        "0",
    )
    assert result.exit_code == 1
    assert "Connection refused" in result.stderr
    assert not list(tmp_path.rglob("*.dat"))


def test_dataset_without_manifest_entry_cannot_be_downloaded(tmp_path):
    bare = _dataset("b", {"path": "b", "marker": "b/x", "description": ""}, {})
    with pytest.raises(DataError, match="run nox -s data_manifest"):
        download([bare], tmp_path)


def test_states_of_a_file(tmp_path, gammapy_data):
    file = _files("naima-spectra")["naima/CrabNebula_HESS_2006.dat"]
    assert check_file(tmp_path, file).state == MISSING
    assert check_file(gammapy_data, file).state == OK
    _copy([file], gammapy_data, tmp_path)
    _flip_byte(tmp_path / file.path, 0)
    assert check_file(tmp_path, file).state == CORRUPT


def test_range_not_satisfiable_drops_the_part(mirror, tmp_path):
    mirror.modes[IRF] = "416"
    file = _files("cta-caldb")[IRF]
    part = tmp_path / (IRF + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\0" * 100)
    with pytest.raises(DataError, match="after 2 attempts: HTTP 416"):
        fetch(file, tmp_path, file_url(file, mirror.url), retries=1, backoff=0)
    assert not part.exists() and not (tmp_path / IRF).exists()


def test_local_write_error_is_one_line(mirror, tmp_path):
    file = _files("cta-caldb")[IRF]
    (tmp_path / (IRF + ".part")).mkdir(parents=True)  # cannot be written to
    with pytest.raises(DataError, match=f"cannot download {IRF} from .*Is a directory"):
        fetch(file, tmp_path, file_url(file, mirror.url), retries=3)
    (tmp_path / "naima").write_text("a file where a folder should be")
    naima = _files("naima-spectra")["naima/RXJ1713_HESS_2007.dat"]
    with pytest.raises(DataError, match="cannot download naima/RXJ1713"):
        fetch(naima, tmp_path, file_url(naima, mirror.url))


def test_a_file_shared_by_two_datasets_is_fetched_once(mirror, tmp_path):
    naima = datasets()["naima-spectra"]
    report = download([naima, naima], tmp_path, mirror=mirror.url, progress=False)
    assert len(report.downloaded) == 2 and len(mirror.requests) == 2


def test_manifest_builder_refuses_inconsistent_inputs(
    tmp_path, monkeypatch, gammapy_data
):
    wrong = _dataset(
        "w",
        {
            "path": "naima",
            "marker": "naima/CrabNebula_HESS_2006.dat",
            "description": "",
            "source": "nowhere",
        },
        {},
    )
    monkeypatch.setattr(manifest_module, "datasets", lambda: {"w": wrong})
    with pytest.raises(DataError, match="unknown source 'nowhere'"):
        manifest_module.build(gammapy_data)
    # A shipped derived copy must be identical to the data it stands for.
    right = _dataset(
        "r", {"path": "naima", "marker": wrong.marker, "description": ""}, {}
    )
    monkeypatch.setattr(manifest_module, "datasets", lambda: {"r": right})
    (tmp_path / "naima").mkdir()
    (tmp_path / wrong.marker).write_text("edited")
    monkeypatch.setattr(manifest_module, "DERIVED", tmp_path)
    with pytest.raises(
        DataError, match=r"derived/naima/CrabNebula_HESS_2006\.dat differs"
    ):
        manifest_module.build(gammapy_data)


def test_gammapy_data_errors_say_what_to_do(tmp_path, monkeypatch):
    from sat.cli.data import _human

    monkeypatch.delenv("GAMMAPY_DATA")
    with pytest.raises(DataError, match=r"GAMMAPY_DATA is not set.*download naima"):
        require("naima-spectra")
    monkeypatch.setenv("GAMMAPY_DATA", str(tmp_path / "nope"))
    with pytest.raises(DataError, match="does not exist"):
        require("naima-spectra")
    assert [_human(n) for n in (10, 2048, 3 * 1024**3)] == [
        "10 B",
        "2.0 KiB",
        "3.0 GiB",
    ]
