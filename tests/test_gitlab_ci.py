"""The CTAO GitLab CI runs the same nox sessions, and GitLab's schema accepts it."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

pytestmark = pytest.mark.verifies_requirement("C-SAT-0210")

CI = REPO / ".gitlab-ci.yml"


def nox_sessions() -> set[str]:
    """The sessions noxfile.py defines (read with ast: nox is not a test dependency)."""
    tree = ast.parse((REPO / "noxfile.py").read_text())
    sessions = set()
    pythons = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "PYTHONS" for t in node.targets
        ):
            pythons = ast.literal_eval(node.value)
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                target = (
                    decorator.func if isinstance(decorator, ast.Call) else decorator
                )
                if ast.unparse(target) == "nox.session":
                    sessions.add(node.name)
    # The interpreter matrix: nox.session(..., name=f"tests-{_python}") in a loop.
    sessions |= {f"tests-{python}" for python in pythons}
    return sessions


def ci_sessions(config: dict) -> dict[str, set[str]]:
    """``{job: sessions its script runs}`` (matrix variables expanded)."""
    jobs = {}
    for name, job in config.items():
        if name.startswith(".") or not isinstance(job, dict) or "script" not in job:
            continue
        found = set()
        for line in job["script"]:
            for session in re.findall(r"nox -s ([\w$.-]+)", line):
                if "$PYTHON" in session:
                    for entry in job["parallel"]["matrix"]:
                        found |= {
                            session.replace("$PYTHON", p) for p in entry["PYTHON"]
                        }
                else:
                    found.add(session)
        jobs[name] = found
    return jobs


@pytest.fixture(scope="module")
def config():
    return yaml.safe_load(CI.read_text())


def test_gitlab_ci_is_valid_against_gitlabs_schema():
    # check-jsonschema's vendored copy of GitLab's CI schema: no network.
    checker = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.gitlab-ci", str(CI)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok -- validation done" in done.stdout


def test_schema_check_catches_a_broken_config(tmp_path):
    broken = tmp_path / ".gitlab-ci.yml"
    broken.write_text(
        "lint:\n  stage: lint\n  script: 3\n  artifacts: {expire_in: []}\n"
    )
    checker = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.gitlab-ci", str(broken)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1


def test_ci_runs_existing_sessions_and_every_required_one(config):
    defined = nox_sessions()
    jobs = ci_sessions(config)
    used = set().union(*jobs.values())
    unknown = used - defined
    assert not unknown, f".gitlab-ci.yml runs sessions noxfile.py lacks: {unknown}"
    # The checks, every artifact session of the noxfile, verify and release.
    required = {"lint", "tests", "verify", "release", "tests-3.11", "tests-3.13"}
    required |= {"conda", "container", "chart", "docs"} & defined
    missing = required - used
    assert not missing, f"add a job running `nox -s NAME` to .gitlab-ci.yml: {missing}"


def test_release_runs_on_tags_only_and_keeps_its_artifacts(config):
    release = config["release"]
    assert release["rules"] == [{"if": "$CI_COMMIT_TAG"}]
    assert release["artifacts"]["expire_in"] == "never"
    assert release["artifacts"]["paths"] == ["build/release/"]
    for name, job in config.items():
        if name.startswith(".") or not isinstance(job, dict) or "script" not in job:
            continue
        assert "artifacts" in job or name == "lint", f"job {name} keeps no artifacts"


def test_verify_reuses_the_test_job_outputs(config):
    verify = config["verify"]
    assert verify["needs"] == [{"job": "tests", "artifacts": True}]
    assert verify["script"] == ["nox -s verify -- --reuse-tests"]
    tests = config["tests"]
    # What `--reuse-tests` reads is what the tests job keeps.
    from satdev.__main__ import TESTS_COVERAGE, TESTS_JUNIT

    assert f"build/{TESTS_COVERAGE}" in tests["artifacts"]["paths"]
    assert tests["artifacts"]["reports"]["junit"] == f"build/{TESTS_JUNIT}"
