"""The requirements catalogue and the check that tests trace to real ids."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["MARKERS", "Catalogue", "load_catalogue", "unknown_ids"]

# pytest-requirements marker name -> catalogue section it must name an id of.
MARKERS = {"verifies_requirement": "requirements", "verifies_usecase": "usecases"}
METHODS = {"test", "analysis", "inspection", "demonstration"}
# Gates of `nox -s verify` that can stand as the evidence of a requirement.
EVIDENCE = {"usecases", "benchmarks"}
STATUSES = {"not yet verified"}


@dataclass(frozen=True)
class Catalogue:
    """The requirements and use cases of the release, by id."""

    requirements: dict[str, dict]
    usecases: dict[str, dict]

    def ids(self, section: str) -> set[str]:
        """Return the ids of ``section`` (``requirements`` or ``usecases``)."""
        return set(getattr(self, section))


@cache
def load_catalogue() -> Catalogue:
    """Load and check ``requirements.yaml`` (ids unique, methods known)."""
    import yaml

    text = (
        resources.files("satdev")
        .joinpath("requirements.yaml")
        .read_text(encoding="utf-8")
    )
    raw = yaml.safe_load(text)
    sections = {}
    for section in ("requirements", "usecases"):
        entries = raw[section]
        by_id = {entry["id"]: entry for entry in entries}
        if len(by_id) != len(entries):
            raise ValueError(f"duplicate ids in the {section} catalogue")
        sections[section] = by_id
    for entry in sections["requirements"].values():
        if entry["method"] not in METHODS:
            raise ValueError(f"{entry['id']}: unknown method {entry['method']!r}")
        if entry.get("evidence", "usecases") not in EVIDENCE:
            raise ValueError(f"{entry['id']}: unknown evidence {entry['evidence']!r}")
        if entry.get("status", "not yet verified") not in STATUSES:
            raise ValueError(f"{entry['id']}: unknown status {entry['status']!r}")
    return Catalogue(**sections)


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
