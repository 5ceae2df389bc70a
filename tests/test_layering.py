"""The layers of `sat`, checked on every module's imports (its source, not a run).

From the bottom: the ground floor (errors, the config base, the typed result), the
DL3 store, then the science (reduction, simulation, quality, quicklook, ...), the
use cases, and on top the interfaces (the command line, the Python API). Imports
point down only. `satdev`, the release tooling at the repository root, is never
installed: `sat` cannot import it. Imports inside functions count too (a lazy
import is still a dependency), and so does ``importlib.import_module`` of a literal
name or of an f-string's literal start.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sat

pytestmark = pytest.mark.verifies_requirement("C-SAT-0321")

PACKAGE = Path(sat.__file__).parent

GROUND = ("sat.errors", "sat.config", "sat.result")
DL3 = "sat.dl3"
USECASES = "sat.usecases"
CLI = "sat.cli"
# Above the use cases: what a scientist calls (the command line, the Python API).
TOP = (CLI, "sat.api")


def _within(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def _dynamic(node: ast.Call) -> str | None:
    """The module an ``import_module``/``__import__`` call names, when literal."""
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if called not in ("import_module", "__import__") or not node.args:
        return None
    first = node.args[0]
    if isinstance(first, ast.JoinedStr) and first.values:
        first = first.values[0]  # f"sat.usecases.{name}": its literal start
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value.rstrip(".") or None
    return None


def imports(source: str, name: str, package: str) -> set[str]:
    """Every module `source` (module `name` of `package`) imports, absolute.

    ``from a import b`` yields ``a`` and ``a.b`` (b may be a module); `scan`
    reduces the names to the modules that exist.
    """
    found = set()
    for node in ast.walk(ast.parse(source, filename=name)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.add(target)
            found |= {f"{target}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Call) and (target := _dynamic(node)):
            found.add(target)
    return found


def scan(root: Path) -> dict[str, set[str]]:
    """``{module: modules it imports}`` for every module of the package at ``root``.

    A name inside the package is reduced to the longest module it starts with
    (``sat.errors.ConfigError`` -> ``sat.errors``); names outside stay as written.
    """

    def module_name(path: Path) -> str:
        parts = path.relative_to(root.parent).with_suffix("").parts
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    raw = {}
    for path in sorted(root.rglob("*.py")):
        name = module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        raw[name] = imports(path.read_text(encoding="utf-8"), name, package)

    def module(target: str) -> str:
        parts = target.split(".")
        for end in range(len(parts), 0, -1):
            if ".".join(parts[:end]) in raw:
                return ".".join(parts[:end])
        return target

    return {name: {module(t) for t in targets} for name, targets in raw.items()}


def violations(modules: dict[str, set[str]]) -> list[str]:
    """Every import that breaks a never-rule, as ``rule: importer imports target``."""

    def ours(target: str) -> bool:
        return _within(target, "sat") and target != "sat"

    rules = {
        "sat never imports satdev": (
            lambda m: True,
            lambda t: _within(t, "satdev"),
        ),
        "the science never imports the command line": (
            lambda m: not _within(m, CLI),
            lambda t: _within(t, CLI),
        ),
        "below the use cases never imports them": (
            lambda m: not _within(m, USECASES, *TOP),
            lambda t: _within(t, USECASES),
        ),
        "the ground floor imports only the ground floor": (
            lambda m: _within(m, *GROUND),
            lambda t: ours(t) and not _within(t, *GROUND),
        ),
        "the DL3 store imports only itself and the ground floor": (
            lambda m: _within(m, DL3),
            lambda t: ours(t) and not _within(t, DL3, *GROUND),
        ),
    }
    return sorted(
        f"{rule}: {module} imports {target}"
        for rule, (importer, imported) in rules.items()
        for module, targets in modules.items()
        if importer(module)
        for target in targets
        if imported(target)
    )


MODULES = scan(PACKAGE)


def test_the_imports_are_found():
    """The scan sees what is there: a check that finds nothing proves nothing."""
    assert len(MODULES) > 50
    assert {"sat.dl3", "sat.config", "sat.result", "sat.usecases.runner"} <= set(
        MODULES
    )
    assert "sat.usecases.base" in MODULES["sat.usecases.spectrum_1d"]
    assert "sat.usecases.runner" in MODULES["sat.cli.run"]
    assert "sat.errors" in MODULES["sat.config"]
    # The registry's import_module(f"sat.usecases.{name}") is seen.
    assert "sat.usecases" in MODULES["sat.usecases.registry"]


def test_sat_keeps_its_layers():
    assert violations(MODULES) == []


def test_a_synthetic_package_breaking_each_rule_is_caught(tmp_path):
    """Each never-rule, broken once in a package laid out like `sat`, is named.

    The breaches are written the ways a real one would be: relative, lazy, from a
    package, through importlib; the allowed imports beside them are not reported.
    """
    modules = {
        "__init__.py": "from sat.errors import SatError\n",
        "errors.py": "class SatError(Exception):\n    pass\n",
        "config.py": "from sat import dl3\n",  # ground -> DL3
        "result.py": "from sat.errors import SatError\n",  # allowed
        "dl3/__init__.py": "",
        "dl3/store.py": "def f():\n    from ..usecases import runner\n",
        "dl3/index.py": "from sat.reduction import reduce\n",  # DL3 -> science
        "reduction.py": "from sat.cli.main import main\nfrom sat.dl3 import store\n",
        "quality.py": (
            "import importlib\n"
            "def f(name):\n"
            "    return importlib.import_module(f'satdev.{name}')\n"
        ),
        "usecases/__init__.py": "",
        "usecases/runner.py": "from sat.dl3 import store\nfrom sat import result\n",
        "cli/__init__.py": "",
        "cli/main.py": "from sat.usecases import runner\n",  # the top: allowed
        "api.py": "from sat.usecases.runner import run\n",  # the top: allowed
    }
    for relative, source in modules.items():
        path = tmp_path / "sat" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    assert violations(scan(tmp_path / "sat")) == [
        "below the use cases never imports them: sat.dl3.store imports sat.usecases",
        "below the use cases never imports them: "
        "sat.dl3.store imports sat.usecases.runner",
        "sat never imports satdev: sat.quality imports satdev",
        "the DL3 store imports only itself and the ground floor: "
        "sat.dl3.index imports sat.reduction",
        "the DL3 store imports only itself and the ground floor: "
        "sat.dl3.store imports sat.usecases",
        "the DL3 store imports only itself and the ground floor: "
        "sat.dl3.store imports sat.usecases.runner",
        "the ground floor imports only the ground floor: sat.config imports sat.dl3",
        "the science never imports the command line: "
        "sat.reduction imports sat.cli.main",
    ]
