"""The Jupyter image's one layer: what the Jupyter build stage adds to the prefix.

Runs inside the Dockerfile's ``jupyter-build`` stage with the environment's own
Python (standard library only), in two steps around the installation::

    python layer.py snapshot PREFIX LIST         # before: every file and its stat
    python layer.py extract LIST PREFIX LAYER    # after: copy what is new or changed

``extract`` copies every file (or symlink) under ``PREFIX`` that is not in the
snapshot, or whose size or mtime changed, into ``LAYER`` at the same path; the
Jupyter image is then the analysis image plus ``COPY LAYER /``. Identical files
of the layer are hard links to one copy (JupyterLab installs its 17 MB web
application twice: as package data and as the data files it serves). Before
that, JupyterHub's own web assets and page templates (``share/jupyterhub``) are
removed: they are the Hub's, which runs from its own image; the single-user
server serves its pages from the jupyterhub package and links to the Hub for
the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

# The Hub's web assets, never served by jupyterhub-singleuser (module docstring).
HUB_ASSETS = "share/jupyterhub"


def _files(prefix: Path):
    for folder, _, names in os.walk(prefix):
        for name in names:
            path = Path(folder, name)
            stat = path.lstat()
            yield path.relative_to(prefix).as_posix(), [stat.st_size, stat.st_mtime_ns]


def snapshot(prefix: Path, listing: Path) -> None:
    """Record every file of ``prefix`` with its size and mtime."""
    listing.write_text(json.dumps(dict(_files(prefix))))


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def extract(listing: Path, prefix: Path, layer: Path) -> dict:
    """Copy what is new or changed under ``prefix`` into ``layer``; return figures."""
    before = json.loads(listing.read_text())
    hub = prefix / HUB_ASSETS
    removed = sum(p.stat().st_size for p in hub.rglob("*") if p.is_file())
    shutil.rmtree(hub, ignore_errors=True)
    first_copy: dict[tuple[int, str], Path] = {}
    figures = {"files": 0, "bytes": 0, "linked_bytes": 0, "hub_assets_removed": removed}
    for relative, stat in sorted(_files(prefix)):
        if before.get(relative) == stat:
            continue
        source, target = prefix / relative, layer / prefix.relative_to("/") / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        figures["files"] += 1
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
            continue
        key = (stat[0], _digest(source))
        if key in first_copy:
            os.link(first_copy[key], target)
            figures["linked_bytes"] += stat[0]
            continue
        shutil.copy2(source, target)
        first_copy[key] = target
        figures["bytes"] += stat[0]
    return figures


def main(argv: list[str]) -> None:
    """``snapshot PREFIX LIST`` or ``extract LIST PREFIX LAYER``."""
    if argv[0] == "snapshot":
        snapshot(Path(argv[1]), Path(argv[2]))
        return
    figures = extract(Path(argv[1]), Path(argv[2]), Path(argv[3]))
    print(
        f"layer.py: {figures['files']} files, {figures['bytes'] / 1e6:.0f} MB "
        f"(+{figures['linked_bytes'] / 1e6:.0f} MB as hard links); removed the "
        f"Hub's web assets ({figures['hub_assets_removed'] / 1e6:.0f} MB)"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
