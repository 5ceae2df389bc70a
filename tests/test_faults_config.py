"""Fault injection: bad configs and bad command lines are one line, never a traceback.

Each case is a config file or a command line a user could really write; the
command must stop before any work with exit 1 (our error) or 2 (click's usage
error), one ``Error:`` line naming what is wrong, and write nothing.
"""

from __future__ import annotations

import pytest

from tests.faultkit import assert_one_line, cli, tree

pytestmark = [
    pytest.mark.verifies_requirement("C-SAT-0280"),
    pytest.mark.verifies_requirement("C-SAT-0281"),
]

# (id, use case, YAML text, what the line must say). The keys used exist in every
# release of these configs: the cases test the reading, not the schema.
BAD_CONFIGS = [
    ("duplicate-key", "joint-crab", "instruments: [hess]\ninstruments: [magic]\n",
     ["key 'instruments' given twice (first on line 1)", "line 2"]),
    ("duplicate-nested-key", "joint-crab",
     "instruments: [hess]\nreference_energy_tev: 1.0\nreference_energy_tev: 2\n",
     ["key 'reference_energy_tev' given twice"]),
    ("duplicate-in-mapping", "spectrum-1d",
     "target: Crab\nspectral_models: [power-law]\ntarget: MSH 15-52\n",
     ["key 'target' given twice"]),
    ("empty-file", "joint-crab", "", ["is empty", "leave out the config"]),
    ("only-comments", "joint-crab", "# instruments: [hess]\n\n", ["is empty"]),
    ("a-list", "joint-crab", "- instruments\n- hess\n", ["must be a mapping"]),
    ("a-scalar", "joint-crab", "hess\n", ["must be a mapping"]),
    ("unclosed-bracket", "joint-crab", "instruments: [hess, magic\n",
     ["is not valid YAML"]),
    ("bad-indentation", "joint-crab", "instruments:\n  - hess\n - magic\n",
     ["is not valid YAML"]),
    ("tab-indentation", "joint-crab", "instruments:\n\t- hess\n",
     ["is not valid YAML"]),
    ("unknown-key", "joint-crab", "instrumentz: [hess]\n",
     ["unknown key 'instrumentz'", "allowed: instruments"]),
    ("another-use-case's-keys", "joint-crab", "target: Crab\n",
     ["unknown key 'target'"]),
    ("wrong-type", "joint-crab", "instruments: 3\n",
     ["key 'instruments'", "valid list"]),
    ("wrong-item-type", "joint-crab", "instruments: [[hess]]\n",
     ["key 'instruments.0'"]),
    ("empty-model-list", "spectrum-1d", "spectral_models: []\n",
     ["key 'spectral_models'"]),
    ("same-model-twice", "spectrum-1d",
     "spectral_models: [power-law, power-law]\n", ["each spectral model at most"]),
    ("unknown-model", "spectrum-1d", "spectral_models: [broken-law]\n",
     ["key 'spectral_models.0'"]),
    ("unhashable-key", "joint-crab", "? [a, b]\n: 1\n", ["unhashable key"]),
    ("python-object-tag", "joint-crab", "a: !!python/object:os.system {}\n",
     ["could not determine a constructor"]),
    ("anchor-to-nowhere", "joint-crab", "instruments: *nowhere\n",
     ["is not valid YAML"]),
]  # fmt: skip


@pytest.mark.parametrize(
    "usecase, text, needles",
    [case[1:] for case in BAD_CONFIGS],
    ids=[case[0] for case in BAD_CONFIGS],
)
def test_bad_config_is_one_line(tmp_path, usecase, text, needles):
    config = tmp_path / "config.yaml"
    config.write_text(text)
    output = tmp_path / "out"
    outcome = cli("run", usecase, "--config", config, "--output", output)
    assert_one_line(outcome, 1, f"config {config}", *needles)
    assert tree(tmp_path) == {"config.yaml": text.encode()}


def test_binary_config_is_one_line(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_bytes(bytes(range(256)) * 4)
    outcome = cli("run", "joint-crab", "--config", config, "--print-config")
    assert_one_line(outcome, 1, "is not a text file (UTF-8)")


def test_missing_config_is_one_line(tmp_path):
    outcome = cli("run", "joint-crab", "--config", tmp_path / "nope.yaml")
    assert_one_line(outcome, 1, "cannot read config", "No such file or directory")
    assert tree(tmp_path) == {}


def test_duplicate_key_in_a_datavolume_scenario(tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text("years: 2\nyears: 3\n")
    outcome = cli("datavolume", "--scenario", scenario, "--output", tmp_path / "o")
    assert_one_line(outcome, 1, "key 'years' given twice")
    assert not (tmp_path / "o").exists()


def assert_usage_error(outcome, *needles) -> None:
    """Click's usage error: exit 2, its usage hint, one ``Error:`` line."""
    text = outcome.stdout + outcome.stderr
    assert outcome.exception is None, repr(outcome.exception)
    assert "Traceback" not in text
    assert outcome.code == 2, text
    assert len(outcome.errors) == 1, text
    for needle in needles:
        assert needle in outcome.errors[0], (needle, text)


BAD_COMMAND_LINES = [
    ("no-use-case", ["run"], ["give a USECASE"]),
    ("unknown-backend", ["run", "survey", "--backend", "mpi"], ["'mpi' is not one"]),
    ("zero-jobs", ["run", "survey", "--n-jobs", "0"], ["--n-jobs"]),
    ("overwrite-failed-alone", ["run", "joint-crab", "--overwrite-failed"],
     ["--overwrite-failed goes with --overwrite"]),
    ("quicklook-overwrite-failed-alone", ["quicklook", ".", "--overwrite-failed"],
     ["--overwrite-failed goes with --overwrite"]),
    ("check-overwrite-failed-alone", ["check", ".", "--overwrite-failed"],
     ["--overwrite-failed goes with --overwrite"]),
    ("datavolume-overwrite-failed-alone", ["datavolume", "--overwrite-failed"],
     ["--overwrite-failed goes with --overwrite"]),
    ("config-is-a-folder", ["run", "joint-crab", "--config", "."], ["is a directory"]),
    ("quicklook-without-paths", ["quicklook"], ["Missing argument"]),
    ("check-without-paths", ["check"], ["Missing argument"]),
    ("quicklook-bad-background", ["quicklook", ".", "--background", "sky"],
     ["'sky' is not one of"]),
    ("unknown-command", ["frobnicate"], ["No such command"]),
]  # fmt: skip


@pytest.mark.parametrize(
    "args, needles",
    [case[1:] for case in BAD_COMMAND_LINES],
    ids=[case[0] for case in BAD_COMMAND_LINES],
)
def test_bad_command_line_is_click_usage_error(tmp_path, monkeypatch, args, needles):
    monkeypatch.chdir(tmp_path)
    assert_usage_error(cli(*args), *needles)
    assert tree(tmp_path) == {}


def test_unknown_use_case_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outcome = cli("run", "spectrum-2d")
    assert_one_line(outcome, 1, "unknown use case 'spectrum-2d'", "spectrum-1d")
    assert tree(tmp_path) == {}


def test_options_for_a_use_case_without_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outcome = cli("run", "joint-crab", "--backend", "multiprocessing")
    assert_usage_error(outcome, "does not loop over observations")
    assert tree(tmp_path) == {}
