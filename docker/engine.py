"""The container engine: which route the build takes, and podman's tool chain.

``docker`` (a running engine), ``podman`` (reaching a registry) or ``podman-local``
(neither: DESIGN.md section 4). On the podman routes, Debian's
buildah/podman/runc/skopeo/debootstrap are installed with apt when missing and
configured for this kind of host. ``python -m docker.engine`` does only that (the
test suite's container checks need it).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from docker.base import PUBLIC_BASE
from docker.common import Failure, log, run

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
# Unchanged since docker/build.py wrote it: hosts configured earlier stay "ours".
CONF_MARKER = "# Written by ctao-sat docker/build.py"


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


def main(argv=None) -> int:
    """Install and configure the podman tool chain; return the exit code."""
    argparse.ArgumentParser(description=main.__doc__.split(";")[0]).parse_args(argv)
    report: dict = {"timings_s": {}}
    try:
        ensure_podman(report)
    except Failure as error:
        log(f"FAILED: {error}")
        return 1
    log(f"podman works: {report['engine']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
