"""Solve ``ctao-sat`` from channels, lock it, install it, and test the prefix.

Uses py-rattler (the library behind pixi and rattler-build): `solve` resolves the
release against the channels' real dependency metadata, `write_lock` records the
solution as a lock file, `install_prefix` links it into a fresh prefix, and
`run_recipe_tests` runs the recipe's own tests (imports, ``pip check``, the script
lines) with that prefix's ``bin`` first on PATH.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from pathlib import Path

from recipe import CondaError

__all__ = [
    "install_prefix",
    "prefix_env",
    "run_in_prefix",
    "run_recipe_tests",
    "solve",
    "write_lock",
]


def _url(channel: str | Path) -> str:
    """Return a channel name/URL as given, or a local folder as a file:// URL."""
    if isinstance(channel, Path) or os.path.isabs(str(channel)):
        return Path(channel).resolve().as_uri()
    return str(channel)


def solve(channels: list, specs: list[str], platform: str | None = None) -> list:
    """Solve ``specs`` from ``channels`` for this machine (virtual packages detected).

    Parameters
    ----------
    channels : list of str or Path
        Channels in priority order (local folders or names/URLs).
    specs : list of str
        Match specs, e.g. ``["ctao-sat ==2026.12.0", "python 3.12.*"]``.
    platform : str, optional
        Conda subdir; default this machine's.

    Returns
    -------
    list of rattler.RepoDataRecord
        The solved packages.

    Raises
    ------
    CondaError
        If it cannot be solved: the message is the solver's explanation, which
        names the conflicting packages.
    """
    from rattler import Subdir, VirtualPackage
    from rattler import solve as rattler_solve
    from rattler.exceptions import SolverError

    platform = platform or str(Subdir.current())
    sources = [_url(c) for c in channels]
    try:
        return asyncio.run(
            rattler_solve(
                sources=sources,
                specs=specs,
                platforms=[platform, "noarch"],
                virtual_packages=VirtualPackage.detect(),
            )
        )
    except SolverError as error:
        raise CondaError(
            f"cannot solve {', '.join(specs)} from {', '.join(sources)}:\n{error}"
        ) from error


def write_lock(records: list, channels: list, path: Path) -> Path:
    """Write the solved environment as a lock file (rattler's / pixi's format)."""
    from rattler import LockChannel, LockFile, LockPlatform, Subdir

    subdir = next((r.subdir for r in records if r.subdir != "noarch"), None)
    platform = LockPlatform(subdir or str(Subdir.current()))
    lock = LockFile([platform])
    lock.set_channels("default", [LockChannel(_url(c)) for c in channels])
    for record in records:
        lock.add_conda_package("default", platform, record)
    lock.to_path(path)
    return path


def install_prefix(records: list, prefix: Path) -> Path:
    """Install ``records`` into a fresh ``prefix`` (any old one is removed)."""
    from rattler import install

    if prefix.exists():
        shutil.rmtree(prefix)
    asyncio.run(install(records, target_prefix=prefix, show_progress=False))
    return prefix


def prefix_env(prefix: Path) -> dict[str, str]:
    """Environment variables that make ``prefix`` the active environment."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CONDA_PREFIX")
    }
    env["PATH"] = f"{prefix / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["CONDA_PREFIX"] = str(prefix)
    env.setdefault("MPLBACKEND", "Agg")
    return env


def run_in_prefix(prefix: Path, command: str, log=print) -> None:
    """Run one shell ``command`` with ``prefix`` active; raise if it fails."""
    log(f"  $ {command}")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        env=prefix_env(prefix),
        capture_output=True,
        text=True,
        check=False,
    )
    for line in (result.stdout + result.stderr).splitlines():
        log(f"    {line}")
    if result.returncode != 0:
        raise CondaError(f"in {prefix}: `{command}` exited {result.returncode}")


def _substitute(text: str, context: dict) -> str:
    """Fill ``${{ name }}`` from the recipe context (script lines stay templates)."""

    def value(match: re.Match) -> str:
        if match["name"] not in context:
            raise CondaError(f"recipe test line {text!r}: {match['name']} undefined")
        return str(context[match["name"]])

    return re.sub(r"\$\{\{\s*(?P<name>\w+)\s*\}\}", value, text)


def recipe_test_commands(outputs: dict[str, dict]) -> list[tuple[str, str]]:
    """Return the recipe's tests as ``(package, shell command)`` pairs.

    Parameters
    ----------
    outputs : dict
        ``{package name: rendered recipe dict}`` (`recipe.generate.rendered_outputs`).
    """
    commands = []
    for name, rendered in outputs.items():
        context = rendered.get("context", {})
        for test in rendered.get("tests", []):
            if "python" in test:
                python = test["python"]
                imports = "; ".join(f"import {m}" for m in python.get("imports", []))
                if imports:
                    commands.append((name, f'python -c "{imports}"'))
                if python.get("pip_check", True):
                    commands.append((name, "python -m pip check"))
            for line in test.get("script", []):
                commands.append((name, _substitute(line, context)))
    return commands


def run_recipe_tests(
    prefix: Path, outputs: dict[str, dict], skip: tuple[str, ...] = (), log=print
) -> int:
    """Run every recipe test in ``prefix`` (commands in ``skip`` already ran).

    Returns
    -------
    int
        The number of commands run.
    """
    seen, count = set(skip), 0
    for name, command in recipe_test_commands(outputs):
        if command in seen:
            continue
        seen.add(command)
        log(f"  [{name}]")
        run_in_prefix(prefix, command, log)
        count += 1
    return count
