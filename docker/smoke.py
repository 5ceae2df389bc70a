"""Smoke tests of the built image, offline and on a read-only root filesystem.

``ctao-sat --version`` and ``doctor``, the security settings seen from inside, the
joint-Crab use case on read-only data, the survey on a local Ray cluster of two
workers, and the image's own HEALTHCHECK. Every run drops all capabilities, has no
network and no privilege escalation (`hardened`).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from docker.common import OUT, UID, Failure, log, run

SMOKE_USECASE = "joint-crab"


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
