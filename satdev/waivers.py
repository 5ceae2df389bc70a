"""Accepted non-conformances: a benchmark budget waived for one release.

A budget that upstream footprints make unreachable for now (the Jupyter image's
size, set by JupyterLab's and the Hub's own wheels, say) would otherwise block
every release. A maintainer who accepts it for one release records it in
``satdev/waivers/<version>.yaml``, committed::

    version: 2026.12.0
    waivers:
      - benchmark: container:jupyter   # a benchmark of the release's record
        metric: jupyter_added_mb       # one of its budgets (satdev/gates.yaml)
        accepted: 185                  # the worst figure accepted, budget's unit
        reason: why the budget cannot be met in this release
        accepted_by: Jane Doe <jane.doe@example.org>
        date: 2026-12-05
        disposition: what is done about it, and by when

What a waiver does (tests/test_waivers.py):

- it covers one budget check of the benchmark record (`budget_checks`) and the
  artifact sessions' goal checks that measure the same figure (a check whose
  ``figure:benchmark`` and ``figure:metric`` properties name that budget, with
  its value as ``figure:<metric>``: docker/jupyter.py's size check). Never a
  test, a use case's validation, a benchmark that could not measure, or a
  requirement's missing evidence: those fail as before;
- only for its version: the file of another version is never read;
- only while this run's figure stays within ``accepted`` (at most it for a
  ``<=`` budget, at least it for ``>=``; with an interval, its worse end):
  beyond, the waiver is EXCEEDED and the failure blocks the release as before;
- every verdict stays FAIL: the check, its gate, the requirements it traces to,
  the report. A requirement or gate failing only on accepted checks is shown as
  ``FAIL (accepted non-conformance)``; `nox -s verify` and `nox -s release`
  proceed over it, and the release document lists each waiver under "Accepted
  non-conformances" with its figure and disposition.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import BaseModel, ValidationError

from sat.errors import SatError

__all__ = [
    "ACCEPTED",
    "EXCEEDED",
    "FIELDS",
    "NOT_APPLICABLE",
    "UNUSED",
    "WAIVERS",
    "Disposition",
    "Waiver",
    "accepted_budgets",
    "covers_check",
    "dispositions",
    "read_waivers",
]

WAIVERS = Path(__file__).resolve().parent / "waivers"
FIELDS = ("benchmark", "metric", "accepted", "reason", "accepted_by", "date")
FIELDS += ("disposition",)
# What became of a waiver in a run.
ACCEPTED = "ACCEPTED"  # the budget failed within the accepted figure
EXCEEDED = "EXCEEDED"  # the figure is beyond the accepted one: it blocks
NOT_APPLICABLE = "NOT APPLICABLE"  # no such budget measured in this run
UNUSED = "UNUSED"  # the budget was met: nothing to accept


class Waiver(BaseModel):
    """One waiver of a record (the fields of ``satdev/waivers/<version>.yaml``)."""

    version: str
    benchmark: str
    metric: str
    accepted: float
    reason: str
    accepted_by: str
    date: dt.date
    disposition: str
    record: str = ""


class Disposition(Waiver):
    """A waiver and what became of it in this run (the report's content model).

    Attributes
    ----------
    status : str
        ACCEPTED, EXCEEDED, NOT APPLICABLE or UNUSED.
    measured : float or None
        This run's figure (the worse end of its interval, if it has one).
    limit, op, unit
        The budget (satdev/gates.yaml) it waives.
    verdict : str
        The budget check's own verdict: it stays FAIL when the waiver applies.
    note : str
        Why, in one line.
    covers : list of str
        The failed checks the release proceeds over because of it.
    """

    status: str
    measured: float | None = None
    limit: float | None = None
    op: str = "<="
    unit: str = ""
    verdict: str = ""
    note: str = ""
    covers: list[str] = []


def read_waivers(version: str, folder: str | Path = WAIVERS) -> list[Waiver]:
    """Read the waivers of ``version`` (``<folder>/<version>.yaml``; none if absent).

    Raises
    ------
    SatError
        The record is for another version, or a waiver misses a field or has a
        figure that is not a number (one line naming the file and the field).
    """
    import yaml

    path = Path(folder) / f"{version}.yaml"
    if not path.is_file():
        return []
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if str(raw.get("version")) != version:
        raise SatError(f"{path}: records version {raw.get('version')}, not {version}")
    waivers = []
    for number, entry in enumerate(raw.get("waivers") or [], start=1):
        missing = [name for name in FIELDS if entry.get(name) in (None, "")]
        if missing:
            raise SatError(f"{path}: waiver {number} has no {', '.join(missing)}")
        if isinstance(entry["accepted"], bool) or not isinstance(
            entry["accepted"], int | float
        ):
            raise SatError(f"{path}: waiver {number}: accepted must be a number")
        try:
            waivers.append(Waiver(version=version, record=str(path), **entry))
        except ValidationError as error:
            problem = error.errors()[0]
            raise SatError(
                f"{path}: waiver {number}: {'.'.join(map(str, problem['loc']))}: "
                f"{problem['msg']}"
            ) from None
    return waivers


def _worse(check: dict) -> float:
    """Return the check's figure at its worse end (its interval's, if any)."""
    if not check.get("interval"):
        return check["value"]
    low, high = check["interval"]
    return high if check.get("op", "<=") == "<=" else low


def _within(value: float, accepted: float, op: str) -> bool:
    return value <= accepted if op == "<=" else value >= accepted


def dispositions(
    waivers: list[Waiver], results: list[dict], thresholds: dict
) -> list[Disposition]:
    """Judge each waiver against the results of a benchmark record.

    Parameters
    ----------
    waivers : list of Waiver
        `read_waivers` of the release.
    results : list of dict
        The ``results`` of the benchmark record.
    thresholds : dict
        The ``benchmarks`` section of gates.yaml.
    """
    from satdev.benchmarks import budget_checks

    by_name = {result["name"]: result for result in results}
    found = []
    for waiver in waivers:
        fields = waiver.model_dump()
        result = by_name.get(waiver.benchmark)
        if result is None:
            found.append(
                Disposition(
                    **fields,
                    status=NOT_APPLICABLE,
                    note=f"benchmark {waiver.benchmark} is not in this record",
                )
            )
            continue
        checks = {c["metric"]: c for c in budget_checks(result, thresholds)}
        check = checks.get(waiver.metric)
        if check is None:
            found.append(
                Disposition(
                    **fields,
                    status=NOT_APPLICABLE,
                    note=f"{waiver.benchmark} has no budget {waiver.metric} "
                    f"(its budgets: {', '.join(checks) or 'none'})",
                )
            )
            continue
        budget = {
            "limit": check["limit"],
            "op": check.get("op", "<="),
            "unit": check.get("unit", ""),
            "verdict": check["verdict"],
        }
        if check["value"] is None:
            status, measured = NOT_APPLICABLE, None
            note = "not measured: " + (result.get("error") or check["reason"])
        elif check["ok"]:
            status, measured = UNUSED, _worse(check)
            note = f"the budget is met: {check['reason']}"
        else:
            measured = _worse(check)
            within = _within(measured, waiver.accepted, budget["op"])
            status = ACCEPTED if within else EXCEEDED
            note = (
                f"{waiver.metric} = {measured:g} {budget['unit']}".rstrip()
                + f" {'within' if within else 'beyond'} the accepted "
                f"{waiver.accepted:g} (budget {budget['op']} {check['limit']:g})"
            )
        covers = [f"benchmark {waiver.benchmark} {waiver.metric}"]
        found.append(
            Disposition(
                **fields,
                **budget,
                status=status,
                measured=measured,
                note=note,
                covers=covers if status == ACCEPTED else [],
            )
        )
    return found


def accepted_budgets(found: list[Disposition]) -> dict[tuple[str, str], Disposition]:
    """Return ``{(benchmark, metric): disposition}`` of the waivers that apply."""
    return {(d.benchmark, d.metric): d for d in found if d.status == ACCEPTED}


def covers_check(accepted: dict, figures: dict) -> Disposition | None:
    """Return the applying waiver of an artifact session's goal check, or None.

    A goal check names the budget it measures (``figure:benchmark``,
    ``figure:metric``) and records its value (``figure:<metric>``): it is
    covered when that budget's waiver applies and its own value is within the
    accepted figure too.
    """
    key = (figures.get("benchmark"), figures.get("metric"))
    waiver = accepted.get(key)
    value = figures.get(key[1]) if key[1] else None
    if waiver is None or not isinstance(value, int | float):
        return None
    return waiver if _within(value, waiver.accepted, waiver.op) else None
