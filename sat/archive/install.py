"""The Debian packages a private DaCHS archive needs, and their installation.

Standard library only: the noxfile runs it with any interpreter, before the
test suite needs it (``python3 -m sat.archive.install``).

We install DaCHS itself (``python3-gavo``, which provides ``/usr/bin/dachs``) and
the PostgreSQL server with the two extensions DaCHS uses (pgSphere for the ObsCore
geometry, q3c), not the ``gavodachs2-server`` package: that one only adds a
system-wide service whose post-install script needs a running system PostgreSQL
cluster (there is no init system to start one in a container or CI job), creates
the system users ``gavo`` and ``dachsroot`` and ``/var/gavo`` and starts a daemon,
none of which a private server on a temporary folder uses.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import time

__all__ = ["PACKAGES", "apt_get", "install", "missing", "postgres_bindir"]

# Debian names; gavodachs2-server depends on exactly these besides python3-gavo.
PACKAGES = ("python3-gavo", "postgresql", "postgresql-pgsphere", "postgresql-q3c")
DACHS = "/usr/bin/dachs"


def postgres_bindir() -> str | None:
    """Return the newest ``/usr/lib/postgresql/VERSION/bin`` with ``initdb``."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        return None
    newest = max(found, key=lambda p: int(p.split("/")[4].split(".")[0]))
    return os.path.dirname(newest)


def missing() -> list[str]:
    """Return the packages of `PACKAGES` whose files are not installed."""
    absent = []
    if not os.access(DACHS, os.X_OK):
        absent.append("python3-gavo")
    bindir = postgres_bindir()
    if bindir is None:
        absent.append("postgresql")
        return [*absent, "postgresql-pgsphere", "postgresql-q3c"]
    share = bindir.replace("/usr/lib/", "/usr/share/").removesuffix("/bin")
    if not glob.glob(f"{share}/extension/pg_sphere.control"):
        absent.append("postgresql-pgsphere")
    if not glob.glob(f"{share}/extension/q3c.control"):
        absent.append("postgresql-q3c")
    return absent


def command(packages) -> list[str]:
    """Return the apt-get command installing ``packages`` (sudo when not root)."""
    apt = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    return apt if os.geteuid() == 0 else ["sudo", *apt]


def apt_get(packages, log=print) -> float:
    """Update apt's lists and install ``packages``; return the seconds it took.

    Also the AIV report's TeX Live (``satdev.aiv.texlive``): one way to install
    Debian packages, each command shown before it runs.

    Raises
    ------
    subprocess.CalledProcessError
        apt-get failed (its output is shown).
    """
    start = time.perf_counter()
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    for step in ([*sudo, "apt-get", "update", "-q"], command(packages)):
        log("$ " + " ".join(step))
        subprocess.run(step, check=True, env=environment)
    return time.perf_counter() - start


def install(log=print) -> float:
    """Install the missing packages with apt-get; return the seconds it took.

    Raises
    ------
    RuntimeError
        apt-get is not available or failed (its output is shown).
    """
    absent = missing()
    if not absent:
        log(f"DaCHS and PostgreSQL are installed ({', '.join(PACKAGES)})")
        return 0.0
    if shutil.which("apt-get") is None:
        raise RuntimeError(
            f"missing {', '.join(absent)} and no apt-get: install GAVO DaCHS 2.7+ "
            "and PostgreSQL with pgSphere by hand (https://dachs-doc.readthedocs.io)"
        )
    seconds = apt_get(absent, log)
    log(f"installed {', '.join(absent)} in {seconds:.0f} s")
    return seconds


def main() -> int:
    """Install what is missing (``python3 -m sat.archive.install``)."""
    try:
        install()
    except (RuntimeError, subprocess.CalledProcessError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
