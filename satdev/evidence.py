"""Evidence written by the artifact sessions (conda, container, docs, chart...).

A session that checks an artifact for real (builds it, installs it, runs it) records
each check as a JUnit test case with the ``requirement_id`` / ``usecase_id``
properties CTAO's tooling reads, the figures it measured, and the run it belongs to.
`nox -s verify` and `nox -s release` fold every ``<build>/evidence/*.xml`` into the
traceability; a requirement whose evidence is an artifact session is VERIFIED only
by evidence of the current run (`RUN_ID_ENV`).

The contract between a session and the catalogue (``satdev/requirements.yaml``):
the session writes ``<build>/evidence/<session>.xml``, one test case per real check,
each carrying the ``requirement_id`` of every requirement it is evidence for; a
requirement whose evidence is ``{session: NAME, figure: F, max: X}`` also needs a
``figure:F`` property on one of those checks (the container session records
``figure:deploy_s`` on its B-SUSS-1530 check, the measured deploy of the released
archive on a fresh container store).

Only the standard library: the artifact scripts import it from the repository.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "EVIDENCE_DIR",
    "RUN_ID_ENV",
    "Check",
    "SessionEvidence",
    "current_run_id",
    "read_evidence",
    "write_junit",
]

# Set once per `nox` invocation by the noxfile (inherited by every session of that
# invocation): evidence carrying another id is from an earlier run.
RUN_ID_ENV = "CTAO_SAT_RUN_ID"
# Where the sessions write their evidence, under the build folder.
EVIDENCE_DIR = "evidence"


@dataclass
class Check:
    """One real check of an artifact.

    Attributes
    ----------
    name : str
        What was checked, as a test name (``image_runs_as_non_root``).
    passed : bool
        Its outcome.
    requirements, usecases : tuple of str
        Catalogue ids this check is evidence for.
    message : str
        Why it failed (first line shown), or what it found.
    seconds : float
        How long it took.
    figures : dict
        Measured figures (``{"deploy_s": 232.6, "limit_s": 3600}``), recorded as
        ``figure:<name>`` properties.
    """

    name: str
    passed: bool
    requirements: tuple[str, ...] = ()
    usecases: tuple[str, ...] = ()
    message: str = ""
    seconds: float = 0.0
    figures: dict = field(default_factory=dict)


def current_run_id() -> str:
    """Return the id of the current nox invocation ("" outside one)."""
    return os.environ.get(RUN_ID_ENV, "")


def _commit(root: Path) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def write_junit(
    path: str | Path, suite: str, checks: list[Check], root: str | Path = "."
) -> Path:
    """Write ``checks`` as the JUnit XML of session ``suite``.

    Parameters
    ----------
    path : str or Path
        The XML file (written atomically: a reader never sees half of it).
    suite : str
        The session's name (``container``); each test case's classname.
    checks : list of Check
        What the session checked.
    root : str or Path
        The repository, for the commit recorded with the evidence.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    failures = sum(not check.passed for check in checks)
    suite_element = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(checks)),
        failures=str(failures),
        errors="0",
        skipped="0",
        time=f"{sum(check.seconds for check in checks):.3f}",
        timestamp=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
        hostname=platform.node(),
    )
    properties = ET.SubElement(suite_element, "properties")
    for name, value in (
        ("run_id", current_run_id()),
        ("commit", _commit(Path(root))),
    ):
        ET.SubElement(properties, "property", name=name, value=value)
    for check in checks:
        case = ET.SubElement(
            suite_element,
            "testcase",
            classname=suite,
            name=check.name,
            time=f"{check.seconds:.3f}",
        )
        case_properties = ET.SubElement(case, "properties")
        for identifier in check.requirements:
            ET.SubElement(
                case_properties, "property", name="requirement_id", value=identifier
            )
        for identifier in check.usecases:
            ET.SubElement(
                case_properties, "property", name="usecase_id", value=identifier
            )
        for name, value in check.figures.items():
            ET.SubElement(
                case_properties, "property", name=f"figure:{name}", value=str(value)
            )
        if not check.passed:
            failure = ET.SubElement(case, "failure", message=check.message or "failed")
            failure.text = check.message
        elif check.message:
            ET.SubElement(case, "system-out").text = check.message
    root_element = ET.Element("testsuites")
    root_element.append(suite_element)
    ET.indent(root_element)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    ET.ElementTree(root_element).write(partial, encoding="utf-8", xml_declaration=True)
    partial.replace(path)
    return path


@dataclass
class SessionEvidence:
    """The evidence one artifact session left in ``<build>/evidence/``.

    Attributes
    ----------
    session : str
        The session (the file's name without ``.xml``).
    path : Path
        The JUnit XML file.
    run_id, commit : str
        The nox run and the commit it was recorded in ("" when unknown).
    results : list of satdev.junit.TestResult
        Its checks, with their ids and figures.
    error : str
        Why the file could not be read ("" when it could).
    """

    session: str
    path: Path
    run_id: str = ""
    commit: str = ""
    results: list = field(default_factory=list)
    error: str = ""


def read_evidence(folder: str | Path) -> dict[str, SessionEvidence]:
    """Read every ``<folder>/*.xml`` written by `write_junit`, by session name.

    A file that is not JUnit XML, or whose suite is another session's, is kept with
    its ``error`` (never silently dropped: a requirement resting on it is then
    not verified, with that reason).
    """
    from satdev.junit import read_junit

    found = {}
    for path in sorted(Path(folder).glob("*.xml")):
        evidence = SessionEvidence(path.stem, path)
        try:
            root = ET.parse(path).getroot()
            suite = root if root.tag == "testsuite" else root.find("testsuite")
            if suite is None:
                raise ValueError(f"{path} has no <testsuite>")
            if suite.get("name") != path.stem:
                raise ValueError(f"{path} holds the suite {suite.get('name')!r}")
            properties = {
                prop.get("name"): prop.get("value", "")
                for prop in suite.findall("properties/property")
            }
            evidence.run_id = properties.get("run_id", "")
            evidence.commit = properties.get("commit", "")
            evidence.results = read_junit(path)
        except (ET.ParseError, ValueError) as error:
            evidence.error = str(error)
        found[path.stem] = evidence
    return found
