"""The base image the Dockerfile builds ``FROM`` when no registry is reachable.

Debian's ``debootstrap --variant=minbase`` with python3, slimmed like Debian's slim
images and imported as a local image (DESIGN.md section 4). On the registry routes
the public base is the same Debian and the same Python.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from docker.common import OUT, log, run

# Trixie (Debian 13, stable) rather than bookworm: Python 3.13 is in the release
# range, and trixie has years of security support ahead while bookworm's ended in
# 2026-06. The public base of the registry routes is the same Debian and Python.
SUITE = "trixie"
MIRROR = "http://deb.debian.org/debian"
LOCAL_BASE = f"localhost/ctao-sat-base:{SUITE}"
PUBLIC_BASE = f"docker.io/library/python:3.13-slim-{SUITE}"


def image_exists(engine: str, image: str) -> bool:
    """Tell whether ``image`` is in the local store of ``engine``."""
    result = run(
        [engine, "image", "inspect", image], capture=True, check=False, quiet=True
    )
    return result.returncode == 0


def make_base_image(report: dict, fresh: bool) -> str:
    """Make the Debian base with debootstrap (reused unless ``fresh``)."""
    if image_exists("podman", LOCAL_BASE) and not fresh:
        log(f"reusing the base image {LOCAL_BASE} (--fresh-base rebuilds it)")
        report["base_image"] = {"name": LOCAL_BASE, "built": False}
        return LOCAL_BASE
    rootfs = OUT / "rootfs"
    remove_rootfs(rootfs)
    start = time.perf_counter()
    run(
        [
            "debootstrap",
            "--variant=minbase",
            "--include=python3",
            SUITE,
            rootfs,
            MIRROR,
        ],
        capture=True,
    )
    slim_rootfs(rootfs)
    tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
    run(
        ["podman", "import", "--change", 'CMD ["/bin/bash"]', "-", LOCAL_BASE],
        stdin=tar.stdout,
        capture=True,
    )
    tar.wait()
    remove_rootfs(rootfs)
    seconds = round(time.perf_counter() - start, 1)
    report["timings_s"]["base_image"] = seconds
    report["base_image"] = {"name": LOCAL_BASE, "built": True, "suite": SUITE}
    log(f"made {LOCAL_BASE} with debootstrap {SUITE} minbase + python3 in {seconds} s")
    return LOCAL_BASE


def remove_rootfs(rootfs: Path) -> None:
    """Delete a debootstrap tree, unmounting first what an interrupted run left.

    debootstrap mounts /proc and /sys inside the tree: never delete through them.
    """
    mounts = [
        line.split()[1]
        for line in Path("/proc/mounts").read_text().splitlines()
        if line.split()[1].startswith(f"{rootfs}/")
    ]
    for mount in sorted(mounts, key=len, reverse=True):
        run(["umount", "-l", mount], check=False)
    if not any(
        line.split()[1].startswith(f"{rootfs}/")
        for line in Path("/proc/mounts").read_text().splitlines()
    ):
        shutil.rmtree(rootfs, ignore_errors=True)


def slim_rootfs(rootfs: Path) -> None:
    """Drop the apt caches, manuals and translations, like Debian's slim images."""
    for folder in ["var/cache/apt", "var/lib/apt/lists", "usr/share/man"]:
        for path in (rootfs / folder).glob("*"):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    for path in (rootfs / "usr/share/locale").glob("*"):
        if path.is_dir():
            shutil.rmtree(path)
    for path in (rootfs / "usr/share/doc").rglob("*"):
        if path.is_file() and path.name != "copyright":  # licences stay
            path.unlink()
