"""``podman kube play`` of the chart's rendered templates, as a node would run them.

No Kubernetes cluster runs on these machines: podman plays the Deployment, the
Job's pod (it ignores Jobs) and the helm test pod with its ConfigMap, on the image
the container session built, host folders standing in for the claims (podman
ignores PersistentVolumeClaim documents), every pod with ``--network none``. The
security context each pod asks for is checked from inside.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from docker.common import ONE_HOUR, UID, log, run

# The podman command: a node's own image store is ("podman", "--root", ...).
PODMAN = ("podman",)


def pod_from_job(job: dict) -> dict:
    """Return the pod a Job would run (podman kube play ignores Jobs)."""
    template = job["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": job["metadata"]["name"], **template.get("metadata", {})},
        "spec": template["spec"],
    }


def local_volumes(documents: list[dict], data: Path, folder: Path) -> None:
    """Stand in for the PersistentVolumeClaims with host folders (hostPath).

    The data claim becomes the real data folder (its mount stays read-only); any
    other claim a folder under ``folder`` owned by the image's user (what fsGroup
    does on a cluster). Podman volumes would not do: on first use podman chowns a
    volume to the image's /data owner, which fails on read-only data.
    """
    for doc in documents:
        for spec in _pod_specs(doc):
            for volume in spec.get("volumes", []):
                claim = volume.pop("persistentVolumeClaim", None)
                if claim is None:
                    continue
                name = claim["claimName"]
                path = data if name.endswith("-data") else folder / name
                if path != data:
                    path.mkdir(parents=True, exist_ok=True)
                    if os.geteuid() == 0:
                        os.chown(path, UID, UID)
                volume["hostPath"] = {"path": str(path), "type": "Directory"}


def play_deployment(doc: dict, folder: Path, podman: tuple = PODMAN) -> dict:
    """Play a Deployment; check it runs with the security context it asks."""
    path = folder / f"{doc['metadata']['name']}.yaml"
    path.write_text(_yaml([doc]))
    return _play_deployment(doc, path, podman)


def play_pod(
    pod: dict, folder: Path, extra: tuple = (), timeout=ONE_HOUR, podman=PODMAN
) -> dict:
    """Play a pod (with ``extra`` documents such as its ConfigMaps); wait for it."""
    path = folder / f"{pod['metadata']['name']}.yaml"
    path.write_text(_yaml([*extra, pod]))
    return _play_to_end(pod["metadata"]["name"], path, timeout, podman)


def _yaml(documents: list[dict]) -> str:
    import yaml

    return yaml.safe_dump_all(documents, sort_keys=False)


def _pod_specs(doc: dict) -> list[dict]:
    if doc["kind"] in ("Deployment", "Job"):
        return [doc["spec"]["template"]["spec"]]
    return [doc["spec"]] if doc["kind"] == "Pod" else []


def _play(path: Path, podman: tuple) -> tuple[str, str]:
    """``podman kube play`` a file; return its output and its container's id."""
    run([*podman, "kube", "down", path], capture=True, check=False, quiet=True)
    played = run([*podman, "kube", "play", "--network", "none", path], capture=True)
    lines = played.stdout.split()
    # The output lists "Pod:" <id> "Container:" <id>... (no infra container).
    return played.stdout, lines[lines.index("Container:") + 1]


def _inspect(container: str, podman: tuple) -> dict:
    return json.loads(
        run([*podman, "inspect", container], capture=True, quiet=True).stdout
    )[0]


# Run inside the analysis pod: what its security context and volumes must give.
POD_PROBE = (
    f'test "$(id -u)" = {UID} && ! touch /x 2>/dev/null && touch /tmp/x '
    "&& touch /results/x && ! touch /data/x 2>/dev/null "
    "&& grep -q '^Seccomp:.*2' /proc/self/status && ctao-sat --version"
)


def _play_deployment(doc: dict, path: Path, podman: tuple) -> dict:
    """Play the Deployment; check it runs with the security context it asks."""
    name = doc["metadata"]["name"]
    start = time.perf_counter()
    try:
        played, container = _play(path, podman)
        state = _inspect(container, podman)
        host = state["HostConfig"]
        limits = doc["spec"]["template"]["spec"]["containers"][0]["resources"]
        checks = {
            "running": state["State"]["Running"],
            "user": state["Config"]["User"].split(":")[0] == str(UID),
            "read_only_root": host["ReadonlyRootfs"],
            "no_new_privileges": "no-new-privileges" in " ".join(host["SecurityOpt"]),
            "no_capabilities": not host.get("CapAdd")
            and len(host.get("CapDrop") or []) >= 10,
            "memory_limit": host["Memory"] == _bytes(limits["limits"]["memory"]),
        }
        probe = run(
            [*podman, "exec", container, "sh", "-c", POD_PROBE],
            capture=True,
            check=False,
        )
        checks["probe_in_pod"] = probe.returncode == 0
    finally:
        run([*podman, "kube", "down", path], capture=True, check=False)
    seconds = round(time.perf_counter() - start, 1)
    ok = all(checks.values())
    log(f"kube play Deployment {name}: {'PASS' if ok else 'FAIL'} {checks}")
    if not ok:
        print(played, probe.stdout, flush=True)
    return {"ok": ok, "checks": checks, "seconds": seconds, "probe": probe.stdout}


def _bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return int(quantity[: -len(suffix)]) * factor
    return int(quantity)


def _play_to_end(name: str, path: Path, timeout: float, podman: tuple) -> dict:
    """Play a pod's file, wait for its container to exit; return exit and log."""
    start = time.perf_counter()
    code, logs = -1, ""
    try:
        _, container = _play(path, podman)
        waited = run(
            [*podman, "wait", container], capture=True, check=False, timeout=timeout
        )
        code = int(waited.stdout.strip() or -1)
        logs = run(
            [*podman, "logs", container], capture=True, check=False, quiet=True
        ).stdout
    finally:
        run([*podman, "kube", "down", path], capture=True, check=False)
    seconds = round(time.perf_counter() - start, 1)
    ok = code == 0
    log(f"kube play pod {name}: exit {code} in {seconds} s")
    if not ok:
        print(logs, flush=True)
    return {"ok": ok, "exit": code, "seconds": seconds, "log": logs}
