"""The release's notebooks: one source with the gallery, shipped, copied safely, run.

The notebooks are executed for real here with nbclient on the release's own kernel
(installed by `sat.notebooks.install_kernel` into a scratch prefix): the SDC
tutorial, whose cells run Gammapy step by step and then ``ctao-sat run
spectrum-1d``. ``nox -s container`` executes every notebook inside the Jupyter
image.
"""

import hashlib
import json
import os
import sys

import pytest
from click.testing import CliRunner

from sat import notebooks, stack
from sat.cli import main
from sat.usecases.registry import usecases
from tests.conftest import REPO, assert_user_error

sys.path.insert(0, str(REPO / "docs" / "_ext"))
import gallery_notebooks

pytestmark = pytest.mark.verifies_requirement("C-SAT-0271")

TUTORIAL = "sdc-onoff-tutorial.ipynb"


@pytest.fixture(scope="module")
def rendered():
    return gallery_notebooks.render_all()


def test_shipped_notebooks_are_the_gallery_sources_converted(rendered):
    # One source: regenerating from gallery.yaml, the template and the tutorial
    # gives exactly the files the package ships.
    assert gallery_notebooks.stale(rendered) == [], "run: nox -s notebooks"


def test_every_registered_use_case_and_the_tutorial_has_a_notebook(rendered):
    expected = {f"{name}.ipynb" for name in usecases()} | {TUTORIAL}
    assert set(notebooks.shipped()) == expected == set(rendered)


def test_a_new_use_case_gets_its_notebook_from_its_gallery_entry(tmp_path):
    # What X1/X2 add (a registered use case with a gallery entry) joins the
    # notebooks without anything else to write.
    entries = gallery_notebooks.gallery.load_entries()
    entries["made-up"] = {"title": "A made-up use case", "intro": "Invented."}
    registry = {**usecases(), "made-up": None}
    pages = gallery_notebooks.gallery.write_pages(registry, tmp_path, entries)
    made_up = next(page for page in pages if page.stem == "plot_made_up")
    assert gallery_notebooks.notebook_name(made_up) == "made-up.ipynb"
    data = json.loads(
        gallery_notebooks.convert(made_up, gallery_notebooks.gallery_conf())
    )
    code = "".join(
        "".join(c["source"]) for c in data["cells"] if c["cell_type"] == "code"
    )
    assert 'NAME = "made-up"' in code and "display.run(NAME, OVERRIDES)" in code


def test_notebook_cells_are_the_gallery_script_cells(rendered):
    # The tutorial's code cells are its script's code, in order, word for word.
    from sphinx_gallery.py_source_parser import split_code_and_text_blocks

    script = REPO / "docs" / "examples" / "plot_sdc_onoff_tutorial.py"
    _, blocks = split_code_and_text_blocks(str(script))
    code = [block.content.strip() for block in blocks if block.type == "code"]
    cells = json.loads(rendered[TUTORIAL])["cells"]
    assert ["".join(c["source"]) for c in cells if c["cell_type"] == "code"] == code


def test_notebooks_ask_for_the_release_kernel():
    version = stack.release_version()
    for name, data in notebooks.shipped().items():
        kernel = json.loads(data)["metadata"]["kernelspec"]
        assert kernel["name"] == f"ctao-sat-{version}", name
        assert kernel["display_name"] == f"ctao-sat {version}", name
        assert "version" not in json.loads(data)["metadata"]["language_info"]


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.verifies_requirement("C-SAT-0272")
def test_copy_never_overwrites_an_edited_notebook(tmp_path):
    dest = tmp_path / "mine"
    first = notebooks.copy_notebooks(dest)
    assert sorted(first.copied) == sorted(notebooks.shipped())
    assert (
        _digest(dest / TUTORIAL)
        == hashlib.sha256(notebooks.shipped()[TUTORIAL]).hexdigest()
    )
    edited = dest / "joint-crab.ipynb"
    edited.write_text(edited.read_text().replace("Joint fit", "My joint fit"))
    mine = edited.read_bytes()
    (dest / TUTORIAL).unlink()
    again = notebooks.copy_notebooks(dest)
    assert again.kept == ["joint-crab.ipynb"] and again.copied == [TUTORIAL]
    assert edited.read_bytes() == mine
    assert len(again.unchanged) == len(notebooks.shipped()) - 2
    # Still the user's on the next copy, until --force.
    assert notebooks.copy_notebooks(dest).kept == ["joint-crab.ipynb"]
    forced = notebooks.copy_notebooks(dest, force=True)
    assert forced.updated == ["joint-crab.ipynb"]
    assert edited.read_bytes() == notebooks.shipped()["joint-crab.ipynb"]


@pytest.mark.verifies_requirement("C-SAT-0272")
def test_an_untouched_copy_of_another_release_is_updated(tmp_path):
    dest = tmp_path / "mine"
    notebooks.copy_notebooks(dest)
    # As an earlier release would have left it: another content, recorded as copied.
    old = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 0}\n'
    (dest / "sensitivity.ipynb").write_bytes(old)
    manifest = json.loads((dest / notebooks.MANIFEST).read_text())
    manifest["files"]["sensitivity.ipynb"] = hashlib.sha256(old).hexdigest()
    (dest / notebooks.MANIFEST).write_text(json.dumps(manifest))
    report = notebooks.copy_notebooks(dest)
    assert report.updated == ["sensitivity.ipynb"] and report.kept == []
    assert (dest / "sensitivity.ipynb").read_bytes() == notebooks.shipped()[
        "sensitivity.ipynb"
    ]


@pytest.mark.verifies_requirement("C-SAT-0272")
def test_cli_copies_lists_and_reports_what_it_kept(tmp_path, monkeypatch):
    runner = CliRunner()
    listed = runner.invoke(main, ["notebooks", "--list"])
    assert listed.exit_code == 0
    assert listed.output.split() == list(notebooks.shipped())
    dest = tmp_path / "nb"
    result = runner.invoke(main, ["notebooks", "--dest", str(dest)])
    assert result.exit_code == 0, result.output
    count = len(notebooks.shipped())
    version = stack.release_version()
    assert f"{count} notebooks of ctao-sat {version} in {dest}" in result.output
    spectrum = dest / "spectrum-1d.ipynb"
    spectrum.write_text(spectrum.read_text() + " ")
    kept = runner.invoke(main, ["notebooks", "--dest", str(dest)])
    assert "kept 1 you changed: spectrum-1d.ipynb (--force overwrites them)" in (
        kept.output
    )
    monkeypatch.chdir(tmp_path)
    default = runner.invoke(main, ["notebooks"])
    assert default.exit_code == 0, default.output
    assert (tmp_path / f"ctao-sat-{version}" / TUTORIAL).is_file()


@pytest.mark.verifies_requirement("C-SAT-0272")
def test_cli_errors_are_one_line(tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    result = CliRunner().invoke(main, ["notebooks", "--dest", str(a_file)])
    assert_user_error(result, "is a file, not a folder: choose another --dest")
    # A folder that cannot be made (its parent is a file): even root cannot.
    result = CliRunner().invoke(main, ["notebooks", "--dest", str(a_file / "sub")])
    assert_user_error(result, f"cannot write the notebooks into {a_file / 'sub'}")
    assert not list(tmp_path.glob(".*"))


@pytest.fixture(scope="module")
def release_kernel(tmp_path_factory):
    """The release's kernel installed into a scratch prefix that Jupyter searches."""
    prefix = tmp_path_factory.mktemp("prefix")
    path = notebooks.install_kernel(prefix=str(prefix))
    before = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(prefix / "share" / "jupyter")
    yield path
    if before is None:
        del os.environ["JUPYTER_PATH"]
    else:
        os.environ["JUPYTER_PATH"] = before


@pytest.mark.verifies_requirement("C-SAT-0270")
def test_the_release_kernel_runs_this_python_with_inline_figures(release_kernel):
    spec = json.loads((release_kernel / "kernel.json").read_text())
    assert release_kernel.name == f"ctao-sat-{stack.release_version()}"
    assert spec["display_name"] == f"ctao-sat {stack.release_version()}"
    assert spec["argv"][0] == sys.executable
    assert spec["env"] == {"MPLBACKEND": "module://matplotlib_inline.backend_inline"}


@pytest.mark.verifies_usecase("SUSS-UC-SAT-170")
def test_the_tutorial_notebook_runs_on_the_release_kernel(release_kernel, tmp_path):
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient

    work = tmp_path / "work"
    notebooks.copy_notebooks(work)
    notebook = nbformat.read(work / TUTORIAL, as_version=4)
    # MPLBACKEND=Agg stays set (as in the image): the kernel spec must win.
    assert os.environ["MPLBACKEND"] == "Agg"
    client = NotebookClient(
        notebook, timeout=600, resources={"metadata": {"path": str(work)}}
    )
    client.execute()
    # The kernel the notebook asks for, found where install_kernel put it.
    assert client.kernel_name == notebooks.kernel_name()
    found = KernelSpecManager().get_kernel_spec(client.kernel_name).resource_dir
    assert found == str(release_kernel)
    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    # The figure of step 5 is shown inline, and the results are beside the notebook.
    assert any("image/png" in o.get("data", {}) for o in outputs)
    result = json.loads(
        (work / "results" / "sdc-onoff-tutorial" / "crab" / "result.json").read_text()
    )
    assert {check["verdict"] for check in result["validation"]} == {"PASS"}
    text = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    assert "exit code 0" in text


def test_reading_the_docs_configuration_changes_no_environment():
    before = dict(os.environ)
    gallery_notebooks.gallery_conf()
    assert dict(os.environ) == before


def test_the_docs_downloads_are_the_shipped_notebooks(tmp_path, rendered):
    # What sphinx-gallery writes for a page (python3 kernel, the builder's Python),
    # and what the extension makes of it: the shipped notebook, zip included.
    import types
    import zipfile

    from sphinx.errors import ExtensionError
    from sphinx_gallery.notebook import jupyter_notebook, save_notebook
    from sphinx_gallery.py_source_parser import split_code_and_text_blocks

    script = REPO / "docs" / "examples" / "plot_sdc_onoff_tutorial.py"
    gallery_dir = tmp_path / "auto_examples"
    gallery_dir.mkdir()
    (gallery_dir / script.name).write_bytes(script.read_bytes())
    _, blocks = split_code_and_text_blocks(str(script))
    conf = gallery_notebooks.gallery_conf()
    download = gallery_dir / "plot_sdc_onoff_tutorial.ipynb"
    save_notebook(jupyter_notebook(blocks, conf, gallery_dir), download)
    assert json.loads(download.read_text())["metadata"]["kernelspec"]["name"] == (
        "python3"
    )
    with zipfile.ZipFile(download.with_suffix(".zip"), "w") as archive:
        archive.write(download, download.name)
    app = types.SimpleNamespace(srcdir=str(tmp_path))
    gallery_notebooks._downloads_are_the_shipped_notebooks(app)
    assert download.read_bytes() == notebooks.shipped()[TUTORIAL]
    with zipfile.ZipFile(download.with_suffix(".zip")) as archive:
        assert archive.read(download.name) == notebooks.shipped()[TUTORIAL]
    # A page whose notebook the package does not ship (or ships stale) fails.
    download.write_text(download.read_text().replace("step by step", "by hand"))
    with pytest.raises(ExtensionError, match="run nox -s notebooks"):
        gallery_notebooks._downloads_are_the_shipped_notebooks(app)
