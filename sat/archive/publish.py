"""A private GAVO DaCHS archive on 127.0.0.1 serving GADF DL3 folders.

`LocalArchive` starts a PostgreSQL cluster and a DaCHS server in a temporary folder,
publishes DL3 folders with the resource descriptor ``sat/archive/dachs/dl3.rd``
(one ObsCore collection per folder) and stops both processes by PID. It is what
the tests, ``ctao-sat archive serve`` and ``nox -s archive`` run; a CTAO site
publishes its DL3 folders with the same RD on its production DaCHS.

How (measured on Debian 12, DaCHS 2.7, PostgreSQL 15): root cannot ``initdb``, so
when run as root both servers run as an unprivileged user (``ctaosat``, created if
missing); ``initdb -A trust``; ``postgres`` on a unix socket only, as a child;
``createdb``; a ``gavo.rc`` (``GAVOSETTINGS``) with the web port; ``dachs init``,
``dachs imp //obscore``, ``dachs imp ctao_dl3/q``; ``dachs serve start -f`` as a
child, polled on ``/tap/availability``. DaCHS runs on Debian's ``/usr/bin/python3``
with a clean environment: the developer's Python (pyenv, in root's home) is neither
readable by that user nor wanted.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from importlib import resources
from pathlib import Path

from sat.archive import install
from sat.errors import SatError

__all__ = ["RD_ID", "SCHEMA", "USER", "LocalArchive", "free_port"]

USER = "ctaosat"
SCHEMA = "ctao_dl3"  # the RD's schema, and its resource directory under inputs/
RD_ID = f"{SCHEMA}/q"
_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "GAVOCUSTOM": "/nonexistent"}


class ArchiveError(SatError):
    """The private archive could not be set up (the message says what to do)."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _account(user: str) -> tuple[int, int] | None:
    """Return (uid, gid) to run the servers as; None: as ourselves (not root)."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                user,
            ],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


class LocalArchive:
    """A private PostgreSQL + DaCHS serving GADF DL3 folders as ObsCore.

    Parameters
    ----------
    collections : dict
        ``{collection name: folder}``; each folder holds ``obs-index.fits.gz``,
        ``hdu-index.fits.gz`` and the files they name. It is published read-only
        through a symbolic link.
    port : int, optional
        Web port on 127.0.0.1 (default: a free one).
    user : str
        Account the servers run as when we are root (created if missing).
    timeout : float
        Seconds to wait for each server to answer.
    log : callable, optional
        Called with a line of progress (default: nothing).

    Examples
    --------
    >>> with LocalArchive({"hess-dl3-dr1": folder}) as archive:  # doctest: +SKIP
    ...     print(archive.tap_url)
    """

    def __init__(
        self,
        collections: dict[str, Path],
        port: int | None = None,
        user: str = USER,
        timeout: float = 120.0,
        log=None,
    ):
        self.collections = {name: Path(path) for name, path in collections.items()}
        self.port = port or free_port()
        self.user = user
        self.timeout = timeout
        self.log = log or (lambda line: None)
        self.workdir: Path | None = None
        self.processes: dict[str, subprocess.Popen] = {}
        self.timings: dict[str, float] = {}
        self._account = None

    @property
    def url(self) -> str:
        """Root address of the web server."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def tap_url(self) -> str:
        """Address of the TAP service (ObsCore is ``ivoa.obscore``)."""
        return f"{self.url}/tap"

    # --- running things as the archive's user ----------------------------------

    def _env(self) -> dict:
        return {
            **_ENV,
            "HOME": str(self.workdir),
            "GAVOSETTINGS": str(self.workdir / "gavo.rc"),
        }

    def _user_kwargs(self) -> dict:
        if self._account is None:
            return {}
        uid, gid = self._account
        return {"user": uid, "group": gid, "extra_groups": []}

    def _run(self, *command, what: str) -> None:
        result = subprocess.run(
            [str(part) for part in command],
            env=self._env(),
            cwd=self.workdir,
            capture_output=True,
            text=True,
            **self._user_kwargs(),
        )
        if result.returncode:
            output = (result.stderr or result.stdout).strip().splitlines()
            raise ArchiveError(
                f"{what} failed ({' '.join(map(str, command[:3]))}): "
                f"{output[-1] if output else f'exit {result.returncode}'}"
            )

    def _spawn(self, name: str, *command) -> subprocess.Popen:
        logfile = open(self.workdir / f"{name}.log", "wb")
        with logfile:
            process = subprocess.Popen(
                [str(part) for part in command],
                env=self._env(),
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                # Our own session: a Ctrl-C in the terminal reaches us, and we
                # stop the servers in order (DaCHS first, then its database).
                start_new_session=True,
                **self._user_kwargs(),
            )
        self.processes[name] = process
        return process

    def _log_tail(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        lines = path.read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else "(no output)"

    def _wait(self, name: str, ready, what: str) -> None:
        deadline = time.monotonic() + self.timeout
        process = self.processes[name]
        while not ready():
            if process.poll() is not None:
                raise ArchiveError(
                    f"{what} exited with {process.returncode}: {self._log_tail(name)}"
                )
            if time.monotonic() > deadline:
                raise ArchiveError(
                    f"{what} did not answer within {self.timeout:.0f} s: "
                    f"{self._log_tail(name)}"
                )
            time.sleep(0.2)

    # --- set-up ------------------------------------------------------------------

    def _check(self) -> None:
        absent = install.missing()
        if absent:
            raise ArchiveError(
                f"GAVO DaCHS is not installed (missing {', '.join(absent)}): run "
                "python3 -m sat.archive.install (apt-get, a few minutes) or "
                "nox -s archive"
            )
        from sat.dl3.store import OBS_INDEX, is_store

        for name, folder in self.collections.items():
            if not is_store(folder):
                raise ArchiveError(f"collection {name!r}: {folder} has no {OBS_INDEX}")

    def _check_readable(self) -> None:
        # The servers run as another user: they must be able to read the data.
        from sat.dl3.store import HDU_INDEX

        for folder in self.collections.values():
            index = folder.resolve() / HDU_INDEX
            result = subprocess.run(
                ["test", "-r", str(index)], env=_ENV, **self._user_kwargs()
            )
            if result.returncode:
                raise ArchiveError(
                    f"user {self.user} cannot read {index}: make the folder "
                    "world-readable or publish a readable copy"
                )

    def _write_settings(self) -> None:
        group = self.user
        if self._account is None:
            import grp

            group = grp.getgrgid(os.getegid()).gr_name
        (self.workdir / "gavo.rc").write_text(
            "[general]\n"
            f"rootDir: {self.workdir / 'gavo'}\n"
            f"group: {group}\n"
            "[web]\n"
            f"bindAddress: 127.0.0.1\nserverPort: {self.port}\n"
            f"serverURL: {self.url}\n"
            "[ivoa]\n"
            "authority: ctao-sat.local\n"
        )

    def _publish_folders(self) -> None:
        resdir = self.workdir / "gavo" / "inputs" / SCHEMA
        (resdir / "data").mkdir(parents=True)
        rd = resources.files("sat.archive").joinpath("dachs/dl3.rd")
        (resdir / "q.rd").write_bytes(rd.read_bytes())
        for name, folder in self.collections.items():
            (resdir / "data" / name).symlink_to(folder.resolve())

    def _chown(self) -> None:
        if self._account is None:
            return
        uid, gid = self._account
        # os.walk does not enter the symbolic links to the (read-only) data.
        for folder, subfolders, files in os.walk(self.workdir):
            for name in [".", *subfolders, *files]:
                os.lchown(os.path.join(folder, name), uid, gid)

    def _tap_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.tap_url}/availability", timeout=5):
                return True
        except OSError:
            return False

    def _timed(self, name: str, function, *args, **kwargs):
        start = time.perf_counter()
        self.log(f"{name}...")
        function(*args, **kwargs)
        self.timings[name] = time.perf_counter() - start

    def start(self) -> LocalArchive:
        """Set up and start PostgreSQL and DaCHS; return self when TAP answers.

        Raises
        ------
        SatError
            DaCHS is missing, a folder is not a data store, or a server did not
            start (the message has the last line of its log). Whatever was
            started is stopped again.
        """
        self._check()
        begin = time.perf_counter()
        self._account = _account(self.user)
        self._check_readable()
        self.workdir = Path(tempfile.mkdtemp(prefix="ctao-sat-archive-"))
        atexit.register(self.stop)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.timings["total"] = time.perf_counter() - begin
        return self

    def _start(self) -> None:
        bindir = Path(install.postgres_bindir())
        socket_dir = self.workdir / "socket"
        socket_dir.mkdir()
        self._write_settings()
        self._publish_folders()
        self._chown()
        database = self.workdir / "postgres"
        self._timed(
            "initdb",
            self._run,
            bindir / "initdb",
            "--auth=trust",
            "--no-sync",
            "--encoding=UTF8",
            "--locale=C",
            "-D",
            database,
            what="initdb",
        )
        # Unix socket only; fsync off: a throw-away database, rebuilt each start.
        self._spawn(
            "postgres",
            bindir / "postgres",
            "-D",
            database,
            "-k",
            socket_dir,
            "-p",
            "5432",
            "-c",
            "listen_addresses=",
            "-c",
            "fsync=off",
        )
        self._wait(
            "postgres",
            lambda: (
                subprocess.run(
                    [bindir / "pg_isready", "-q", "-h", socket_dir, "-p", "5432"],
                    env=_ENV,
                ).returncode
                == 0
            ),
            "PostgreSQL",
        )
        self._timed(
            "createdb",
            self._run,
            bindir / "createdb",
            "-h",
            socket_dir,
            "-p",
            "5432",
            "-T",
            "template0",
            "-E",
            "UTF8",
            "gavo",
            what="createdb",
        )
        dsn = f"host={socket_dir} port=5432 dbname=gavo"
        self._timed("dachs init", self._run, "dachs", "init", "-d", dsn, what="init")
        self._timed(
            "dachs imp //obscore", self._run, "dachs", "imp", "//obscore", what="imp"
        )
        self._timed(
            f"dachs imp {RD_ID}", self._run, "dachs", "imp", RD_ID, what="publishing"
        )
        self._timed("dachs serve", self._serve)

    def _serve(self) -> None:
        self._spawn("dachs", "dachs", "serve", "start", "-f")
        self._wait("dachs", self._tap_ready, "DaCHS")

    # --- stopping ----------------------------------------------------------------

    @staticmethod
    def _stop_process(process: subprocess.Popen, sig: int, grace: float) -> None:
        if process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def leftovers(self) -> list[int]:
        """Return the PIDs of processes still running from this archive's folder."""
        if self.workdir is None:
            return []
        marker = str(self.workdir)
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            # The postmaster names the folder on its command line; its backends
            # and DaCHS run with their working directory inside it.
            with contextlib.suppress(OSError):
                if marker.encode() in (entry / "cmdline").read_bytes() or os.readlink(
                    entry / "cwd"
                ).startswith(marker):
                    found.append(int(entry.name))
        alive = [p.pid for p in self.processes.values() if p.poll() is None]
        return sorted(set(found) | set(alive))

    def stop(self) -> None:
        """Stop DaCHS, then PostgreSQL (by PID), and delete the temporary folder.

        Safe to call twice and from `atexit`.
        """
        # DaCHS first (SIGTERM: twisted shuts down cleanly), then the database
        # (SIGINT: PostgreSQL's fast shutdown, which ends its backends too).
        if "dachs" in self.processes:
            self._stop_process(self.processes["dachs"], signal.SIGTERM, 20)
        if "postgres" in self.processes:
            self._stop_process(self.processes["postgres"], signal.SIGINT, 30)
        if self.workdir is not None and self.workdir.exists():
            shutil.rmtree(self.workdir, ignore_errors=True)
        atexit.unregister(self.stop)

    def wait(self, poll: float = 1.0) -> str:
        """Block until one of the servers exits; return its name."""
        while True:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    return name
            time.sleep(poll)

    def __enter__(self) -> LocalArchive:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(collections: dict[str, Path], port: int | None, log=print) -> None:
    """Serve ``collections`` until interrupted (Ctrl-C or SIGTERM)."""

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupted)
    archive = LocalArchive(collections, port=port, log=log)
    try:
        archive.start()
        names = ", ".join(collections)
        log(f"serving {names} at {archive.tap_url} (ObsCore: ivoa.obscore)")
        log(f"started in {archive.timings['total']:.0f} s; Ctrl-C stops it")
        log(f"{archive.wait()} exited: stopping")
    except KeyboardInterrupt:
        log("stopping")
    finally:
        archive.stop()
        signal.signal(signal.SIGTERM, previous)
