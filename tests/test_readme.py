"""The README stays true: its quick starts run as written, its command table is whole.

The maintainers' quick start is two commands, and CI runs exactly its test
command. The scientists' quick start runs as a scientist would type it, in an
empty folder and home: the data downloaded (from the shared data as a mirror:
nothing reaches the network), an analysis run and its products listed, the
config printed and run, and the Python block executed. Only its install block
is not run here (it installs from PyPI; the nox sessions install the same way).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from sat.cli.main import main
from tests.conftest import REPO

pytestmark = pytest.mark.verifies_requirement("C-SAT-0010")

README = (REPO / "README.md").read_text()


def section(title: str) -> str:
    """Return the text of the README section ``## title``."""
    return re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)[
        1
    ]


def blocks(text: str, language: str) -> list[str]:
    """Return the ``language`` code blocks of ``text``."""
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def quick_start():
    block = blocks(section("Quick start for maintainers"), "bash")[0]
    return [line.split("#")[0].strip() for line in block.strip().splitlines()]


def test_quick_start_is_two_commands():
    assert quick_start() == [
        "python3 -m pip install nox uv && nox -s release",
        "nox -s lint tests",
    ]


def test_ci_runs_the_readme_test_command():
    test_command = quick_start()[1]
    ci_lines = [line.strip() for line in (REPO / ".ci/run").read_text().splitlines()]
    assert test_command in ci_lines


def test_scientists_come_first():
    headings = re.findall(r"^## (.*)$", README, re.M)
    assert headings[:2] == ["Quick start for scientists", "Quick start for maintainers"]


def _commands(group: click.Group, prefix: str) -> list[str]:
    context = click.Context(group)
    found = []
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if isinstance(command, click.Group):
            found += _commands(command, f"{prefix} {name}")
        else:
            found.append(f"{prefix} {name}")
    return found


@pytest.mark.verifies_requirement("C-SAT-0300")
def test_every_command_is_in_the_command_table():
    rows = [
        line
        for line in section("Command line").splitlines()
        if line.startswith("| `ctao-sat")
    ]
    listed = {re.match(r"\| `(ctao-sat(?: [a-z][a-z-]*)*)", row)[1] for row in rows}
    missing = [c for c in _commands(main, "ctao-sat") if c not in listed]
    assert not missing, f"not in the README's command table: {missing}"
    assert any(row.startswith("| `ctao-sat --version`") for row in rows)


@pytest.mark.verifies_requirement("C-SAT-0300")
def test_the_scientists_quick_start_runs_as_written(tmp_path, gammapy_data):
    text = section("Quick start for scientists")
    install, *shell = blocks(text, "bash")
    assert "pip install -c build/constraints.txt ." in install
    assert "ctao-sat doctor" in install
    (python,) = blocks(text, "python")
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        # The README's export points GAMMAPY_DATA into the empty home: the
        # download fills it, from the shared data as a mirror (no network).
        "CTAO_SAT_DATA_MIRROR": gammapy_data.absolute().as_uri(),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MPLBACKEND": "Agg",
    }
    env.pop("GAMMAPY_DATA")
    script = "set -euo pipefail\nctao-sat doctor\n" + "\n".join(shell)
    done = subprocess.run(
        ["bash", "-c", script], cwd=home, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    listed = done.stdout
    for name in ("spectrum.png", "runs.png", "flux_points.ecsv", "result.json"):
        assert name in listed
    assert (home / "gammapy-data" / "hess-dl3-dr1" / "obs-index.fits.gz").is_file()
    assert (home / "results" / "pks" / "result.json").is_file()
    assert "target: PKS 2155-304" in (home / "pks.yaml").read_text()
    # The Python block, as a notebook cell runs it, on the data just downloaded.
    env["GAMMAPY_DATA"] = str(home / "gammapy-data")
    cell = python + "\nassert flux_points.sqrt_ts.data.max() > 5\n"
    before = _visible(home)
    done = subprocess.run(
        [sys.executable, "-c", cell], cwd=home, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "4 runs" in done.stdout
    assert _visible(home) == before  # the Python run wrote nothing
    assert sorted({path.parts[0] for path in before}) == [
        "crab.yaml",
        "gammapy-data",
        "pks.yaml",
        "results",
    ]


def _visible(folder: Path) -> list[Path]:
    # What a user sees in ``folder``; the tools' caches and settings in the
    # home's dot-folders (matplotlib's font list, IPython's profile) aside.
    return sorted(
        path.relative_to(folder)
        for path in folder.rglob("*")
        if not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )
