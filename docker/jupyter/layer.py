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
that, the files of `CUTS` are removed: each is new in this stage and provably
unused by JupyterLab, the kernel and ``jupyterhub-singleuser`` here (the comment
above each says why). No distribution is removed: ``pip check`` and every
import stay as they were. ``extract`` prints what each cut freed.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

SITE = "lib/python3*/site-packages"

# What the layer leaves out (issue 17's goal: Jupyter adds <= 150 MB). Name ->
# (globs under the prefix, file names that stay). Only what this stage added.
CUTS = {
    # The Hub's web assets and page templates: the Hub runs from its own image;
    # jupyterhub-singleuser serves its pages from the jupyterhub package.
    "hub_assets": (("share/jupyterhub",), ()),
    # babel's CLDR data of every language: jupyterlab_server asks babel only for
    # the locales of installed language packs (none here) and English; an unknown
    # locale falls back to English, as without a language pack.
    "babel_locales": (
        (f"{SITE}/babel/locale-data/*.dat",),
        ("root.dat", "en.dat", "en_*.dat"),
    ),
    # Galata's UI-test helper extension: Lab loads it only when a test set-up
    # puts jupyterlab/galata on its extension path; the module stays importable.
    "galata_test_extension": ((f"{SITE}/jupyterlab/galata/@jupyterlab",), ()),
    # debugpy's Windows attach code: winappdbg cannot even be imported on Linux
    # (ctypes has no WINFUNCTYPE); windows/ holds the sources of its Windows DLL.
    "debugpy_windows": (
        (
            f"{SITE}/debugpy/_vendored/pydevd/pydevd_attach_to_process/winappdbg",
            f"{SITE}/debugpy/_vendored/pydevd/pydevd_attach_to_process/windows",
        ),
        (),
    ),
    # The Cython sources of pydevd's speed-ups: the wheel ships them compiled,
    # and nothing reads a .c, .pyx or .pxd at run time (the image has no compiler).
    "debugpy_cython_sources": (
        tuple(
            f"{SITE}/debugpy/_vendored/pydevd/_pydevd_*/*.{suffix}"
            for suffix in ("c", "pyx", "pxd")
        ),
        (),
    ),
    # Source maps of the server's CSS: only a browser's developer tools ask.
    "css_source_maps": ((f"{SITE}/jupyter_server/static/**/*.map",), ()),
}


def _files(prefix: Path):
    for folder, _, names in os.walk(prefix):
        for name in names:
            path = Path(folder, name)
            stat = path.lstat()
            yield path.relative_to(prefix).as_posix(), [stat.st_size, stat.st_mtime_ns]


def snapshot(prefix: Path, listing: Path) -> None:
    """Record every file of ``prefix`` with its size and mtime."""
    listing.write_text(json.dumps(dict(_files(prefix))))


def cut(prefix: Path, before: dict, globs: tuple, keep: tuple) -> list:
    """Delete what ``globs`` match under ``prefix`` and the snapshot lacks.

    A file whose name matches one of ``keep`` stays. Returns the (size,
    SHA-256) of every file deleted.
    """
    deleted = []
    for pattern in globs:
        for match in sorted(prefix.glob(pattern)):
            paths = sorted(match.rglob("*")) if match.is_dir() else [match]
            for path in paths:
                relative = path.relative_to(prefix).as_posix()
                if path.is_dir() or relative in before:
                    continue
                if any(fnmatch.fnmatch(path.name, name) for name in keep):
                    continue
                deleted.append((path.lstat().st_size, _digest(path)))
                path.unlink()
            if match.is_dir() and not any(p.is_file() for p in match.rglob("*")):
                shutil.rmtree(match)
    return deleted


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def extract(listing: Path, prefix: Path, layer: Path) -> dict:
    """Copy what is new or changed under ``prefix`` into ``layer``; return figures."""
    before = json.loads(listing.read_text())
    deleted = {name: cut(prefix, before, *rule) for name, rule in CUTS.items()}
    first_copy: dict[tuple[int, str], Path] = {}
    figures = {"files": 0, "bytes": 0, "linked_bytes": 0}
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
    # What a cut saved: the bytes of the contents it deleted that the layer does
    # not hold anyway (a deleted copy of a kept file would have been a hard link).
    figures["cuts"] = {
        name: {
            "files": len(files),
            "bytes": sum(size for size, _ in set(files) - set(first_copy)),
        }
        for name, files in deleted.items()
    }
    return figures


def main(argv: list[str]) -> None:
    """``snapshot PREFIX LIST`` or ``extract LIST PREFIX LAYER``."""
    if argv[0] == "snapshot":
        snapshot(Path(argv[1]), Path(argv[2]))
        return
    figures = extract(Path(argv[1]), Path(argv[2]), Path(argv[3]))
    cuts = figures["cuts"]
    print(
        f"layer.py: {figures['files']} files, {figures['bytes'] / 1e6:.0f} MB "
        f"(+{figures['linked_bytes'] / 1e6:.0f} MB as hard links); cut "
        f"{sum(c['bytes'] for c in cuts.values()) / 1e6:.0f} MB in "
        f"{sum(c['files'] for c in cuts.values())} files"
    )
    # One line docker/jupyter.py reads into its record: what each cut freed.
    print(f"layer.py cuts: {json.dumps(cuts)}")


if __name__ == "__main__":
    main(sys.argv[1:])
