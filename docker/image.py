"""The image itself: its build context, its build arguments, the build, its facts.

The context holds the pip constraints generated from ``sat/pins.toml``
(``sat.stack``), the ``sat`` sources and the offline data; the Dockerfile builds
from it, never from the repository root.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from docker.common import DOCKERFILE, IMAGE, OUT, ROOT, Failure, log, run
from sat import stack

CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CA_TARGET = "/run/host-ca-bundle.crt"  # the Dockerfile's PIP_CERT, build only
# Offline data baked into the image (GAMMAPY_DATA-relative folders, same layout under
# /opt/ctao-sat/share/gammapy-data): the CTAO IRFs and PINT's clock corrections.
BAKED_DATA = ("cta-caldb", "pulsar/clock-corrections")


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
    # Jupyter's go into the Jupyter image only (its own constraints, docker/jupyter).
    extras = tuple(e for e in stack.optional_extras() if e != "jupyter")
    constraints = stack.constraints_txt(extras=extras)
    (destination / "constraints.txt").write_text(constraints)
    source = destination / "sat-src"
    source.mkdir()
    for name in ["pyproject.toml", "README.md"]:
        shutil.copy2(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "sat", source / "sat", ignore=ignore)
    shutil.copy2(ROOT / "docker" / "slim.py", destination / "slim.py")
    # The Jupyter target's own (docker/jupyter.py): its pins and its files.
    jupyter = stack.constraints_txt(extras=("jupyter",))
    (destination / "constraints-jupyter.txt").write_text(jupyter)
    shutil.copytree(ROOT / "docker" / "jupyter", destination / "jupyter", ignore=ignore)
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


def build(
    engine: str,
    route: str,
    context: Path,
    args: dict,
    *,
    cache: bool,
    target: str = "runtime",
):
    """Build the image (a Dockerfile stage: ``runtime`` or ``jupyter``); its tag.

    The analysis image is tagged ``VERSION``, the Jupyter image ``VERSION-jupyter``.
    """
    tag = f"{IMAGE}:{stack.release_version()}"
    if target != "runtime":
        tag += f"-{target}"
    cmd = [engine, "build", "-f", DOCKERFILE, "-t", tag, "--target", target]
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
    if target != "runtime":
        path = path.with_name(f"build-{target}.log")
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
