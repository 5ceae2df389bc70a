"""The requirements catalogue: ids, methods and what each verdict rests on.

Every requirement names its verification ``method`` (CTAO's: test, analysis,
inspection, demonstration) and its ``evidence``: the one source its verdict is
taken from. The method bounds the evidence (`ALLOWED`), so that no source can
stand in for another: a passing unit test never verifies a demonstration or an
inspection, a Dockerfile parsed by a test never verifies the image. `unknown_ids`
keeps the tests' markers to ids of the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

__all__ = [
    "ALLOWED",
    "MARKERS",
    "Catalogue",
    "Evidence",
    "load_catalogue",
    "parse_evidence",
    "unknown_ids",
]

# pytest-requirements marker name -> catalogue section it must name an id of.
MARKERS = {"verifies_requirement": "requirements", "verifies_usecase": "usecases"}
# Verification method -> the kinds of evidence that can verify it.
ALLOWED = {
    "test": {"tests", "session"},
    "analysis": {"gate", "benchmark", "session"},
    "demonstration": {"session"},
    "inspection": {"inspection"},
}
# Gates of `nox -s verify` that can stand as the evidence of a requirement.
GATES = {"usecases", "benchmarks"}
STATUSES = {"not yet verified"}


@dataclass(frozen=True)
class Evidence:
    """What a requirement's verdict rests on (``evidence:`` in the catalogue).

    Attributes
    ----------
    kind : str
        ``tests``: the test-suite cases that trace to the id (markers);
        ``session``: the checks of artifact sessions (``build/evidence/*.xml``) of
        this run that trace to the id; ``gate``: a gate of ``nox -s verify``;
        ``benchmark``: the budget checks of one benchmark of this release's
        record; ``inspection``: a recorded inspection for this version
        (``satdev/inspections/<id>.yaml``).
    sources : tuple of str
        The sessions, the gate or the benchmark ("" for tests and inspection).
    figure : str or None
        A figure the sessions' checks record (``deploy_s``) that the verdict
        compares with ``limit``.
    limit : float or None
        The largest acceptable value of ``figure``.
    """

    kind: str
    sources: tuple[str, ...] = ()
    figure: str | None = None
    limit: float | None = None

    def describe(self) -> str:
        """Say in a few words what the verdict rests on."""
        if self.kind == "tests":
            return "tests traced to it"
        if self.kind == "inspection":
            return "recorded inspection"
        plural = "s" if len(self.sources) > 1 else ""
        text = f"{self.kind}{plural} {', '.join(self.sources)}"
        if self.figure:
            text += f" ({self.figure} <= {self.limit:g})"
        return text


def parse_evidence(raw, method: str, where: str = "") -> Evidence:
    """Read one ``evidence:`` entry of the catalogue and check it fits ``method``.

    Forms: ``tests``, ``inspection``, ``{session: NAME or [NAMES], figure: F,
    max: X}``, ``{gate: NAME}``, ``{benchmark: NAME}``.

    Raises
    ------
    ValueError
        Naming ``where`` (the requirement id) and what is wrong.
    """
    kinds = (
        raw.keys() & {"session", "gate", "benchmark"} if isinstance(raw, dict) else ()
    )
    if raw in ("tests", "inspection"):
        evidence = Evidence(raw)
    elif len(kinds) == 1:
        (kind,) = kinds
        sources = raw[kind] if isinstance(raw[kind], list) else [raw[kind]]
        allowed = {kind, "figure", "max"} if kind == "session" else {kind}
        if set(raw) - allowed:
            raise ValueError(
                f"{where}: unknown evidence keys {sorted(set(raw) - allowed)}"
            )
        if ("figure" in raw) != ("max" in raw):
            raise ValueError(f"{where}: evidence figure and max go together")
        if kind == "gate" and not set(sources) <= GATES:
            raise ValueError(f"{where}: gate {sources} cannot be evidence")
        evidence = Evidence(
            kind,
            tuple(str(s) for s in sources),
            raw.get("figure"),
            float(raw["max"]) if "max" in raw else None,
        )
    else:
        raise ValueError(
            f"{where}: evidence must be tests, inspection, or one of "
            f"{{session|gate|benchmark: NAME}}, not {raw!r}"
        )
    if evidence.kind not in ALLOWED[method]:
        raise ValueError(
            f"{where}: method {method} cannot be verified by {evidence.kind} "
            f"(allowed: {', '.join(sorted(ALLOWED[method]))})"
        )
    return evidence


@dataclass(frozen=True)
class Catalogue:
    """The requirements and use cases of the release, by id."""

    requirements: dict[str, dict]
    usecases: dict[str, dict]
    evidence: dict[str, Evidence]

    def ids(self, section: str) -> set[str]:
        """Return the ids of ``section`` (``requirements`` or ``usecases``)."""
        return set(getattr(self, section))

    def sessions(self) -> set[str]:
        """Return the artifact sessions whose evidence a requirement needs."""
        return {
            source
            for evidence in self.evidence.values()
            if evidence.kind == "session"
            for source in evidence.sources
        }


def read_catalogue(text: str) -> Catalogue:
    """Parse and check a catalogue (ids unique, methods known, evidence fitting)."""
    import yaml

    raw = yaml.safe_load(text)
    sections = {}
    for section in ("requirements", "usecases"):
        entries = raw[section]
        by_id = {entry["id"]: entry for entry in entries}
        if len(by_id) != len(entries):
            raise ValueError(f"duplicate ids in the {section} catalogue")
        sections[section] = by_id
    evidence = {}
    for identifier, entry in sections["requirements"].items():
        if entry["method"] not in ALLOWED:
            raise ValueError(f"{identifier}: unknown method {entry['method']!r}")
        # `test` defaults to the tests traced to it; every other method must name
        # its evidence (what demonstrates, analyses or inspects it).
        raw = entry.get("evidence", "tests" if entry["method"] == "test" else None)
        if raw is None:
            raise ValueError(
                f"{identifier}: method {entry['method']} needs evidence: say what "
                "verifies it (satdev/requirements.yaml, header)"
            )
        evidence[identifier] = parse_evidence(raw, entry["method"], identifier)
        if entry.get("status", "not yet verified") not in STATUSES:
            raise ValueError(f"{identifier}: unknown status {entry['status']!r}")
    return Catalogue(**sections, evidence=evidence)


@cache
def load_catalogue(path: Path | None = None) -> Catalogue:
    """Load and check ``requirements.yaml`` (or the catalogue at ``path``)."""
    if path is not None:
        return read_catalogue(Path(path).read_text(encoding="utf-8"))
    text = (
        resources.files("satdev")
        .joinpath("requirements.yaml")
        .read_text(encoding="utf-8")
    )
    return read_catalogue(text)


def unknown_ids(items) -> list[str]:
    """List ``"test: marker(id)"`` for every marker naming an id not in the catalogue.

    Parameters
    ----------
    items : iterable of pytest.Item
        Collected test items.
    """
    catalogue = load_catalogue()
    problems = []
    for item in items:
        for marker, section in MARKERS.items():
            for mark in item.iter_markers(name=marker):
                if mark.args[0] not in catalogue.ids(section):
                    problems.append(f"{item.nodeid}: {marker}({mark.args[0]!r})")
    return problems
