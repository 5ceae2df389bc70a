"""The canary: how the newest upstream releases fare without the release pins.

Run by ``nox -s canary`` in an environment where the SAT components were upgraded
to their newest releases with no constraints. It runs ``ctao-sat doctor`` and the
test suite there and writes a report of what breaks. It reports; it never fails.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from sat.stack import compare_installed

__all__ = ["build_report", "main"]


def _doctor() -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "sat.cli", "doctor", "--json"],
        capture_output=True,
        text=True,
    )
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        return {"ok": False, "checks": [], "error": result.stderr.strip()[-2000:]}


def _tests(output: Path, pytest_args: list[str]) -> dict:
    junit = output / "junit-canary.xml"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={junit}",
            *pytest_args,
        ],
        capture_output=True,
        text=True,
    )
    if not junit.is_file():
        return {"ran": False, "failed": []}
    root = ElementTree.parse(junit).getroot()
    failed = []
    total = 0
    for case in root.iter("testcase"):
        total += 1
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            message = (problem.get("message") or "").splitlines()
            failed.append(
                {
                    "test": f"{case.get('classname')}::{case.get('name')}",
                    "message": message[0][:300] if message else "",
                }
            )
    return {"ran": True, "total": total, "failed": failed}


def build_report(doctor: dict, tests: dict) -> dict:
    """Combine version drift, doctor failures and test failures into one report."""
    drift = [
        {"name": pin.name, "pinned": pin.version, "upstream": installed}
        for pin, installed in compare_installed()
        if pin.component and installed != pin.version
    ]
    broken = [c for c in doctor.get("checks", []) if c["status"] == "FAIL"]
    return {
        "upstream_newer": drift,
        "doctor_ok": doctor.get("ok", False),
        "doctor_failures": broken,
        "tests": tests,
        "breaks": bool(broken or tests.get("failed")),
    }


def render(report: dict) -> str:
    """Render the report as Markdown."""
    lines = ["# Canary: newest upstream releases without the ctao-sat pins", ""]
    lines += ["| component | pinned | newest upstream |", "|---|---|---|"]
    lines += [
        f"| {row['name']} | {row['pinned']} | {row['upstream']} |"
        for row in report["upstream_newer"]
    ]
    lines += ["", f"## ctao-sat doctor: {'PASS' if report['doctor_ok'] else 'FAIL'}"]
    lines += [f"- {c['name']}: {c['detail']}" for c in report["doctor_failures"]]
    tests = report["tests"]
    if tests.get("ran"):
        lines += [
            "",
            f"## Tests: {len(tests['failed'])} of {tests['total']} failed or errored",
        ]
        lines += [f"- {t['test']}: {t['message']}" for t in tests["failed"]]
    verdict = "BREAKS" if report["breaks"] else "works"
    lines += ["", f"Verdict: the newest upstream stack {verdict} with ctao-sat."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    """Run the canary and write ``report.md`` and ``report.json``; always exit 0."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("build/canary"))
    args, pytest_args = parser.parse_known_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    report = build_report(_doctor(), _tests(args.output, pytest_args))
    text = render(report)
    (args.output / "report.md").write_text(text)
    (args.output / "report.json").write_text(json.dumps(report, indent=2))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
