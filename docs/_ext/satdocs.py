"""Pages generated from the release's own sources, at every docs build.

The readiness matrix, the requirements table, the pins table and the release notes
are written into ``docs/_generated/`` from the use-case registry, the requirements
catalogue, ``sat/pins.toml`` and the towncrier fragments, so that they cannot go
stale. Each generator is a plain function returning reStructuredText (tested by
tests/test_docs.py); `setup` hooks them into Sphinx.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from gallery import page_name

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
GENERATED = DOCS / "_generated"
KSP_FILE = DOCS / "ksp.yaml"
# Symbols every default font has (emoji fonts are often missing on Linux).
STATUS = {"supported": "✔ supported", "partial": "◐ partial", "missing": "✘ missing"}


def _cell(text: str) -> str:
    # A list-table cell: continuation lines of a multi-line cell keep the indent.
    return str(text).replace("\n", "\n       ") if text else "\\-"


def list_table(title: str, header: list[str], rows: list[list[str]], widths=None):
    """Return an RST ``list-table`` of ``rows`` under ``header``.

    Parameters
    ----------
    title : str
        The table caption.
    header : list of str
        Column titles.
    rows : list of list of str
        Cells, as RST inline text (multi-line cells allowed).
    widths : list of int, optional
        Relative column widths.
    """
    lines = [f".. list-table:: {title}", "   :header-rows: 1"]
    if widths:
        lines.append(f"   :widths: {' '.join(str(w) for w in widths)}")
    lines.append("")
    for row in [header, *rows]:
        lines.append(f"   * - {_cell(row[0])}")
        lines.extend(f"     - {_cell(cell)}" for cell in row[1:])
    return "\n".join(lines) + "\n"


def load_ksps(path: Path = KSP_FILE) -> dict:
    """Read the KSP -> needed use cases mapping (``docs/ksp.yaml``)."""
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_verdicts(report: Path, version: str) -> dict | None:
    """Read the verdicts of the last verification report of release ``version``.

    Parameters
    ----------
    report : Path
        ``build/report/report.json`` (written by ``nox -s verify``, updated by the
        release).
    version : str
        The release being documented: a report of another release is not
        evidence for this one.

    Returns
    -------
    dict or None
        ``{"labels": {id: verdict label}, "source": what report}``, or None when
        there is no report of this release.
    """
    import json

    if not report.is_file():
        return None
    content = json.loads(report.read_text(encoding="utf-8"))
    if content.get("release") != version:
        return None
    labels = {
        row["id"]: row.get("label", row["verdict"])
        for row in content.get("traceability", [])
    }
    stage = "release" if content.get("stage") == "release" else "verify"
    source = (
        f"the {stage} report of {version} made {content.get('created', '?')} "
        f"(nox run {content.get('run_id') or 'none'})"
    )
    return {"labels": labels, "source": source}


def _verification(ids: list[str], verdicts: dict | None) -> tuple[bool, str]:
    """Whether every id is VERIFIED in ``verdicts``, and the RST saying so."""
    if verdicts is None:
        return False, "not verified in this build"
    labels = [(rid, verdicts["labels"].get(rid, "not in the report")) for rid in ids]
    text = ", ".join(f"{rid} {label}" for rid, label in labels)
    return all(label == "VERIFIED" for _, label in labels), f"verification: {text}"


def capability_status(
    name: str, registry: dict, catalogue, commands, ksps: dict, verdicts=None
):
    """Say whether ctao-sat provides analysis ``name``, through what, verified how.

    An analysis is *supported* when a registered use case or a command provides it
    and the last verification report (``verdicts``, `load_verdicts`) has every
    requirement and use case verifying it VERIFIED; provided but not (yet)
    verified, it is *partial*, with the verdicts or "not verified in this build".

    Returns
    -------
    tuple of (str, str)
        The status (``supported``, ``partial`` or ``missing``) and an RST
        description: the use case or command and the verdicts verifying it.
    """
    evidence = sorted(
        rid
        for rid, source in catalogue.evidence.items()
        if (source.kind, source.sources) == ("gate", ("usecases",))
    )
    catalogued = {entry["name"]: uid for uid, entry in catalogue.usecases.items()}
    requirement_of = ksps.get("requirements", {})
    for rid in requirement_of.get(name, []):
        if rid not in catalogue.requirements:
            raise ValueError(f"ksp.yaml: {name} names unknown requirement {rid}")
    if name in registry:
        usecase = registry[name]
        ids = [usecase.usecase_id, *evidence, *requirement_of.get(name, [])]
        verified, text = _verification(ids, verdicts)
        return "supported" if verified else "partial", (
            f":doc:`{name} </auto_examples/{page_name(name)}>` "
            f"({usecase.usecase_id}); {text}"
        )
    if name in catalogued:
        ids = requirement_of.get(name, [])
        how = f"``ctao-sat {name}``" if name in commands else "catalogued only"
        if name not in commands or not ids:
            return "partial", f"{how} ({catalogued[name]}); not verified"
        verified, text = _verification(ids, verdicts)
        return "supported" if verified else "partial", (
            f"{how} ({catalogued[name]}); {text}"
        )
    missing = ksps.get("missing", {})
    if name not in missing:
        raise ValueError(f"ksp.yaml: {name!r} is neither a use case nor in `missing`")
    return "missing", missing[name].strip()


def readiness_matrix(
    ksps: dict, registry: dict, catalogue, commands, verdicts=None
) -> str:
    """Return the SDC readiness matrix (RST): each KSP, what it needs, our status.

    Parameters
    ----------
    ksps : dict
        The content of ``docs/ksp.yaml``.
    registry : dict
        `sat.usecases.registry.usecases()`.
    catalogue : satdev.Catalogue
        The requirements catalogue.
    commands : iterable of str
        The ``ctao-sat`` subcommands.
    verdicts : dict, optional
        `load_verdicts` of the last verification report; None: nothing is
        verified in this build.
    """
    rows = []
    for entry in ksps["ksps"]:
        statuses, details = [], []
        for need in entry["needs"]:
            status, detail = capability_status(
                need, registry, catalogue, commands, ksps, verdicts
            )
            statuses.append(status)
            details.append(f"| **{need}**: {STATUS[status]} — {detail}")
        if all(s == "supported" for s in statuses):
            overall = "supported"
        elif any(s != "missing" for s in statuses):
            overall = "partial"
        else:
            overall = "missing"
        done = statuses.count("supported")
        name = entry["name"] + ("" if entry.get("ksp", True) else " (science case)")
        rows.append(
            [
                name,
                f"{STATUS[overall]} ({done}/{len(statuses)})",
                "\n".join(details),
            ]
        )
    source = (
        f"Verdicts from {verdicts['source']}."
        if verdicts
        else (
            "No verification report of this release existed when this page was "
            "built: **nothing is marked verified in this build**."
        )
    )
    return (
        source
        + "\n\n"
        + list_table(
            "CTAO Key Science Projects against ctao-sat",
            ["Programme", "Status", "Analyses needed: status, use case, verification"],
            rows,
            widths=[18, 14, 68],
        )
    )


def catalogue_table(catalogue) -> str:
    """Return the requirements and use cases of the catalogue as RST tables."""
    rows = [
        [
            f"``{rid}``",
            entry["level"],
            entry.get("parent", ""),
            " ".join(entry["text"].split()),
            f"{entry['method']}: {catalogue.evidence[rid].describe()}",
            entry.get("status", "claimed by the release"),
        ]
        for rid, entry in catalogue.requirements.items()
    ]
    usecases = [
        [f"``{uid}``", f"``{entry['name']}``", entry["text"]]
        for uid, entry in catalogue.usecases.items()
    ]
    return (
        list_table(
            "Requirements",
            ["Id", "Level", "Parent", "Text", "Method: evidence", "Status"],
            rows,
            widths=[12, 5, 10, 45, 18, 10],
        )
        + "\n"
        + list_table("Use cases", ["Id", "Name", "What"], usecases, [15, 15, 70])
    )


def pins_table(pins, release: dict) -> str:
    """Return the release pins (`sat.stack.load_pins()`) as an RST table."""
    rows = [
        [
            f"``{pin.name}``",
            f"``{pin.version}``",
            "component" if pin.component else "dependency",
            f"``{pin.conda}``" if pin.conda != pin.name else "",
            pin.summary,
        ]
        for pin in pins
    ]
    intro = (
        f"Release **{release['version']}**, Python ``{release['python']}`` "
        f"(reference interpreter {release['python_default']}).\n\n"
    )
    return intro + list_table(
        "Release pins (sat/pins.toml)",
        ["Distribution", "Version", "Kind", "conda-forge name", "What for"],
        rows,
        widths=[20, 12, 12, 18, 38],
    )


def release_notes(version: str, root: Path = ROOT) -> str:
    """Render the unreleased towncrier fragments (``towncrier build --draft``).

    Parameters
    ----------
    version : str
        The release the notes are for.
    root : Path
        The project folder (its pyproject.toml configures towncrier).
    """
    towncrier = shutil.which("towncrier", path=str(Path(sys.executable).parent))
    command = [towncrier] if towncrier else [sys.executable, "-m", "towncrier"]
    done = subprocess.run(
        [*command, "build", "--draft", "--version", version],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    text = done.stdout
    # towncrier prints a preamble before the draft; keep the notes from the title.
    start = text.find("## ctao-sat")
    return text[start:] if start >= 0 else text


def usecase_api(registry: dict) -> str:
    """Return the API reference (RST) of every registered use case's module.

    Parameters
    ----------
    registry : dict
        `sat.usecases.registry.usecases()`: a new use case gets its section.
    """
    sections = []
    for name, usecase in registry.items():
        module = usecase.__module__
        title = f"``{name}``: ``{module}``"
        sections.append(
            f"{title}\n{'~' * len(title)}\n\n"
            f"{usecase.summary} (:doc:`gallery page </auto_examples/"
            f"{page_name(name)}>`).\n\n.. automodule:: {module}\n"
        )
    return "\n".join(sections)


def report_status(report: Path) -> str:
    """Say (RST) which verification report the site carries, or how to make one.

    Parameters
    ----------
    report : Path
        The report folder of ``nox -s verify`` (``build/report``).
    """
    import json

    summary = report / "report.json"
    if not (report / "index.html").is_file():
        return (
            ".. warning::\n\n"
            "   No verification report existed when this site was built\n"
            f"   (``{report.name}/index.html`` was missing): produce one as shown\n"
            "   below, then build the docs again.\n"
        )
    content = json.loads(summary.read_text()) if summary.is_file() else {}
    verdict = content.get("verdict", "unknown")
    gates = ", ".join(
        f"{gate.get('name', '?')} {'PASS' if gate.get('passed') else 'FAIL'}"
        for gate in content.get("gates", [])
    )
    return (
        f"This site carries the report of release {content.get('release', '?')}, "
        f"made {content.get('created', '?')}: verdict **{verdict}**"
        + (f" ({gates})" if gates else "")
        + ".\n`Open the verification report <../verification-report/index.html>`__.\n"
    )


def _write(name: str, text: str) -> None:
    path = GENERATED / name
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def generate(app=None) -> None:
    """Write every generated page into ``docs/_generated/``."""
    from sat import stack
    from sat.cli.main import COMMANDS
    from sat.usecases.registry import usecases
    from satdev import load_catalogue

    GENERATED.mkdir(exist_ok=True)
    catalogue = load_catalogue()
    verdicts = load_verdicts(
        ROOT / "build" / "report" / "report.json", stack.release_version()
    )
    _write(
        "readiness.rst",
        readiness_matrix(load_ksps(), usecases(), catalogue, COMMANDS, verdicts),
    )
    _write("catalogue.rst", catalogue_table(catalogue))
    _write("pins.rst", pins_table(stack.load_pins(), stack.release()))
    _write("release-notes.md", release_notes(stack.release_version()))
    _write("report.rst", report_status(ROOT / "build" / "report"))
    _write("usecase-api.rst", usecase_api(usecases()))


def copy_report(app, exception) -> None:
    """Copy the latest verification report (build/report) into the site."""
    report = ROOT / "build" / "report"
    if exception is None and (report / "index.html").is_file():
        target = Path(app.outdir) / "verification-report"
        shutil.copytree(report, target, dirs_exist_ok=True)


def setup(app):
    """Sphinx extension: generate the pages first, copy the report last."""
    app.connect("builder-inited", generate)
    app.connect("build-finished", copy_report)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
