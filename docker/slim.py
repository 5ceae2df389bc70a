"""Slim the image's environment and list the licence of everything in it.

Runs inside the Dockerfile's build stage with the environment's own Python (standard
library only): ``python slim.py PREFIX``. It deletes the packages' own test suites
(about 85 MB that nothing imports at run time) and writes
``PREFIX/share/licenses.txt``: every installed distribution with its licence.
"""

from __future__ import annotations

import shutil
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

# Test folders that a package imports at run time: astropy/__init__.py imports
# astropy.tests.runner. Only these stay.
KEEP = {"astropy/tests"}


def remove_test_suites(site_packages: Path) -> int:
    """Delete every ``tests`` folder and ``conftest.py``; return the bytes freed."""
    freed = 0
    folders = [
        path
        for path in site_packages.rglob("tests")
        if path.is_dir() and path.relative_to(site_packages).as_posix() not in KEEP
    ]
    for folder in sorted(folders, key=lambda p: len(p.parts)):
        if folder.exists():  # a parent may already be gone
            freed += sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
            shutil.rmtree(folder)
    for conftest in site_packages.rglob("conftest.py"):
        freed += conftest.stat().st_size
        conftest.unlink()
    return freed


def licence_of(dist: metadata.Distribution) -> str:
    """Return the SPDX expression of a distribution, or its licence classifiers."""
    meta = dist.metadata
    if meta.get("License-Expression"):
        return meta["License-Expression"]
    classifiers = [
        c.split("::")[-1].strip()
        for c in meta.get_all("Classifier") or []
        if c.startswith("License ::")
    ]
    if classifiers:
        return "; ".join(classifiers)
    first_line = (meta.get("License") or "").strip().splitlines()
    return first_line[0] if first_line else "see the distribution's files"


def write_licences(destination: Path) -> None:
    """Write one line per installed distribution: name, version, licence."""
    rows = sorted(
        (dist.metadata["Name"], dist.version, licence_of(dist))
        for dist in metadata.distributions()
    )
    destination.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Every Python distribution in this image and its licence (from its",
        "# metadata). The full texts are in each *.dist-info folder under",
        f"# {sysconfig.get_path('purelib')}. Data: see README files under share/.",
    ]
    lines += [f"{name} {version}: {licence}" for name, version, licence in rows]
    destination.write_text("\n".join(lines) + "\n")


def main(prefix: str) -> None:
    """Slim the environment at ``prefix`` and write its licence list."""
    site_packages = Path(sysconfig.get_path("purelib"))
    freed = remove_test_suites(site_packages)
    write_licences(Path(prefix) / "share" / "licenses.txt")
    print(f"slim.py: removed {freed / 1e6:.0f} MB of test suites from {site_packages}")


if __name__ == "__main__":
    main(sys.argv[1])
