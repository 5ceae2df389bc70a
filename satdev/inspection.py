"""Recorded inspections: the evidence of requirements verified by inspection.

A maintainer who inspects what a requirement asks for records it in
``satdev/inspections/<requirement id>.yaml``, for the version inspected::

    requirement: C-SAT-0230
    version: 2026.12.0
    inspected: the licences of every component in build/release/sbom.cdx.json
    by: Jane Doe <jane.doe@example.org>
    date: 2026-12-05
    result: PASS            # or FAIL
    notes: optional remarks

Without a record for the version being verified the requirement is NOT VERIFIED
(inspection pending): a test can never stand in for an inspection.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["FIELDS", "INSPECTIONS", "Inspection", "read_inspections"]

INSPECTIONS = Path(__file__).resolve().parent / "inspections"
FIELDS = ("requirement", "version", "inspected", "by", "date", "result")
RESULTS = ("PASS", "FAIL")


@dataclass(frozen=True)
class Inspection:
    """One recorded inspection (the fields of the record file)."""

    requirement: str
    version: str
    inspected: str
    by: str
    date: str
    result: str
    notes: str = ""
    path: str = ""


def read_inspections(folder: str | Path = INSPECTIONS) -> dict[str, Inspection]:
    """Read every inspection record of ``folder``, by requirement id.

    Raises
    ------
    ValueError
        A record misses a field, has an unknown result, or is filed under
        another requirement's name (naming the file and the field).
    """
    import yaml

    records = {}
    for path in sorted(Path(folder).glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        missing = [name for name in FIELDS if not raw.get(name)]
        if missing:
            raise ValueError(f"{path}: inspection record without {', '.join(missing)}")
        if raw["result"] not in RESULTS:
            raise ValueError(
                f"{path}: result must be PASS or FAIL, not {raw['result']}"
            )
        if raw["requirement"] != path.stem:
            raise ValueError(f"{path}: records {raw['requirement']}, not {path.stem}")
        records[path.stem] = Inspection(
            **{name: str(raw[name]) for name in FIELDS},
            notes=str(raw.get("notes", "")),
            path=str(path),
        )
    return records
