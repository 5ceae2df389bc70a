"""Write the use-case pages of the gallery from docs/gallery.yaml and one template.

Every registered use case gets ``examples/plot_<name>.py``, a sphinx-gallery
script that shows the configuration, runs the use case on the real data, and
shows its plots, fitted parameters and validation (`sat.usecases.display`). The
scripts are written when Sphinx starts (``config-inited``, before sphinx-gallery
collects them) and are not kept in git: one template serves every page, and a
new use case cannot be left without one (its missing entry fails the build).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import yaml

DOCS = Path(__file__).resolve().parents[1]
ENTRIES = DOCS / "gallery.yaml"
EXAMPLES = DOCS / "examples"
REQUIRED = {"title", "intro"}
OPTIONAL = {"overrides", "why", "show"}

TEMPLATE = '''"""
{heading}

{intro}
{note}"""

# %%
# Configuration
# -------------
# Every key with its value: the defaults of the use case plus the overrides
# passed here. ``ctao-sat run {name} --print-config`` prints the defaults.
{imports}from sat.usecases import display

NAME = "{name}"
OVERRIDES = {overrides!r}
display.show_config(NAME, OVERRIDES)

# %%
# The same run from the command line{cli_intro}:
#
{config_block}# .. code-block:: console
#
#     ctao-sat run {name}{cli_config} --output results/{name}
#
# Run
# ---
# The use case checks the data, runs, and writes its products and ``result.json``
# atomically into ``results/{name}`` beside this notebook (a temporary folder in
# the documentation build); running it again replaces them.
result, output = display.run(NAME, OVERRIDES)
{show}
# %%
# Plots
# -----
# The PNG products of the run, as written by the use case.
figures = display.plot_products(result, output)

# %%
# Fitted parameters
# -----------------
display.parameters_table(result)

# %%
# Validation against the references
# ---------------------------------
# Each check compares a measured quantity with its published or statistical
# reference (``validation`` in ``result.json``): PASS when the deviation is
# within the tolerance, in units of the combined error.
display.validation_table(result)

# %%
# Why these references and tolerances, as the use case states them:
display.show_tolerances(result)
'''


def page_name(name: str) -> str:
    """Return the gallery script's stem of use case ``name`` (``plot_map_3d``)."""
    return "plot_" + name.replace("-", "_")


def load_entries(path: Path = ENTRIES) -> dict:
    """Read the page entries, checking their keys."""
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    for name, entry in entries.items():
        missing, unknown = REQUIRED - set(entry), set(entry) - REQUIRED - OPTIONAL
        if missing or unknown:
            raise ValueError(
                f"{path.name}: {name}: missing {sorted(missing)}, "
                f"unknown {sorted(unknown)} (keys: {sorted(REQUIRED | OPTIONAL)})"
            )
        if bool(entry.get("overrides")) != bool(entry.get("why")):
            raise ValueError(f"{path.name}: {name}: overrides need a why, and back")
    return entries


def render(name: str, entry: dict) -> str:
    """Return the gallery script of use case ``name``."""
    title = f"{entry['title']} (``{name}``)"
    overrides = entry.get("overrides") or {}
    if overrides:
        config = yaml.safe_dump(overrides, sort_keys=False).strip().splitlines()
        text = (
            "This page runs a lighter configuration than the defaults, to keep the "
            f"docs build short: {' '.join(entry['why'].split())} "
            f"``ctao-sat run {name}`` uses the defaults."
        )
        note = (
            "\n.. note::\n"
            + textwrap.fill(text, 84, initial_indent="   ", subsequent_indent="   ")
            + "\n"
        )
        cli_intro = ", with this configuration saved as ``light.yaml``"
        config_block = (
            "# .. code-block:: yaml\n#\n"
            + "".join(f"#     {line}\n" for line in config)
            + "#\n"
        )
        cli_config = " --config light.yaml"
    else:
        note = "\nThis page runs the use case with its default configuration.\n"
        cli_intro = cli_config = config_block = ""
    show = "".join(
        f"print(json.dumps(result[{key!r}], indent=2))\n"
        for key in entry.get("show", [])
    )
    return TEMPLATE.format(
        heading=f"{title}\n{'=' * len(title)}",
        intro=entry["intro"].strip(),
        note=note,
        name=name,
        overrides=overrides,
        imports="import json\n\n" if show else "",
        cli_intro=cli_intro,
        cli_config=cli_config,
        config_block=config_block,
        show=show,
    )


def write_pages(usecases, folder: Path = EXAMPLES, entries=None) -> list[Path]:
    """Write the page of every use case into ``folder``; return the paths.

    Raises
    ------
    ValueError
        A use case has no entry, or an entry names no use case.
    """
    entries = load_entries() if entries is None else entries
    names = list(usecases)
    without, unknown = set(names) - set(entries), set(entries) - set(names)
    if without or unknown:
        raise ValueError(
            f"{ENTRIES.name}: add an entry for {sorted(without)}; "
            f"no use case is called {sorted(unknown)}"
        )
    written = []
    for name in names:
        path = folder / f"{page_name(name)}.py"
        text = render(name, entries[name])
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def setup(app):
    """Sphinx extension: write the pages before sphinx-gallery collects them."""
    from sat.usecases.registry import usecases

    app.connect("config-inited", lambda app, config: write_pages(usecases()))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
