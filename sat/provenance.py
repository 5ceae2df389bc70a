"""Provenance of every product: versions, inputs with checksums, config, time.

Like ctapipe's provenance record, written into every ``result.json``.
"""

from __future__ import annotations

import hashlib
import platform
from datetime import UTC, datetime
from pathlib import Path

from sat.stack import compare_installed, release_version

__all__ = ["file_sha256", "record"]

_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """Return the SHA-256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def record(config: dict, inputs: list[Path], started: datetime, wall_s: float) -> dict:
    """Build the provenance record of one run.

    Parameters
    ----------
    config : dict
        The full configuration the run used (defaults included).
    inputs : list of Path
        Every input file the run read; each is listed with its SHA-256.
    started : datetime
        When the run started (UTC).
    wall_s : float
        Wall time of the run, in seconds.
    """
    return {
        "ctao_sat": release_version(),
        "versions": {pin.name: installed for pin, installed in compare_installed()},
        "python": platform.python_version(),
        "platform": platform.platform(),
        "started": started.astimezone(UTC).isoformat(timespec="seconds"),
        "wall_time_s": round(wall_s, 3),
        "config": config,
        "inputs": [
            {"path": str(path), "sha256": file_sha256(path)}
            for path in sorted(set(map(Path, inputs)))
        ],
    }


def now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)
