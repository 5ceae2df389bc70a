"""The OCI archive of the image, and a deployment from it on a fresh node.

The archive is what a release ships; loading it into an empty image store and
starting it is the deployment CTAO B-SUSS-1530 asks to take under one hour.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from docker.common import OUT, ROOT, run, timed
from docker.smoke import hardened
from sat import stack


def export(engine: str, tag: str, report: dict) -> Path:
    """Write the OCI archive and record its size and digest."""
    archive = OUT / f"ctao-sat-{stack.release_version()}.oci.tar"
    archive.unlink(missing_ok=True)
    name = tag.split("/")[-1]
    start = time.perf_counter()
    if engine == "podman":
        target = f"oci-archive:{archive}:{name}"
        run(["skopeo", "copy", f"containers-storage:{tag}", target])
        inspect = ["skopeo", "inspect", f"oci-archive:{archive}"]
        digest = json.loads(run(inspect, capture=True, quiet=True).stdout)["Digest"]
    else:  # docker save writes an OCI image layout since Docker 25
        run(["docker", "save", "-o", archive, tag])
        digest = None
    report["timings_s"]["export"] = round(time.perf_counter() - start, 1)
    report["archive"] = {
        "path": str(archive.relative_to(ROOT)),
        "size_bytes": archive.stat().st_size,
        "manifest_digest": digest,
    }
    return archive


def deploy_from_archive(archive: Path, tag: str, data: Path, report: dict) -> None:
    """Load the archive into an empty image store (a fresh node) and start it."""
    store = OUT / "fresh-node"
    # podman refuses a runroot path of more than 50 characters (a deep clone's
    # build/ easily has more): the run state goes to a short folder of its own.
    runroot = Path(tempfile.mkdtemp(prefix="sat-node-", dir="/tmp"))
    podman = ["podman", "--root", store / "root", "--runroot", runroot]
    _clean_store(podman, store)
    try:
        _, load = timed(run, [*podman, "load", "-i", archive], capture=True)
        base = hardened("podman")
        _, start = timed(run, [*podman, *base, tag, "--version"], capture=True)
        _, doctor = timed(
            run, [*podman, *base, "-v", f"{data}:/data:ro", tag, "doctor"], capture=True
        )
    finally:
        _clean_store(podman, store)
        shutil.rmtree(runroot, ignore_errors=True)
    report["timings_s"].update(
        {"load_archive": load, "start": start, "start_to_doctor_pass": doctor}
    )


def _clean_store(podman: list, store: Path) -> None:
    if store.exists():
        run([*podman, "rmi", "-a", "-f"], capture=True, check=False, quiet=True)
        shutil.rmtree(store, ignore_errors=True)
