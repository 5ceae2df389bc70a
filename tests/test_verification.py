"""Traceability: markers name catalogue ids, and unknown ids fail the run."""

import pytest

from satdev import load_catalogue

pytestmark = pytest.mark.verifies_requirement("C-SAT-0160")


def test_catalogue_has_the_public_level_b_ids():
    catalogue = load_catalogue()
    assert {"B-SUSS-1530", "B-SUSS-1620", "B-SUSS-1760"} <= catalogue.ids(
        "requirements"
    )
    for entry in catalogue.requirements.values():
        assert entry["text"] and entry["source"]


def test_marker_with_unknown_id_fails_the_session(pytester):
    pytester.makeconftest(
        "from satdev import unknown_ids\n"
        "import pytest\n"
        "def pytest_collection_modifyitems(items):\n"
        "    problems = unknown_ids(items)\n"
        "    if problems:\n"
        "        raise pytest.UsageError('unknown ids: ' + ', '.join(problems))\n"
    )
    pytester.makepyfile(
        "import pytest\n"
        "@pytest.mark.verifies_requirement('C-SAT-9999')\n"
        "def test_x():\n    pass\n"
        "@pytest.mark.verifies_requirement('C-SAT-0010')\n"
        "def test_y():\n    pass\n"
    )
    result = pytester.runpytest("-p", "pytest_requirements")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown ids*test_x*C-SAT-9999*"])


def test_markers_land_in_junit_xml(pytester, tmp_path):
    pytester.makepyfile(
        "import pytest\n"
        "@pytest.mark.verifies_requirement('C-SAT-0010')\n"
        "@pytest.mark.verifies_usecase('SUSS-UC-SAT-010')\n"
        "def test_x():\n    pass\n"
    )
    xml = tmp_path / "junit.xml"
    result = pytester.runpytest("-p", "pytest_requirements", f"--junitxml={xml}")
    assert result.ret == 0
    text = xml.read_text()
    assert 'name="requirement_id" value="C-SAT-0010"' in text
    assert 'name="usecase_id" value="SUSS-UC-SAT-010"' in text
