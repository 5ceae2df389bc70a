"""Fault injection: Ctrl-C and SIGTERM at random points, on every backend.

A real ``ctao-sat`` process (its own process group, as a shell runs it) gets
SIGINT on its whole group (what a terminal's Ctrl-C does: the workers get it
too) or SIGTERM on itself (what ``kill`` and batch systems do), at a random
point: starting up, reading the runs, starting a Ray cluster, reducing. Every
time it must stop with one line and exit 130 or 143, no traceback (from a worker
either), no process of its group left, no scratch folder or lock left, and the
output as it was. The loops run it 20 times in a row for multiprocessing and for
Ray (C-SAT-0283); the time from the signal to the exit is recorded in the JUnit
properties, not asserted (a generous timeout catches a hang).
"""

from __future__ import annotations

import os
import random
import signal
import time

import pytest

from sat.data import select
from tests.faultkit import assert_one_line, finish, group_alive, spawn, tree
from tests.test_data import Handler, _copy, serve

pytestmark = [
    pytest.mark.verifies_requirement("C-SAT-0283"),
    pytest.mark.verifies_requirement("C-SAT-0282"),
]

# The longest a stop may take before the test calls it a hang.
HANG_S = 60
LOOPS = 20
# Where in a run a signal lands: the line on stderr to wait for, and how long
# after it (uniform, seconds). "" is the start of the process.
PHASES = {
    "start": ("", (0.5, 2.0)),
    "reading": ("... checking the files", (0.0, 0.5)),
    "reducing": ("... reducing", (0.0, 3.0)),
}
# MSH 15-52: 20 runs, so the reduction lasts long enough to be interrupted.
CONFIG = "target: MSH 15-52\nspectral_models: [power-law]\n"
BACKENDS = {
    "serial": [],
    "multiprocessing": ["--backend", "multiprocessing", "--n-jobs", "2"],
    "ray": ["--backend", "ray", "--n-jobs", "2"],
}


def _wait_for(stderr_path, marker: str, process, limit: float = 180) -> bool:
    """Wait until ``marker`` shows on the process's stderr; False if it ended."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if marker in stderr_path.read_text(errors="replace"):
            return True
        time.sleep(0.05)
    raise AssertionError(f"{marker!r} never showed: {stderr_path.read_text()}")


def interrupt_run(folder, backend: str, signum: int, phase: str, delay: float):
    """Start ``run spectrum-1d``, signal it at ``phase`` + ``delay``; check the stop.

    Returns the seconds from the signal to the exit.
    """
    folder.mkdir()
    config = folder / "c.yaml"
    config.write_text(CONFIG)
    stderr = folder / "stderr.txt"
    output = folder / "out"
    process = spawn(
        "run", "spectrum-1d", "--config", config, "--output", output,
        *BACKENDS[backend], stderr_path=stderr,
    )  # fmt: skip
    marker, _ = PHASES[phase]
    reached = _wait_for(stderr, marker, process) if marker else True
    assert reached, f"the run ended before {phase}: {stderr.read_text()}"
    time.sleep(delay)
    assert process.poll() is None, f"the run ended first: {stderr.read_text()}"
    sent = time.monotonic()
    if signum == signal.SIGINT:
        os.killpg(process.pid, signum)  # a terminal's Ctrl-C: the whole group
    else:
        os.kill(process.pid, signum)
    outcome = finish(process, timeout=HANG_S)
    stop_s = time.monotonic() - sent
    assert outcome.code != -signal.SIGKILL, f"hang: killed after {HANG_S} s"
    assert_one_line(outcome, 128 + signum, "interrupted by")
    # Nothing of the run is left: no output, scratch folder, lock or process.
    assert sorted(p.name for p in folder.iterdir()) == ["c.yaml", "stderr.txt"]
    deadline = time.monotonic() + 5
    while group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert group_alive(process.pid) == []
    return stop_s


CASES = [
    ("serial", signal.SIGINT, "reducing"),
    ("serial", signal.SIGTERM, "reading"),
    ("multiprocessing", signal.SIGINT, "reducing"),
    ("multiprocessing", signal.SIGTERM, "reducing"),
    ("multiprocessing", signal.SIGINT, "start"),
    ("ray", signal.SIGINT, "reducing"),
    ("ray", signal.SIGTERM, "reducing"),
]


@pytest.mark.parametrize(
    "backend, signum, phase",
    CASES,
    ids=[f"{b}-{signal.Signals(s).name}-{p}" for b, s, p in CASES],
)
def test_signal_stops_the_run(tmp_path, request, backend, signum, phase):
    low, high = PHASES[phase][1]
    delay = random.Random(f"{backend}{signum}{phase}").uniform(low, high)
    stop_s = interrupt_run(tmp_path / "run", backend, signum, phase, delay)
    # In the JUnit XML, as pytest-requirements records its ids.
    request.node.user_properties.append(("stop_s", round(stop_s, 2)))


@pytest.mark.parametrize("backend", ["multiprocessing", "ray"])
def test_twenty_interruptions_in_a_row(tmp_path, request, backend):
    """Random signal, phase and delay, 20 times (seeded: a failure replays)."""
    rng = random.Random(f"interruptions-{backend}")
    stops = []
    for trial in range(LOOPS):
        signum = rng.choice([signal.SIGINT, signal.SIGTERM])
        phase = rng.choice(list(PHASES))
        delay = rng.uniform(*PHASES[phase][1])
        try:
            stop_s = interrupt_run(
                tmp_path / f"{trial:02d}", backend, signum, phase, delay
            )
        except AssertionError as error:
            name = signal.Signals(signum).name
            raise AssertionError(
                f"trial {trial} ({name} at {phase} + {delay:.2f} s): {error}"
            ) from None
        stops.append(round(stop_s, 2))
    request.node.user_properties += [("stop_s", stops), ("stop_s_max", max(stops))]
    print(f"{backend}: {LOOPS} interruptions, stop times {stops} s")
    assert len(stops) == LOOPS


# --- other commands -----------------------------------------------------------------


class Trickle(Handler):
    """Serves a file slowly (1 kB every 50 ms): a transfer to interrupt."""

    def do_GET(self):
        path = self.server.root / self.path.lstrip("/")
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            for start in range(0, len(data), 1024):
                self.wfile.write(data[start : start + 1024])
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass  # the client went away


@pytest.fixture
def trickle(tmp_path, gammapy_data):
    root = tmp_path / "mirror"
    (dataset,) = select(["crab-hess-fp"])
    _copy(dataset.files, gammapy_data, root)
    httpd = serve(Trickle, root=root, requests=[], modes={})
    yield httpd.url
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_a_download_and_it_resumes(tmp_path, trickle, signum):
    dest = tmp_path / "data"
    stderr = tmp_path / "stderr.txt"
    process = spawn(
        "data", "download", "crab-hess-fp", "--dest", dest, "--mirror", trickle,
        stderr_path=stderr,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not list(dest.rglob("*.part")) and time.monotonic() < deadline:
        assert process.poll() is None, stderr.read_text()
        time.sleep(0.05)
    time.sleep(0.3)
    if signum == signal.SIGINT:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    outcome = finish(process, timeout=HANG_S)
    assert_one_line(outcome, 128 + signum, "interrupted by", "run it again")
    # Under its real name a file is complete and verified; the one in flight is
    # a .part, resumed by the next download.
    mirror = tree(tmp_path / "mirror")
    for name, content in tree(dest).items():
        if not name.endswith(".part"):
            assert content == mirror[name], name
    assert list(dest.rglob("*.part"))
    again = finish(
        spawn("data", "download", "crab-hess-fp", "--dest", dest, "--mirror", trickle)
    )
    assert again.code == 0, again.stderr
    assert not list(dest.rglob("*.part"))


def test_signal_stops_a_quicklook_batch(tmp_path, gammapy_data):
    output = tmp_path / "ql"
    stderr = tmp_path / "stderr.txt"
    process = spawn(
        "quicklook", gammapy_data / "hess-dl3-dr1", "--target", "MSH 15-52",
        "--output", output, stderr_path=stderr,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    scratch = []
    while not scratch and time.monotonic() < deadline:
        assert process.poll() is None, stderr.read_text()
        scratch = list(tmp_path.glob(".ql.tmp-*/obs_*"))  # a run under way
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    outcome = finish(process, timeout=HANG_S)
    assert_one_line(outcome, 143, "interrupted by SIGTERM")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stderr.txt"]
