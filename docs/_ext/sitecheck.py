"""Open pages of the built site in headless Chromium and check their figures.

``python docs/_ext/sitecheck.py build/docs/html`` (run by ``nox -s docs`` after the
build) opens the front page and a gallery page in Debian's ``chromium``, with the
flags of the verification report's browser test (tests/test_verification_report.py),
and exits 1 when a page does not render, an image fails to load in the browser, or
a gallery page has no figure. A copy of each page with a small script added asks
the browser itself whether every ``<img>`` loaded (``complete`` and a non-zero
``naturalWidth``); the copy is removed afterwards.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Pages checked in a built site, with the figures each must show (CSS class).
PAGES = {
    "index.html": None,
    "auto_examples/plot_joint_crab.html": "sphx-glr-single-img",
}
PROBE = """<script>
window.addEventListener("load", function () {
  var lines = [];
  document.querySelectorAll("img").forEach(function (img) {
    var ok = img.complete && img.naturalWidth > 0;
    lines.push((ok ? "LOADED " : "BROKEN ") + img.className + " " +
               img.getAttribute("src"));
  });
  var pre = document.createElement("pre");
  pre.id = "sitecheck";
  pre.textContent = lines.join("\\n");
  document.body.appendChild(pre);
});
</script>
"""


def chromium() -> str:
    """Return Debian's Chromium executable, or raise naming how to install it."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise RuntimeError("chromium is missing: apt-get install chromium")
    return found


def _browser(arguments: list[str], profile: Path) -> subprocess.CompletedProcess:
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=10000",
        *arguments,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


def images_in_browser(page: Path) -> list[tuple[bool, str, str]]:
    """Load ``page`` in headless Chromium and report every image it shows.

    Returns
    -------
    list of (bool, str, str)
        For each ``<img>`` of the rendered page: loaded, CSS class, ``src``.
    """
    page = Path(page).resolve()
    html = page.read_text(encoding="utf-8")
    if "</body>" not in html:
        raise ValueError(f"{page}: not an HTML page with a body")
    probe = page.with_name(f".sitecheck-{page.name}")
    probe.write_text(html.replace("</body>", PROBE + "</body>", 1), encoding="utf-8")
    try:
        with tempfile.TemporaryDirectory() as profile:
            done = _browser(["--dump-dom", probe.as_uri()], Path(profile))
    finally:
        probe.unlink()
    if done.returncode != 0:
        raise RuntimeError(f"chromium failed on {page}: {done.stderr[-2000:]}")
    return parse_probe(done.stdout, page)


def parse_probe(dom: str, page="page") -> list[tuple[bool, str, str]]:
    """Read the probe's report out of the DOM Chromium dumped for ``page``."""
    # Themes may add attributes to the element (pydata adds tabindex).
    found = re.search(r'<pre id="sitecheck"[^>]*>(.*?)</pre>', dom, re.S)
    if found is None:
        raise RuntimeError(f"{page}: the page did not finish loading in Chromium")
    images = []
    for line in found.group(1).splitlines():
        state, css, src = [*line.split(" ", 2), "", ""][:3]
        images.append((state == "LOADED", css, src.replace("&amp;", "&")))
    return images


def check_page(page: Path, figure_class: str | None = None) -> list[str]:
    """Return the problems of ``page`` in the browser (empty when it is fine).

    Parameters
    ----------
    page : Path
        An HTML file.
    figure_class : str, optional
        CSS class of the figures the page must show (at least one).
    """
    problems = []
    images = images_in_browser(page)
    problems += [f"{page}: image {src} did not load" for ok, _, src in images if not ok]
    if figure_class is not None:
        figures = [src for ok, css, src in images if ok and figure_class in css.split()]
        if not figures:
            problems.append(f"{page}: no figure ({figure_class}) rendered")
    if not images:
        problems.append(f"{page}: no image at all (the theme's logo is missing)")
    return problems


def check_site(html: Path, pages: dict = PAGES) -> list[str]:
    """Check ``pages`` (path -> figure class) of the site built in ``html``."""
    problems = []
    for name, figure_class in pages.items():
        page = Path(html) / name
        if not page.is_file():
            problems.append(f"{page}: missing")
            continue
        problems += check_page(page, figure_class)
    return problems


def main(argv=None) -> int:
    """Check the site folder given on the command line; exit 1 on any problem."""
    argv = sys.argv[1:] if argv is None else argv
    html = Path(argv[0] if argv else "build/docs/html")
    problems = check_site(html)
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    if not problems:
        print(f"sitecheck: {', '.join(PAGES)} render with their figures in Chromium")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
