"""The README's quick start stays true: CI runs exactly its test command."""

import re

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.verifies_requirement("C-SAT-0010")


def quick_start():
    text = (REPO / "README.md").read_text()
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", text, re.S).group(1)
    return [line.split("#")[0].strip() for line in block.strip().splitlines()]


def test_quick_start_is_two_commands():
    assert len(quick_start()) == 2


def test_ci_runs_the_readme_test_command():
    test_command = quick_start()[1]
    ci_lines = [line.strip() for line in (REPO / ".ci/run").read_text().splitlines()]
    assert test_command in ci_lines
