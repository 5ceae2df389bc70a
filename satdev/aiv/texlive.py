"""The Debian packages the AIV PDF needs, and their installation.

Standard library only (and `sat.archive.install`'s apt-get step, which is too): the
noxfile runs it with any interpreter before the test suite or the report step
needs it (``python -m satdev.aiv.texlive``).

The document uses only what ``texlive-latex-base`` and ``texlive-latex-recommended``
hold (pdfLaTeX, longtable, booktabs, xcolor, hyperref, graphicx, fancyhdr) and the
Type 1 Computer Modern fonts of ``texlive-base``, so no font is ever rendered as a
bitmap. ``poppler-utils`` gives ``pdftotext``, ``pdftoppm``, ``pdfinfo`` and
``pdffonts``, with which the report step and the tests read the PDF back.
``texlive-latex-extra`` (80 MB, and Java through its dependencies) is not needed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

from sat.archive.install import apt_get

__all__ = ["PACKAGES", "STYLES", "TOOLS", "install", "missing"]

PACKAGES = ("texlive-latex-base", "texlive-latex-recommended", "poppler-utils")
# The commands the report step runs, and the package of each.
TOOLS = {
    "pdflatex": "texlive-latex-base",
    "kpsewhich": "texlive-latex-base",
    "pdftotext": "poppler-utils",
    "pdftoppm": "poppler-utils",
    "pdfinfo": "poppler-utils",
    "pdffonts": "poppler-utils",
}
# The LaTeX packages of the template (satdev/templates/aiv-report.tex.j2) that
# texlive-latex-base does not hold.
STYLES = {
    "booktabs.sty": "texlive-latex-recommended",
    "xcolor.sty": "texlive-latex-recommended",
    "caption.sty": "texlive-latex-recommended",
}


def missing() -> list[str]:
    """Return the packages of `PACKAGES` whose commands or styles are not found."""
    absent = {package for tool, package in TOOLS.items() if not shutil.which(tool)}
    for style, package in STYLES.items():
        # Without kpsewhich (no TeX at all) no style can be there either.
        found = shutil.which("kpsewhich") and subprocess.run(
            ["kpsewhich", style], capture_output=True, text=True, check=False
        )
        if not found or not found.stdout.strip():
            absent.add(package)
    return [package for package in PACKAGES if package in absent]


def install(log=print) -> float:
    """Install the missing packages with apt-get; return the seconds it took.

    Raises
    ------
    RuntimeError
        apt-get is not available, or the packages are still missing after it.
    subprocess.CalledProcessError
        apt-get failed (its output is shown).
    """
    absent = missing()
    if not absent:
        log(f"LaTeX and poppler are installed ({', '.join(PACKAGES)})")
        return 0.0
    if shutil.which("apt-get") is None:
        raise RuntimeError(
            f"missing {', '.join(absent)} and no apt-get: install pdfLaTeX (TeX "
            "Live with the LaTeX base and recommended packages) and poppler-utils"
        )
    seconds = apt_get(absent, log)
    still = missing()
    if still:
        raise RuntimeError(f"apt-get did not provide {', '.join(still)}")
    log(f"installed {', '.join(absent)} in {seconds:.0f} s")
    return seconds


def main() -> int:
    """Install what is missing (``python -m satdev.aiv.texlive``)."""
    try:
        install()
    except (RuntimeError, subprocess.CalledProcessError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
