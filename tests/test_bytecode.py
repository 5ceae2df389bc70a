"""No SyntaxWarning of the stack reaches a user's first run: bytecode is compiled.

Gammapy 2.1 has invalid escape sequences in three docstrings: Python warns about
them (six lines on the terminal) whenever it compiles the module, i.e. on the
first import when the installer did not compile the bytecode. pip compiles by
default, uv only when asked (the noxfile sets ``UV_COMPILE_BYTECODE``), conda
and the container image compile at build. This test checks the environment it
runs in (a nox environment, installed as the pip route installs): every module
of every pinned component has up-to-date bytecode, and importing Gammapy's
modules with SyntaxWarnings as errors works.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from sat.stack import load_pins

pytestmark = pytest.mark.verifies_requirement("C-SAT-0304")

# Modules of Gammapy 2.1 with invalid escape sequences (the warnings users saw).
WARNING_MODULES = ["gammapy.modeling.models.spectral"]


def stale_bytecode(distribution: str) -> list[str]:
    """Return the modules of ``distribution`` without up-to-date bytecode."""
    stale = []
    for file in importlib.metadata.files(distribution) or []:
        if file.suffix != ".py" or "__pycache__" in file.parts:
            continue
        source = Path(file.locate())
        if not source.is_file():
            continue
        cached = Path(importlib.util.cache_from_source(str(source)))
        if not cached.is_file():
            stale.append(str(file))
            continue
        header = cached.read_bytes()[:16]
        flags, mtime, size = struct.unpack("<III", header[4:16])
        if flags & 0b1:  # hash-based: valid by construction of the installer
            continue
        stat = source.stat()
        if (mtime, size) != (
            int(stat.st_mtime) & 0xFFFFFFFF,
            stat.st_size & 0xFFFFFFFF,
        ):
            stale.append(str(file))
    return stale


def test_every_pinned_component_is_compiled():
    pins = [pin for pin in load_pins() if pin.component]
    assert any(pin.name == "gammapy" for pin in pins)
    for pin in pins:
        stale = stale_bytecode(pin.name)
        assert not stale, f"{pin.name}: no bytecode for {stale[:3]} ({len(stale)})"


def test_a_first_import_warns_of_nothing():
    code = "; ".join(f"import {name}" for name in WARNING_MODULES)
    done = subprocess.run(
        [sys.executable, "-W", "error::SyntaxWarning", "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert "SyntaxWarning" not in done.stderr


def test_the_check_sees_a_module_without_bytecode(tmp_path, monkeypatch):
    # What a route that does not compile leaves: the module's cache is missing.
    spec = importlib.util.find_spec(WARNING_MODULES[0])
    cached = Path(spec.cached)
    moved = tmp_path / cached.name
    cached.rename(moved)
    try:
        assert any("spectral.py" in path for path in stale_bytecode("gammapy"))
        code = f"import {WARNING_MODULES[0]}"
        done = subprocess.run(
            [sys.executable, "-W", "always::SyntaxWarning", "-c", code],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        assert "SyntaxWarning" in done.stderr  # what users saw
    finally:
        moved.rename(cached)
