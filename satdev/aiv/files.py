r"""The files CTAO's AIV toolkit reads: the release plan and the traceability CSV.

Both are named by ``aiv-config.yml`` (``RELEASE_PLAN_FN``,
``TRACEABILITY_CSV_FN``) and written in the form the toolkit parses (5.3.0,
``aivkit.autoreport.releaseplan`` and ``generators.traceability_matrix``):

- the release plan: a LaTeX ``\uclist{<SYSTEM> <release> Use Cases
  \label{tab:uc-<release>}}{...}`` of rows ``group & name & id & revised \\``;
- the traceability matrix: CSV, every field quoted, with the columns the toolkit
  requires (``uc_id``, ``uc_name``, ``level_c_req``, ``level_c_req_name``), one
  row per use case and requirement it links, then ctao-sat's own columns (the
  parent Level B requirement, method, evidence, figure and both verdicts).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from satdev.aiv.document import AivDocument

__all__ = ["CSV_COLUMNS", "release_plan", "write_release_plan", "write_traceability"]

# The toolkit's required columns first (its reader checks these four), then ours.
CSV_COLUMNS = (
    "uc_id",
    "uc_name",
    "level_c_req",
    "level_c_req_name",
    "level_b_req",
    "method",
    "evidence",
    "figure",
    "req_verdict",
    "uc_verdict",
)


def _parents() -> dict[str, str]:
    from satdev.catalogue import load_catalogue

    return {
        identifier: entry.get("parent", "")
        for identifier, entry in load_catalogue().requirements.items()
    }


def traceability_rows(document: AivDocument) -> list[dict[str, str]]:
    """One row per linked (use case, requirement), then the unlinked of each."""
    parents = _parents()
    requirements = {row.id: row for row in document.requirements}

    def row(usecase, requirement) -> dict[str, str]:
        values = dict.fromkeys(CSV_COLUMNS, "")
        if usecase is not None:
            values.update(
                uc_id=usecase.id, uc_name=usecase.text, uc_verdict=usecase.label
            )
        if requirement is not None:
            level_c = requirement.level != "B"
            values.update(
                level_c_req=requirement.id if level_c else "",
                level_c_req_name=requirement.text if level_c else "",
                level_b_req=parents.get(requirement.id, "")
                if level_c
                else requirement.id,
                method=requirement.method,
                evidence=requirement.evidence,
                figure=requirement.figure,
                req_verdict=requirement.label,
            )
        return values

    rows = []
    for usecase in document.usecases:
        linked = document.requirements_of[usecase.id]
        rows += [row(usecase, requirements[r]) for r in linked] or [row(usecase, None)]
    rows += [
        row(None, requirement)
        for requirement in document.requirements
        if not document.usecases_of[requirement.id]
    ]
    return rows


def write_traceability(document: AivDocument, path: Path) -> Path:
    """Write the traceability matrix CSV (every field quoted, as the toolkit reads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, CSV_COLUMNS, quoting=csv.QUOTE_ALL)
        writer.writeheader()
        writer.writerows(traceability_rows(document))
    return path


def _cell(text: str) -> str:
    # The toolkit splits rows on "\\" and cells on "&" without reading LaTeX
    # (neither may appear in a cell, escaped or not), then escapes the names
    # itself: only what LaTeX cannot read as text is escaped here.
    text = " ".join(text.replace("&", "and").replace("\\", "/").split())
    text = re.sub(r"([%_#$~^{}])", r"\\\1", text)
    return text.replace("\\~", r"\textasciitilde{}").replace(
        "\\^", r"\textasciicircum{}"
    )


def release_plan(document: AivDocument) -> str:
    """Return the release plan: every catalogued use case of the ``UC_GROUPS``."""
    config = document.config
    release = config["RELEASE"]
    group = str(config["UC_GROUPS"]).split(",")[0]
    rows = [
        f"    {group} & {_cell(usecase.text)} & {usecase.id} & \\\\"
        for usecase in document.usecases
    ]
    return (
        f"% The use cases of ctao-sat {document.report.release} for CTAO's AIV\n"
        f"% toolkit (RELEASE_PLAN_FN in aiv-config.yml): group & name & id & revised.\n"
        f"% Written by satdev/aiv from satdev/requirements.yaml; do not edit.\n"
        f"\\uclist{{{config.system} {release} Use Cases "
        f"\\label{{tab:uc-{release}}}}}{{\n" + "\n".join(rows) + "\n}\n"
    )


def write_release_plan(document: AivDocument, path: Path) -> Path:
    """Write `release_plan` to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(release_plan(document), encoding="utf-8")
    return path
