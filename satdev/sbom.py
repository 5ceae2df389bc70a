"""A CycloneDX SBOM of the released environment, from the installed metadata.

The SBOM lists ctao-sat and every distribution it needs at run time (the closure
of its ``Requires-Dist``, as `satdev.gates.runtime_closure` walks it:
test and build tools are not part of the release), each with its version, package
URL, licence and dependencies.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from importlib import metadata

from sat.stack import canonical_name

__all__ = ["SPEC_VERSION", "licenses", "sbom"]

SPEC_VERSION = "1.6"
_LICENSE_CLASSIFIER = "License :: "


def licenses(dist: metadata.Distribution) -> list[dict]:
    """Return the CycloneDX licence entries of an installed distribution.

    PEP 639 ``License-Expression`` first (an SPDX expression), else the short
    ``License`` field, else the trove classifiers; empty when none says.
    """
    meta = dist.metadata
    expression = meta.get("License-Expression")
    if expression:
        return [{"expression": expression.strip()}]
    text = (meta.get("License") or "").strip()
    if text and "\n" not in text and len(text) <= 100 and text.upper() != "UNKNOWN":
        return [{"license": {"name": text}}]
    names = [
        value.split(" :: ")[-1]
        for value in meta.get_all("Classifier") or []
        if value.startswith(_LICENSE_CLASSIFIER) and value.count("::") >= 2
    ]
    return [{"license": {"name": name}} for name in dict.fromkeys(names)]


def _purl(name: str, version: str) -> str:
    return f"pkg:pypi/{canonical_name(name)}@{version}"


def _component(dist: metadata.Distribution, kind: str) -> dict:
    name = canonical_name(dist.metadata["Name"])
    component = {
        "type": kind,
        "bom-ref": _purl(name, dist.version),
        "name": name,
        "version": dist.version,
        "purl": _purl(name, dist.version),
    }
    found = licenses(dist)
    if found:
        component["licenses"] = found
    summary = dist.metadata.get("Summary")
    if summary:
        component["description"] = summary.strip()
    return component


def sbom(distribution: str = "ctao-sat") -> dict:
    """Build the CycloneDX (JSON) SBOM of ``distribution`` and its run-time closure.

    Returns
    -------
    dict
        A CycloneDX 1.6 BOM: metadata (the release as the main component),
        components with licences, and the dependency graph.
    """
    from packaging.requirements import Requirement

    from satdev.gates import runtime_closure

    closure = runtime_closure(distribution)
    missing = sorted(name for name, version in closure.items() if version is None)
    if missing:
        raise ValueError(f"not installed, cannot describe: {', '.join(missing)}")
    root = canonical_name(distribution)
    dists = {name: metadata.distribution(name) for name in closure}
    dependencies = []
    for name, dist in sorted(dists.items()):
        needs = set()
        for line in dist.requires or []:
            requirement = Requirement(line)
            target = canonical_name(requirement.name)
            if target in dists and (
                not requirement.marker or requirement.marker.evaluate({"extra": ""})
            ):
                needs.add(_purl(target, dists[target].version))
        dependencies.append(
            {"ref": _purl(name, dist.version), "dependsOn": sorted(needs)}
        )
    from sat import __version__

    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "tools": {
                "components": [
                    {
                        "type": "application",
                        "name": "satdev.sbom",
                        "version": __version__,
                    }
                ]
            },
            "component": _component(dists[root], "application"),
        },
        "components": [
            _component(dist, "library")
            for name, dist in sorted(dists.items())
            if name != root
        ],
        "dependencies": dependencies,
    }
