"""The recipe's pinned values come from the pin file, and everything must agree.

``recipe/recipe.yaml`` is a hand-written v1 recipe with a few blocks written by
`render_recipe` from ``sat/pins.toml`` (release version, Python range, exact pins)
and ``pyproject.toml`` (the compatible ranges of ``ctao-sat-core``)::

    # BEGIN generated: release-run
    - numpy ==2.4.6
    # END generated: release-run

`check_consistency` compares, name by name and version by version, the pin file
with the recipe as the engine renders it, with ``environment.yml`` and with the
``index.json`` of built packages. Generating needs only the standard library and
`sat.stack` (``nox -s pins`` runs it on the bare host); checking also needs
``packaging`` and the engine (py-rattler-build) to render the recipe.

Run ``python -m recipe.generate`` to rewrite the generated blocks.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

from recipe import CondaError
from sat import stack

__all__ = [
    "RECIPE",
    "check_consistency",
    "generated_blocks",
    "python_min",
    "render_recipe",
    "write_recipe",
]

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipe" / "recipe.yaml"
PYPROJECT = ROOT / "pyproject.toml"
ENVIRONMENT = ROOT / "environment.yml"
CORE, RELEASE = "ctao-sat-core", "ctao-sat"

_BLOCK = re.compile(
    r"^(?P<indent>[ \t]*)# BEGIN generated: (?P<name>[\w-]+)\n"
    r".*?"
    r"^(?P=indent)# END generated: (?P=name)\n",
    re.M | re.S,
)
_REQUIREMENT = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?P<spec>.*)$")


def python_min(pins_file: Path | None = None) -> str:
    """Return the lowest supported Python (``3.11``) of the release's range.

    Parameters
    ----------
    pins_file : Path, optional
        Pin file to read instead of the installed one.
    """
    supported = stack.release(pins_file)["python"]
    lower = re.findall(r">=\s*([\d.]+)", supported)
    if len(lower) != 1:
        raise CondaError(f"release python {supported} needs exactly one '>=' bound")
    return lower[0]


def _core_requirements(pins_file: Path | None, pyproject: Path) -> list[str]:
    """Map pyproject's dependency ranges to conda-forge names."""
    conda = {pin.name: pin.conda for pin in stack.load_pins(pins_file)}
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    lines = []
    for line in project["dependencies"]:
        match = _REQUIREMENT.match(line)
        if match is None or any(c in match["spec"] for c in ";["):
            raise CondaError(
                f"pyproject dependency {line!r}: extras/markers unsupported"
            )
        name = stack.canonical_name(match["name"])
        if name not in conda:
            raise CondaError(
                f"pyproject dependency {name} is not in sat/pins.toml: pin it there"
            )
        spec = match["spec"].replace(" ", "")
        lines.append(f"{conda[name]} {spec}".strip())
    return sorted(lines)


def generated_blocks(
    pins_file: Path | None = None, pyproject: Path = PYPROJECT
) -> dict[str, list[str]]:
    """Return the lines of every generated block of the recipe.

    Parameters
    ----------
    pins_file : Path, optional
        Pin file to read instead of the installed one.
    pyproject : Path
        The ``pyproject.toml`` whose dependency ranges ``ctao-sat-core`` carries.

    Returns
    -------
    dict
        Block name -> YAML lines without indentation.
    """
    release = stack.release(pins_file)
    pins = sorted(stack.load_pins(pins_file), key=lambda pin: pin.conda)
    return {
        "context": [
            f'version: "{release["version"]}"',
            f'python_min: "{python_min(pins_file)}"',
            f'python_default: "{release["python_default"]}"',
        ],
        "core-run": [f"- {line}" for line in _core_requirements(pins_file, pyproject)],
        "release-run": [f"- python {release['python']}"]
        + [f"- {pin.conda} =={pin.version}" for pin in pins],
    }


def render_recipe(
    text: str, pins_file: Path | None = None, pyproject: Path = PYPROJECT
) -> str:
    """Return the recipe text with every generated block rewritten from the pins.

    Parameters
    ----------
    text : str
        The recipe as written (with ``BEGIN``/``END generated`` markers).
    pins_file : Path, optional
        Pin file to read instead of the installed one.
    pyproject : Path
        The ``pyproject.toml`` to take ``ctao-sat-core``'s ranges from.

    Raises
    ------
    CondaError
        If a block is missing from the recipe or unknown to the generator, or a
        pyproject dependency is not pinned.
    """
    blocks = generated_blocks(pins_file, pyproject)
    found = [m["name"] for m in _BLOCK.finditer(text)]
    if sorted(found) != sorted(blocks):
        raise CondaError(
            f"recipe generated blocks {sorted(found)} != expected {sorted(blocks)}"
        )

    def fill(match: re.Match) -> str:
        indent, name = match["indent"], match["name"]
        body = "".join(f"{indent}{line}\n" for line in blocks[name])
        begin, end = f"# BEGIN generated: {name}", f"# END generated: {name}"
        return f"{indent}{begin}\n{body}{indent}{end}\n"

    return _BLOCK.sub(fill, text)


def write_recipe(recipe: Path = RECIPE) -> bool:
    """Rewrite the generated blocks of ``recipe`` in place; True if it changed."""
    text = recipe.read_text(encoding="utf-8")
    rendered = render_recipe(text)
    if rendered != text:
        recipe.write_text(rendered, encoding="utf-8")
    return rendered != text


# --- consistency ---------------------------------------------------------------


def _split(spec: str) -> tuple[str, str]:
    """Split a conda match spec ``name ==1.0 build`` into (name, version spec)."""
    name, _, rest = spec.strip().partition(" ")
    return name, rest.strip().split(" ")[0]


def _exact(version_spec: str) -> str | None:
    return version_spec[2:] if version_spec.startswith("==") else None


def _compare(where: str, found: dict[str, str], expected: dict[str, str]) -> list[str]:
    """List every name missing, unexpected or at another version in ``found``."""
    problems = [
        f"{where}: {name} missing (pins: {expected[name]})"
        for name in sorted(set(expected) - set(found))
    ]
    problems += [
        f"{where}: {name} {found[name]} is not in the pins"
        for name in sorted(set(found) - set(expected))
    ]
    problems += [
        f"{where}: {name} {found[name]} but the pins say {expected[name]}"
        for name in sorted(set(found) & set(expected))
        if found[name] != expected[name]
    ]
    return problems


def _exact_specs(where: str, specs: list[str]) -> tuple[dict[str, str], list[str]]:
    """Read ``name ==version`` specs; anything not exact is a problem."""
    versions, problems = {}, []
    for spec in specs:
        name, version_spec = _split(spec)
        if name in ("python", CORE):
            continue
        if (version := _exact(version_spec)) is None:
            problems.append(f"{where}: {spec!r} is not an exact pin")
        else:
            versions[name] = version
    return versions, problems


def rendered_outputs(recipe: Path = RECIPE) -> dict[str, dict]:
    """Render the recipe with the engine (py-rattler-build): output name -> recipe.

    Parameters
    ----------
    recipe : Path
        The v1 recipe to render.

    Returns
    -------
    dict
        ``{package name: rendered stage-1 recipe as a dict}``.
    """
    from rattler_build import Stage0Recipe

    variants = Stage0Recipe.from_file(recipe).render()
    return {v.recipe.package.name: v.recipe.to_dict() for v in variants}


def environment_pins(environment: Path = ENVIRONMENT) -> dict[str, str]:
    """Read the exact ``name ==version`` entries of an ``environment.yml``."""
    found = {}
    for line in environment.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"\s*-\s+(?P<name>[\w.-]+)\s*==(?P<version>\S+)\s*", line)
        if match:
            found[match["name"]] = match["version"]
    return found


def check_consistency(
    pins_file: Path | None = None,
    recipe: Path = RECIPE,
    environment: Path = ENVIRONMENT,
    index_jsons: dict[str, dict] | None = None,
    pyproject: Path = PYPROJECT,
) -> list[str]:
    """Compare the pin file with the recipe, ``environment.yml`` and built packages.

    Parameters
    ----------
    pins_file : Path, optional
        The pin file (default: the installed ``sat/pins.toml``).
    recipe : Path
        The v1 recipe; its text must equal the one generated from the pins, and
        the engine's rendering of it must carry the pins.
    environment : Path
        The ``environment.yml`` to check.
    index_jsons : dict, optional
        ``{label: index.json}`` of built ``ctao-sat`` / ``ctao-sat-core`` packages.
    pyproject : Path
        The ``pyproject.toml`` whose ranges ``ctao-sat-core`` must carry.

    Returns
    -------
    list of str
        One line per disagreement (name, where, which versions); empty if none.
    """
    release = stack.release(pins_file)
    pins = stack.load_pins(pins_file)
    expected = {pin.conda: pin.version for pin in pins}
    problems = []

    text = recipe.read_text(encoding="utf-8")
    if render_recipe(text, pins_file, pyproject) != text:
        problems.append(
            f"{recipe}: generated blocks differ from the pins "
            "(run: nox -s pins, or python -m recipe.generate)"
        )

    outputs = rendered_outputs(recipe)
    meta = outputs.get(RELEASE)
    core = outputs.get(CORE)
    if meta is None or core is None:
        return [*problems, f"{recipe}: outputs {sorted(outputs)} lack {CORE}/{RELEASE}"]
    where = f"{recipe} ({RELEASE} run)"
    run = [r for r in meta["requirements"]["run"] if isinstance(r, str)]
    found, bad = _exact_specs(where, run)
    problems += bad + _compare(where, found, expected)
    if meta["package"]["version"] != release["version"]:
        problems.append(f"{where}: version {meta['package']['version']} != release")
    python = dict(_split(r) for r in run).get("python")
    if python != release["python"]:
        problems.append(
            f"{where}: python {python} but the pins say {release['python']}"
        )

    # ctao-sat-core carries ranges: every range must admit the pin.
    where = f"{recipe} ({CORE} run)"
    for spec in core["requirements"]["run"]:
        name, version_spec = _split(spec)
        if name == "python":
            if version_spec != f">={python_min(pins_file)}":
                problems.append(f"{where}: python {version_spec} != >=python_min")
        elif name not in expected:
            problems.append(f"{where}: {name} is not in the pins")
        elif not _admits(version_spec, expected[name]):
            problems.append(f"{where}: {spec} excludes the pin {expected[name]}")

    problems += _compare(str(environment), environment_pins(environment), expected)

    for label, index in (index_jsons or {}).items():
        if index.get("version") != release["version"]:
            problems.append(f"{label}: version {index.get('version')} != release")
        if index.get("name") == RELEASE:
            found, bad = _exact_specs(label, index.get("depends", []))
            problems += bad + _compare(label, found, expected)
    return problems


def _admits(version_spec: str, version: str) -> bool:
    """Whether a conda version range (``>=8.0,<9``) admits ``version``."""
    from packaging.specifiers import SpecifierSet

    if not version_spec:
        return True
    return SpecifierSet(version_spec).contains(version, prereleases=True)


def main() -> int:
    """Rewrite the recipe's generated blocks; print whether it changed."""
    changed = write_recipe()
    print(f"{RECIPE.relative_to(ROOT)}: {'regenerated' if changed else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
