"""The AIV report in CTAO's form: ``aiv-config.yml``, traceability CSV, PDF.

CTAO's AIV toolkit (``ctao-aiv-toolkit``, ``aiv-report``) turns a project's CI
artifacts into the LaTeX/PDF release report a review signs. It cannot render
ctao-sat's: every version reads the project from CTAO's GitLab API and SonarQube
before it writes anything, and 6.0.0 takes requirements and test cases from
CTAO's Jama (credentials, network) and no longer reads JUnit XML. Its document
class needs LuaLaTeX with fonts Debian does not ship in the LaTeX packages
(Fira, Inter), biber and minted. So ctao-sat renders the same document itself,
offline, from its own verification content (`satdev.report.Report`), keeping the
toolkit's configuration file, file names and columns, and its report's
structure:

- `config`: ``aiv-config.yml`` (the toolkit's variables, and our sign-off);
- `document`: the content, arranged as the toolkit's report arranges it;
- `files`: the release plan and the traceability CSV the toolkit parses;
- `latex`: the LaTeX template's environment, pdfLaTeX, and the check that reads
  the PDF back;
- `texlive`: the Debian packages (``python -m satdev.aiv.texlive``).

`write_aiv` writes them all into the report folder's ``aiv/``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

__all__ = ["AivReport", "write_aiv"]

# Auxiliary files of pdfLaTeX, removed once the PDF is made.
AUXILIARY = (".aux", ".toc", ".out")


@dataclass(frozen=True)
class AivReport:
    """What `write_aiv` made.

    Attributes
    ----------
    pdf : Path
        The AIV report (``aiv/ctao-sat-<version>-aiv-report.pdf``).
    pages : int
        Its page count.
    seconds : float
        pdfLaTeX's time, all passes.
    passes : int
        How many times pdfLaTeX ran.
    findings : int
        How many non-conformances the document lists.
    files : dict
        ``{name: path}`` of everything written, relative to the report folder.
    """

    pdf: Path
    pages: int
    seconds: float
    passes: int
    findings: int
    files: dict[str, str]


def write_aiv(report, out: str | Path, root: str | Path) -> AivReport:
    """Write the AIV files of ``report`` into ``out/aiv`` and check the PDF.

    Writes the release plan and the traceability CSV under the names
    ``aiv-config.yml`` gives, a copy of that file, the LaTeX source and the PDF,
    then reads the PDF back: every requirement and use case must be in its
    traceability matrix with its verdict and evidence, and every font must be
    an embedded Type 1 font. Adds each file to ``report.aiv``; the caller
    renders the report again so that its other forms list them.

    Parameters
    ----------
    report : satdev.report.Report
        The verification report (verify's, or the release's).
    out : str or Path
        The report folder (``build/report``); plots are read from it.
    root : str or Path
        The repository (``aiv-config.yml``, ``CHANGES.md``).

    Raises
    ------
    sat.errors.SatError
        The configuration is wrong, pdfLaTeX failed, or the PDF misses what it
        must show (each problem named).
    """
    from sat.errors import SatError
    from satdev.aiv.config import CONFIG, read_config
    from satdev.aiv.document import build_document
    from satdev.aiv.files import write_release_plan, write_traceability
    from satdev.aiv.latex import check_fonts, check_pdf, compile_pdf, render_tex

    out, root = Path(out), Path(root)
    config = read_config(root)
    document = build_document(report, config, root)
    aiv = out / "aiv"
    written = {
        "traceability": write_traceability(
            document, aiv / Path(config["TRACEABILITY_CSV_FN"]).name
        ),
        "release plan": write_release_plan(
            document, aiv / Path(config["RELEASE_PLAN_FN"]).name
        ),
    }
    written[CONFIG] = aiv / CONFIG
    shutil.copyfile(config.path, written[CONFIG])
    latex = aiv / "latex"
    if latex.exists():
        shutil.rmtree(latex)
    latex.mkdir(parents=True)
    name = f"ctao-sat-{report.release}-aiv-report"
    tex = latex / f"{name}.tex"
    tex.write_text(
        render_tex(document, graphics=Path("..", "..").as_posix() + "/"),
        encoding="utf-8",
    )
    epoch = int(datetime.fromisoformat(report.created).timestamp())
    made = compile_pdf(tex, epoch=epoch)
    pdf = aiv / made.path.name
    made.path.replace(pdf)
    for suffix in AUXILIARY:
        tex.with_suffix(suffix).unlink(missing_ok=True)
    written["AIV report (PDF)"] = pdf
    written["AIV report (LaTeX)"] = tex
    problems = check_pdf(pdf, report.traceability)
    problems += [f"font not embedded Type 1: {font}" for font in check_fonts(pdf)]
    if problems:
        raise SatError(
            f"the AIV report {pdf} is incomplete:\n  " + "\n  ".join(problems)
        )
    files = {key: path.relative_to(out).as_posix() for key, path in written.items()}
    report.aiv.update(files)
    return AivReport(
        pdf=pdf,
        pages=made.pages,
        seconds=made.seconds,
        passes=made.passes,
        findings=len(document.findings),
        files=files,
    )
