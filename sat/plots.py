"""One style for every figure of `sat`: what an astronomer puts on a slide.

Gammapy labels its axes with its internal names (``e2dnde [erg s-1 cm-2]``);
these helpers say the same in words, with units in the same notation
everywhere (``E² dN/dE (erg cm⁻² s⁻¹)``), and add what a figure of an
analysis needs besides its axes:

- `label` and `unit_text`: an axis label in words with its unit;
- `sed_labels`: relabel the axes of a spectral energy distribution after
  Gammapy's ``plot`` / ``plot_error``;
- `ObservationSummary` and `caption`: the runs, live time, zenith range and
  dates of the observations behind a figure, written on the figure itself;
- `run_ticks`: run numbers on an axis, readable for 4 runs and for 40;
- `colorbar`: a colorbar that says what its colours mean, with the unit;
- `legend`: a legend naming each label once.

Gammapy's ``plot_error`` bands (the "butterflies") take a ``label`` like any
``fill_between``: give them one, so that the legend names them.

Every figure of a use case goes through `sat.usecases.base.RunContext.save_figure`;
`tests/test_plots.py` renders them and checks these rules on the matplotlib
objects. matplotlib and astropy are imported inside the functions: the use-case
modules that import this one stay cheap to discover.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CAPTION_GID",
    "DIMENSIONLESS",
    "SED_UNIT",
    "ObservationSummary",
    "caption",
    "colorbar",
    "label",
    "legend",
    "run_ticks",
    "sed_labels",
    "unit_text",
]

# The gid of a figure's caption: the observations (or the data) it shows.
CAPTION_GID = "sat-caption"
# E^2 dN/dE as astronomers write it (astropy would order it erg s-1 cm-2).
SED_UNIT = "erg cm-2 s-1"
# Quantities that have no unit: their axis labels carry none.
DIMENSIONLESS = (
    "counts",
    "events",
    "excess",
    "significance",
    "residual",
    "pull",
    "ratio",
    "runs",
    "seeds",
    "pulse phase",
    "phase",
    "probability",
    "fraction",
    "number",
    "transmission",
    "TS",
    "run",
    "observation",
    "migration",
)
# At most this many tick labels on a run axis before they are thinned.
MAX_RUN_LABELS = 25


def unit_text(unit) -> str:
    """Return ``unit`` as it is printed on a figure: ``erg cm⁻² s⁻¹``.

    Strings are kept in their order ("erg cm-2 s-1" stays so, where astropy
    would write "erg s-1 cm-2") and only their exponents become superscripts.
    """
    import re

    import astropy.units as u

    simple = r"(10-?\d+ )?[A-Za-z]+(-?\d+)?( [A-Za-z]+(-?\d+)?)*"
    if isinstance(unit, str) and re.fullmatch(simple, unit):
        u.Unit(unit)  # a unit astropy knows: fail here, not on a slide
        digits = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
        # "10-12 cm-2" is 10⁻¹² cm⁻²: the exponents after a letter or a leading 10.
        return re.sub(
            r"(^10|[A-Za-z])(-?\d+)", lambda m: m[1] + m[2].translate(digits), unit
        )
    return u.Unit(unit).to_string("unicode")


def label(quantity: str, unit=None) -> str:
    """Return an axis label: ``quantity`` in words, then its unit in brackets.

    Parameters
    ----------
    quantity : str
        What the axis shows, in words ("Energy", "Flux above 1 TeV").
    unit : str or `~astropy.units.UnitBase`, optional
        Its unit; None (or dimensionless) for a count, a significance, a ratio.
    """
    if unit is None or str(unit) in ("", "1"):
        return quantity
    return f"{quantity} ({unit_text(unit)})"


def sed_labels(ax, energy_unit="TeV", sed_unit=SED_UNIT) -> None:
    """Label the axes of a spectral energy distribution in words.

    Call after Gammapy's ``plot`` / ``plot_error`` (which label the axes with
    their internal names): the x axis is "Energy (TeV)", the y axis
    "E² dN/dE (erg cm⁻² s⁻¹)", in the units the axes were drawn in when those
    are the same physical type (Gammapy's quantity support sets them).
    """
    import astropy.units as u

    x_unit = getattr(ax.xaxis, "units", None) or energy_unit
    y_unit = getattr(ax.yaxis, "units", None) or sed_unit
    if u.Unit(y_unit).is_equivalent(sed_unit):
        # Same quantity: say it in the unit astronomers write it in.
        y_unit = sed_unit if u.Unit(y_unit) == u.Unit(sed_unit) else y_unit
    ax.set_xlabel(label("Energy", x_unit))
    ax.set_ylabel(label("E² dN/dE", y_unit))


def colorbar(figure, mappable, ax, quantity: str, unit=None):
    """Add a colorbar to ``ax`` that says what its colours are, with the unit."""
    from matplotlib.ticker import ScalarFormatter

    bar = figure.colorbar(mappable, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label(label(quantity, unit))
    formatter = bar.ax.yaxis.get_major_formatter()
    if isinstance(formatter, ScalarFormatter):  # 1e-4, not 0.00010
        formatter.set_powerlimits((-3, 4))
    return bar


def legend(ax, **kwargs):
    """Add a legend naming each label once (several circles may share one).

    Keyword arguments go to `matplotlib.axes.Axes.legend`.
    """
    handles = {}
    for handle, text in zip(*ax.get_legend_handles_labels(), strict=True):
        handles.setdefault(text, handle)
    return ax.legend(list(handles.values()), list(handles), **kwargs)


def run_ticks(ax, labels, axis: str = "x", positions=None) -> None:
    """Put run numbers on an axis, readable whatever their number.

    Up to 8 runs are written horizontally; more are turned vertical; beyond
    `MAX_RUN_LABELS` every n-th one is written (the others keep a tick), so
    that no two labels overlap.
    """
    import numpy as np

    labels = [str(text) for text in labels]
    positions = np.arange(len(labels)) if positions is None else np.asarray(positions)
    step = max(1, -(-len(labels) // MAX_RUN_LABELS))
    shown = [text if i % step == 0 else "" for i, text in enumerate(labels)]
    rotation = 0 if len(labels) <= 8 else 90
    size = "medium" if len(labels) <= 12 else "small"
    if axis == "x":
        ax.set_xticks(positions, shown, rotation=rotation, fontsize=size)
    else:
        ax.set_yticks(positions, shown, fontsize=size)


def caption(figure, text: str) -> None:
    """Write what a figure shows (its observations, its data) under it.

    A small line at the bottom left of the figure, found by its gid
    (`CAPTION_GID`); ``bbox_inches="tight"`` keeps it inside the saved image.
    """
    figure.text(
        0.01,
        0.0,
        text,
        ha="left",
        va="top",
        fontsize="small",
        color="0.25",
        gid=CAPTION_GID,
        wrap=True,
    )


def _zenith_deg(observation) -> float:
    """Zenith angle (deg) of a run's pointing, as its header records it.

    Gammapy keeps the header's ``ALT_PNT``/``AZ_PNT`` in the run's metadata
    (``meta.pointing.altaz_mean``), read once with the header.
    """
    pointing = getattr(observation.meta, "pointing", None)
    altaz = getattr(pointing, "altaz_mean", None)
    if altaz is not None:
        return 90.0 - float(altaz.alt.deg)
    return float(observation.get_pointing_altaz(observation.tmid).zen.deg)


@dataclass(frozen=True)
class ObservationSummary:
    """What observations a figure shows: runs, live time, zenith and dates.

    Attributes
    ----------
    n_runs : int
        Number of runs (observations).
    livetime_h : float
        Their summed live time in hours (dead time removed).
    zenith_deg : tuple of float
        Smallest and largest zenith angle of the pointing at mid-run (deg).
    dates : tuple of str
        UTC dates (YYYY-MM-DD) of the first start and the last stop.
    instrument : str
        Who took them ("H.E.S.S.", "CTAO South, simulated"...).
    """

    n_runs: int
    livetime_h: float
    zenith_deg: tuple[float, float]
    dates: tuple[str, str]
    instrument: str = ""

    @classmethod
    def from_observations(cls, observations, instrument: str | None = None):
        """Summarise Gammapy observations (a list or `~gammapy.data.Observations`).

        The zenith angle is the one the run's header records (GADF ``ALT_PNT``,
        the pointing at mid-run: H.E.S.S. DR1 writes the obs-index's ``ZEN_PNT``
        there); only a run without it is transformed to AltAz at mid-run from the
        observatory's location. Reading the header, not transforming, keeps
        a caption from costing the ~1 s of CPU astropy spends loading its IERS
        tables on the first AltAz transform of a process, which a 1D analysis
        never needs otherwise (6 % of ``spectrum-1d``'s CPU time).
        """
        import numpy as np

        observations = list(observations)
        if not observations:
            raise ValueError("no observation to summarise")
        livetime = sum(
            obs.observation_live_time_duration.to_value("h") for obs in observations
        )
        zenith = [_zenith_deg(obs) for obs in observations]
        start = min(observations, key=lambda obs: obs.tstart.mjd).tstart
        stop = max(observations, key=lambda obs: obs.tstop.mjd).tstop
        if instrument is None:
            # A run made in memory (`Observation.create`) has no obs_info.
            names = {
                getattr(obs.meta.obs_info, "telescope", None) for obs in observations
            }
            instrument = ", ".join(sorted(str(name) for name in names if name))
        return cls(
            n_runs=len(observations),
            livetime_h=float(livetime),
            zenith_deg=(float(np.min(zenith)), float(np.max(zenith))),
            dates=(start.utc.iso[:10], stop.utc.iso[:10]),
            instrument=instrument or "",
        )

    def as_dict(self) -> dict:
        """Return the summary as ``result.json`` keeps it."""
        return {
            "n_runs": self.n_runs,
            "livetime_h": self.livetime_h,
            "zenith_deg": list(self.zenith_deg),
            "dates": list(self.dates),
            "instrument": self.instrument,
        }

    def text(self) -> str:
        """One line: ``H.E.S.S.: 4 runs, 1.75 h live time, zenith 45-50°, ...``."""
        low, high = self.zenith_deg
        zenith = (
            f"{low:.0f}°" if round(low) == round(high) else f"{low:.0f}–{high:.0f}°"
        )
        first, last = self.dates
        dates = first if first == last else f"{first} to {last}"
        runs = f"{self.n_runs} run" + ("" if self.n_runs == 1 else "s")
        who = f"{self.instrument}: " if self.instrument else ""
        return (
            f"{who}{runs}, {self.livetime_h:.2f} h live time, zenith {zenith}, {dates}"
        )
