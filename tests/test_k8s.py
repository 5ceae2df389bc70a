"""Kubernetes manifests (docker/k8s): strict schemas, kustomize, security, resources.

Every manifest is validated offline against the official Kubernetes 1.33 schemas
with kubernetes-validate in strict mode (unknown fields are errors), as written and
as kustomize renders it. `nox -s container` runs them for real with podman kube play.
"""

import copy

import kubernetes_validate
import pytest
import yaml

from docker import common, kube
from sat import stack
from tests.conftest import REPO, kustomize

pytestmark = pytest.mark.verifies_requirement("C-SAT-0120")

K8S = REPO / "docker" / "k8s"
KUBERNETES = "1.33"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def documents(path):
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.fixture(scope="module")
def resources():
    return [doc for path in MANIFESTS for doc in documents(path)]


@pytest.fixture(scope="module")
def kustomization():
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def pod_specs(resources):
    return {
        doc["kind"]: doc["spec"]["template"]["spec"]
        for doc in resources
        if doc["kind"] in ("Deployment", "Job")
    }


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_passes_strict_schema_validation(path):
    for doc in documents(path):
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_strict_validation_catches_a_misspelt_field(resources):
    deployment = copy.deepcopy(next(d for d in resources if d["kind"] == "Deployment"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"]["readOnlyRootFilesytem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)


def test_kustomization_lists_every_manifest(kustomization):
    assert sorted(kustomization["resources"]) == [p.name for p in MANIFESTS]


def test_image_tag_is_the_release_version(kustomization, resources):
    (image,) = kustomization["images"]
    assert image["newTag"] == stack.release_version()
    names = {
        c["image"] for spec in pod_specs(resources).values() for c in spec["containers"]
    }
    assert names == {image["name"]}


def test_kustomize_build_renders_valid_resources(kustomization):
    docs = kustomize(K8S)
    kinds = sorted(doc["kind"] for doc in docs)
    assert kinds == [
        "Deployment",
        "Job",
        "Namespace",
        "PersistentVolumeClaim",
        "PersistentVolumeClaim",
    ]
    (image,) = kustomization["images"]
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == kustomization["namespace"]
    for spec in pod_specs(docs).values():
        for container in spec["containers"]:
            assert container["image"] == f"{image['newName']}:{image['newTag']}"


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_pods_run_non_root_without_privileges_on_a_read_only_root(resources, kind):
    spec = pod_specs(resources)[kind]
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == pod["runAsGroup"] == common.UID  # the image's USER
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    for container in spec["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context.get("privileged", False) is False
        assert context["capabilities"] == {"drop": ["ALL"]}


def quantity(value):
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "m": 1e-3}
    value = str(value)
    for suffix, factor in units.items():
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * factor
    return float(value)


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_pods_request_and_limit_their_resources(resources, kind):
    for container in pod_specs(resources)[kind]["containers"]:
        requests = container["resources"]["requests"]
        limits = container["resources"]["limits"]
        for resource in ["cpu", "memory", "ephemeral-storage"]:
            assert quantity(requests[resource]) <= quantity(limits[resource])
        # A use case needs a few GiB (gates.yaml budgets 4 GiB of peak RSS).
        assert quantity(limits["memory"]) >= 4 * 2**30


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_data_comes_read_only_from_the_claim_and_scratch_is_an_empty_dir(
    resources, kind
):
    spec = pod_specs(resources)[kind]
    volumes = {v["name"]: v for v in spec["volumes"]}
    claims = {
        doc["metadata"]["name"]
        for doc in resources
        if doc["kind"] == "PersistentVolumeClaim"
    }
    for container in spec["containers"]:
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        data = mounts["/data"]  # GAMMAPY_DATA of the image
        assert data["readOnly"] is True
        claim = volumes[data["name"]]["persistentVolumeClaim"]
        assert claim["readOnly"] is True and claim["claimName"] in claims
        assert "emptyDir" in volumes[mounts["/tmp"]["name"]]  # HOME of the image
        assert "/results" in mounts


@pytest.mark.verifies_requirement("B-SUSS-1530")
def test_job_verifies_the_release_within_one_hour(resources):
    job = next(doc for doc in resources if doc["kind"] == "Job")
    assert job["spec"]["activeDeadlineSeconds"] <= common.ONE_HOUR
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    script = " ".join(job["spec"]["template"]["spec"]["containers"][0]["args"])
    assert script.startswith("ctao-sat doctor && ctao-sat run --all")


def test_job_pod_played_by_podman_is_a_valid_pod(resources):
    job = next(doc for doc in resources if doc["kind"] == "Job")
    pod = kube.pod_from_job(job)
    kubernetes_validate.validate(pod, KUBERNETES, strict=True)
    assert pod["spec"] == job["spec"]["template"]["spec"]
    assert pod["metadata"]["name"] == job["metadata"]["name"]


def test_analysis_deployment_is_a_single_long_running_shell_pod(resources):
    deployment = next(doc for doc in resources if doc["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"  # RWO workspace
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["sleep", "infinity"]
