"""The AIV report in CTAO's form: aiv-config.yml, the traceability CSV, the PDF.

A real small verification: a tiny pytest run (a traced test passing, one
failing with every LaTeX special character in its message, unlinked ones), a
real run of the joint-crab use case and the benchmark record of the previous
release (benchmarks/history/), evaluated and reported as ``nox -s verify`` does.
The PDF is built with pdfLaTeX for real, read back with pdftotext, its fonts
listed with pdffonts and its traceability matrix page rendered with pdftoppm.
"""

import csv
import re
import shutil
import subprocess
import sys

import pytest

from sat.errors import SatError
from satdev.aiv import write_aiv
from satdev.aiv.config import CONFIG, OURS, Person, parse_people, read_config
from satdev.aiv.document import build_document, dependency_findings
from satdev.aiv.files import CSV_COLUMNS
from satdev.aiv.latex import (
    MATRIX_START,
    check_fonts,
    check_pdf,
    compile_pdf,
    matrix_pages,
    page_count,
    pdf_text,
    to_png,
)
from satdev.aiv.texlive import PACKAGES, missing
from satdev.report import write_report
from satdev.verify import evaluate, run_tests
from tests.conftest import REPO

pytestmark = pytest.mark.verifies_requirement("C-SAT-0160")

# Every character LaTeX would read as a command, in a failing test's message.
SPECIALS = r"100% of C_SAT {x} ~y ^z #1 & $5 <= a|b \ c > d"
# The toolkit's required columns (aivkit.autoreport.generators.traceability_matrix
# of ctao-aiv-toolkit 5.3.0 refuses a file without them).
TOOLKIT_COLUMNS = ["uc_id", "uc_name", "level_c_req", "level_c_req_name"]
CHAPTERS = [
    "Introduction",
    "Scope and versions",
    "Verification plan",
    "Traceability matrix",
    "Test results",
    "Non-conformances",
    "Unlinked tests",
    "Performance verification",
    "Environment",
]


@pytest.fixture(scope="module")
def verification(tmp_path_factory):
    """A real small verification: a tiny suite, joint-crab, last release's bench."""
    root = tmp_path_factory.mktemp("aiv")
    suite = root / "suite"
    (suite / "sat").mkdir(parents=True)
    (suite / "pytest.ini").write_text("[pytest]\naddopts = -p pytest_requirements\n")
    (suite / "sat" / "__init__.py").write_text("def one():\n    return 1\n")
    (suite / "test_tiny.py").write_text(
        "import pytest\nfrom sat import one\n\n"
        "@pytest.mark.verifies_requirement('C-SAT-0160')\n"
        "@pytest.mark.verifies_usecase('SUSS-UC-SAT-040')\n"
        "def test_one_is_one():\n    assert one() == 1\n\n"
        "@pytest.mark.verifies_requirement('C-SAT-0020')\n"
        "def test_one_is_two():\n"
        f"    assert one() == 2, {SPECIALS!r}\n\n"
        "def test_not_traced_helper():\n    assert one()\n\n"
        "@pytest.mark.parametrize('case', ['multi-word_case'])\n"
        "def test_not_traced_param(case):\n    assert case\n\n"
        "@pytest.mark.skip(reason='skipped on purpose')\n"
        "def test_not_traced_skipped():\n    assert one()\n"
    )
    inputs = run_tests(suite, root / "out", echo=False)
    usecases = root / "usecases"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sat.cli",
            "run",
            "joint-crab",
            "-q",
            "--output",
            str(usecases / "joint-crab"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    inputs.usecases = usecases
    inputs.bench = REPO / "benchmarks" / "history" / "2026.11.0.json"
    return root, evaluate(inputs)


@pytest.fixture(scope="module")
def aiv(verification):
    """The report of that verification and its AIV files, as verify writes them."""
    root, result = verification
    out = root / "report"
    report = write_report(result, out)
    return report, write_aiv(report, out, REPO), out


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _chapter(pages: list[str], title: str) -> str:
    """The text of a numbered chapter (its heading, not the table of contents)."""
    text = "\f".join(pages)
    start = re.search(rf"[\n\f]\d+ {re.escape(title)}\n", text)
    assert start, f"no chapter {title!r}"
    end = re.compile(r"[\n\f](\d+|A) [A-Z][a-z -]+\n").search(text, start.end())
    return text[start.start() : end.start() if end else None]


def test_the_pdf_has_ctaos_sections_and_every_verdict_in_its_matrix(aiv, tmp_path):
    report, made, out = aiv
    pdf = out / "aiv" / f"ctao-sat-{report.release}-aiv-report.pdf"
    assert made.pdf == pdf and pdf.is_file()
    assert made.pages == page_count(pdf) > 10
    assert report.aiv["AIV report (PDF)"] == pdf.relative_to(out).as_posix()
    # Every requirement and use case, in order, with its verdict and evidence.
    assert check_pdf(pdf, report.traceability) == []
    assert check_fonts(pdf) == []
    pages = pdf_text(pdf)
    text = "\f".join(pages)
    # The chapters of CTAO's report, numbered in its order.
    numbers = [
        int(re.search(rf"[\n\f](\d+) {re.escape(chapter)}\n", text)[1])
        for chapter in CHAPTERS
    ]
    assert numbers == list(range(1, len(CHAPTERS) + 1))
    # Document information: the sign-off is unset in the repository's config.
    assert "Prepared by" in text and "Reviewed by" in text and "Approved by" in text
    assert text.count("(unset: see aiv-config.yml)") == 3
    assert f"Verification report of release {report.release} (verify stage" in text
    # The matrix page, as a reviewer sees it: the rows, coloured verdicts.
    matrix = matrix_pages(pages)
    assert matrix, "no traceability matrix"
    first = _flat(pages[matrix[0]])
    assert _flat(MATRIX_START) in first
    for row in report.traceability[:5]:
        assert _flat(row.id) in first, row.id
    png = to_png(pdf, matrix[0], tmp_path / "matrix.png")
    from PIL import Image

    with Image.open(png) as image:
        assert image.size[0] > 800 and image.size[1] > 1100  # A4 at 110 dpi
        rgb = image.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 16)
    dark = sum(count for count, (r, g, b) in colours if r + g + b < 200)
    greenish = sum(count for count, (r, g, b) in colours if g > 90 and r < 60)
    reddish = sum(count for count, (r, g, b) in colours if r > 140 and g < 60)
    assert dark > 10_000  # text and rules, not a blank page
    assert greenish > 50 and reddish > 50  # VERIFIED and FAIL in their colours
    shutil.copyfile(png, out / "aiv" / "matrix-page.png")


def test_a_row_missing_from_the_matrix_fails_the_check(aiv, tmp_path):
    report, made, out = aiv
    source = (out / "aiv" / "latex" / made.pdf.with_suffix(".tex").name).read_text()
    rows = {row.id: row for row in report.traceability}
    # One requirement's row dropped, another's verdict changed.
    dropped = re.compile(r"^\\textbf\{C-\{\}SAT-\{\}0160\} & test &.*\n", re.M)
    assert len(dropped.findall(source)) == 1
    changed = re.compile(r"^(\\textbf\{C-\{\}SAT-\{\}0020\}.*)\\textbf\{FAIL\}", re.M)
    assert len(changed.findall(source)) == 1
    tampered = changed.sub(r"\1\\textbf{VERIFIED}", dropped.sub("", source))
    copy = tmp_path / "report"
    shutil.copytree(out, copy)  # the plots, where the source finds them
    tex = copy / "aiv" / "latex" / "tampered.tex"
    tex.write_text(tampered)
    pdf = compile_pdf(tex).path
    assert check_pdf(pdf, report.traceability) == [
        "C-SAT-0160: missing from the traceability matrix",
        f"C-SAT-0020: its verdict {rows['C-SAT-0020'].label!r} is not in its row",
    ]


def test_latex_specials_come_out_as_typed(aiv):
    _, made, _ = aiv
    text = _flat("".join(pdf_text(made.pdf)))
    # The failing test's message, with % _ { } ~ ^ # & $ < | \ >, in the
    # non-conformances (as a test result and as the requirement's reason).
    assert text.count(_flat(f"AssertionError: {SPECIALS}")) >= 2
    assert _flat("test_tiny::test_one_is_two") in text
    # Units and intervals of the benchmarks: "<= 4096 MiB", a percent sign.
    assert _flat("<= 4096 MiB") in text


def test_non_conformances_name_every_failure_and_the_unlinked_tests(aiv):
    report, made, _ = aiv
    pages = pdf_text(made.pdf)
    section = _flat(_chapter(pages, "Non-conformances"))
    document = build_document(report, read_config(REPO), REPO)
    modules = {finding.module for finding in document.findings}
    assert {"Gates", "Traceability", "Tests", "Goals", "Document"} <= modules
    for finding in document.findings:
        assert _flat(finding.subject) in section, finding
    assert _flat("C-SAT-0020") in section and _flat("skipped: ") in section
    # B-SUSS-1620/1760 are goals this release does not claim.
    assert _flat("B-SUSS-1620") in section
    assert _flat(f"not claimed by release {report.release}") in section
    unlinked = _flat(_chapter(pages, "Unlinked tests"))
    assert [t.test for t in report.unlinked] == [
        "test_tiny::test_not_traced_helper",
        "test_tiny::test_not_traced_param[multi-word_case]",  # brackets as typed
        "test_tiny::test_not_traced_skipped",
    ]
    assert _flat("3 of 5 test cases") in unlinked
    for test in report.unlinked:
        assert _flat(test.test) in unlinked


def test_performance_shows_the_budgets_and_the_figures(aiv):
    report, made, _ = aiv
    section = _flat(_chapter(pdf_text(made.pdf), "Performance verification"))
    for result in report.benchmarks["results"]:
        assert _flat(result["name"]) in section
    assert _flat("ctao_sat_help_cpu_s") in section
    # The demonstration (deploy within the hour) with its evidence and verdict.
    assert _flat("B-SUSS-1530demonstrationsessioncontainer(deploy_s<=3600)") in (
        section
    )
    assert len(report.plots) >= 3
    for path in report.plots.values():
        assert _flat(path) in section


def test_dependencies_not_released_or_not_at_their_pin_are_findings(aiv):
    report, _, _ = aiv
    environment = report.environment
    assert dependency_findings(environment) == []  # the real environment
    broken = {
        **environment,
        "pins": [
            {"name": "gammapy", "pinned": "2.1", "installed": "2.2"},
            {"name": "naima", "pinned": "0.11rc1", "installed": "0.11rc1"},
            {"name": "regions", "pinned": "0.11", "installed": None},
        ],
        "distributions": {"numpy": "2.4.6", "scipy": "1.18.0.dev0+g1234"},
    }
    assert [(f.subject, f.description) for f in dependency_findings(broken)] == [
        (
            "gammapy",
            "installed 2.2, pinned 2.1: the verified environment is not the release's",
        ),
        ("naima", "pinned to pre-release 0.11rc1"),
        ("regions", "pinned 0.11, not installed in the verification environment"),
        (
            "scipy",
            "development version 1.18.0.dev0+g1234 installed in the verification "
            "environment (not a release pin)",
        ),
    ]


def test_the_traceability_csv_is_named_and_columned_as_ctao_reads_it(aiv):
    report, made, out = aiv
    config = read_config(REPO)
    path = out / "aiv" / "SUSS_Requirements_Traceability_Matrix.csv"
    assert path.name == config["TRACEABILITY_CSV_FN"].rsplit("/", 1)[1]
    assert made.files["traceability"] == f"aiv/{path.name}"
    lines = path.read_text().splitlines()
    # Every field quoted, as the toolkit reads it (csv.QUOTE_ALL).
    assert all(line.startswith('"') and line.endswith('"') for line in lines)
    with path.open(newline="") as stream:
        reader = csv.DictReader(stream)
        assert reader.fieldnames[:4] == TOOLKIT_COLUMNS
        assert tuple(reader.fieldnames) == CSV_COLUMNS
        rows = list(reader)
    by = {(r["uc_id"], r["level_c_req"]): r for r in rows}
    # The test tracing to both links the use case and the requirement.
    linked = by[("SUSS-UC-SAT-040", "C-SAT-0160")]
    assert linked["uc_name"].startswith("joint-crab: ")
    assert linked["req_verdict"] == "VERIFIED" and linked["method"] == "test"
    assert linked["uc_verdict"] == "VERIFIED"  # its release run validated
    # Every requirement and use case is in the file; Level B in its own column.
    ids = {r["uc_id"] for r in rows} | {r["level_c_req"] for r in rows}
    ids |= {r["level_b_req"] for r in rows}
    assert {row.id for row in report.traceability} <= ids
    level_b = {r["level_b_req"] for r in rows if not r["level_c_req"]} - {""}
    assert level_b == {"B-SUSS-1530", "B-SUSS-1620", "B-SUSS-1760"}
    c_sat_0010 = by[("", "C-SAT-0010")]
    assert c_sat_0010["level_b_req"] == "B-SUSS-1530"  # its parent


def test_the_release_plan_parses_as_ctaos_toolkit_parses_it(aiv):
    report, made, out = aiv
    config = read_config(REPO)
    text = (out / made.files["release plan"]).read_text()
    release = config["RELEASE"]
    # The toolkit's form: \uclist{<SYSTEM> <release> Use Cases \label{tab:uc-
    # <release>}}{rows}, rows "group & name & id & revised" ended by \\, no & or
    # \\ inside a cell.
    match = re.search(
        r"\\uclist\{SUSS (v\d\.\d\.\d) Use Cases \\label\{tab:uc-v\d\.\d\.\d\}\}"
        r"\{(.*?)\n *\} *\n",
        text,
        re.S,
    )
    assert match and match[1] == release
    rows = [r.strip() for r in match[2].split("\\\\") if r.strip()]
    cells = [[c.strip() for c in row.split("&")] for row in rows]
    assert all(len(row) == 4 and row[0] == "SAT" and row[3] == "" for row in cells)
    assert [row[2] for row in cells] == [
        row.id for row in report.traceability if row.kind == "usecase"
    ]


def test_aiv_config_follows_the_toolkit_schema(tmp_path):
    config = read_config(REPO)
    assert config.system == "SUSS" and config["UC_GROUPS"] == "SAT"
    assert config["CHART_LOCATION"] == "chart"
    assert (REPO / config["CHART_LOCATION"] / "Chart.yaml").is_file()
    assert (REPO / config["AIV_DOCKERFILE"]).is_file()
    for key in ("TRACEABILITY_CSV_FN", "RELEASE_PLAN_FN"):
        assert config[key].startswith("build/report/aiv/")  # where verify writes
    assert {role: config.people(role) for role in ("preparer", "approver")} == {
        "preparer": [],
        "approver": [],
    }
    text = (REPO / CONFIG).read_text()

    def broken(old, new):
        (tmp_path / CONFIG).write_text(text.replace(old, new))
        with pytest.raises(SatError) as error:
            read_config(tmp_path)
        return str(error.value)

    assert "unknown variable(s) UC_GROUP:" in broken("UC_GROUPS:", "UC_GROUP:")
    assert "AIV_SYSTEM is 'SAT'" in broken("AIV_SYSTEM: SUSS", "AIV_SYSTEM: SAT")
    assert "REPORT_PREPARER in" in broken(
        "REPORT_PREPARER: ''", "REPORT_PREPARER: Jane Doe"
    )
    assert "RELEASE must be scalars" in broken("RELEASE: v0.0.0", "RELEASE: [v0]")
    unset = broken("RELEASE_PLAN_FN: build", "RELEASE_PLAN_FN: ''\n#")
    assert "set RELEASE_PLAN_FN" in unset
    (tmp_path / CONFIG).unlink()
    with pytest.raises(SatError, match=r"no aiv-config\.yml"):
        read_config(tmp_path)
    assert parse_people("Jane Doe (CTAO); Ann Poe (INAF, Rome)", "x") == [
        Person("Jane Doe", "CTAO"),
        Person("Ann Poe", "INAF, Rome"),
    ]
    assert {"REPORT_PREPARER", "REPORT_REVIEWERS", "REPORT_APPROVER"} == OURS


def test_the_signoff_and_change_log_come_from_the_project(aiv, tmp_path):
    report, _, out = aiv
    root = tmp_path / "root"
    root.mkdir()
    text = (REPO / CONFIG).read_text()
    for old, new in (
        ("REPORT_PREPARER: ''", "REPORT_PREPARER: Jane Doe (CTAO)"),
        ("REPORT_REVIEWERS: ''", "REPORT_REVIEWERS: John Roe (CTAO); Zoë Poe (INAF)"),
        ("REPORT_APPROVER: ''", "REPORT_APPROVER: Ann Moe (CTAO)"),
    ):
        text = text.replace(old, new)
    (root / CONFIG).write_text(text)
    (root / "CHANGES.md").write_text(
        "# Changes\n\n<!-- towncrier release notes start -->\n\n"
        "## ctao-sat 2026.11.0 (2026-11-28)\n\n- things\n"
    )
    copy = tmp_path / "report"
    shutil.copytree(out, copy)
    made = write_aiv(report.model_copy(deep=True), copy, root)
    text = "\f".join(pdf_text(made.pdf))
    assert "(unset: see aiv-config.yml)" not in text
    for name in ("Jane Doe, CTAO", "John Roe, CTAO", "Zoë Poe, INAF", "Ann Moe, CTAO"):
        assert name in text
    assert _flat("2026.11.0 2026-11-28 Release 2026.11.0 (CHANGES.md)") in _flat(text)
    document = build_document(report, read_config(root), root)
    assert [c.issue for c in document.changes] == ["2026.11.0", report.release]
    assert not [f for f in document.findings if f.subject.endswith(" by")]


def test_the_session_installer_names_what_is_missing(monkeypatch, tmp_path):
    assert missing() == []  # nox -s tests installed them
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without TeX or poppler
    assert missing() == list(PACKAGES)
