"""The release's notebooks, written from the gallery sources: one source for both.

Every page of the gallery becomes a notebook in ``sat/notebooks/`` (shipped with
the package, the conda package and the images; `sat.notebooks`): the page of each
registered use case that ``gallery.py`` writes from ``gallery.yaml``, and the SDC
ON/OFF tutorial. sphinx-gallery's own converter does it, with the gallery
configuration of ``conf.py``; only the metadata is the release's: the notebooks ask
for the kernel named after the release. A new use case gets its notebook from its
gallery entry: ``nox -s notebooks`` writes them, and tests/test_notebooks.py fails
when the shipped ones differ from what the sources give.

As a Sphinx extension it makes the docs' notebook downloads those very files: after
sphinx-gallery has written ``auto_examples/*.ipynb``, each gets the release's
metadata and must then equal the shipped notebook, or the build fails.

``python docs/_ext/gallery_notebooks.py [--check]`` writes (or only checks) them.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import runpy
import sys
import tempfile
import zipfile
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
# The sat of this checkout, whatever is installed (a notebook names its release).
sys.path[:0] = [str(DOCS / "_ext"), str(ROOT)]

import gallery  # noqa: E402

from sat import notebooks as release  # noqa: E402

SHIPPED = ROOT / "sat" / "notebooks"


def tutorials(usecases) -> list[Path]:
    """Return the hand-written gallery scripts (the rest are gallery.py's pages)."""
    pages = {gallery.page_name(name) for name in usecases}
    return [
        p for p in sorted(gallery.EXAMPLES.glob("plot_*.py")) if p.stem not in pages
    ]


def notebook_name(script: Path) -> str:
    """Return the notebook's file name for a gallery script.

    ``plot_spectrum_1d.py`` gives ``spectrum-1d.ipynb``: the use case's own name.
    """
    return script.stem.removeprefix("plot_").replace("_", "-") + ".ipynb"


def gallery_conf() -> dict:
    """Return sphinx-gallery's configuration as the docs build uses it."""
    from sphinx_gallery.gen_gallery import DEFAULT_GALLERY_CONF

    conf = copy.deepcopy(DEFAULT_GALLERY_CONF)
    environment = dict(os.environ)
    try:
        conf.update(runpy.run_path(str(DOCS / "conf.py"))["sphinx_gallery_conf"])
    finally:  # conf.py sets what the docs build needs (CTAO_SAT_RESULTS...): not ours
        os.environ.clear()
        os.environ.update(environment)
    return conf


def with_release_metadata(notebook: dict) -> dict:
    """Make a converted notebook the release's: its kernel, no builder's Python.

    sphinx-gallery names the kernel ``python3`` and records the version of the
    Python that converted it; the release's notebooks ask for the release's kernel
    (`sat.notebooks.kernel_name`) and leave the version to the kernel that runs them.
    """
    notebook = copy.deepcopy(notebook)
    metadata = notebook["metadata"]
    metadata["kernelspec"] = {
        "display_name": release.kernel_display_name(),
        "language": "python",
        "name": release.kernel_name(),
    }
    metadata.get("language_info", {}).pop("version", None)
    return notebook


def dumps(notebook: dict) -> bytes:
    """Serialise a notebook as every copy of it is written (nbformat's layout)."""
    return (json.dumps(notebook, indent=1, ensure_ascii=False) + "\n").encode()


def convert(script: Path, conf: dict) -> bytes:
    """Convert one gallery script into the release's notebook."""
    from sphinx_gallery.notebook import jupyter_notebook
    from sphinx_gallery.py_source_parser import split_code_and_text_blocks

    _, blocks = split_code_and_text_blocks(str(script))
    notebook = jupyter_notebook(blocks, copy.deepcopy(conf), script.parent)
    return dumps(with_release_metadata(notebook))


def render_all() -> dict[str, bytes]:
    """Return every notebook of the release by file name, from the gallery sources."""
    from sat.usecases.registry import usecases

    conf = gallery_conf()
    with tempfile.TemporaryDirectory() as scratch:
        pages = gallery.write_pages(usecases(), folder=Path(scratch))
        scripts = [*pages, *tutorials(usecases())]
        notebooks = {notebook_name(script): convert(script, conf) for script in scripts}
    return dict(sorted(notebooks.items()))


def stale(rendered: dict[str, bytes], folder: Path = SHIPPED) -> list[str]:
    """Name the notebooks of ``folder`` that differ from ``rendered``, or are extra."""
    found = {path.name: path.read_bytes() for path in folder.glob("*.ipynb")}
    return sorted(
        name
        for name in set(found) | set(rendered)
        if found.get(name) != rendered.get(name)
    )


def write_all(rendered: dict[str, bytes], folder: Path = SHIPPED) -> None:
    """Write ``rendered`` into ``folder``, removing notebooks no source gives."""
    for path in folder.glob("*.ipynb"):
        if path.name not in rendered:
            path.unlink()
    for name, data in rendered.items():
        path = folder / name
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)


def _downloads_are_the_shipped_notebooks(app, exception=None):
    # After sphinx-gallery wrote auto_examples/*.ipynb (and its zips).
    gallery_dir = Path(app.srcdir) / "auto_examples"
    wrong = []
    for path in sorted(gallery_dir.glob("plot_*.ipynb")):
        shipped = SHIPPED / notebook_name(path)
        data = dumps(with_release_metadata(json.loads(path.read_text("utf-8"))))
        if not shipped.is_file() or shipped.read_bytes() != data:
            wrong.append(shipped.name)
            continue
        path.write_bytes(data)
        archive = path.with_suffix(".zip")
        if archive.is_file():  # sphinx-gallery's "download zipped": the same files
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
                out.write(path.with_suffix(".py"), path.with_suffix(".py").name)
                out.write(path, path.name)
    if wrong:
        from sphinx.errors import ExtensionError

        raise ExtensionError(
            f"sat/notebooks differs from the gallery for {', '.join(wrong)}: "
            "run nox -s notebooks"
        )


def setup(app):
    """Sphinx extension: the gallery's notebook downloads are the shipped ones."""
    # After sphinx-gallery's own builder-inited handler (priority 500).
    app.connect("builder-inited", _downloads_are_the_shipped_notebooks, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def main(argv=None) -> int:
    """Write the notebooks into sat/notebooks, or only check them (``--check``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing")
    options = parser.parse_args(argv)
    rendered = render_all()
    wrong = stale(rendered)
    if options.check:
        for name in wrong:
            print(f"stale: sat/notebooks/{name}", file=sys.stderr)
        return 1 if wrong else 0
    write_all(rendered)
    print(f"sat/notebooks: {len(rendered)} notebooks, {len(wrong)} rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
