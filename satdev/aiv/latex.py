"""LaTeX: escaping, the template, pdfLaTeX, and reading the PDF back.

Every value the template prints is escaped (`escape`) unless a filter already
made it LaTeX (`TeX`): test ids with underscores, units, ``%``, ``<=``, ``±`` and
paths come out as text, never as commands. The fonts are the Type 1 Computer
Modern of TeX Live, in the OT1 encoding: characters that encoding lacks (``$``,
``<``, ``|``...) are taken from the math fonts, so nothing is ever rendered as a
bitmap font (`check_fonts`).

`check_pdf` reads the PDF back (``pdftotext``) and returns what is missing from
its traceability matrix: every requirement and use case of the report must be
there, in order, with its verdict and its evidence.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sat.errors import SatError

__all__ = [
    "MATRIX_END",
    "MATRIX_START",
    "Pdf",
    "TeX",
    "check_fonts",
    "check_pdf",
    "compile_pdf",
    "escape",
    "matrix_pages",
    "pdf_text",
    "render_tex",
    "to_png",
]

TEMPLATE = "aiv-report.tex.j2"
# The sentences that open and close the traceability matrix (the template prints
# them; `check_pdf` finds the matrix between them).
MATRIX_START = "The matrix lists every requirement and use case of the catalogue"
MATRIX_END = "End of the traceability matrix"

_SPECIAL = {
    "\\": r"\ensuremath{\backslash}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\ensuremath{\$}",  # OT1 sans has no dollar: TS1 would be a bitmap
    "&": r"\&",
    "#": r"\#",
    "%": r"\%",
    "_": r"\_",
    "~": r"{\ttfamily\char126}",  # typewriter glyphs: they read back as typed
    "^": r"{\ttfamily\char94}",
    "<": r"\ensuremath{<}",
    ">": r"\ensuremath{>}",
    "|": r"\ensuremath{|}",
    "-": "-{}",  # "--" would be an en dash: options and ranges stay as typed
    # A bracket after \\ or \\item would be read as an optional argument.
    "[": "{[}",
    "]": "{]}",
    "\n": " ",
    "\t": " ",
    "\r": " ",
}
_UNICODE = {
    "±": r"\ensuremath{\pm}",
    "×": r"\ensuremath{\times}",
    "÷": r"\ensuremath{\div}",
    "≤": r"\ensuremath{\leq}",
    "≥": r"\ensuremath{\geq}",
    "≈": r"\ensuremath{\approx}",
    "≠": r"\ensuremath{\neq}",
    "∞": r"\ensuremath{\infty}",
    "→": r"\ensuremath{\rightarrow}",
    "←": r"\ensuremath{\leftarrow}",
    "°": r"\ensuremath{^{\circ}}",
    "µ": r"\ensuremath{\mu}",
    "μ": r"\ensuremath{\mu}",
    "σ": r"\ensuremath{\sigma}",
    "α": r"\ensuremath{\alpha}",
    "β": r"\ensuremath{\beta}",
    "γ": r"\ensuremath{\gamma}",
    "Δ": r"\ensuremath{\Delta}",
    "χ": r"\ensuremath{\chi}",
    "²": r"\ensuremath{^{2}}",
    "³": r"\ensuremath{^{3}}",
    "–": "--",
    "—": "---",
    "…": r"\dots{}",
    "‘": "`",
    "’": "'",
    "“": "``",
    "”": "''",
    "•": r"\ensuremath{\bullet}",
    "\u00a0": "~",
}


class TeX(str):
    """LaTeX source, printed by the template as it is (a filter's output)."""


def _char(character: str) -> str:
    if character in _SPECIAL:
        return _SPECIAL[character]
    if character.isascii():
        return character if character.isprintable() else " "
    if character in _UNICODE:
        return _UNICODE[character]
    # Latin-1 letters are typeset by LaTeX's utf8 input (accents in OT1); any
    # other character is named rather than stopping pdfLaTeX.
    if "\u00c0" <= character <= "\u00ff":
        return character
    return rf"\ensuremath{{\langle}}U+{ord(character):04X}\ensuremath{{\rangle}}"


def _format(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def escape(value) -> TeX:
    """Return ``value`` as LaTeX text (floats to 4 significant digits)."""
    if isinstance(value, TeX):
        return value
    return TeX("".join(_char(c) for c in _format(value)))


def ident(value) -> TeX:
    r"""Return an identifier (test id, path) as LaTeX that may break across lines.

    It may break after ``/``, ``::``, ``[``, a hyphen or a dot before a letter,
    never inside a number, so that a long parametrised test id stays in its
    column. Underscores may break too (the template redefines ``\_``).
    """
    text = escape(value)
    return TeX(re.sub(r"(/|::|\{\[\}|-\{\}|\.(?=[A-Za-z]))", r"\1\\allowbreak{}", text))


def verdict(label) -> TeX:
    """Colour a verdict: green VERIFIED or PASS, red FAIL, amber otherwise."""
    text = str(label)
    colour = "failure" if text.startswith("FAIL") else "warning"
    if text.startswith(("VERIFIED", "PASS")) or text == "passed":
        colour = "success"
    return TeX(rf"\textcolor{{{colour}}}{{\textbf{{{escape(text)}}}}}")


def person(people) -> TeX:
    """Names of the sign-off (``Name, Organisation``), or a placeholder."""
    if not people:
        return TeX(r"\textcolor{failure}{\emph{(unset: see aiv-config.yml)}}")
    return TeX(
        r"\newline ".join(f"{escape(p.name)}, {escape(p.organisation)}" for p in people)
    )


def _interval(check: dict) -> str:
    if not check.get("interval"):
        return ""
    low, high = check["interval"]
    coverage = f"{100 * check['confidence']:.0f} %, n={check['n']}"
    return f"[{low:.4g}, {high:.4g}] ({coverage})"


def _graphic(path: str) -> str:
    # \includegraphics reads the name as it is: only plain names are used.
    if not re.fullmatch(r"[A-Za-z0-9._/-]+", path) or ".." in path:
        raise SatError(f"plot {path!r}: only [A-Za-z0-9._/-] paths are included")
    return path


@cache
def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from satdev.report import TEMPLATES

    # LaTeX is full of braces and percent signs: jinja's delimiters change.
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        block_start_string="<%",
        block_end_string="%>",
        variable_start_string="<<",
        variable_end_string=">>",
        comment_start_string="<#",
        comment_end_string="#>",
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=escape,
        autoescape=False,
    )
    environment.filters.update(
        tex=escape,
        ident=ident,
        verdict=verdict,
        person=person,
        interval=_interval,
        graphic=lambda path: TeX(_graphic(path)),
        raw=TeX,
    )
    environment.globals.update(MATRIX_START=MATRIX_START, MATRIX_END=MATRIX_END)
    return environment


def render_tex(document, **context) -> str:
    """Render the AIV document (`satdev.aiv.document.AivDocument`) as LaTeX."""
    return _environment().get_template(TEMPLATE).render(doc=document, **context)


@dataclass(frozen=True)
class Pdf:
    """A compiled PDF and what making it took."""

    path: Path
    pages: int
    seconds: float
    passes: int


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SatError(
            f"{name} is not installed (the AIV PDF needs it): run "
            "python -m satdev.aiv.texlive (Debian: texlive-latex-base, "
            "texlive-latex-recommended, poppler-utils)"
        )
    return path


def _log_errors(log: Path) -> str:
    if not log.is_file():
        return "(no log)"
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    errors = [i for i, line in enumerate(lines) if line.startswith("!")]
    start = errors[0] if errors else max(0, len(lines) - 20)
    return "\n".join(lines[start : start + 12])


def compile_pdf(tex: Path, epoch: int | None = None, max_passes: int = 4) -> Pdf:
    """Run pdfLaTeX on ``tex`` (in its folder) until references settle.

    Parameters
    ----------
    tex : Path
        The LaTeX source; the PDF, log and auxiliary files go next to it.
    epoch : int, optional
        ``SOURCE_DATE_EPOCH`` of the PDF's dates (the report's date), so that the
        same report gives the same PDF.
    max_passes : int
        At most this many runs (the table of contents, the longtables' widths and
        the page count need two or three).

    Raises
    ------
    SatError
        pdfLaTeX is missing or failed (with the first error of its log).
    """
    pdflatex = _tool("pdflatex")
    environment = {
        **os.environ,
        # Only the Type 1 fonts of TeX Live: never make a bitmap font.
        "MKTEXPK": "0",
        # The texmf configuration's default, explicit: no shell escape.
        "shell_escape": "f",
    }
    if epoch is not None:
        environment.update(SOURCE_DATE_EPOCH=str(epoch), FORCE_SOURCE_DATE="1")
    start = time.perf_counter()
    log = tex.with_suffix(".log")
    for passes in range(1, max_passes + 1):
        done = subprocess.run(
            [
                pdflatex,
                "-interaction=nonstopmode",
                "-halt-on-error",
                "-no-shell-escape",
                tex.name,
            ],
            cwd=tex.parent,
            capture_output=True,
            text=True,
            errors="replace",
            env=environment,
        )
        if done.returncode != 0:
            raise SatError(
                f"pdflatex failed on {tex} (pass {passes}):\n{_log_errors(log)}"
            )
        text = log.read_text(encoding="utf-8", errors="replace")
        if not any(m in text for m in ("Rerun to get", "Rerun LaTeX", "Label(s) may")):
            break
    pdf = tex.with_suffix(".pdf")
    return Pdf(pdf, page_count(pdf), time.perf_counter() - start, passes)


def page_count(pdf: Path) -> int:
    """Return the number of pages of ``pdf`` (``pdfinfo``)."""
    done = subprocess.run(
        [_tool("pdfinfo"), str(pdf)], capture_output=True, text=True, check=False
    )
    match = re.search(r"^Pages:\s+(\d+)", done.stdout, re.M)
    if done.returncode != 0 or match is None:
        raise SatError(f"{pdf} does not open: {done.stderr.strip()}")
    return int(match[1])


def pdf_text(pdf: Path) -> list[str]:
    """Return the text of each page of ``pdf`` in reading order (``pdftotext -raw``)."""
    done = subprocess.run(
        [_tool("pdftotext"), "-raw", "-enc", "UTF-8", str(pdf), "-"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SatError(f"pdftotext cannot read {pdf}: {done.stderr.strip()}")
    # NFKC undoes the ligatures (fi, fl) the fonts typeset.
    return unicodedata.normalize("NFKC", done.stdout).split("\f")


def check_fonts(pdf: Path) -> list[str]:
    """Return the fonts of ``pdf`` that are not embedded Type 1 (``pdffonts``)."""
    done = subprocess.run(
        [_tool("pdffonts"), str(pdf)], capture_output=True, text=True, check=False
    )
    problems = []
    for line in done.stdout.splitlines()[2:]:
        fields = line.split()
        # name type [encoding] emb sub uni object ID
        kind = " ".join(fields[1:3]) if len(fields) > 2 else ""
        if not kind.startswith("Type 1") or fields[-5] != "yes":
            problems.append(line.strip())
    return problems


def _squeeze(text: str) -> str:
    # pdfLaTeX breaks lines at spaces and after / . :: _; compare without them.
    return re.sub(r"\s+", "", text)


def matrix_pages(pages: list[str]) -> list[int]:
    """Return the (0-based) pages holding the traceability matrix."""
    found, inside = [], False
    for number, page in enumerate(pages):
        flat = _squeeze(page)
        if _squeeze(MATRIX_START) in flat:
            inside = True
        if inside:
            found.append(number)
        if inside and _squeeze(MATRIX_END) in flat:
            break
    return found


def check_pdf(pdf: Path, rows) -> list[str]:
    """Return what the PDF's traceability matrix misses of ``rows``.

    Parameters
    ----------
    pdf : Path
        The AIV PDF.
    rows : list of satdev.report.TraceRow
        The report's traceability: every one must be in the matrix, in this
        order, with its verdict (label) and its evidence between its id and
        the next one.

    Returns
    -------
    list of str
        One line per problem; empty when the matrix lists every row.
    """
    pages = pdf_text(pdf)
    where = matrix_pages(pages)
    if not where:
        return [f"{pdf}: no traceability matrix (no '{MATRIX_START}')"]
    flat = _squeeze("".join(pages[i] for i in where))
    start = flat.find(_squeeze(MATRIX_START))
    end = flat.find(_squeeze(MATRIX_END), start)
    matrix = flat[start : end if end >= 0 else None]
    problems, cursor = [], 0
    positions = []
    for row in rows:
        # An id is followed by a non-digit: C-SAT-0010 is not C-SAT-00100.
        match = re.compile(re.escape(row.id) + r"(?!\d)").search(matrix, cursor)
        if match is None:
            problems.append(f"{row.id}: missing from the traceability matrix")
            positions.append(None)
            continue
        positions.append(match.start())
        cursor = match.end()
    found = [(row, p) for row, p in zip(rows, positions, strict=True) if p is not None]
    for index, (row, position) in enumerate(found):
        stop = found[index + 1][1] if index + 1 < len(found) else len(matrix)
        cell = matrix[position:stop]
        for what, text in (("verdict", row.label), ("evidence", row.evidence)):
            if _squeeze(text) not in cell:
                problems.append(f"{row.id}: its {what} {text!r} is not in its row")
    return problems


def to_png(pdf: Path, page: int, out: Path, dpi: int = 110) -> Path:
    """Render one (0-based) page of ``pdf`` as a PNG at ``out`` (``pdftoppm``)."""
    prefix = out.with_suffix("")
    done = subprocess.run(
        [
            _tool("pdftoppm"),
            "-png",
            "-r",
            str(dpi),
            "-f",
            str(page + 1),
            "-l",
            str(page + 1),
            "-singlefile",
            str(pdf),
            str(prefix),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    png = prefix.with_suffix(".png")
    if done.returncode != 0 or not png.is_file():
        raise SatError(f"pdftoppm failed on {pdf}: {done.stderr.strip()}")
    if png != out:
        png.replace(out)
    return out
