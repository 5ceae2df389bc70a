"""The release manifest: the pinned SAT stack and how to check an environment.

`sat/pins.toml` is the single source of truth for every version of the release.
This module reads it and derives everything else from it: the pip constraints
nox installs with, ``environment.yml`` and the expectations of ``ctao-sat doctor``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import metadata, resources
from pathlib import Path

__all__ = [
    "Pin",
    "canonical_name",
    "compare_installed",
    "constraints_txt",
    "environment_yml",
    "extra_pins",
    "installed_version",
    "load_pins",
    "optional_extras",
    "release",
    "release_version",
]

PINS_FILE = "pins.toml"


@dataclass(frozen=True)
class Pin:
    """One exactly pinned distribution of the release.

    Attributes
    ----------
    name : str
        Distribution name on PyPI (canonical form).
    version : str
        Exact version of the release.
    component : bool
        True for a SAT stack component (has a smoke check in ``sat.doctor``),
        False for a run-time dependency.
    conda : str
        Package name on conda-forge.
    import_name : str or None
        Top-level module, for components.
    summary : str
        What the component does in the stack.
    marker : str or None
        An environment marker (PEP 508) limiting where the pin applies, e.g.
        ``python_version < "3.12"`` for a backport that newer Pythons do not need.
    """

    name: str
    version: str
    component: bool
    conda: str
    import_name: str | None = None
    summary: str = ""
    marker: str | None = None

    @property
    def requirement(self) -> str:
        """The pip requirement string, e.g. ``gammapy==2.1``."""
        suffix = f"; {self.marker}" if self.marker else ""
        return f"{self.name}=={self.version}{suffix}"

    def applies(self) -> bool:
        """Return True when the pin applies to this interpreter (its marker holds)."""
        if not self.marker:
            return True
        from packaging.markers import Marker

        return Marker(self.marker).evaluate()


def canonical_name(name: str) -> str:
    """Normalise a distribution name as PEP 503 does (``Foo_Bar`` -> ``foo-bar``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def _manifest(path: Path | None = None) -> dict:
    # `path` reads another copy of the pin file (e.g. a modified one in a test).
    if path is None:
        text = resources.files("sat").joinpath(PINS_FILE).read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return tomllib.loads(text)


def release(path: Path | None = None) -> dict:
    """Return the ``[release]`` table of the manifest (version, Python range).

    Parameters
    ----------
    path : Path, optional
        A pin file to read instead of the installed ``sat/pins.toml``.
    """
    return dict(_manifest(path)["release"])


def release_version() -> str:
    """Return the CalVer version of this release, e.g. ``2026.12.0``."""
    return _manifest()["release"]["version"]


@cache
def load_pins(path: Path | None = None) -> tuple[Pin, ...]:
    """Return every pin of the release: components first, then dependencies.

    Parameters
    ----------
    path : Path, optional
        A pin file to read instead of the installed ``sat/pins.toml``.
    """
    manifest = _manifest(path)
    conda_names = manifest.get("conda-names", {})
    pins = [
        Pin(
            name=canonical_name(name),
            version=entry["version"],
            component=True,
            conda=entry.get("conda", name),
            import_name=entry.get("import", name.replace("-", "_")),
            summary=entry.get("summary", ""),
        )
        for name, entry in manifest["components"].items()
    ]
    pins += [
        Pin(
            name=canonical_name(name),
            version=version,
            component=False,
            conda=conda_names.get(name, name),
        )
        for name, version in manifest["dependencies"].items()
    ]
    return tuple(pins)


def optional_extras(path: Path | None = None) -> tuple[str, ...]:
    """Return the names of the optional extras that the pin file pins."""
    return tuple(_manifest(path).get("extras", {}))


def extra_pins(extra: str, path: Path | None = None) -> tuple[Pin, ...]:
    """Return the exact pins of optional extra ``extra`` (e.g. ``"ray"``).

    They are not part of `load_pins` (the base release that ``ctao-sat doctor``,
    ``environment.yml`` and the conda recipe describe).

    Parameters
    ----------
    extra : str
        The extra's name, a table ``[extras.NAME]`` of the pin file.
    path : Path, optional
        A pin file to read instead of the installed ``sat/pins.toml``.

    Raises
    ------
    KeyError
        No such extra.
    """
    manifest = _manifest(path)
    conda_names = manifest.get("conda-names", {})
    pins = []
    for name, entry in manifest["extras"][extra].items():
        # "1.0", or {version = "1.0", marker = 'python_version < "3.12"'}
        entry = entry if isinstance(entry, dict) else {"version": entry}
        pins.append(
            Pin(
                name=canonical_name(name),
                version=entry["version"],
                component=False,
                conda=conda_names.get(name, name),
                marker=entry.get("marker"),
            )
        )
    return tuple(pins)


def constraints_txt(extras: tuple[str, ...] = ()) -> str:
    """Render the pins as a pip/uv constraints file.

    Parameters
    ----------
    extras : tuple of str
        Optional extras whose pins to add (the container carries them all).
    """
    pins = [*load_pins(), *(pin for extra in extras for pin in extra_pins(extra))]
    lines = [f"# Generated from sat/{PINS_FILE} by sat.stack: do not edit."]
    # Extras may pin the same distribution (at the same version): once is enough.
    lines += sorted({pin.requirement for pin in pins})
    return "\n".join(lines) + "\n"


def environment_yml() -> str:
    """Render the release's conda environment (conda-forge names, exact pins)."""
    python = release()["python_default"]
    lines = [
        f"# Generated from sat/{PINS_FILE} by sat.stack: do not edit.",
        "# Regenerate with: nox -s pins",
        f"name: ctao-sat-{release_version()}",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        f"  - python ={python}",
    ]
    lines += [
        f"  - {pin.conda} =={pin.version}"
        for pin in sorted(load_pins(), key=lambda p: p.conda)
    ]
    # `sat` itself from this checkout (the conda package ctao-sat carries it too).
    lines += ["  - pip", "  - pip:", "      - -e ."]
    return "\n".join(lines) + "\n"


def installed_version(name: str) -> str | None:
    """Return the installed version of distribution ``name``, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def compare_installed() -> list[tuple[Pin, str | None]]:
    """Pair every pin with the version installed in this environment."""
    return [(pin, installed_version(pin.name)) for pin in load_pins()]
