"""The chart as the release ships it: a package and an OCI image layout of it.

``helm package`` of a copy of the chart whose values pin the released image by the
digest of its OCI archive (when ``nox -s container`` recorded one for this
version), and the same package as an OCI image layout, as ``helm push`` stores a
chart (a Helm config blob, one chart-content layer): ``oras cp --from-oci-layout``
or ``skopeo`` can push it to a registry.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import time
from pathlib import Path

from docker.common import CHART, ROOT, Failure, run
from docker.record import Record
from sat import stack


def released_digest() -> str:
    """Return the manifest digest of this version's OCI archive, or ""."""
    path = ROOT / "build" / "container" / "deploy.json"
    if not path.is_file():
        return ""
    record = json.loads(path.read_text())
    if record.get("version") != stack.release_version():
        return ""
    return (record.get("archive") or {}).get("manifest_digest") or ""


def package(binary: Path, record: Record, out: Path) -> Path:
    """``helm package`` the chart (pinned to the released digest) + OCI layout.

    Returns the package (``out/ctao-sat-<version>.tgz``).
    """
    start = time.perf_counter()
    version = stack.release_version()
    digest = released_digest()
    source = out / "src" / "ctao-sat"
    shutil.rmtree(source.parent, ignore_errors=True)
    shutil.copytree(CHART, source)
    if digest:  # the released chart pulls exactly the released image
        values = source / "values.yaml"
        text = values.read_text()
        if '  digest: ""\n' not in text:
            raise Failure('chart/values.yaml has no `  digest: ""` line to pin')
        values.write_text(text.replace('  digest: ""\n', f'  digest: "{digest}"\n', 1))
    run([binary, "lint", "--strict", source], capture=True)
    # Only this version's files: the release ships whatever matches its globs.
    for old in [*out.glob("ctao-sat-*.tgz"), *out.glob("ctao-sat-*.chart.oci.tar")]:
        old.unlink()
    run([binary, "package", source, "--destination", out], capture=True)
    tgz = out / f"ctao-sat-{version}.tgz"
    layout = oci_layout(tgz, out / f"ctao-sat-{version}.chart.oci.tar")
    record.add(
        "chart_packaged",
        tgz.is_file(),
        f"{tgz.name} ({tgz.stat().st_size} bytes), {layout.name}; image digest "
        + (digest or "not pinned (no container record of this version)"),
        seconds=time.perf_counter() - start,
        figures={
            "chart_sha256": hashlib.sha256(tgz.read_bytes()).hexdigest(),
            "chart_bytes": tgz.stat().st_size,
            "image_digest": digest,
        },
    )
    return tgz


def oci_layout(tgz: Path, destination: Path) -> Path:
    """Write the chart package as an OCI image layout (tar).

    As ``helm push`` stores a chart: a Helm config blob and one chart-content layer.
    """
    import yaml

    with tarfile.open(tgz) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("/Chart.yaml"))
        chart = yaml.safe_load(archive.extractfile(member))
    blobs = {}

    def blob(data: bytes, media_type: str) -> dict:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    config = blob(
        json.dumps(chart, sort_keys=True).encode(),
        "application/vnd.cncf.helm.config.v1+json",
    )
    layer = blob(
        tgz.read_bytes(), "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
    )
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": [layer],
        "annotations": {
            "org.opencontainers.image.title": chart["name"],
            "org.opencontainers.image.version": chart["version"],
        },
    }
    entry = blob(json.dumps(manifest).encode(), manifest["mediaType"])
    entry["annotations"] = {"org.opencontainers.image.ref.name": chart["version"]}
    files = {
        "oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
        "index.json": json.dumps({"schemaVersion": 2, "manifests": [entry]}).encode(),
        **{f"blobs/sha256/{d.split(':')[1]}": data for d, data in blobs.items()},
    }
    partial = destination.with_name(f".{destination.name}.part")
    with tarfile.open(partial, "w") as out:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            out.addfile(info, io.BytesIO(data))
    os.replace(partial, destination)
    return destination
