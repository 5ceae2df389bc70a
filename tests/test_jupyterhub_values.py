"""The Zero-to-JupyterHub values of the Jupyter image, rendered into a user's Pod.

``docker/jupyterhub-values.yaml`` is what the SDC quick start tells a hub admin to
use. Each value must be the image's own (tag, user, HOME, command, data), and
KubeSpawner's ``make_pod`` (the code the Hub runs to spawn a user's server) must
render them into a Pod that passes strict Kubernetes 1.33 schema validation. The
chart's own step, values -> KubeSpawner settings (its ``jupyterhub_config.py``),
is written out here for the keys the file uses; ``nox -s container`` starts
``jupyterhub-singleuser`` in the image for real (docker/jupyter.py).
"""

import asyncio
import re

import pytest
import yaml

from docker.common import DOCKERFILE, UID
from docker.lab import HOME
from docker.singleuser import CMD
from sat import stack
from tests.conftest import REPO

pytestmark = pytest.mark.verifies_requirement("C-SAT-0273")

VALUES = REPO / "docker" / "jupyterhub-values.yaml"


@pytest.fixture(scope="module")
def singleuser():
    return yaml.safe_load(VALUES.read_text())["singleuser"]


def _jupyter_stage() -> str:
    text = DOCKERFILE.read_text()
    return text[text.index("FROM runtime AS jupyter") :]


def test_the_values_name_the_release_jupyter_image(singleuser):
    assert singleuser["image"]["tag"] == f"{stack.release_version()}-jupyter"
    assert singleuser["image"]["name"].endswith("/ctao-sat")


def test_the_values_match_the_image(singleuser):
    stage = _jupyter_stage()
    assert f"USER {UID}:{UID}" in stage
    assert singleuser["uid"] == singleuser["fsGid"] == UID
    assert f"ENV HOME={singleuser['storage']['homeMountPath']}" in stage
    assert singleuser["storage"]["homeMountPath"] == HOME
    # The Hub's command runs as given: the image has no entry point.
    assert "ENTRYPOINT []" in stage
    assert singleuser["cmd"] == CMD == "jupyterhub-singleuser"
    data = singleuser["storage"]["extraVolumeMounts"][0]
    assert re.search(rf"GAMMAPY_DATA={data['mountPath']}\b", DOCKERFILE.read_text())
    assert data["readOnly"] is True


def _pod(singleuser) -> dict:
    """The Pod KubeSpawner makes for user ``sat`` from the values."""
    from kubernetes_asyncio.client import ApiClient
    from kubespawner.objects import make_pod

    storage = singleuser["storage"]
    home = {"name": "home", "persistentVolumeClaim": {"claimName": "claim-sat"}}
    pod = make_pod(
        name="jupyter-sat",
        cmd=[singleuser["cmd"]],
        port=8888,
        image=f"{singleuser['image']['name']}:{singleuser['image']['tag']}",
        image_pull_policy=singleuser["image"]["pullPolicy"],
        uid=singleuser["uid"],
        fs_gid=singleuser["fsGid"],
        env={"JUPYTERHUB_DEFAULT_URL": singleuser["defaultUrl"]},
        volumes=[home, *storage["extraVolumes"]],
        volume_mounts=[
            {"name": "home", "mountPath": storage["homeMountPath"]},
            *storage["extraVolumeMounts"],
        ],
        cpu_limit=singleuser["cpu"]["limit"],
        cpu_guarantee=singleuser["cpu"]["guarantee"],
        mem_limit=singleuser["memory"]["limit"],
        mem_guarantee=singleuser["memory"]["guarantee"],
    )

    async def serialise():
        async with ApiClient() as client:  # it needs an event loop, no cluster
            return client.sanitize_for_serialization(pod)

    return asyncio.run(serialise())


def test_kubespawner_renders_a_valid_pod_from_the_values(singleuser):
    import kubernetes_validate

    pod = _pod(singleuser)
    kubernetes_validate.validate(pod, "1.33", strict=True)
    container = pod["spec"]["containers"][0]
    assert container["image"].endswith(f":{stack.release_version()}-jupyter")
    assert container["args"] == ["jupyterhub-singleuser"]
    assert "command" not in container  # the image's entry point stays: none
    assert container["securityContext"]["runAsUser"] == UID
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["spec"]["securityContext"]["fsGroup"] == UID
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/data"]["readOnly"] is True and "/home/sat" in mounts
    assert container["ports"] == [{"containerPort": 8888, "name": "notebook-port"}]
