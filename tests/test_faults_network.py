"""Fault injection: broken mirrors and archives, on real HTTP servers on 127.0.0.1.

A data mirror that refuses connections, answers errors, sends corrupt, short or
padded files; an IVOA archive that is not a URL, does not answer, answers HTML,
nothing, an HTTP error, an error VOTable or too slowly. Every case ends with one
line naming the server and what to do, a non-zero exit, no traceback, and no
unverified file under a real name (a short transfer's ``.part`` stays, to resume).
"""

from __future__ import annotations

import socket
import time
from http.server import BaseHTTPRequestHandler

import pytest

from sat.data import select
from tests.faultkit import assert_one_line, cli, tree
from tests.test_data import Handler, _copy, serve

pytestmark = [
    pytest.mark.verifies_requirement("C-SAT-0280"),
    pytest.mark.verifies_requirement("C-SAT-0286"),
]

DATASET = "crab-hess-fp"  # five small files


@pytest.fixture(scope="module")
def mirror_server(tmp_path_factory, gammapy_data):
    """A mirror of DATASET with the failure modes of tests/test_data.py."""
    root = tmp_path_factory.mktemp("mirror")
    (dataset,) = select([DATASET])
    _copy(dataset.files, gammapy_data, root)
    httpd = serve(Handler, requests=[])
    httpd.root, httpd.modes, httpd.files = root, {}, [f.path for f in dataset.files]
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def mirror(mirror_server):
    mirror_server.modes.clear()
    mirror_server.requests.clear()
    return mirror_server


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _download(dest, mirror_url, *extra):
    return cli(
        "data", "download", DATASET, "--dest", dest, "--mirror", mirror_url, *extra
    )


def _real_names(dest) -> list[str]:
    """Files under their real name (verified); ``.part`` files excepted."""
    return [name for name in tree(dest) if not name.endswith(".part")]


def test_dead_mirror_is_named_once_with_progress(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}"
    outcome = _download(tmp_path / "d", url, "--retries", "2")
    assert_one_line(outcome, 1, f"{url} does not answer", "Connection refused")
    assert "5 file(s) not downloaded" in outcome.errors[0]
    assert "check --mirror" in outcome.errors[0]
    # The retries of the first file are announced; the other files not retried.
    notices = [n for n in outcome.stderr.splitlines() if n.startswith("download:")]
    assert len(notices) == 2 and "attempt 3 of 3 in 2 s" in notices[-1]
    assert _real_names(tmp_path / "d") == []


@pytest.mark.parametrize(
    "mode, needles",
    [
        ("500", ["after 2 attempts", "HTTP 500"]),
        ("503", ["after 2 attempts", "HTTP 503"]),
        ("404", ["HTTP 404"]),
        ("403", ["HTTP 403"]),
        ("corrupt", ["checksum mismatch", "the bad download was deleted"]),
        ("longer", ["checksum mismatch", "the bad download was deleted"]),
        ("truncate", ["after 2 attempts", "run the command again to resume"]),
    ],
)
def test_broken_mirror_file_is_one_line(mirror, tmp_path, mode, needles):
    broken = mirror.files[-1]
    mirror.modes[broken] = mode
    outcome = _download(tmp_path / "d", mirror.url, "--retries", "1")
    line = assert_one_line(outcome, 1, broken, *needles)
    assert "Traceback" not in line
    # The other files are there, verified; the broken one is not.
    assert sorted(_real_names(tmp_path / "d")) == sorted(
        f for f in mirror.files if f != broken
    )


def test_broken_mirror_everywhere_lists_each_file(mirror, tmp_path):
    for path in mirror.files:
        mirror.modes[path] = "corrupt"
    outcome = _download(tmp_path / "d", mirror.url, "--retries", "0")
    assert_one_line(outcome, 1, "5 files failed (listed above)")
    assert outcome.stderr.count("  failed: checksum mismatch") == 5
    assert _real_names(tmp_path / "d") == []


def test_interrupted_transfer_resumes(mirror, tmp_path):
    mirror.modes[mirror.files[-1]] = "truncate-once"
    outcome = _download(tmp_path / "d", mirror.url, "--retries", "1")
    assert outcome.code == 0, outcome.stderr
    assert "attempt 2 of 2" in outcome.stderr  # the retry was announced
    assert sorted(_real_names(tmp_path / "d")) == sorted(mirror.files)


@pytest.mark.parametrize(
    "url", ["not-a-url", "http://", "ftp://mirror.example/data", "mirror:8080"]
)
def test_mirror_that_is_not_a_url(tmp_path, url):
    outcome = _download(tmp_path / "d", url)
    assert_one_line(outcome, 1, f"mirror {url!r}", "is not a URL")
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("dest", ["/proc/ctao-sat/data", "/dev/null/data"])
def test_unwritable_download_destination(dest):
    outcome = cli("data", "download", DATASET, "--dest", dest)
    assert_one_line(outcome, 1, f"cannot create the destination {dest}", "--dest")


# --- archives ---------------------------------------------------------------------

ERROR_VOTABLE = b"""<?xml version="1.0" encoding="UTF-8"?>
<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">
<RESOURCE type="results">
<INFO name="QUERY_STATUS" value="ERROR">Column nosuch does not exist</INFO>
</RESOURCE>
</VOTABLE>
"""
EMPTY_VOTABLE = b"""<?xml version="1.0" encoding="UTF-8"?>
<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">
<RESOURCE type="results">
<INFO name="QUERY_STATUS" value="OK"/>
<TABLE><FIELD name="something" datatype="int"/>
<DATA><TABLEDATA><TR><TD>1</TD></TR></TABLEDATA></DATA></TABLE>
</RESOURCE>
</VOTABLE>
"""


class ArchiveHandler(BaseHTTPRequestHandler):
    """A TAP service gone wrong: ``server.mode`` says how."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, status: int, body: bytes, kind: str = "text/xml") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._answer(404, b"not here", "text/plain")

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        mode = self.server.mode
        if mode == "slow":
            time.sleep(3)
            self._answer(200, EMPTY_VOTABLE)
        elif mode == "html":
            self._answer(200, b"<html><body>Maintenance</body></html>", "text/html")
        elif mode == "empty":
            self._answer(200, b"")
        elif mode == "garbage":
            self._answer(200, b"<VOTABLE><RESOURCE><TABLE><FIELD")
        elif mode == "error-votable":
            self._answer(200, ERROR_VOTABLE)
        elif mode == "wrong-columns":
            self._answer(200, EMPTY_VOTABLE)
        else:
            self._answer(int(mode), b"<html>server error</html>", "text/html")


@pytest.fixture(scope="module")
def archive_server():
    httpd = serve(ArchiveHandler, requests=[])
    httpd.mode = "500"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


ARCHIVE_FAULTS = [
    ("500", ["answered the ObsCore query with HTTP 500"]),
    ("502", ["answered the ObsCore query with HTTP 502"]),
    ("html", ["malformed VOTable"]),
    ("empty", ["malformed VOTable"]),
    ("garbage", ["malformed VOTable"]),
    ("wrong-columns", ["without the column(s) obs_id, access_url"]),
    ("error-votable", ["rejected the ObsCore query", "Column nosuch does not exist"]),
    ("slow", ["did not answer the ObsCore query within 1 s", "--timeout"]),
]


@pytest.mark.parametrize(
    "mode, needles", ARCHIVE_FAULTS, ids=[mode for mode, _ in ARCHIVE_FAULTS]
)
def test_broken_archive_is_one_line(archive_server, tmp_path, mode, needles):
    archive_server.mode = mode
    url = f"{archive_server.url}/tap"
    search = cli(
        "archive", "search", "--archive", url, "--target", "crab", "--timeout", "1"
    )
    assert_one_line(search, 1, f"archive {url}", *needles)
    fetch = cli(
        "archive", "fetch", "--archive", url, "--target", "crab",
        "--dest", tmp_path / "dl3", "--timeout", "1",
    )  # fmt: skip
    assert_one_line(fetch, 1, f"archive {url}", *needles)
    assert tree(tmp_path) == {}


def test_archive_that_does_not_answer(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/tap"
    outcome = cli("archive", "search", "--archive", url, "--target", "crab")
    assert_one_line(outcome, 1, f"archive {url} does not answer", "check the address")


@pytest.mark.parametrize(
    "url", ["not-a-url", "ftp://archive.example/tap", "http://", "file:///tmp/tap"]
)
def test_archive_that_is_not_a_url(url):
    outcome = cli("archive", "search", "--archive", url, "--target", "crab")
    assert_one_line(outcome, 1, f"archive address {url!r}", "is not an http(s) URL")
