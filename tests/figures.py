"""What makes a figure one an astronomer would put on a slide, checked on matplotlib.

`problems(figure)` returns every rule a figure breaks, read from its matplotlib
objects (never from pixels):

- every axis that shows tick labels has a label in words (not Gammapy's internal
  names such as ``e2dnde``, nor units in square brackets), with its unit in
  brackets when the quantity has one (an astropy unit that parses), or naming a
  dimensionless quantity (`sat.plots.DIMENSIONLESS`); sky coordinates show
  their unit in the tick labels;
- every drawn element (line, band, bars, markers, contours, regions) is named
  in a legend of its axes, except reference lines at 0 or 1 spanning the axes;
- every image has a colorbar whose label follows the axis-label rule;
- titles are no wider than their axes (a quarter more at most) and no two
  texts of the figure (titles, tick labels of one axis) overlap;
- the figure has a caption (`sat.plots.caption`) saying what data it shows.
"""

from __future__ import annotations

import re
from itertools import pairwise

import astropy.units as u
import matplotlib.collections as mcollections
import matplotlib.image as mimage
import matplotlib.lines as mlines
import numpy as np

from sat.plots import CAPTION_GID, DIMENSIONLESS

# Gammapy's and astropy's internal spellings, which a slide must not show.
INTERNAL = re.compile(
    r"\b(e2dnde|dnde|eflux|sqrt_ts|npred\w*|flux_ul|norm)\b|\[.*\]|\$\\mathrm"
)
UNIT_AT_END = re.compile(r"\(([^()]*)\)\s*$")
# Units astronomers write that astropy does not know.
ASTRONOMERS_UNITS = {"mCrab", "Crab", "Crab units"}


def label_problem(text: str, where: str, unit_in_ticks: bool = False) -> str | None:
    """Return why ``text`` is not an axis label in words with its unit, or None.

    ``unit_in_ticks``: a sky coordinate, whose tick labels carry the unit
    (15h24m, -59°00').
    """
    if not text.strip():
        return f"{where}: no label"
    if INTERNAL.search(text):
        return f"{where}: internal name or bracketed unit in {text!r}"
    if not re.search(r"[A-Za-zθ]{3,}", text):
        return f"{where}: no word in {text!r}"
    if unit_in_ticks:
        return None
    found = UNIT_AT_END.search(text)
    if found and found[1] in ASTRONOMERS_UNITS:
        return None
    if found:
        try:
            u.Unit(found[1])
            return None
        except ValueError:
            pass
    lowered = text.lower()
    if any(
        re.search(rf"\b{re.escape(word.lower())}", lowered) for word in DIMENSIONLESS
    ):
        return None
    return f"{where}: no unit (in brackets at the end) in {text!r}"


def _axis_label(ax, which: str) -> str:
    coords = getattr(ax, "coords", None)
    if coords is not None:  # WCSAxes: the world coordinates carry the labels
        return coords[0 if which == "x" else 1].get_axislabel() or ""
    return ax.get_xlabel() if which == "x" else ax.get_ylabel()


def _shows_ticks(ax, which: str) -> bool:
    coords = getattr(ax, "coords", None)
    if coords is not None:
        return True
    labels = ax.get_xticklabels() if which == "x" else ax.get_yticklabels()
    return any(t.get_visible() and t.get_text() for t in labels)


def _is_colorbar(ax) -> bool:
    return getattr(ax, "_colorbar", None) is not None


def _reference_line(artist) -> bool:
    # axhline/axvline at 0 or 1: the zero of a residual, the 1 of a ratio. They
    # span the axes (one coordinate in axes units), with data as plain numbers.
    if not isinstance(artist, mlines.Line2D) or len(artist.get_xdata()) != 2:
        return False
    x, y = (np.asarray(getattr(v, "value", v), dtype=float) for v in artist.get_data())
    horizontal = y[0] == y[1] and y[0] in (0.0, 1.0) and set(x) == {0.0, 1.0}
    vertical = x[0] == x[1] and x[0] in (0.0, 1.0) and set(y) == {0.0, 1.0}
    return horizontal or vertical


def _drawn(ax) -> list:
    """The data artists of ``ax``: what a reader must be told the meaning of."""
    artists = []
    for line in ax.lines:
        if line.get_visible() and len(line.get_xdata()) and not _reference_line(line):
            artists.append(line)
    for collection in ax.collections:
        if collection.get_visible() and not isinstance(
            collection, mcollections.QuadMesh
        ):
            artists.append(collection)
    artists += [patch for patch in ax.patches if patch.get_visible()]
    return artists


def _legend_labels(ax) -> set[str]:
    labels = set()
    for legend in [ax.get_legend(), *ax.figure.legends]:
        if legend is not None:
            labels |= {text.get_text() for text in legend.get_texts()}
    return labels


def _container_of(ax) -> dict:
    # Artists drawn as part of a container (errorbar, bar) are named by it.
    owner = {}
    for container in ax.containers:
        for child in container.get_children():
            owner[id(child)] = container
        # The error bars of bars (BarContainer.errorbar) are named by the bars.
        errorbar = getattr(container, "errorbar", None)
        if errorbar is not None:
            for child in errorbar.get_children():
                owner[id(child)] = container
        # An errorbar's data line and its bar collections.
        if hasattr(container, "lines"):
            for part in container.lines:
                for child in part if isinstance(part, tuple) else [part]:
                    if child is not None:
                        owner[id(child)] = container
    return owner


def legend_problems(ax, where: str) -> list[str]:
    """Return the drawn elements of ``ax`` that no legend names."""
    shown = _legend_labels(ax)
    owner = _container_of(ax)
    problems = []
    for artist in _drawn(ax):
        named = owner.get(id(artist), artist)
        text = named.get_label() or ""
        if text.startswith("_") or text not in shown:
            kind = type(artist).__name__
            problems.append(f"{where}: a {kind} ({text or 'no label'}) is in no legend")
    return problems


def image_problems(ax, where: str) -> list[str]:
    """Return the images of ``ax`` without a colorbar saying what they show."""
    problems = []
    images = [
        artist
        for artist in [*ax.images, *ax.collections]
        if isinstance(artist, mimage.AxesImage | mcollections.QuadMesh)
    ]
    for image in images:
        bar = getattr(image, "colorbar", None)
        if bar is None:
            problems.append(f"{where}: an image without colorbar")
            continue
        problem = label_problem(bar.ax.get_ylabel(), f"{where} colorbar")
        if problem:
            problems.append(problem)
    return problems


def _overlaps(first, second) -> bool:
    return first.overlaps(second) and first.intersection(first, second).width > 1


def text_problems(figure, renderer) -> list[str]:
    """Return titles wider than their axes and texts that overlap."""
    problems = []
    titles = []
    for index, ax in enumerate(figure.axes):
        if _is_colorbar(ax):
            continue
        box = ax.get_window_extent(renderer)
        for title in (ax.title, ax._left_title, ax._right_title):
            if not title.get_text():
                continue
            extent = title.get_window_extent(renderer)
            if extent.width > 1.25 * box.width:
                problems.append(f"axes {index}: title {title.get_text()!r} too wide")
            titles.append((title.get_text(), extent))
        for which in ("x", "y"):
            labels = ax.get_xticklabels() if which == "x" else ax.get_yticklabels()
            boxes = [
                t.get_window_extent(renderer)
                for t in labels
                if t.get_visible() and t.get_text()
            ]
            for a, b in pairwise(boxes):
                if _overlaps(a, b):
                    problems.append(f"axes {index}: {which} tick labels overlap")
                    break
    if figure._suptitle is not None and figure._suptitle.get_text():
        extent = figure._suptitle.get_window_extent(renderer)
        if extent.width > figure.bbox.width:
            problems.append("suptitle wider than the figure")
        titles.append((figure._suptitle.get_text(), extent))
    for i, (text, box) in enumerate(titles):
        for other, other_box in titles[i + 1 :]:
            if _overlaps(box, other_box):
                problems.append(f"titles {text!r} and {other!r} overlap")
    return problems


def caption_of(figure) -> str:
    """Return the figure's caption (`sat.plots.caption`), or ''."""
    texts = [t for t in figure.texts if t.get_gid() == CAPTION_GID]
    return texts[0].get_text() if texts else ""


def problems(figure) -> list[str]:
    """Return every rule ``figure`` breaks (an empty list: a figure for a slide)."""
    if not hasattr(figure.canvas, "get_renderer"):
        # A figure let go by pyplot (as a run keeps them) has a bare canvas.
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(figure)
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    found = []
    for index, ax in enumerate(figure.axes):
        if _is_colorbar(ax) or not ax.axison:
            continue
        where = f"axes {index} ({ax.get_title() or 'untitled'})"
        for which in ("x", "y"):
            text = _axis_label(ax, which)
            if not text and not _shows_ticks(ax, which):
                continue
            sky = getattr(ax, "coords", None) is not None
            problem = label_problem(text, f"{where} {which} label", sky)
            if problem:
                found.append(problem)
        found += legend_problems(ax, where)
        found += image_problems(ax, where)
    found += text_problems(figure, renderer)
    if not caption_of(figure).strip():
        found.append("no caption saying what data the figure shows")
    return found
