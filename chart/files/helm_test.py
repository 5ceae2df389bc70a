"""The chart's helm test: ``ctao-sat doctor`` and one use case, as JUnit XML.

Runs inside the release image (its Python, standard library only), as CTAO's
charts' test pods do: every check is a test case carrying the ``requirement_id``
and ``usecase_id`` properties CTAO's AIV tooling reads. The XML is written to
``--junit`` and printed between two marker lines, so ``helm test --logs`` (or
``kubectl logs``) hands it back. Exit 0 only when every check passed.
"""

import argparse
import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

BEGIN, END = (
    "--- ctao-sat helm test junit begin ---",
    "--- ctao-sat helm test junit end ---",
)
# C-SAT-0250: the chart deploys the release and its helm test passes.
REQUIREMENTS = ("C-SAT-0250",)


def run(command):
    """Run a command; return (passed, seconds, last lines of its output)."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
    return done.returncode == 0, time.perf_counter() - start, tail


def security():
    """Check from inside: a non-root user and a read-only root filesystem."""
    status = dict(
        line.split(":", 1) for line in open("/proc/self/status") if ":" in line
    )
    uid = int(status["Uid"].split()[1])
    root = [line.split() for line in open("/proc/mounts") if line.split()[1] == "/"]
    read_only = bool(root) and "ro" in root[-1][3].split(",")
    return uid != 0 and read_only, 0.0, f"uid {uid}, read-only root {read_only}"


def usecase(name, output):
    """Run use case ``name``; it passes when every validation check PASSes."""
    passed, seconds, tail = run(
        ["ctao-sat", "run", name, "--quiet", "--output", output]
    )
    try:
        with open(f"{output}/result.json") as stream:
            result = json.load(stream)
    except OSError:
        return passed, seconds, tail, ""
    verdicts = [check["verdict"] for check in result["validation"]]
    passed = passed and bool(verdicts) and set(verdicts) == {"PASS"}
    return passed, seconds, f"validation {verdicts}\n{tail}", result["usecase_id"]


def junit(cases):
    """Return the JUnit XML of ``cases`` (name, passed, seconds, message, usecase)."""
    suite = ET.Element(
        "testsuite",
        name="helm-test",
        tests=str(len(cases)),
        failures=str(sum(not case[1] for case in cases)),
        errors="0",
        skipped="0",
    )
    for name, passed, seconds, message, usecase_id in cases:
        case = ET.SubElement(
            suite, "testcase", classname="helm-test", name=name, time=f"{seconds:.3f}"
        )
        properties = ET.SubElement(case, "properties")
        for requirement in REQUIREMENTS:
            ET.SubElement(
                properties, "property", name="requirement_id", value=requirement
            )
        if usecase_id:
            ET.SubElement(properties, "property", name="usecase_id", value=usecase_id)
        if not passed:
            ET.SubElement(
                case,
                "failure",
                message=message.splitlines()[0] if message else "failed",
            ).text = message
        else:
            ET.SubElement(case, "system-out").text = message
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")


def main():
    """Run the checks, write and print the JUnit XML; exit 0 when all passed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--usecase", default="joint-crab")
    parser.add_argument("--junit", default="/results/helm-test.xml")
    options = parser.parse_args()
    cases = [("pod_runs_non_root_on_read_only_root", *security(), "")]
    cases.append(("doctor_passes", *run(["ctao-sat", "doctor"]), ""))
    cases.append(
        (
            f"usecase_{options.usecase}",
            *usecase(options.usecase, f"/results/{options.usecase}"),
        )
    )
    xml = junit(cases)
    with open(options.junit, "w") as stream:
        stream.write(xml)
    print(BEGIN, xml, END, sep="\n", flush=True)
    return 0 if all(case[1] for case in cases) else 1


if __name__ == "__main__":
    sys.exit(main())
