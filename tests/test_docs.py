"""The documentation's generated pages and its browser check.

Building the site runs every use case (minutes): `nox -s docs` does that, and then
runs the same browser check on the built site. Here the generators are tested as
functions on the real registry, catalogue and pins, and the browser check on a tiny
page in Debian's headless Chromium.
"""

import re
import sys

import pytest
import yaml

from sat import stack
from sat.cli.main import COMMANDS
from sat.usecases.registry import usecases
from satdev import load_catalogue
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "docs" / "_ext"))
import build_site
import gallery
import satdocs
import sitecheck

pytestmark = pytest.mark.verifies_requirement("C-SAT-0130")


@pytest.fixture(scope="module")
def ksps():
    return satdocs.load_ksps()


def _row(matrix: str, name: str) -> str:
    # The list-table row of programme `name`: from its first cell to the next row.
    start = matrix.index(f"   * - {name}\n")
    end = matrix.find("\n   * - ", start + 1)
    return matrix[start : end if end > 0 else None]


def _report(path, labels, release=None):
    """A report.json as the verification writes it (the report model)."""
    from satdev.report import Report, TraceRow

    rows = [
        TraceRow(
            id=rid,
            kind="requirement",
            method="test",
            text="t",
            evidence="tests traced to it",
            evidence_kind="tests",
            verdict=label.split(" (")[0],
            label=label,
        )
        for rid, label in labels.items()
    ]
    report = Report(
        title="t",
        release=release or stack.release_version(),
        created="2026-12-05T12:00:00+00:00",
        verdict="PASS",
        run_id="run-1",
        gates=[],
        traceability=rows,
        tests={},
        usecases={},
        environment={},
    )
    path.write_text(report.model_dump_json())
    return path


@pytest.fixture
def all_verified(tmp_path):
    """The verdicts of a report where every catalogued id is VERIFIED."""
    catalogue = load_catalogue()
    ids = [*catalogue.requirements, *catalogue.usecases]
    ids += [case.usecase_id for case in usecases().values()]
    path = _report(tmp_path / "report.json", dict.fromkeys(ids, "VERIFIED"))
    return satdocs.load_verdicts(path, stack.release_version())


def test_readiness_matrix_lists_every_ksp_with_its_status(ksps, all_verified):
    matrix = satdocs.readiness_matrix(
        ksps, usecases(), load_catalogue(), COMMANDS, all_verified
    )
    names = [entry["name"] for entry in ksps["ksps"]]
    assert len(names) == 10 and "Galactic Plane Survey" in names
    for entry in ksps["ksps"]:
        assert f"   * - {entry['name']}" in matrix
    assert matrix.startswith(
        f"Verdicts from the verify report of {stack.release_version()} made "
        "2026-12-05T12:00:00+00:00 (nox run run-1)."
    )
    # Pulsars needs pulsar and spectrum-1d: both registered, validated use cases.
    pulsars = _row(matrix, "Pulsars (science case)")
    assert "✔ supported (2/2)" in pulsars
    assert ":doc:`pulsar </auto_examples/plot_pulsar>` (SUSS-UC-SAT-070)" in pulsars
    assert "verification: SUSS-UC-SAT-070 VERIFIED, C-SAT-0080 VERIFIED" in pulsars
    # Dark matter: map-3d, sensitivity and dark-matter-limits, all registered.
    dark = _row(matrix, "Dark matter programme")
    assert "✔ supported (3/3)" in dark
    assert (
        ":doc:`dark-matter-limits </auto_examples/plot_dark_matter_limits>` "
        "(SUSS-UC-SAT-160)" in dark
    )
    assert "verification: SUSS-UC-SAT-160 VERIFIED, C-SAT-0080 VERIFIED" in dark


def test_readiness_matrix_reads_the_verdicts_of_the_report(ksps, tmp_path):
    catalogue = load_catalogue()
    version = stack.release_version()
    # No report of this release: nothing is marked verified.
    assert satdocs.load_verdicts(tmp_path / "none.json", version) is None
    other = _report(tmp_path / "old.json", {"C-SAT-0080": "VERIFIED"}, "2026.1.0")
    assert satdocs.load_verdicts(other, version) is None
    matrix = satdocs.readiness_matrix(ksps, usecases(), catalogue, COMMANDS)
    assert "nothing is marked verified in this build" in matrix
    assert "✔" not in matrix.split("\n\n", 1)[1]
    pulsars = _row(matrix, "Pulsars (science case)")
    assert "◐ partial (0/2)" in pulsars and "not verified in this build" in pulsars
    # A use case whose validation failed in the report is not supported.
    labels = {"C-SAT-0080": "VERIFIED", "SUSS-UC-SAT-070": "FAIL"}
    verdicts = satdocs.load_verdicts(_report(tmp_path / "r.json", labels), version)
    status, text = satdocs.capability_status(
        "pulsar", usecases(), catalogue, COMMANDS, ksps, verdicts
    )
    assert status == "partial"
    assert text.endswith("verification: SUSS-UC-SAT-070 FAIL, C-SAT-0080 VERIFIED")
    status, text = satdocs.capability_status(
        "spectrum-1d", usecases(), catalogue, COMMANDS, ksps, verdicts
    )
    assert (status, text.split("; ")[-1]) == (
        "partial",
        "verification: SUSS-UC-SAT-010 not in the report, C-SAT-0080 VERIFIED",
    )


def test_readiness_matrix_follows_the_registry(ksps, all_verified):
    # The matrix is made from the registry: a use case that leaves it (or is not
    # there yet) changes its rows, so the matrix cannot go stale.
    registry = dict(usecases())
    catalogue = load_catalogue()
    now = satdocs.readiness_matrix(ksps, registry, catalogue, COMMANDS, all_verified)
    assert "✔ supported (3/3)" in _row(now, "Dark matter programme")
    del registry["dark-matter-limits"]
    before = satdocs.readiness_matrix(ksps, registry, catalogue, COMMANDS, all_verified)
    dark = _row(before, "Dark matter programme")
    assert "◐ partial (2/3)" in dark
    assert "**dark-matter-limits**: ◐ partial — catalogued only" in dark
    # An analysis that is neither registered nor catalogued (every named one of
    # ksp.yaml gets its use case in time).
    only_missing = {
        "ksps": [{"name": "Nothing yet", "needs": ["made-up-analysis"]}],
        "missing": {"made-up-analysis": "An analysis no use case provides."},
    }
    matrix = satdocs.readiness_matrix(only_missing, {}, catalogue, COMMANDS)
    assert "✘ missing (0/1)" in matrix


def test_readiness_matrix_catalogued_capabilities(ksps, all_verified):
    catalogue = load_catalogue()
    status, text = satdocs.capability_status(
        "archive", usecases(), catalogue, COMMANDS, ksps, all_verified
    )
    assert status == "supported" and "``ctao-sat archive``" in text
    assert "C-SAT-0180 VERIFIED" in text
    # A catalogued analysis with neither a registered use case nor a command.
    status, text = satdocs.capability_status("survey", {}, catalogue, {}, ksps)
    assert status == "partial" and "catalogued only" in text


def test_readiness_matrix_rejects_unknown_names(ksps):
    bad = {"ksps": [{"name": "X", "needs": ["no-such-analysis"]}], "missing": {}}
    with pytest.raises(ValueError, match="no-such-analysis"):
        satdocs.readiness_matrix(bad, usecases(), load_catalogue(), COMMANDS)
    wrong = {**ksps, "requirements": {"survey": ["C-SAT-9999"]}}
    with pytest.raises(ValueError, match="C-SAT-9999"):
        satdocs.capability_status("survey", {}, load_catalogue(), COMMANDS, wrong)


def test_every_use_case_gets_a_gallery_page(tmp_path):
    written = gallery.write_pages(usecases(), tmp_path)
    assert [path.name for path in written] == [
        f"plot_{name.replace('-', '_')}.py" for name in usecases()
    ]
    entries = gallery.load_entries()
    for name, path in zip(usecases(), written, strict=True):
        text = path.read_text()
        compile(text, str(path), "exec")  # a script sphinx-gallery can run
        assert f'NAME = "{name}"' in text
        assert text.startswith(f'"""\n{entries[name]["title"]} (``{name}``)\n')
        overrides = entries[name].get("overrides") or {}
        assert f"OVERRIDES = {overrides!r}\n" in text
        if overrides:
            assert ".. note::" in text and "--config light.yaml" in text
            # The YAML shown for the command line is the overrides (nested ones
            # too, e.g. ebl-absorption's simulation block).
            block = text.split("# .. code-block:: yaml\n#\n", 1)[1]
            lines = block.split("\n#\n", 1)[0].splitlines()
            shown = "\n".join(line.removeprefix("#     ") for line in lines)
            assert yaml.safe_load(shown) == overrides
        else:
            assert "with its default configuration" in text
    survey = (tmp_path / "plot_survey.py").read_text()
    assert "import json" in survey and "result['reduction']" in survey
    # Written only when changed: a rebuild does not touch the sources.
    before = written[0].stat().st_mtime_ns
    gallery.write_pages(usecases(), tmp_path)
    assert written[0].stat().st_mtime_ns == before


def test_a_use_case_without_a_page_entry_fails_the_build(tmp_path):
    entries = dict(gallery.load_entries())
    del entries["pulsar"]
    entries["no-such"] = {"title": "x", "intro": "y"}
    with pytest.raises(ValueError, match=r"entry for \['pulsar'\].*\['no-such'\]"):
        gallery.write_pages(usecases(), tmp_path, entries)
    bad = tmp_path / "gallery.yaml"
    bad.write_text("survey: {title: t, intro: i, overrides: {n_runs: 2}}\n")
    with pytest.raises(ValueError, match="overrides need a why"):
        gallery.load_entries(bad)
    bad.write_text("survey: {title: t, intro: i, colour: red}\n")
    with pytest.raises(ValueError, match=r"unknown \['colour'\]"):
        gallery.load_entries(bad)


def test_catalogue_table_has_every_requirement_and_use_case():
    catalogue = load_catalogue()
    table = satdocs.catalogue_table(catalogue)
    for rid in catalogue.requirements:
        assert f"``{rid}``" in table
    for uid, entry in catalogue.usecases.items():
        assert f"``{uid}``" in table and f"``{entry['name']}``" in table
    assert "not yet verified" in table  # B-SUSS-1620 says so
    # Each requirement says what its verdict rests on.
    assert "demonstration: session container (deploy_s <= 3600)" in table
    assert "test: session docs" in table


def test_pins_table_is_the_pin_file():
    pins = stack.load_pins()
    table = satdocs.pins_table(pins, stack.release())
    for pin in pins:
        assert f"   * - ``{pin.name}``\n     - ``{pin.version}``" in table
    assert f"Release **{stack.release_version()}**" in table
    assert "``2.1``" in table  # gammapy


def test_release_notes_render_the_fragments(tmp_path):
    # A copy of the project's towncrier set-up, so that the test does not depend
    # on which fragments are waiting for the next release.
    import shutil

    shutil.copyfile(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    changes = tmp_path / "docs" / "changes"
    changes.mkdir(parents=True)
    (changes / "8.feature.md").write_text("An executed use-case gallery.\n")
    (changes / "+fix.bugfix.md").write_text("A fixed bug.\n")
    notes = satdocs.release_notes("2099.01.0", root=tmp_path)
    assert notes.startswith("## ctao-sat 2099.01.0")
    assert "### New features" in notes and "### Bug fixes" in notes
    assert "An executed use-case gallery. (#8)" in notes
    assert (changes / "8.feature.md").is_file()  # a draft keeps the fragments
    # The project's own fragments render too.
    assert satdocs.release_notes(stack.release_version()).startswith("## ctao-sat")


def test_list_table_renders_multiline_cells():
    table = satdocs.list_table("T", ["a", "b"], [["x", "line 1\nline 2"], ["", "y"]])
    assert "     - line 1\n       line 2" in table
    assert "   * - \\-" in table


def test_browser_check_sees_figures_and_broken_images(tmp_path):
    from PIL import Image

    Image.new("RGB", (40, 20), "red").save(tmp_path / "figure.png")
    page = tmp_path / "page.html"
    page.write_text(
        "<html><body><h1>t</h1>"
        '<img class="sphx-glr-single-img" src="figure.png">'
        '<img src="gone.png"></body></html>'
    )
    images = sitecheck.images_in_browser(page)
    assert images == [
        (True, "sphx-glr-single-img", "figure.png"),
        (False, "", "gone.png"),
    ]
    assert not list(tmp_path.glob(".sitecheck-*"))  # the probe copy is removed
    problems = sitecheck.check_site(
        tmp_path, {"page.html": "sphx-glr-single-img", "nope.html": None}
    )
    assert problems == [
        f"{page}: image gone.png did not load",
        f"{tmp_path / 'nope.html'}: missing",
    ]
    (tmp_path / "gone.png").write_bytes((tmp_path / "figure.png").read_bytes())
    assert sitecheck.main([str(tmp_path)]) == 1  # index.html is missing
    assert sitecheck.check_page(page, "other-class") == [
        f"{page}: no figure (other-class) rendered"
    ]
    assert re.search("LOADED", sitecheck.PROBE)


def test_browser_check_rejects_a_page_without_body(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text("just text")
    with pytest.raises(ValueError, match="not an HTML page"):
        sitecheck.images_in_browser(page)


def test_report_status_links_the_report_or_says_how_to_make_it(tmp_path):
    missing = satdocs.report_status(tmp_path / "report")
    assert "No verification report existed" in missing and ".. warning::" in missing
    report = tmp_path / "report"
    report.mkdir()
    (report / "index.html").write_text("<html></html>")
    (report / "report.json").write_text(
        '{"release": "2026.11.0", "created": "2026-11-27T12:00:00+00:00",'
        ' "verdict": "PASS", "gates": [{"name": "tests", "passed": true},'
        ' {"name": "coverage", "passed": false}]}'
    )
    text = satdocs.report_status(report)
    assert "release 2026.11.0" in text
    assert "verdict **PASS** (tests PASS, coverage FAIL)" in text
    assert "<../verification-report/index.html>`__" in text


def test_probe_report_is_read_whatever_the_theme_adds():
    dom = '<pre id="sitecheck" tabindex="-1">LOADED logo a.png\nBROKEN  b.png</pre>'
    assert sitecheck.parse_probe(dom) == [(True, "logo", "a.png"), (False, "", "b.png")]
    with pytest.raises(RuntimeError, match="did not finish loading"):
        sitecheck.parse_probe("<html></html>", "x.html")


def test_usecase_api_has_a_section_per_registered_use_case():
    text = satdocs.usecase_api(usecases())
    for name, usecase in usecases().items():
        assert f".. automodule:: {usecase.__module__}\n" in text
        assert f"</auto_examples/plot_{name.replace('-', '_')}>" in text
    assert text.count(".. automodule::") == len(usecases())


def test_gallery_evidence_counts_only_examples_run_in_this_build(tmp_path):
    import os
    import time

    html, rst = tmp_path / "html" / "auto_examples", tmp_path / "auto_examples"
    html.mkdir(parents=True)
    rst.mkdir()
    started = time.time()
    for name in ("plot_joint_crab", "plot_pulsar"):
        (html / f"{name}.html").write_text("<html></html>")
        (rst / f"{name}.rst").write_text("page")
    names = ["joint-crab", "pulsar"]
    check = build_site.gallery_executed(html.parent, started - 1, names, rst)
    assert check.passed and check.figures == {"examples_run": 2, "usecases": 2}
    assert check.requirements == ("C-SAT-0130",)
    # An example sphinx-gallery reused from an earlier build is no evidence.
    os.utime(rst / "plot_pulsar.rst", (started - 3600, started - 3600))
    check = build_site.gallery_executed(html.parent, started - 1, names, rst)
    assert not check.passed
    assert check.message == "not run in this build (reused from an earlier one): pulsar"
    check = build_site.gallery_executed(html.parent, started - 1, [*names, "x"], rst)
    assert check.message.startswith("no gallery page for x; ")
