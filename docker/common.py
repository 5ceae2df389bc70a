"""What every step of the container build shares.

Paths, the image's name and user, running a command (printed, with its failure as
one `Failure`), timing a step. Standard library only.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
OUT = ROOT / "build" / "container"
CHART = ROOT / "chart"  # the Helm chart: the one deployment source

IMAGE = "localhost/ctao-sat"
UID = 10001  # the Dockerfile's USER; tests/test_k8s.py ties runAsUser to it
ONE_HOUR = 3600.0  # CTAO B-SUSS-1530: deployable within one hour


class Failure(Exception):
    """A step failed: the message says what and, where it can, how to fix it."""


# The session whose progress lines these are (docker.chart sets "chart").
SESSION = {"name": "container"}


def log(message: str) -> None:
    """Print one progress line of the session."""
    print(f"[{SESSION['name']}] {message}", flush=True)


def run(cmd, *, check=True, capture=False, timeout=None, quiet=False, **kwargs):
    """Run a command; with ``capture`` return its combined output."""
    if not quiet:
        log("$ " + " ".join(str(c) for c in cmd))
    result = subprocess.run(
        [str(c) for c in cmd],
        text=True,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.STDOUT if capture else None,
        timeout=timeout,
        check=False,
        **kwargs,
    )
    if check and result.returncode != 0:
        output = f"\n{result.stdout}" if capture and result.stdout else ""
        raise Failure(f"`{' '.join(map(str, cmd))}` exited {result.returncode}{output}")
    return result


def timed(function, *args, **kwargs):
    """Call ``function`` and return ``(result, seconds)``."""
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return value, round(time.perf_counter() - start, 1)
