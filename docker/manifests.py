"""What every rendered manifest of the chart must be: valid, and secured.

Strict validation against the Kubernetes schemas we target (kubernetes-validate:
unknown fields are errors); KubeRay's RayCluster has no schema offline and is
named as not schema-checked. Every pod spec (Pod, Job, Deployment, RayCluster
groups) must carry the security context the chart enforces.
"""

from __future__ import annotations

from docker.common import UID

KUBERNETES = "1.33"  # the version we target (kubernetes-validate schemas)
# CRDs without a schema offline: their pod templates are validated as Pods, their
# own fields are checked field by field in the tests.
NOT_SCHEMA_CHECKED = {("ray.io/v1", "RayCluster")}


def pod_specs(doc: dict) -> list[dict]:
    """Return every pod spec of a document (Pod, Job, Deployment, RayCluster)."""
    kind, spec = doc["kind"], doc.get("spec", {})
    if kind == "Pod":
        return [spec]
    if kind in ("Deployment", "Job"):
        return [spec["template"]["spec"]]
    if kind == "RayCluster":
        groups = [spec["headGroupSpec"], *spec.get("workerGroupSpecs", [])]
        return [group["template"]["spec"] for group in groups]
    return []


# What every pod and container spec must say (the chart's helpers write it).
POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": UID,
    "runAsGroup": UID,
    "fsGroup": UID,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}


def security_problems(doc: dict) -> list[str]:
    """Return what a document's pods lack of the enforced security context."""
    problems = []
    name = f"{doc['kind']}/{doc['metadata']['name']}"
    for spec in pod_specs(doc):
        if spec.get("securityContext") != POD_SECURITY:
            problems.append(
                f"{name}: pod securityContext {spec.get('securityContext')}"
            )
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{name}: mounts a service account token")
        for container in spec["containers"]:
            if container.get("securityContext") != CONTAINER_SECURITY:
                problems.append(f"{name}/{container['name']}: securityContext")
            if "limits" not in container.get("resources", {}):
                problems.append(f"{name}/{container['name']}: no resource limits")
    return problems


def validate(documents: list[dict]) -> tuple[list[str], list[str]]:
    """Validate every document strictly; return (problems, not schema-checked).

    A CRD without a schema still has its pod templates validated, as Pods: only
    its own fields (``rayVersion``, ``rayStartParams``, replicas...) go unchecked.
    """
    problems, unchecked = [], []
    for doc in documents:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if (doc["apiVersion"], doc["kind"]) in NOT_SCHEMA_CHECKED:
            unchecked.append(
                f"{name} ({doc['apiVersion']} CRD; its pod templates validated as Pods)"
            )
            for index, spec in enumerate(pod_specs(doc)):
                pod = {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": f"{doc['metadata']['name']}-{index}"},
                    "spec": spec,
                }
                problems += _strict(pod, f"{name} pod template {index}")
        else:
            problems += _strict(doc, name)
        problems += security_problems(doc)
    return problems, unchecked


def _strict(doc: dict, name: str) -> list[str]:
    """Return the strict validation problem of ``doc``, if any."""
    import kubernetes_validate

    try:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{name}: {error.message}"]
    return []
