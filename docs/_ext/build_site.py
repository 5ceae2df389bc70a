"""Build the site and record what the build proved (``nox -s docs``).

``python docs/_ext/build_site.py build/docs/html [--keep-gallery]``:

1. ``sphinx_build_without_warnings``: ``sphinx-build -W --keep-going -n`` (any
   warning, including a broken internal reference, fails it);
2. ``gallery_executed``: every registered use case has its gallery page, and its
   example ran in *this* build. The gallery's cache (``docs/auto_examples``) is
   cleared first, so every example runs; with ``--keep-gallery`` (faster, for
   editing text) unchanged examples are reused and the check says so and fails:
   an example run by an earlier build is no evidence for this one;
3. ``site_renders_in_chromium``: the front page and a gallery page render with
   their figures in headless Chromium (`sitecheck`).

Each is a check recorded for C-SAT-0130 in ``build/evidence/docs.xml``
(`satdev.evidence`); the release takes the requirement's verdict from it. Exit 1
when the build or the site check fails.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
sys.path[:0] = [str(DOCS / "_ext"), str(ROOT)]

from gallery import page_name  # noqa: E402
from sitecheck import check_site  # noqa: E402

from satdev.evidence import EVIDENCE_DIR, Check, write_junit  # noqa: E402

REQUIREMENT = ("C-SAT-0130",)
GALLERY = DOCS / "auto_examples"


def sphinx_build(html: Path) -> Check:
    """Build the site with warnings as errors; count the warnings it printed."""
    doctrees = html.parent / "doctrees"  # not in the site that ships
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n"]
    command += ["-d", str(doctrees), "-b", "html", str(DOCS), str(html)]
    print(f"$ {' '.join(command)}", flush=True)
    started = time.perf_counter()
    warnings, tail = [], []
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            if re.search(r"\bWARNING\b|\bERROR\b", line):
                warnings.append(line.strip())
            tail = [*tail[-4:], line.strip()]
    seconds = time.perf_counter() - started
    passed = process.returncode == 0
    # What failed it: its warnings (the first few), else the end of its output.
    shown = sorted(set(warnings))[:5] or tail
    message = "" if passed else f"sphinx-build exited {process.returncode}: "
    message += "" if passed else " | ".join(shown)[:1500]
    return Check(
        "sphinx_build_without_warnings",
        passed,
        REQUIREMENT,
        message=message,
        seconds=seconds,
        figures={"warnings": len(warnings), "build_s": round(seconds, 1)},
    )


def gallery_executed(html: Path, started: float, names, gallery=GALLERY) -> Check:
    """Check every use case's example ran in this build (its page written now).

    Parameters
    ----------
    html : Path
        The built site.
    started : float
        When the build started (``time.time()``): sphinx-gallery rewrites an
        example's ``.rst`` only when it runs the example.
    names : iterable of str
        The registered use cases.
    gallery : Path
        sphinx-gallery's output folder of the example pages.
    """
    missing, reused, ran = [], [], []
    for name in names:
        page = page_name(name)
        rst = gallery / f"{page}.rst"
        if not (html / "auto_examples" / f"{page}.html").is_file() or not rst.is_file():
            missing.append(name)
        elif rst.stat().st_mtime < started:
            reused.append(name)
        else:
            ran.append(name)
    problems = [f"no gallery page for {', '.join(missing)}"] if missing else []
    if reused:
        problems.append(
            f"not run in this build (reused from an earlier one): {', '.join(reused)}"
        )
    return Check(
        "gallery_executed",
        not problems,
        REQUIREMENT,
        message="; ".join(problems),
        figures={"examples_run": len(ran), "usecases": len(ran + missing + reused)},
    )


def site_renders(html: Path) -> Check:
    """The browser check of `sitecheck` as one check."""
    started = time.perf_counter()
    try:
        problems = check_site(html)
    except (RuntimeError, ValueError, OSError, subprocess.SubprocessError) as error:
        problems = [str(error)]
    return Check(
        "site_renders_in_chromium",
        not problems,
        REQUIREMENT,
        message="; ".join(problems),
        seconds=time.perf_counter() - started,
    )


def main(argv=None) -> int:
    """Build, check, record; exit 1 when the build or the site check failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, nargs="?", default=ROOT / "build/docs/html")
    parser.add_argument(
        "--keep-gallery",
        action="store_true",
        help="reuse unchanged examples (faster; not evidence for a release)",
    )
    args = parser.parse_args(argv)
    from sat.usecases.registry import usecases

    html = args.html.resolve()
    # A fresh site: pages of a previous build must not ship with this one.
    shutil.rmtree(html.parent, ignore_errors=True)
    if not args.keep_gallery:
        shutil.rmtree(GALLERY, ignore_errors=True)
    started = time.time()
    checks = [sphinx_build(html)]
    # --keep-going writes the site despite warnings: check what it holds anyway.
    if (html / "index.html").is_file():
        checks.append(gallery_executed(html, started, usecases()))
        checks.append(site_renders(html))
    evidence = write_junit(
        ROOT / "build" / EVIDENCE_DIR / "docs.xml", "docs", checks, root=ROOT
    )
    for check in checks:
        verdict = "PASS" if check.passed else "FAIL"
        print(f"docs: {verdict} {check.name} {check.figures} {check.message}")
    print(f"docs: evidence in {evidence}", flush=True)
    # With --keep-gallery, reused examples fail the evidence, not the edit loop.
    ignored = {"gallery_executed"} if args.keep_gallery else set()
    return 0 if all(c.passed for c in checks if c.name not in ignored) else 1


if __name__ == "__main__":
    sys.exit(main())
