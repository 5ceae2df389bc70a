"""Build, smoke-test, export and time the ctao-sat container image.

``nox -s container`` runs this script; ``python docker/build.py --help`` lists the
options. It takes one of three routes and says which (`docker.engine`):

``docker``
    a working Docker engine: build ``FROM`` the public base image.
``podman``
    podman that reaches a registry: the same, daemonless.
``podman-local``
    no engine and no registry (DESIGN.md section 4): install Debian's
    buildah/podman/runc/skopeo/debootstrap if they are missing, configure them, make
    the base image with debootstrap (`docker.base`) and build with ``--pull=never``.

Every run: a fresh build (``--no-cache``) and a cached rebuild (`docker.image`),
smoke tests offline and on a read-only root filesystem (`docker.smoke`: the
security settings seen from inside, ``ctao-sat doctor``, the joint-Crab use case on
read-only data, Ray, the HEALTHCHECK), the OCI archive under ``build/container/``
and a deployment from that archive into an empty image store (`docker.export`;
CTAO B-SUSS-1530: deployable within one hour). Every check is evidence in
``build/evidence/container.xml`` (`docker.record`), every number in
``build/container/deploy.json``. The Helm chart is played by ``nox -s chart``
(`docker.chart`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

# Run as a script: the repository, not this folder, is where imports start (the
# modules here are `docker.*`, never top-level `engine`, `base`...).
sys.path[0] = str(Path(__file__).resolve().parents[1])

from docker import base, engine, export, image, smoke  # noqa: E402
from docker.common import ONE_HOUR, OUT, Failure, log, run, timed  # noqa: E402
from docker.record import CHECKS, Record  # noqa: E402
from sat import stack  # noqa: E402  (standard library only)


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line of the container build."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--route", choices=["auto", "docker", "podman", "podman-local"], default="auto"
    )
    parser.add_argument("--context-only", action="store_true", help="write the context")
    parser.add_argument("--fresh-base", action="store_true", help="remake the base")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    """Build, test, export and time the image; return the exit code."""
    options = parse_args(argv)
    data = Path(os.environ.get("GAMMAPY_DATA", ""))
    if not os.environ.get("GAMMAPY_DATA") or not data.is_dir():
        log("GAMMAPY_DATA is not set to the data folder: export GAMMAPY_DATA=...")
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    context = image.write_context(OUT / "context", data)
    if options.context_only:
        log(f"wrote the build context {context}")
        return 0
    record = Record(
        {
            "requirement": "B-SUSS-1530",
            "version": stack.release_version(),
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "host": {"platform": platform.platform(), "cpus": os.cpu_count()},
            "timings_s": {},
            "ok": False,
        }
    )
    wall, stopped = time.perf_counter(), ""
    try:
        steps(options, context, data, record)
        record.report["ok"] = record.passed
    except Failure as error:
        stopped = str(error).strip().splitlines()[0]
        log(f"FAILED: {error}")
    finally:
        record.report["timings_s"]["total_wall"] = round(time.perf_counter() - wall, 1)
        finish(record, stopped)
    return 1 if stopped or record.failed else 0


def steps(options, context: Path, data: Path, record: Record) -> None:
    """Every step of a container run, in order; the first failure stops it."""
    report = record.report
    route = engine.choose_route(options.route)
    report["route"] = route
    log(f"route: {route}")
    tool = "docker" if route == "docker" else "podman"
    if tool == "podman":
        engine.ensure_podman(report)
    if route == "podman-local":
        base_image = base.make_base_image(report, options.fresh_base)
    else:
        base_image = base.PUBLIC_BASE
    args = image.build_args(base_image, report["date"])
    if tool == "podman":  # dangling layers of earlier builds: no use now
        run(["podman", "image", "prune", "-f"], capture=True, check=False)
    tag = build_image(tool, route, context, args, record)
    smoke.smoke_tests(tool, tag, data, record)
    archive = export.export(tool, tag, record)
    if tool == "podman":
        export.deploy_from_archive(archive, tag, data, record)
    else:
        record.skip((export.DEPLOY_CHECK,), f"needs podman (route {route})")


def build_image(tool: str, route: str, context: Path, args: dict, record: Record):
    """Build fresh, then rebuild from the cache; record the check; return the tag."""
    timings = record.report["timings_s"]
    try:
        tag, timings["build_fresh"] = timed(
            image.build, tool, route, context, args, cache=False
        )
        _, timings["build_cached"] = timed(
            image.build, tool, route, context, args, cache=True
        )
    except Failure as error:
        record.add("image_builds", False, str(error).splitlines()[0])
        raise
    facts = record.report["image"] = image.image_facts(tool, tag)
    # The image carries this build's labels (a stale layer cache would not).
    labels = {
        key: facts["labels"].get(f"org.opencontainers.image.{key}")
        for key in ("version", "created")
    }
    expected = {"version": args["VERSION"], "created": args["CREATED"]}
    record.add(
        "image_builds",
        labels == expected,
        f"{tag}: {facts['size_bytes'] / 1e6:.0f} MB, user {facts['user']}, "
        f"labels {labels} (expected {expected})",
        seconds=timings["build_fresh"],
        figures={
            "build_fresh_s": timings["build_fresh"],
            "build_cached_s": timings["build_cached"],
            "image_bytes": facts["size_bytes"],
            "image_user": facts["user"],
        },
    )
    return tag


# From nothing to doctor passing on a fresh node: what B-SUSS-1530's "deployable
# within one hour" costs on a machine without the tool chain, image or base.
FROM_NOTHING = (
    "toolchain_install",
    "base_image",
    "build_fresh",
    "export",
    "load_archive",
    "start",
    "start_to_doctor_pass",
)


def finish(record: Record, stopped: str) -> None:
    """Write deploy.json and the evidence; print the numbers and the verdicts."""
    report, t = record.report, record.report["timings_s"]
    report["deploy_from_nothing_s"] = round(sum(t.get(k, 0.0) for k in FROM_NOTHING), 1)
    fast = report["deploy_from_nothing_s"] < ONE_HOUR
    report["within_one_hour"] = report["ok"] and fast
    deploy = record.get(export.DEPLOY_CHECK)
    if deploy is not None:
        deploy.figures["from_nothing_s"] = report["deploy_from_nothing_s"]
    path = record.write_report(OUT / "deploy.json")
    evidence = record.write_evidence(reason=stopped)
    facts, archive = report.get("image", {}), report.get("archive", {})
    failed = record.failed
    lines = [
        f"route            {report.get('route', '-')}",
        f"image            {facts.get('tag', '-')} {str(facts.get('id', '-'))[:12]}",
        f"image size       {facts.get('size_bytes', 0) / 1e6:.0f} MB uncompressed, "
        f"{archive.get('size_bytes', 0) / 1e6:.0f} MB OCI archive",
        f"archive digest   {archive.get('manifest_digest', '-')}",
        f"build            fresh {t.get('build_fresh', '-')} s, "
        f"cached {t.get('build_cached', '-')} s, "
        f"base image {t.get('base_image', 'reused')}",
        f"deploy           load archive {t.get('load_archive', '-')} s, "
        f"start {t.get('start', '-')} s, doctor {t.get('start_to_doctor_pass', '-')} "
        f"s, {smoke.SMOKE_USECASE} {t.get('deploy_usecase', '-')} s",
        f"checks           {len(record.checks) - len(failed)}/{len(CHECKS)} passed"
        + (f"; failed: {', '.join(failed)}" if failed else "")
        + (f"; stopped: {stopped}" if stopped else ""),
        f"from nothing     {report['deploy_from_nothing_s']} s "
        f"(within one hour: {report['within_one_hour']})",
        f"record           {path}",
        f"evidence         {evidence}",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
