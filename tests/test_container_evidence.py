"""The container session's evidence: its checks are real, and they can fail.

`nox -s container` records every real check of the image as JUnit evidence
(docker/record.py). Building the whole image takes minutes, so these tests build
two tiny images with the same podman (a shell and its libraries, ``FROM scratch``)
that differ only in their ``USER``, and run the very probe and security checks of
the container session on them: an image whose user is root must turn the non-root
check, and so the C-SAT-0110 evidence, FAIL.
"""

import os
import shutil
import subprocess
import uuid
import xml.etree.ElementTree as ET

import pytest

from docker import common, record, smoke
from satdev.junit import read_junit

pytestmark = pytest.mark.verifies_requirement("C-SAT-0110")

SHELL = "/bin/sh"


@pytest.fixture(scope="module")
def podman():
    path = shutil.which("podman")
    assert path, "podman is missing: `python -m docker.engine` installs it"
    info = subprocess.run([path, "info"], capture_output=True, text=True)
    assert info.returncode == 0, f"podman does not work here:\n{info.stderr}"
    return path


def shell_rootfs(folder):
    """A root filesystem holding the host's shell and the libraries it loads."""
    shell = os.path.realpath(SHELL)
    libraries = subprocess.run(
        ["ldd", shell], capture_output=True, text=True, check=True
    ).stdout
    files = [shell] + [
        word for word in libraries.split() if word.startswith("/") and "(" not in word
    ]
    for path in files:
        target = folder / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    (folder / "bin").mkdir(exist_ok=True)
    if not (folder / "bin" / "sh").exists():
        (folder / "bin" / "sh").symlink_to(shell)
    for mount_point in ["proc", "dev", "sys", "tmp"]:
        (folder / mount_point).mkdir(exist_ok=True)
    (folder / "tmp").chmod(0o1777)  # as in Debian: podman's tmpfs keeps the mode
    return folder


@pytest.fixture(scope="module")
def tiny_image(podman, tmp_path_factory):
    """Build a tiny image with a given USER (a real `podman build`); remove it."""
    context = tmp_path_factory.mktemp("tiny-image")
    shell_rootfs(context / "rootfs")
    (context / "Containerfile").write_text(
        "FROM scratch\nCOPY rootfs/ /\nARG USER_ID\nUSER ${USER_ID}\n"
    )
    built = []

    def build(user):
        tag = f"localhost/ctao-sat-test-{user}:{uuid.uuid4().hex[:8]}"
        # --no-cache: buildah 1.28's layer cache ignores the value of an ARG used
        # by USER, and would give the second image the first one's user.
        command = [podman, "build", "--pull=never", "--no-cache", "-t", tag]
        command += ["--build-arg", f"USER_ID={user}", str(context)]
        subprocess.run(command, capture_output=True, text=True, check=True)
        built.append(tag)
        return tag

    yield build
    for tag in built:
        subprocess.run([podman, "rmi", "-f", tag], capture_output=True)


def security_evidence(tag, path):
    """Probe ``tag`` as the container session does; write and read its evidence."""
    facts = smoke.probe("podman", tag)
    checks = record.Record()
    smoke.record_security(checks, facts, uid=common.UID)
    checks.write_evidence(path)
    return facts, {result.test.split("::")[1]: result for result in read_junit(path)}


def test_an_image_whose_user_is_root_fails_the_non_root_check(tiny_image, tmp_path):
    facts, results = security_evidence(tiny_image("0"), tmp_path / "container.xml")
    assert facts["uid"] == 0
    non_root = results["image_runs_as_non_root"]
    assert non_root.outcome == "failed"
    assert non_root.requirements == ("C-SAT-0110",)
    assert "uid 0" in non_root.message
    # Only the user is wrong: the other security checks of the same run pass.
    for name in ["read_only_root_filesystem", "no_network", "all_capabilities_dropped"]:
        assert results[name].outcome == "passed", results[name].message


def test_the_same_image_with_the_release_user_passes_every_security_check(
    tiny_image, tmp_path
):
    facts, results = security_evidence(
        tiny_image(str(common.UID)), tmp_path / "container.xml"
    )
    assert facts["uid"] == common.UID
    assert facts["interfaces"] == ["lo"]  # --network none
    assert "ro" in facts["mounts"]["/"] and facts["tmp_writable"]
    for name in [
        "image_runs_as_non_root",
        "read_only_root_filesystem",
        "no_network",
        "all_capabilities_dropped",
    ]:
        assert results[name].outcome == "passed", results[name].message
        assert results[name].requirements == ("C-SAT-0110",)


def test_a_check_that_did_not_run_is_evidence_of_nothing(tmp_path):
    run = record.Record()
    run.add("image_builds", True, "built")
    run.skip(("healthcheck_passes",), "checked with podman only (docker)")
    results = {
        r.test.split("::")[1]: r
        for r in read_junit(run.write_evidence(tmp_path / "container.xml"))
    }
    assert set(results) == set(record.CHECKS)  # every check, run or not
    assert results["image_builds"].outcome == "passed"
    health = results["healthcheck_passes"]
    assert health.outcome == "failed" and health.requirements == ("C-SAT-0110",)
    assert health.message == "not run: checked with podman only (docker)"
    deploy = results["deploy_released_archive_on_fresh_store"]
    assert deploy.outcome == "failed" and deploy.requirements == ("B-SUSS-1530",)
    assert not run.passed


def test_a_deployment_over_the_hour_fails_its_demonstration():
    assert record.within_limit(3599.0) == (True, "3599 s, within the limit of 3600 s")
    passed, message = record.within_limit(3601.0)
    assert not passed and message == "3601 s exceeds the limit of 3600 s"


def test_evidence_carries_the_run_id_of_the_nox_invocation(tmp_path, monkeypatch):
    monkeypatch.setenv("CTAO_SAT_RUN_ID", "run-42")
    run = record.Record()
    run.add("image_builds", True, figures={"image_bytes": 1})
    path = run.write_evidence(tmp_path / "container.xml")
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite.get("name") == record.SESSION == "container"
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["run_id"] == "run-42"
    assert properties["figure:image_bytes"] == "1"
