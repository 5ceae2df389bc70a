"""The OCI archive of the image, and a deployment from it on a fresh node.

The archive is what a release ships; loading it into an empty image store and
starting it is the deployment CTAO B-SUSS-1530 asks to take under one hour.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path

from docker.common import ONE_HOUR, OUT, ROOT, Failure, run, timed
from docker.record import Record, within_limit
from docker.smoke import (
    SMOKE_USECASE,
    hardened,
    results_folder,
    run_usecase,
    usecase_passed,
)
from sat import stack

DEPLOY_CHECK = "deploy_released_archive_on_fresh_store"


def archive_path() -> Path:
    """Return the OCI archive of this release (what `nox -s release` ships)."""
    return OUT / f"ctao-sat-{stack.release_version()}.oci.tar"


@contextlib.contextmanager
def fresh_node(name: str):
    """Yield the podman command of an empty image store; remove it afterwards.

    A node that never saw the image, under ``build/container/<name>``.
    """
    store = OUT / name
    # podman refuses a runroot path of more than 50 characters (a deep clone's
    # build/ easily has more): the run state goes to a short folder of its own.
    runroot = Path(tempfile.mkdtemp(prefix="sat-node-", dir="/tmp"))
    podman = ("podman", "--root", str(store / "root"), "--runroot", str(runroot))
    _clean_store(podman, store)
    try:
        yield podman
    finally:
        _clean_store(podman, store)
        shutil.rmtree(runroot, ignore_errors=True)


def export(engine: str, tag: str, record: Record) -> Path:
    """Write the OCI archive and record its size and digest."""
    archive = archive_path()
    # Only this version's archive: the release ships every build/container/*.tar.
    for old in OUT.glob("ctao-sat-*.oci.tar"):
        old.unlink()
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
    seconds = time.perf_counter() - start
    record.report["timings_s"]["export"] = round(seconds, 1)
    size = archive.stat().st_size
    record.report["archive"] = {
        "path": str(archive.relative_to(ROOT)),
        "size_bytes": size,
        "manifest_digest": digest,
    }
    record.add(
        "oci_archive_exported",
        size > 0,
        f"{archive.name}: {size / 1e6:.0f} MB, manifest {digest}",
        seconds=seconds,
        figures={"archive_bytes": size, "manifest_digest": digest},
    )
    return archive


def sha256(path: Path) -> str:
    """Return the SHA-256 of a file (as SHA256SUMS of the release lists it)."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def deploy_from_archive(archive: Path, tag: str, data: Path, record: Record) -> None:
    """Deploy the archive on a fresh node: load, start, doctor, one use case.

    The demonstration of CTAO B-SUSS-1530 (deployable within one hour): the very
    file the release ships (its SHA-256 is recorded) is loaded into an empty image
    store and run offline, read-only, without capabilities; ``deploy_s`` is the sum
    of the four steps, against the one-hour limit.
    """
    figures = {"archive": archive.name, "archive_sha256": sha256(archive)}
    try:
        with fresh_node("fresh-node") as podman:
            steps, outcome = _deploy(podman, archive, tag, data)
    except Failure as error:
        record.add(DEPLOY_CHECK, False, str(error).splitlines()[0], figures=figures)
        raise
    deploy_s = round(sum(steps.values()), 1)
    ran, message = usecase_passed(outcome)
    fast, timing = within_limit(deploy_s, ONE_HOUR)
    record.report["timings_s"].update(
        {
            "load_archive": steps["load"],
            "start": steps["start"],
            "start_to_doctor_pass": steps["doctor"],
            "deploy_usecase": steps["usecase"],
        }
    )
    record.add(
        DEPLOY_CHECK,
        ran and fast,
        f"{timing}; {SMOKE_USECASE}: {message}",
        seconds=deploy_s,
        usecases=(outcome.get("usecase_id", ""),) if ran else (),
        figures={
            "deploy_s": deploy_s,
            "limit_s": ONE_HOUR,
            **{f"{step}_s": seconds for step, seconds in steps.items()},
            **figures,
        },
    )


def _deploy(podman: tuple, archive: Path, tag: str, data: Path):
    """Load, start, doctor, one use case: each step's seconds, and its outcome."""
    steps = {}
    _, steps["load"] = timed(run, [*podman, "load", "-i", archive], capture=True)
    base = [*podman, *hardened("podman")]
    _, steps["start"] = timed(run, [*base, tag, "--version"], capture=True)
    mount = ["-v", f"{data}:/data:ro"]
    _, steps["doctor"] = timed(run, [*base, *mount, tag, "doctor"], capture=True)
    results = results_folder("fresh-node-results")
    volumes = [*mount, "-v", f"{results}:/results"]
    outcome = run_usecase([*base, *volumes, tag], results, SMOKE_USECASE)
    steps["usecase"] = round(outcome["seconds"], 1)
    return steps, outcome


def _clean_store(podman: tuple, store: Path) -> None:
    if store.exists():
        run([*podman, "rmi", "-a", "-f"], capture=True, check=False, quiet=True)
        shutil.rmtree(store, ignore_errors=True)
