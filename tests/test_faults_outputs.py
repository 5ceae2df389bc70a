"""Fault injection: output folders are never destroyed by surprise.

The rules of `sat.outputs` (README, "Output folders"), case by case: an existing
folder, a previous result of the same or another use case, files the user put
there, a failed validation, a second command writing the same folder, a command
killed half-way, an output that cannot be written, the user's umask. Most cases
run a probe use case (it writes one product and passes or fails its check as
told) through the real runner and command line: the rules are the runner's, and
the probe makes each case cost milliseconds. One case runs a real use case end to
end, and one a real second process.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Literal

import pytest

from sat.errors import ValidationFailed
from sat.outputs import OutputError, OutputFolder, contents
from sat.result import RESULT
from sat.usecases.base import Outcome, UseCase, UseCaseConfig
from sat.usecases.runner import run_usecase
from sat.validation import Reference, compare
from tests.faultkit import (
    assert_one_line,
    cli,
    damage,
    finish,
    hess_file,
    spawn,
    tree,
)

pytestmark = [
    pytest.mark.verifies_requirement("C-SAT-0280"),
    pytest.mark.verifies_requirement("C-SAT-0282"),
]


class ProbeConfig(UseCaseConfig):
    """What the probe does: its product, its verdict, a failure inside."""

    text: str = "first"
    verdict: Literal["PASS", "FAIL"] = "PASS"
    fail_inside: bool = False


class Probe(UseCase):
    """A use case that writes ``product.txt`` and passes or fails as configured."""

    name = "probe"
    usecase_id = "SUSS-UC-SAT-040"
    summary = "fault-injection probe"
    Config = ProbeConfig

    def run(self, config, context):
        context.product("product.txt").write_text(config.text)
        (context.workdir / "sub").mkdir()
        context.product("sub/more.txt").write_text("more")
        if config.fail_inside:
            from sat.errors import DataError

            raise DataError("the probe failed inside its run")
        value = 1.0 if config.verdict == "PASS" else 10.0
        reference = Reference("x", 1.0, 0.1, "", "probe", 2.0, "probe")
        return Outcome({}, [compare(reference, value, 0.1)], [config.text])


@pytest.fixture(autouse=True)
def probe(monkeypatch):
    """Register the probe next to the real use cases."""
    import sat.usecases.registry as registry

    real = registry.usecases()
    monkeypatch.setattr(registry, "usecases", lambda: {**real, "probe": Probe})


def run(output, *options, text="first", verdict="PASS"):
    """``ctao-sat run probe`` with a config (in a folder of its own), in-process."""
    config = Path(tempfile.mkdtemp(prefix="probe-config-")) / "probe.yaml"
    config.write_text(f"text: {text}\nverdict: {verdict}\n")
    try:
        return cli("run", "probe", "--config", config, "--output", output, *options)
    finally:
        shutil.rmtree(config.parent)


def siblings(output: Path) -> list[str]:
    """What lies next to ``output``."""
    return sorted(p.name for p in output.parent.iterdir())


def product(output: Path) -> str:
    return (output / "product.txt").read_text()


# --- fresh and existing folders -------------------------------------------------------


def test_fresh_folder_is_written_complete(tmp_path):
    output = tmp_path / "a" / "b" / "out"
    outcome = run(output)
    assert outcome.code == 0, outcome.stderr
    assert product(output) == "first"
    written = json.loads((output / RESULT).read_text())
    assert set(written["products"]) == {"product.txt", "sub/more.txt"}
    assert siblings(output) == ["out"]  # no scratch folder, no lock left
    assert siblings(output.parent) == ["b"]


def test_empty_folder_is_used(tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    assert run(output).code == 0
    assert product(output) == "first"


def test_same_result_is_refused_without_overwrite(tmp_path):
    output = tmp_path / "out"
    run(output)
    before = tree(output)
    line = assert_one_line(run(output, text="second"), 1, "already holds a probe")
    assert "pass --overwrite to replace it" in line
    assert tree(output) == before


def test_overwrite_replaces_the_same_use_case(tmp_path):
    output = tmp_path / "out"
    run(output)
    assert run(output, "--overwrite", text="second").code == 0
    assert product(output) == "second"
    assert siblings(output) == ["out"]


def test_foreign_folder_is_refused_even_with_overwrite(tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    (output / "thesis.tex").write_text("years of work")
    for options in ((), ("--overwrite",)):
        line = assert_one_line(run(output, *options), 1, "files that are not a ctao")
        assert "choose another --output" in line
    assert tree(output) == {"thesis.tex": b"years of work"}


def test_a_file_where_the_folder_should_be(tmp_path):
    output = tmp_path / "out"
    output.write_text("not a folder")
    outcome = run(output, "--overwrite")  # click's own check of --output
    assert outcome.code == 2 and "is a file" in outcome.errors[0]
    with pytest.raises(OutputError, match="exists and is not a folder"):
        run_usecase("probe", None, output, overwrite=True)
    assert output.read_text() == "not a folder"


def test_a_file_where_a_parent_folder_should_be(tmp_path):
    (tmp_path / "results").write_text("a file")
    output = tmp_path / "results" / "out"
    assert_one_line(run(output), 1, f"{tmp_path / 'results'} is not a folder")
    assert (tmp_path / "results").read_text() == "a file"


def test_symlink_to_a_folder_is_not_followed(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("keep")
    output = tmp_path / "out"
    output.symlink_to(elsewhere)
    assert_one_line(run(output, "--overwrite"), 1, "exists and is not a folder")
    assert tree(elsewhere) == {"keep.txt": b"keep"}


def test_another_use_case_is_not_replaced(tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    (output / RESULT).write_text(json.dumps({"usecase": "map-3d", "products": []}))
    before = tree(output)
    line = assert_one_line(run(output, "--overwrite"), 1, "holds a map-3d result")
    assert "--overwrite replaces only a previous probe result" in line
    assert tree(output) == before


def test_user_files_among_a_previous_result_are_never_deleted(tmp_path):
    output = tmp_path / "out"
    run(output)
    (output / "notes.txt").write_text("my notes")
    (output / "sub" / "plot-by-hand.png").write_bytes(b"png")
    before = tree(output)
    line = assert_one_line(run(output, "--overwrite"), 1, "notes.txt")
    assert "sub/plot-by-hand.png" in line and "did not write" in line
    assert tree(output) == before


def test_unreadable_result_json_is_not_a_result(tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    (output / RESULT).write_text("{ truncated")
    assert_one_line(run(output, "--overwrite"), 1, "files that are not a ctao-sat")
    assert (output / RESULT).read_text() == "{ truncated"


# --- failures -----------------------------------------------------------------------


def test_failure_inside_a_run_keeps_the_previous_result(tmp_path):
    output = tmp_path / "out"
    run(output)
    before = tree(output)
    config = tmp_path / "config" / "inside.yaml"
    config.parent.mkdir()
    config.write_text("fail_inside: true\n")
    outcome = cli("run", "probe", "--config", config, "--output", output, "--overwrite")
    assert_one_line(outcome, 1, "the probe failed inside its run")
    assert tree(output) == before
    assert siblings(output) == ["config", "out"]


def test_failed_validation_never_replaces_a_result(tmp_path):
    output = tmp_path / "out"
    run(output)
    before = tree(output)
    outcome = run(output, "--overwrite", text="second", verdict="FAIL")
    line = assert_one_line(outcome, 1, "probe: validation failed for x = 10")
    assert f"the previous result in {output} is kept" in line
    assert "--overwrite-failed replaces it" in line
    assert tree(output) == before
    (failed,) = [name for name in siblings(output) if name != "out"]
    assert failed.startswith("out-failed-")
    assert product(tmp_path / failed) == "second"  # nothing computed is lost
    assert f"products in {tmp_path / failed}" in line


def test_overwrite_failed_replaces_when_asked(tmp_path):
    output = tmp_path / "out"
    run(output)
    outcome = run(output, "--overwrite", "--overwrite-failed", verdict="FAIL")
    assert_one_line(outcome, 1, "validation failed", f"products in {output}")
    assert siblings(output) == ["out"]
    assert json.loads((output / RESULT).read_text())["validation"][0]["verdict"] == (
        "FAIL"
    )


def test_failed_validation_into_a_fresh_folder_is_written_there(tmp_path):
    output = tmp_path / "out"
    with pytest.raises(ValidationFailed, match=f"products in {output}"):
        run_usecase("probe", {"verdict": "FAIL"}, output, quiet=True)
    assert product(output) == "first"


def test_check_with_a_fail_never_replaces_a_passing_one(tmp_path, gammapy_data):
    """``check --output``: the same rule, and the new verdicts' folder is named."""
    good = hess_file(gammapy_data, 23523)
    output = tmp_path / "out"
    assert cli("check", good, "--output", output, "-q").code == 0
    before = tree(output)
    missing = tmp_path / "nope.fits"
    outcome = cli("check", good, missing, "--output", output, "--overwrite", "-q")
    assert outcome.code == 1 and outcome.exception is None
    assert "Traceback" not in outcome.stdout + outcome.stderr
    assert tree(output) == before
    (failed,) = [name for name in siblings(output) if name != "out"]
    assert failed.startswith("out-failed-")
    assert (
        f"verdicts in {tmp_path / failed}; the previous result in {output} is kept "
        "(--overwrite-failed replaces it)"
    ) in outcome.stdout
    assert json.loads((tmp_path / failed / RESULT).read_text())["verdict"] == "FAIL"
    options = ("--overwrite", "--overwrite-failed", "-q")
    outcome = cli("check", good, missing, "--output", output, *options)
    assert outcome.code == 1 and "verdicts in" not in outcome.stdout
    assert siblings(output) == sorted([failed, "out"])
    assert json.loads((output / RESULT).read_text())["verdict"] == "FAIL"


def test_quicklook_with_a_failed_run_never_replaces_a_complete_one(
    tmp_path, gammapy_data
):
    good = hess_file(gammapy_data, 23523)
    output = tmp_path / "out"
    assert cli("quicklook", good, "--output", output, "-q").code == 0
    before = tree(output)
    bad = tmp_path / "dl3" / hess_file(gammapy_data, 23526).name
    bad.parent.mkdir()
    damage(bad, "truncated", hess_file(gammapy_data, 23526))
    outcome = cli("quicklook", good, bad, "--output", output, "--overwrite", "-q")
    line = assert_one_line(outcome, 1, "1 of 2 runs failed")
    assert tree(output) == before
    (failed,) = [n for n in siblings(output) if n not in ("dl3", "out")]
    kept = f"are in {tmp_path / failed}; the previous result in {output} is kept"
    assert kept in line
    assert (tmp_path / failed / "obs_023523" / "quicklook.png").is_file()


# --- unwritable outputs ---------------------------------------------------------------


def _read_only_folder(tmp_path) -> Path:
    """A folder nobody may write into: read-only for a user, a read-only mount
    for root (root writes through permissions)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return folder
    import subprocess

    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    assert mounted.returncode == 0, f"cannot mount a read-only tmpfs: {mounted}"
    return folder


@pytest.fixture
def read_only(tmp_path):
    folder = _read_only_folder(tmp_path)
    yield folder
    if os.geteuid() == 0:
        import subprocess

        subprocess.run(["umount", str(folder)], check=True)
    else:
        folder.chmod(0o755)


def test_read_only_folder_is_one_line(read_only):
    output = read_only / "out"
    line = assert_one_line(run(output), 1, f"cannot write the output folder {output}")
    assert "Read-only file system" in line or "Permission denied" in line
    assert "--output" in line


@pytest.mark.parametrize(
    "output, reason",
    [
        ("/proc/ctao-sat/out", "No such file or directory"),
        ("/dev/null/out", "/dev/null is not a folder"),
        ("/sys/ctao-sat/out", "Operation not permitted"),
    ],
)
def test_unwritable_output_is_one_line(output, reason):
    outcome = cli("run", "joint-crab", "--output", output)
    assert_one_line(outcome, 1, f"cannot write the output folder {output}", reason)


def test_name_too_long_is_one_line(tmp_path):
    output = tmp_path / ("x" * 300)
    assert_one_line(run(output), 1, "cannot write the output folder", "too long")


@pytest.mark.parametrize("command", ["quicklook", "datavolume"])
def test_tools_into_unwritable_output(command, gammapy_data):
    arguments = [gammapy_data / "hess-dl3-dr1"] if command == "quicklook" else []
    outcome = cli(command, *arguments, "--output", "/proc/ctao-sat/out", "-q")
    assert_one_line(outcome, 1, "cannot write the output folder /proc/ctao-sat/out")


# --- permissions ---------------------------------------------------------------------


def test_folders_follow_the_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        output = tmp_path / "new" / "out"
        assert run(output).code == 0
    finally:
        os.umask(previous)
    assert (output.stat().st_mode & 0o777) == 0o750
    assert (output / "sub").stat().st_mode & 0o777 == 0o750
    assert (output.parent.stat().st_mode & 0o777) == 0o750


# --- two commands, killed commands ----------------------------------------------------


def test_second_writer_is_refused(tmp_path):
    output = tmp_path / "out"
    with OutputFolder(output, "probe") as held:
        line = assert_one_line(run(output), 1, "another ctao-sat command")
        assert f"(pid {os.getpid()})" in line and "is writing" in line
        assert held.scratch.is_dir()
    assert run(output).code == 0  # free again


def test_second_process_is_refused_while_a_real_run_writes(tmp_path):
    output = tmp_path / "out"
    config = tmp_path / "hess.yaml"
    config.write_text("instruments: [hess]\n")
    first = spawn("run", "joint-crab", "--config", config, "--output", output, "-q")
    lock = tmp_path / ".out.lock"
    deadline = time.monotonic() + 120
    while not lock.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    second = cli("run", "joint-crab", "--config", config, "--output", output)
    assert_one_line(second, 1, "another ctao-sat command", f"(pid {first.pid})")
    outcome = finish(first)
    assert outcome.code == 0, outcome.stderr
    assert json.loads((output / RESULT).read_text())["usecase"] == "joint-crab"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hess.yaml", "out"]


def test_killed_run_leftovers_are_cleaned_at_the_next_start(tmp_path):
    output = tmp_path / "out"
    run(output)
    # What kill -9 leaves: scratch folders (this release's and the previous
    # release's names) and a lock file; nobody holds the lock.
    for name in (".out.tmp-abcd1234", ".out.k2j4h5g6"):
        (tmp_path / name / "half").mkdir(parents=True)
        (tmp_path / name).chmod(0o700)  # as tempfile.mkdtemp makes them
    (tmp_path / ".out.lock").write_text("12345")
    (tmp_path / ".outer.tmp-zzzz").mkdir()  # another folder's: not ours to remove
    assert run(output, "--overwrite", text="second").code == 0
    assert siblings(output) == [".outer.tmp-zzzz", "out"]
    assert product(output) == "second"


def test_folders_a_user_named_like_leftovers_are_kept(tmp_path):
    """Hidden folders beside the output that no command of ours made: kept."""
    output = tmp_path / "out"
    run(output)
    mine = {
        ".out.previous": 0o755,  # a leftover's name, not its private mode
        ".out.tmp-notes123": 0o755,
        ".out.backup-2024": 0o700,  # private, not a mkdtemp name
        ".out.old-1": 0o755,  # not a time.time_ns stamp
    }
    for name, mode in mine.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "notes.txt").write_text(name)
        (tmp_path / name).chmod(mode)
    assert run(output, "--overwrite", text="second").code == 0
    assert product(output) == "second"
    assert siblings(output) == sorted([*mine, "out"])
    for name in mine:
        assert (tmp_path / name / "notes.txt").read_text() == name


def test_replacement_killed_half_way_is_repaired(tmp_path):
    output = tmp_path / "out"
    run(output)
    before = tree(output)
    # Killed between the two renames: the previous result moved aside, the new
    # one not yet in place. The next command puts the previous one back first.
    aside = tmp_path / f".out.old-{time.time_ns()}"
    output.rename(aside)
    line = assert_one_line(run(output), 1, "already holds a probe result")
    assert tree(output) == before
    assert siblings(output) == ["out"]
    assert "--overwrite" in line


def test_output_lock_and_scratch_go_on_sigterm(tmp_path):
    """A real process killed by SIGTERM while it writes: nothing of it remains."""
    output = tmp_path / "out"
    config = tmp_path / "hess.yaml"
    config.write_text("instruments: [hess]\n")
    stderr = tmp_path / "stderr.txt"
    first = spawn(
        "run", "joint-crab", "--config", config, "--output", output,
        stderr_path=stderr,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while "... fitting" not in stderr.read_text() and time.monotonic() < deadline:
        assert first.poll() is None, stderr.read_text()
        time.sleep(0.05)
    os.kill(first.pid, signal.SIGTERM)
    outcome = finish(first, timeout=60)
    assert_one_line(outcome, 143, "interrupted by SIGTERM")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hess.yaml", "stderr.txt"]


# --- the same rules for quicklook and datavolume --------------------------------------


@pytest.mark.parametrize("command", ["quicklook", "datavolume"])
def test_tools_refuse_a_foreign_folder(tmp_path, gammapy_data, command):
    output = tmp_path / "src"
    output.mkdir()
    (output / "setup.py").write_text("# somebody's source tree")
    arguments = [gammapy_data / "hess-dl3-dr1"] if command == "quicklook" else []
    for options in ((), ("--overwrite",)):
        outcome = cli(command, *arguments, "--output", output, *options, "-q")
        assert_one_line(outcome, 1, "files that are not a ctao-sat result")
    assert tree(output) == {"setup.py": b"# somebody's source tree"}


def test_quicklook_refuses_a_run_result_and_its_own_without_overwrite(
    tmp_path, gammapy_data
):
    output = tmp_path / "out"
    run(output)
    store = gammapy_data / "hess-dl3-dr1"
    outcome = cli("quicklook", store, "--output", output, "--overwrite", "-q")
    assert_one_line(outcome, 1, "holds a probe result", "only a previous quicklook")
    quicklook = tmp_path / "ql"
    quicklook.mkdir()
    (quicklook / "summary.json").write_text("[]")
    (quicklook / "obs_023523").mkdir()
    (quicklook / "obs_023523" / "quicklook.png").write_bytes(b"png")
    assert contents(quicklook).kind == "quicklook"
    outcome = cli("quicklook", store, "--output", quicklook, "-q", "--obs-id", "1")
    assert_one_line(outcome, 1, "already holds a quicklook result", "--overwrite")
    assert (quicklook / "obs_023523" / "quicklook.png").read_bytes() == b"png"


def test_output_rules_as_a_library(tmp_path):
    """`OutputFolder` used directly: leaving without publish leaves nothing."""
    output = tmp_path / "out"
    with OutputFolder(output, "probe") as folder:
        (folder.scratch / "half.txt").write_text("half")
    assert not output.exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(OutputError, match="exists and is not a folder"):
        (tmp_path / "file").write_text("x")
        with OutputFolder(tmp_path / "file", "probe"):
            pass
    assert shutil.disk_usage(tmp_path)  # the folder is still usable
