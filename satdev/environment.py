"""The exact environment a verification ran in: interpreter, platform, versions."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata

from sat.stack import canonical_name, compare_installed, release_version

__all__ = ["describe_environment", "tool_version"]

# Tools whose version belongs in the report (each may be absent).
TOOLS = ("ruff", "uv", "nox", "chromium", "podman", "towncrier")


def tool_version(tool: str) -> str | None:
    """Return the first line of ``tool --version``, or None if it is not installed."""
    here = os.path.dirname(sys.executable)
    path = shutil.which(tool, path=here) or shutil.which(tool)
    if path is None:
        return None
    try:
        done = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else None


def describe_environment() -> dict:
    """Describe this environment: release, Python, platform, pins, every package.

    Returns
    -------
    dict
        ``release``, ``python``, ``executable``, ``platform``, ``machine``,
        ``cpus``, ``pins`` (name, pinned, installed), ``distributions``
        (every installed distribution and its version) and ``tools``.
    """
    distributions = {
        canonical_name(dist.metadata["Name"]): dist.version
        for dist in metadata.distributions()
        if dist.metadata["Name"]
    }
    return {
        "release": release_version(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "pins": [
            {"name": pin.name, "pinned": pin.version, "installed": installed}
            for pin, installed in compare_installed()
        ],
        "distributions": dict(sorted(distributions.items())),
        "tools": {tool: tool_version(tool) for tool in TOOLS},
    }
