"""What every fault-injection test needs: run ctao-sat, judge its one line, damage data.

The fault suite (``tests/test_faults_*.py``) feeds ctao-sat bad configs, damaged
DL3 files, broken mirrors and archives, signals, unwritable and shared output
folders. Each case asserts the same four things: the exit code, one line saying
what is wrong (``Error: ...``), no traceback, and nothing lost or left behind.
Commands run in-process when that is faithful (fast), in a child process when
the case needs one: signals, memory caps (``resource.setrlimit``, so that a
regression cannot take the machine down), concurrent runs.
"""

from __future__ import annotations

import gzip
import os
import resource
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from sat.cli.main import main

CTAO_SAT = str(Path(sys.executable).parent / "ctao-sat")
# Lines a command may print on stderr besides its one error line: progress.
PROGRESS = ("download: ", "... ", "    done in ", "FAILED ", "  failed: ")
CRAB_RUNS = (23523, 23526, 23559, 23592)


@dataclass
class Outcome:
    """What a command did: exit code, its two streams, and how it ran."""

    code: int
    stdout: str
    stderr: str
    seconds: float = 0.0
    peak_rss_mib: float = 0.0
    exception: BaseException | None = None
    cpu_s: float = 0.0

    @property
    def errors(self) -> list[str]:
        """The ``Error:`` lines on stderr."""
        return [line for line in self.stderr.splitlines() if line.startswith("Error")]

    def stray(self) -> list[str]:
        """Lines on stderr that are neither the error line nor progress."""
        lines = self.stderr.replace("\r", "\n").splitlines()
        return [
            line
            for line in lines
            if line.strip()
            and not line.startswith(("Error", *PROGRESS))
            and "%|" not in line  # a progress bar's last state
        ]


def cli(*args, env=None, input=None) -> Outcome:
    """Run ``ctao-sat ARGS`` in this process (fast); return its `Outcome`."""
    start = time.perf_counter()
    result = CliRunner().invoke(main, [str(a) for a in args], env=env, input=input)
    exception = result.exception
    if isinstance(exception, SystemExit):
        exception = None
    return Outcome(
        result.exit_code,
        result.stdout,
        result.stderr,
        time.perf_counter() - start,
        exception=exception,
    )


def _limits(address_space: int | None):
    def apply():
        os.setsid()  # a process group of its own: "Ctrl-C" reaches its workers
        if address_space:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    return apply


def spawn(*args, address_space=None, env=None, cwd=None, stderr_path=None):
    """Start ``ctao-sat ARGS`` in a child process of its own group.

    Parameters
    ----------
    address_space : int, optional
        Cap on its virtual memory (bytes): an allocation beyond it fails in the
        child instead of taking the machine down.
    stderr_path : Path, optional
        Where its stderr goes (to watch its progress), else a pipe.
    """
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", **(env or {})}
    environment.setdefault("MPLBACKEND", "Agg")
    stderr = open(stderr_path, "w") if stderr_path else subprocess.PIPE
    process = subprocess.Popen(
        [CTAO_SAT, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=environment,
        cwd=cwd,
        preexec_fn=_limits(address_space),
    )
    process.stderr_path = stderr_path
    return process


def finish(process, timeout: float = 300) -> Outcome:
    """Wait for a `spawn`-ed command; return its `Outcome` with its peak memory.

    A command still running after ``timeout`` seconds is killed with its whole
    process group, and the test fails on its exit code (-9).
    """
    start = time.perf_counter()
    deadline = start + timeout
    status = usage = None
    while time.perf_counter() < deadline:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.05)
    else:
        os.killpg(process.pid, signal.SIGKILL)
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    stdout = process.stdout.read()
    if process.stderr_path:
        stderr = Path(process.stderr_path).read_text(errors="replace")
    else:
        stderr = process.stderr.read()
    return Outcome(
        process.returncode,
        stdout,
        stderr,
        time.perf_counter() - start,
        peak_rss_mib=usage.ru_maxrss / 1024,
        cpu_s=usage.ru_utime + usage.ru_stime,
    )


def run_child(*args, timeout=300, **options) -> Outcome:
    """Run ``ctao-sat ARGS`` in a child process (`spawn`) to the end."""
    start = time.perf_counter()
    outcome = finish(spawn(*args, **options), timeout)
    outcome.seconds = time.perf_counter() - start
    return outcome


@contextmanager
def address_space_cap(extra_bytes: int):
    """Cap this process's address space at its current size + ``extra_bytes``.

    For in-process memory cases: what the case allocates beyond ``extra_bytes``
    fails with a MemoryError instead of growing (the soft limit goes back after).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    size = int(Path("/proc/self/statm").read_text().split()[0])
    size *= os.sysconf("SC_PAGE_SIZE")
    limit = size + extra_bytes
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def group_alive(pgid: int) -> list[str]:
    """The processes of group ``pgid`` still running (zombies excepted)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(f"{entry.name} {name}")
    return alive


def assert_one_line(outcome: Outcome, code: int, *needles: str) -> str:
    """Assert exit ``code``, exactly one ``Error:`` line holding every needle,
    no traceback and no other line on stderr but progress; return the line.
    """
    text = outcome.stdout + outcome.stderr
    assert outcome.exception is None, repr(outcome.exception)
    assert "Traceback" not in text, text
    assert outcome.code == code, (outcome.code, text)
    assert len(outcome.errors) == 1, text
    assert not outcome.stray(), outcome.stray()
    line = outcome.errors[0]
    for needle in needles:
        assert needle in line, (needle, line)
    return line


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too) with its content."""
    folder = Path(folder)
    if not folder.exists():
        return {}
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


# --- damaged DL3 data -------------------------------------------------------------


def hess_file(gammapy_data: Path, obs_id: int) -> Path:
    """The H.E.S.S. DL3 DR1 file of run ``obs_id``."""
    name = f"hess_dl3_dr1_obs_id_{obs_id:06d}.fits.gz"
    return gammapy_data / "hess-dl3-dr1" / "data" / name


def store_copy(gammapy_data: Path, folder: Path, runs=CRAB_RUNS) -> Path:
    """A data store of H.E.S.S. DR1 runs in ``folder`` (the Crab's by default).

    The index tables are the release's, cut to ``runs``; the files are linked,
    so a test damages a run by replacing its link.
    """
    from astropy.table import Table

    source = gammapy_data / "hess-dl3-dr1"
    (folder / "data").mkdir(parents=True)
    for index in ("obs-index.fits.gz", "hdu-index.fits.gz"):
        table = Table.read(source / index, format="fits")
        keep = [int(obs_id) in runs for obs_id in table["OBS_ID"]]
        table[keep].write(folder / index, format="fits")
    for obs_id in runs:
        path = hess_file(gammapy_data, obs_id)
        (folder / "data" / path.name).symlink_to(path)
    return folder


def _gunzipped(path: Path) -> bytes:
    with gzip.open(path) as stream:
        return stream.read()


def damage(path: Path, how: str, original: Path) -> None:
    """Replace ``path`` by a damaged copy of ``original`` (a .fits.gz).

    ``how``: ``truncated`` (the gzip stream cut at 40 %), ``empty`` (0 bytes),
    ``garbage`` (random bytes, not gzip), ``gzip-garbage`` (gzip of random
    bytes), ``bitflip`` (one byte of the compressed stream flipped: CRC error),
    ``fits-truncated`` (a whole gzip of the FITS file cut at 60 %),
    ``no-events`` / ``no-aeff`` (the file without that HDU), ``missing``.
    """
    path.unlink(missing_ok=True)
    data = original.read_bytes()
    if how == "missing":
        return
    if how == "truncated":
        path.write_bytes(data[: int(len(data) * 0.4)])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "garbage":
        path.write_bytes(os.urandom(4096) * 4)
    elif how == "gzip-garbage":
        path.write_bytes(gzip.compress(os.urandom(20000)))
    elif how == "bitflip":
        flipped = bytearray(data)
        flipped[len(flipped) // 2] ^= 0xFF
        path.write_bytes(bytes(flipped))
    elif how == "fits-truncated":
        raw = _gunzipped(original)
        path.write_bytes(gzip.compress(raw[: int(len(raw) * 0.6)]))
    elif how in ("no-events", "no-aeff"):
        from astropy.io import fits

        drop = {"no-events": "EVENTS", "no-aeff": "AEFF"}[how]
        with fits.open(original) as hdus:
            kept = [hdu for hdu in hdus if hdu.name != drop]
            fits.HDUList(kept).writeto(path)
    else:
        raise ValueError(how)
