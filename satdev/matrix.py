"""``nox -s python-3.11`` (3.12, 3.13): the release on one supported interpreter.

In a fresh environment of that CPython, installed from the release pins alone
(``uv pip install -c <constraints> <repository>``, no test tool), it runs
``ctao-sat doctor`` and one real use case (joint-crab, the fastest), and checks
the use case's ``result.json`` validated for this release. Each step is a check
recorded as evidence for C-SAT-0010 in ``build/evidence/python-<X.Y>.xml``.

Usage: ``python -m satdev.matrix 3.11 [--usecase NAME] [--build build]``.
Only the standard library and `sat.stack`: it runs with nox's own interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from sat import stack
from satdev.evidence import EVIDENCE_DIR, Check, write_junit

__all__ = ["SESSION", "main", "run_matrix"]

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENT = "C-SAT-0010"
USECASE = "joint-crab"
SESSION = "python-{python}"


class StepFailed(RuntimeError):
    """A step of the interpreter check failed (its message says why)."""


def _run(command: list, what: str, env: dict | None = None) -> str:
    print(f"  $ {' '.join(str(c) for c in command)}", flush=True)
    done = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, env=env
    )
    output = (done.stdout + done.stderr).strip()
    if output:
        print(
            "\n".join(f"    {line}" for line in output.splitlines()[-40:]), flush=True
        )
    if done.returncode != 0:
        tail = [line for line in output.splitlines() if line.strip()][-8:]
        raise StepFailed(f"{what} exited {done.returncode}: " + " | ".join(tail))
    return output


def _validated(result_json: Path, version: str) -> tuple[int, list[str]]:
    """Return the number of validation checks and the problems of a result."""
    if not result_json.is_file():
        return 0, [f"no {result_json}"]
    result = json.loads(result_json.read_text(encoding="utf-8"))
    problems = []
    if result.get("ctao_sat") != version:
        problems.append(f"result of release {result.get('ctao_sat')}, not {version}")
    checks = result.get("validation") or []
    if not checks:
        problems.append("no validation check")
    problems += [
        f"{c.get('quantity')}: {c.get('verdict')}"
        for c in checks
        if c.get("verdict") != "PASS"
    ]
    return len(checks), problems


def run_matrix(python: str, build: Path, usecase: str = USECASE) -> list[Check]:
    """Install the release on CPython ``python``, run doctor and ``usecase``.

    Returns
    -------
    list of Check
        One per step that ran (a failed step ends the list).
    """
    uv = shutil.which("uv")
    folder = build / SESSION.format(python=python)
    env_dir, output = folder / "env", folder / usecase
    checks: list[Check] = []
    env = {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")
    }
    env.setdefault("MPLBACKEND", "Agg")
    bin_dir = env_dir / "bin"
    version = stack.release_version()

    traced: list[str] = []  # the use case's id, read from its result.json

    def step(name: str, body) -> bool:
        started = time.perf_counter()
        try:
            figures = body() or {}
        except StepFailed as error:
            seconds = time.perf_counter() - started
            checks.append(
                Check(name, False, (REQUIREMENT,), tuple(traced), str(error), seconds)
            )
            return False
        seconds = time.perf_counter() - started
        figures = {"seconds": round(seconds, 1), **figures}
        checks.append(
            Check(name, True, (REQUIREMENT,), tuple(traced), "", seconds, figures)
        )
        return True

    def install():
        if uv is None:
            raise StepFailed("uv is not installed: pip install uv")
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        constraints = folder / "constraints.txt"
        constraints.write_text(stack.constraints_txt(), encoding="utf-8")
        _run([uv, "venv", "--quiet", "--python", python, env_dir], "uv venv", env)
        found = _run(
            [
                bin_dir / "python",
                "-c",
                "import platform; print(platform.python_version())",
            ],
            "python",
            env,
        ).splitlines()[-1]
        if not found.startswith(f"{python}."):
            raise StepFailed(f"asked for CPython {python}, got {found}")
        install = [uv, "pip", "install", "--quiet", "--python", bin_dir / "python"]
        _run([*install, "-c", constraints, ROOT], "uv pip install", env)
        return {"python": found}

    def doctor():
        _run([bin_dir / "ctao-sat", "doctor"], "ctao-sat doctor", env)

    def usecase_run():
        _run(
            [bin_dir / "ctao-sat", "run", usecase, "--output", output],
            f"ctao-sat run {usecase}",
            env,
        )
        result_json = output / "result.json"
        if result_json.is_file():
            result = json.loads(result_json.read_text(encoding="utf-8"))
            traced[:] = [result["usecase_id"]] if result.get("usecase_id") else []
        count, problems = _validated(result_json, version)
        if problems:
            raise StepFailed(f"{usecase} did not validate: " + "; ".join(problems))
        return {"validation_checks": count}

    if step("install_from_pins", install) and step("doctor", doctor):
        step(f"usecase_{usecase.replace('-', '_')}", usecase_run)
    return checks


def main(argv=None) -> int:
    """Check one interpreter and write its evidence; exit 1 if a step failed."""
    parser = argparse.ArgumentParser(
        prog="python -m satdev.matrix", description=__doc__
    )
    parser.add_argument("python", help="CPython minor version, e.g. 3.12")
    parser.add_argument("--usecase", default=USECASE)
    parser.add_argument("--build", type=Path, default=ROOT / "build")
    args = parser.parse_args(argv)
    session = SESSION.format(python=args.python)
    checks = run_matrix(args.python, args.build, args.usecase)
    path = write_junit(
        args.build / EVIDENCE_DIR / f"{session}.xml", session, checks, root=ROOT
    )
    for check in checks:
        verdict = "PASS" if check.passed else "FAIL"
        print(
            f"{session}: {verdict} {check.name} ({check.seconds:.0f} s) {check.message}"
        )
    print(f"{session}: evidence in {path}", flush=True)
    return 0 if checks and all(check.passed for check in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
