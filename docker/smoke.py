"""Smoke tests of the built image, offline and on a read-only root filesystem.

Every container here runs `hardened`: no network, read-only root, all capabilities
dropped, no privilege escalation. A probe asks the kernel, from inside, what the
container really got (user, mounts, interfaces, capabilities); then ``ctao-sat
--version`` and ``doctor``, the joint-Crab use case on read-only data, the survey
on a local Ray cluster of two workers, and the image's own HEALTHCHECK. Each is a
check of the run's `Record`; the first that fails stops the run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from docker.common import OUT, UID, Failure, run
from docker.record import Record

SMOKE_USECASE = "joint-crab"

# Run by /bin/sh in the container with shell builtins only (so it also runs in an
# image that holds nothing but a shell): the kernel's view of this process.
PROBE = r"""
while read -r key a b rest; do
  case $key in Uid:|CapEff:|CapBnd:|NoNewPrivs:|Seccomp:) echo "$key $a $b";; esac
done < /proc/self/status
while read -r dev mount fs options rest; do
  case $mount in /|/tmp|/data) echo "mount:$mount $options";; esac
done < /proc/mounts
while read -r line; do
  case $line in *:*) echo "interface: ${line%%:*}";; esac
done < /proc/net/dev
# A subshell: dash exits on a failed redirection of a special builtin such as `:`.
if (: > /tmp/.ctao-sat-probe) 2>/dev/null; then echo "tmp: writable"; fi
"""


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


def container(
    cmd: list, timeout: float = 1800
) -> tuple[subprocess.CompletedProcess, float]:
    """Run a container to its end; return the process and its seconds.

    Its output is printed when it fails, so the log shows why.
    """
    start = time.perf_counter()
    result = run(cmd, capture=True, check=False, timeout=timeout)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        print(result.stdout, flush=True)
    return result, seconds


def probe(engine: str, tag: str, options: tuple = ()) -> dict:
    """Run `PROBE` in ``tag`` (`hardened`, plus ``options``); return what it saw."""
    cmd = [engine, *hardened(engine), *options]
    result, _ = container([*cmd, "--entrypoint", "/bin/sh", tag, "-c", PROBE], 300)
    if result.returncode != 0:
        raise Failure(f"the probe did not run in {tag} (exit {result.returncode})")
    return parse_probe(result.stdout)


def parse_probe(text: str) -> dict:
    """Read the output of `PROBE` into facts."""
    facts: dict = {"mounts": {}, "interfaces": [], "tmp_writable": False}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        fields = value.split()
        if key == "Uid:":
            facts["uid"] = int(fields[1])  # real, *effective*, ...
        elif key in ("CapEff:", "CapBnd:"):
            facts[key[:-1]] = int(fields[0], 16)
        elif key in ("NoNewPrivs:", "Seccomp:"):
            facts[key[:-1]] = int(fields[0])
        elif key.startswith("mount:"):
            facts["mounts"][key.removeprefix("mount:")] = fields[0].split(",")
        elif key == "interface:":
            facts["interfaces"].append(value.strip())
        elif line.strip() == "tmp: writable":
            facts["tmp_writable"] = True
    return facts


def record_security(record: Record, facts: dict, uid: int = UID) -> bool:
    """Record the security checks of a probe; return whether all passed."""
    seen = facts.get("uid")
    mounts = facts["mounts"]
    read_only = {path: "ro" in mounts[path] for path in mounts if path != "/tmp"}
    capabilities = {k: facts.get(k) for k in ("CapEff", "CapBnd", "NoNewPrivs")}
    checks = [
        record.add(
            "image_runs_as_non_root",
            seen is not None and seen != 0 and seen == uid,
            f"the image's user runs as uid {seen} (expected non-root {uid})",
            figures={"uid": seen},
        ),
        record.add(
            "read_only_root_filesystem",
            read_only.get("/", False)
            and all(read_only.values())
            and facts["tmp_writable"],
            f"read-only: {read_only}; /tmp writable: {facts['tmp_writable']}",
        ),
        record.add(
            "no_network",
            facts["interfaces"] == ["lo"],
            f"network interfaces: {facts['interfaces']}",
        ),
        record.add(
            "all_capabilities_dropped",
            capabilities == {"CapEff": 0, "CapBnd": 0, "NoNewPrivs": 1},
            f"{capabilities}, seccomp mode {facts.get('Seccomp')}",
            figures={"seccomp_mode": facts.get("Seccomp")},
        ),
    ]
    return all(check.passed for check in checks)


def results_folder(name: str) -> Path:
    """Return an empty folder the image's user can write (a /results volume)."""
    folder = OUT / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    if os.geteuid() == 0:  # the image's user must write there
        os.chown(folder, UID, UID)
    else:
        folder.chmod(0o777)
    return folder


def run_usecase(cmd: list, results: Path, name: str, config: str = "") -> dict:
    """Run use case ``name`` in a container; return exit, seconds, result facts.

    ``cmd`` is the engine's command line up to and including the image.
    """
    args = ["run", name, "--quiet", "--output", f"/results/{name}"]
    if config:
        args += ["--config", f"/results/{config}"]
    process, seconds = container([*cmd, *args])
    outcome = {"exit": process.returncode, "seconds": seconds, "output": process.stdout}
    path = results / name / "result.json"
    if path.is_file():
        result = json.loads(path.read_text())
        outcome["usecase_id"] = result.get("usecase_id", "")
        outcome["verdicts"] = [check["verdict"] for check in result["validation"]]
        outcome["reduction"] = result.get("reduction")
    return outcome


def usecase_passed(outcome: dict) -> tuple[bool, str]:
    """Tell whether a use case ran and every validation check PASSed."""
    verdicts = outcome.get("verdicts", [])
    ok = outcome["exit"] == 0 and bool(verdicts) and set(verdicts) == {"PASS"}
    return ok, f"exit {outcome['exit']}, validation {verdicts or 'missing'}"


def smoke_tests(engine: str, tag: str, data: Path, record: Record) -> None:
    """Probe, start, doctor, joint-Crab, Ray and HEALTHCHECK, offline, read-only."""
    base = [engine, *hardened(engine)]
    mount = ["-v", f"{data}:/data:ro"]
    if not record_security(record, probe(engine, tag, tuple(mount))):
        raise Failure("the image is not run as it must be (see the checks above)")
    process, seconds = container([*base, tag, "--version"], 300)
    record.add(
        "image_starts",
        process.returncode == 0,
        process.stdout.strip()[-200:],
        seconds=seconds,
    )
    _stop_on_failure(record, "image_starts")
    process, seconds = container([*base, *mount, tag, "doctor"])
    record.report["smoke"] = {"doctor": process.stdout.strip().splitlines()}
    record.add(
        "doctor_passes_offline_read_only",
        process.returncode == 0,
        f"exit {process.returncode}",
        seconds=seconds,
    )
    _stop_on_failure(record, "doctor_passes_offline_read_only")
    results = results_folder("results")
    volumes = [*mount, "-v", f"{results}:/results"]
    outcome = run_usecase([*base, *volumes, tag], results, SMOKE_USECASE)
    ok, message = usecase_passed(outcome)
    record.report["smoke"][SMOKE_USECASE] = outcome.get("verdicts")
    record.add(
        "usecase_on_read_only_data",
        ok,
        f"{SMOKE_USECASE}: {message}",
        seconds=outcome["seconds"],
        usecases=(outcome.get("usecase_id", ""),) if ok else (),
    )
    _stop_on_failure(record, "usecase_on_read_only_data")
    ray_smoke([*base, *volumes, "--shm-size", "512m", tag], results, record)
    if engine == "podman":
        healthcheck(tag, data, record)
    else:  # docker runs it by itself; `docker inspect` would show it
        record.skip(("healthcheck_passes",), f"checked with podman only ({engine})")


def _stop_on_failure(record: Record, name: str) -> None:
    if not record.get(name).passed:
        raise Failure(f"check {name} failed")


def ray_smoke(cmd: list, results: Path, record: Record) -> None:
    """Survey of 4 simulated runs on a local Ray cluster of 2 workers, in the image.

    The image is also the Ray cluster's (the chart's RayCluster): its Ray must start,
    reduce on both workers and give the serial result, offline and read-only.
    """
    config = results / "survey-ray.yaml"
    config.write_text(
        "n_runs: 4\nlivetime_s: 120\ngeneral: {parallel_backend: ray, n_jobs: 2}\n"
    )
    outcome = run_usecase(cmd, results, "survey", config.name)
    ok, message = usecase_passed(outcome)
    reduction = outcome.get("reduction") or {}
    on_ray = reduction.get("backend") == "ray" and reduction.get("runs_reduced") == 4
    record.report["smoke"]["survey-ray"] = reduction
    record.add(
        "survey_on_ray_in_image",
        ok and on_ray,
        f"{message}; reduction {reduction}",
        seconds=outcome["seconds"],
        usecases=(outcome.get("usecase_id", ""),) if ok and on_ray else (),
    )
    _stop_on_failure(record, "survey_on_ray_in_image")


def healthcheck(tag: str, data: Path, record: Record) -> None:
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
        process, seconds = container(["podman", "healthcheck", "run", name], 600)
    finally:
        run(["podman", "rm", "-f", "-t", "0", name], capture=True, check=False)
    record.add(
        "healthcheck_passes",
        process.returncode == 0,
        f"podman healthcheck run: exit {process.returncode}",
        seconds=seconds,
    )
    _stop_on_failure(record, "healthcheck_passes")
