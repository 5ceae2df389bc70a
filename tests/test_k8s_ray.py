"""The Ray overlay of the Kubernetes manifests (docker/k8s-ray): a KubeRay cluster
and a Job that runs the survey workload on it.

Strict schema validation (kubernetes-validate, Kubernetes 1.33, unknown fields
are errors) applies where a schema exists: the Job and its ConfigMap. RayCluster
is a CRD of the KubeRay operator, for which kubernetes-validate has no schema
(the test proves it): its security, resources, data mount and Ray version are
checked field by field instead.
"""

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError

from sat.stack import extra_pins
from tests.conftest import REPO, kustomize

pytestmark = [
    pytest.mark.verifies_requirement("C-SAT-0170"),
    pytest.mark.verifies_requirement("C-SAT-0120"),
]

OVERLAY = REPO / "docker" / "k8s-ray"
KUBERNETES = "1.33"


def documents(path):
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.fixture(scope="module")
def cluster():
    (doc,) = documents(OVERLAY / "ray-cluster.yaml")
    return doc


@pytest.fixture(scope="module")
def job():
    return next(d for d in documents(OVERLAY / "survey-job.yaml") if d["kind"] == "Job")


def _pods(cluster):
    yield cluster["spec"]["headGroupSpec"]["template"]["spec"]
    for group in cluster["spec"]["workerGroupSpecs"]:
        yield group["template"]["spec"]


def test_job_and_configmap_pass_strict_schema_validation():
    docs = documents(OVERLAY / "survey-job.yaml")
    assert sorted(d["kind"] for d in docs) == ["ConfigMap", "Job"]
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_raycluster_has_no_schema_to_validate_against(cluster):
    with pytest.raises(SchemaNotFoundError):
        kubernetes_validate.validate(cluster, KUBERNETES, strict=True)


def test_raycluster_runs_the_pinned_ray_version(cluster):
    (ray,) = [pin for pin in extra_pins("ray") if pin.name == "ray"]
    assert cluster["apiVersion"] == "ray.io/v1"
    assert cluster["spec"]["rayVersion"] == ray.version


def test_ray_pods_are_non_root_bounded_and_read_the_data_read_only(cluster):
    for pod in _pods(cluster):
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        (container,) = pod["containers"]
        assert container["image"] == "ctao-sat"
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        resources = container["resources"]
        assert resources["requests"] == resources["limits"]  # guaranteed QoS
        data = next(m for m in container["volumeMounts"] if m["name"] == "data")
        assert data == {"name": "data", "mountPath": "/data", "readOnly": True}
        claim = next(v for v in pod["volumes"] if v["name"] == "data")
        assert claim["persistentVolumeClaim"]["claimName"] == "ctao-sat-data"
    head = cluster["spec"]["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0"  # workers do the reduction


def test_job_drives_the_survey_on_the_cluster(cluster, job):
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    # KubeRay names the head service <cluster>-head-svc; 6379 is the GCS port.
    assert env["RAY_ADDRESS"] == f"{cluster['metadata']['name']}-head-svc:6379"
    assert container["command"] == ["ctao-sat", "run", "survey"]
    assert "--backend=ray" in container["args"]
    (configmap,) = [
        d for d in documents(OVERLAY / "survey-job.yaml") if d["kind"] == "ConfigMap"
    ]
    config = yaml.safe_load(configmap["data"]["survey.yaml"])
    assert config["datastore"].startswith("/data/")  # where the workers read it
    from sat.config import load_config
    from sat.usecases.survey import SurveyConfig

    load_config(SurveyConfig, config)  # a valid survey config


def test_overlay_renders_the_base_and_ray_in_one_namespace_and_image():
    docs = kustomize(OVERLAY)
    kinds = sorted(doc["kind"] for doc in docs)
    assert kinds.count("Job") == 2 and kinds.count("RayCluster") == 1
    base = yaml.safe_load((REPO / "docker" / "k8s" / "kustomization.yaml").read_text())
    overlay = yaml.safe_load((OVERLAY / "kustomization.yaml").read_text())
    assert overlay["images"] == base["images"]
    assert overlay["namespace"] == base["namespace"]
    (image,) = base["images"]
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == base["namespace"], doc["kind"]
        if doc["kind"] != "RayCluster":
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    (cluster,) = [d for d in docs if d["kind"] == "RayCluster"]
    for pod in _pods(cluster):
        assert pod["containers"][0]["image"] == f"{image['newName']}:{image['newTag']}"
