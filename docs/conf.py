"""Sphinx configuration of the ctao-sat documentation (built by `nox -s docs`)."""

import atexit
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
# The Sphinx extensions, and the repository root for the development package
# `satdev` (requirements catalogue, verification report), which is not installed.
sys.path[:0] = [str(DOCS / "_ext"), str(DOCS.parent)]

import sat  # noqa: E402
from sat import stack  # noqa: E402

# The gallery runs the use cases on the real data, as the tests do.
if "GAMMAPY_DATA" not in os.environ:
    shared = DOCS.parents[1] / "shared" / "gammapy-data"
    if shared.is_dir():
        os.environ["GAMMAPY_DATA"] = str(shared)
os.environ.setdefault("MPLBACKEND", "Agg")
# The pages write their results into a scratch folder, not beside their sources
# (a notebook writes them to results/ beside itself: sat.usecases.display),
# removed when the build ends: reading this file must leave nothing behind.
if "CTAO_SAT_RESULTS" not in os.environ:
    _results = tempfile.mkdtemp(prefix="ctao-sat-docs-")
    atexit.register(shutil.rmtree, _results, ignore_errors=True)
    os.environ["CTAO_SAT_RESULTS"] = _results
# Gammapy/astropy warnings printed by the examples go to the page, not the build log.
warnings.filterwarnings("ignore", category=UserWarning, message="Matplotlib")

project = "ctao-sat"
author = "CTAO SAT developers"
copyright = "CTAO"
release = version = stack.release_version()
assert release == sat.__version__, "sat.__version__ and sat/pins.toml disagree"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_click",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
    "gallery",
    "gallery_notebooks",
    "satdocs",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = [
    "_build",
    "examples/*",  # gallery sources: rendered into auto_examples/
    "_generated/*",  # included by the pages, never pages of their own
    "changes/*",  # towncrier fragments: rendered through _generated/release-notes.md
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.md5",
    "auto_examples/*.codeobj.json",
]
suppress_warnings = [
    "config.cache",  # sphinx-gallery's config holds a function
    "myst.header",  # the release notes start at H2 inside their page
]

# API reference: numpy docstrings; no network, so no intersphinx inventories.
intersphinx_mapping = {}
autodoc_typehints = "none"
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()
# Types written in docstrings are not all documented objects of this site.
nitpick_ignore_regex = [
    (r"py:.*", r"(gammapy|astropy|numpy|pydantic|click|pytest|yaml|pathlib)\..*"),
    # Private bases (sat.result._Readable) are named in the public classes'
    # signatures but are not documented themselves.
    (r"py:class", r"sat\.[\w.]*\._\w+"),
]

sphinx_gallery_conf = {
    "examples_dirs": ["examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "remove_config_comments": True,
    "download_all_examples": False,
    "show_memory": False,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "reset_modules": ("matplotlib",),
    "capture_repr": ("_repr_html_",),
    # Its page pulls jQuery and DataTables from CDNs: the site must work offline.
    "write_computation_times": False,
}

html_theme = "ctao"
html_title = f"ctao-sat {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path = []
html_last_updated_fmt = None
