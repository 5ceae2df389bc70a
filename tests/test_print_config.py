"""``--print-config`` documents a use case's config, and what it prints runs unchanged.

For every registered use case (and every documented example): each key of the
printed YAML has a one-line comment in words, an empty list shows an example
entry, a value that is not the default names the default, and the text read
back with ``--config`` is the same config and prints the same text. That the
printed YAML runs unchanged is shown by tests/test_plots.py, whose runs start
from it.
"""

from __future__ import annotations

import re

import pytest
import yaml
from click.testing import CliRunner

from sat.cli.main import main
from sat.config import load_config
from sat.configdoc import commented_yaml, describe_keys
from sat.usecases.registry import usecases

pytestmark = pytest.mark.verifies_requirement("C-SAT-0302")

KEY = re.compile(r"^(\s*)(- )?([\w-]+):(.*?)(?:  # (.*))?$")

EXAMPLES = [
    (name, example)
    for name, case in sorted(usecases().items())
    for example in case.examples
]


def print_config(*args: str) -> str:
    """Return what ``ctao-sat run ARGS --print-config`` prints."""
    result = CliRunner().invoke(main, ["run", *args, "--print-config"])
    assert result.exit_code == 0, result.output
    return result.output


def undocumented(printed: str) -> list[str]:
    """Return the key lines of ``printed`` without a comment in words."""
    problems = []
    lines = printed.splitlines()
    for index, line in enumerate(lines):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        found = KEY.match(line)
        if found is None:
            if not line.lstrip().startswith("- "):  # a list entry's value
                problems.append(f"not a key: {line!r}")
            continue
        value, comment = found[4].strip(), found[5] or ""
        if len(re.findall(r"[A-Za-z]{2,}", comment)) < 2:
            problems.append(f"no comment in words: {line!r}")
        if value == "[]":
            following = lines[index + 1] if index + 1 < len(lines) else ""
            if "for example" not in comment or not following.lstrip().startswith("#"):
                problems.append(f"an empty list without an example: {line!r}")
    return problems


@pytest.mark.parametrize("name", sorted(usecases()))
def test_every_key_is_described(name):
    keys = describe_keys(usecases()[name].Config)
    assert keys and not [key for key, text in keys.items() if not text]


@pytest.mark.parametrize("name", sorted(usecases()))
def test_print_config_documents_and_reads_back(name, tmp_path):
    printed = print_config(name)
    assert printed.startswith(f"# {name} (")
    assert undocumented(printed) == []
    config = usecases()[name].Config
    path = tmp_path / "config.yaml"
    path.write_text(printed)
    assert load_config(config, path) == load_config(config, None)
    assert print_config(name, "--config", str(path)) == printed
    assert "; default: " not in printed  # the defaults: none differs


@pytest.mark.parametrize(("name", "example"), EXAMPLES)
def test_documented_examples_print_and_read_back(name, example, tmp_path):
    case = usecases()[name]
    printed = print_config(name, "--example", example)
    assert f"# example {example}: " in printed
    assert undocumented(printed) == []
    path = tmp_path / "example.yaml"
    path.write_text(printed)
    loaded = load_config(case.Config, path)
    assert loaded == load_config(case.Config, case.examples[example].config)
    assert print_config(name, "--config", str(path)) != printed  # no example line
    assert "; default: " in printed  # the keys it changes say their default


def test_an_unknown_example_is_one_line():
    result = CliRunner().invoke(
        main, ["run", "spectrum-1d", "--print-config", "--example", "vela"]
    )
    assert result.exit_code == 1
    assert "spectrum-1d has no example 'vela'; its examples: " in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_example_needs_print_config():
    result = CliRunner().invoke(main, ["run", "spectrum-1d", "--example", "x"])
    assert (
        result.exit_code == 2 and "--example goes with --print-config" in result.output
    )


def test_the_check_fails_what_it_must():
    # What --print-config printed before: no comment, an empty list without hint.
    bare = yaml.safe_dump({"target": "Crab", "exclusion_regions": []}, sort_keys=False)
    assert len(undocumented(bare)) == 3  # two keys uncommented, a list bare
    config = load_config(usecases()["joint-crab"].Config, {"instruments": ["hess"]})
    changed = commented_yaml(config)
    assert "instruments: [hess]" in changed and "; default: [fermi, magic" in changed
