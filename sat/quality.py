"""Data-quality checks of DL3 observations: a PASS/WARN/FAIL verdict with reasons.

Each observation (a run of a GADF data store, or a DL3 FITS file) is checked for:

- the HDUs of the GADF DL3 specification (EVENTS, GTI and the IRFs), the EVENTS
  columns and their units and the mandatory header keys (the key list is Gammapy's
  `EventListChecker.meta_required`: one source of truth);
- an empty event list, the time ordering of the events, events outside the GTIs;
- dead time: DEADC in (0, 1], LIVETIME = ONTIME x DEADC, ONTIME = sum of the GTIs;
- the stability of the event rate over the run (time bins whose counts are
  Poisson outliers of the mean rate);
- the pointing and zenith angle against the IRF (events beyond the IRF offsets,
  zenith far from that of a known CTAO IRF);
- the IRFs read with Gammapy, their energy ranges and units, and Gammapy's own
  `ObservationChecker` checks of GTI, effective area, energy dispersion and PSF.

A file that cannot be read (corrupt, truncated) is a FAIL naming the file, never a
traceback: every check runs inside a guard that turns an exception into a reason.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["Finding", "ObservationReport", "check_paths", "overall_verdict"]

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
_ORDER = {PASS: 0, WARN: 1, FAIL: 2}

# GADF EVENTS columns and their units (https://gamma-astro-data-formats.readthedocs.io
# /en/latest/events/events.html); Gammapy's EventListChecker lists the same.
EVENT_COLUMNS = {
    "EVENT_ID": "",
    "TIME": "s",
    "RA": "deg",
    "DEC": "deg",
    "ENERGY": "TeV",
}
# Header keys without which an observation cannot be analysed (a FAIL); the other
# GADF mandatory keys only WARN.
CORE_KEYS = (
    "OBS_ID",
    "TSTART",
    "TSTOP",
    "ONTIME",
    "LIVETIME",
    "DEADC",
    "RA_PNT",
    "DEC_PNT",
    "MJDREFI",
    "MJDREFF",
)
# HDUs: required ones FAIL when missing (no analysis without them), others WARN.
REQUIRED_HDUS = ("events", "gti", "aeff", "edisp")
OPTIONAL_HDUS = ("psf", "bkg")
# HDUCLAS values (GADF) and extension names that identify an HDU in a plain file.
_HDUCLASS = {
    "AEFF_2D": "aeff",
    "EDISP_2D": "edisp",
    "PSF_TABLE": "psf",
    "PSF_3GAUSS": "psf",
    "PSF_KING": "psf",
    "BKG_2D": "bkg",
    "BKG_3D": "bkg",
}
_EXTNAME = {"EVENTS": "events", "GTI": "gti"}
# Events out of time order: a few (CTA 1DC: 0.2 % of the steps, from merged
# streams) only WARN; shuffled times (half the steps backwards) FAIL.
UNORDERED_MAX_FRACTION = 0.01
# Events outside the GTIs: H.E.S.S. DR1 runs have a handful at the GTI edges
# (rounded GTI bounds), a WARN; more than this fraction is a FAIL.
OUTSIDE_GTI_MAX_FRACTION = 0.01
# More than this fraction of the events beyond the IRF's largest offset means the
# pointing position is wrong (H.E.S.S. DR1: 10-14 % beyond 2.75 deg, normal).
BEYOND_IRF_MAX_FRACTION = 0.5
# LIVETIME must equal ONTIME x DEADC to this relative precision (the headers are
# written from the same numbers; float32 rounding is 1e-7).
LIVETIME_RTOL = 1e-3
# ONTIME vs the sum of the GTIs: equal in the GADF definition; H.E.S.S. DR1 rounds
# ONTIME to the second, hence a WARN only beyond 1 %.
ONTIME_RTOL = 0.01
# Rate stability: time bins hold at least this many expected counts (Poisson
# close to Gaussian) and are at least this long (s).
RATE_MIN_COUNTS = 100
RATE_MIN_BIN_S = 30.0
# A bin is an outlier when its two-sided Poisson probability is below this,
# after a Bonferroni correction for the number of bins: one false WARN in about
# a thousand stable runs.
RATE_P_VALUE = 1e-3
# ...and when it deviates by more than this fraction from the mean rate: the
# rate of a real run drifts by ~10 % with zenith angle (H.E.S.S. DR1), which is
# not a data-quality problem.
RATE_MIN_DEVIATION = 0.25
# Zenith angle of a run vs that of the known CTAO IRF it uses (deg).
ZENITH_TOLERANCE_DEG = 10.0
# Zenith angles above this have no public IRF and little IACT sensitivity.
ZENITH_MAX_DEG = 65.0
# Sane energy ranges of IACT IRFs (TeV): prod5 true-energy axes reach 10 PeV, the
# 1DC PSF 1.26 PeV and starts at 12.6 GeV; an axis in MeV or eV written as TeV
# falls outside.
IRF_ENERGY_RANGE_TEV = (1e-4, 1e5)


@dataclass
class Finding:
    """One reason for a verdict.

    Attributes
    ----------
    level : str
        "WARN" or "FAIL".
    check : str
        Which check ("hdus", "events", "gti", "deadtime", "rate", "pointing", "irf",
        "read", "gammapy").
    reason : str
        What is wrong, in one line.
    """

    level: str
    check: str
    reason: str


@dataclass
class ObservationReport:
    """The verdict of one observation.

    Attributes
    ----------
    obs_id : int or None
        Observation id (None when the file could not be read).
    source : str
        The data store folder or the file checked.
    findings : list of Finding
        Every WARN and FAIL reason.
    stats : dict
        Numbers measured on the way (events, live time, rate, zenith...).
    """

    obs_id: int | None
    source: str
    findings: list[Finding] = field(default_factory=list)
    stats: dict = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        """PASS, or the worst level among the findings."""
        return max((f.level for f in self.findings), key=_ORDER.get, default=PASS)

    def add(self, level: str, check: str, reason: str) -> None:
        """Record a finding."""
        self.findings.append(Finding(level, check, reason))

    def as_dict(self) -> dict:
        """Return the report as a plain dict (for JSON)."""
        return {
            "obs_id": self.obs_id,
            "source": self.source,
            "verdict": self.verdict,
            "findings": [asdict(f) for f in self.findings],
            "stats": self.stats,
        }


def overall_verdict(reports) -> str:
    """Return the worst verdict of ``reports`` (PASS when empty)."""
    return max((r.verdict for r in reports), key=_ORDER.get, default=PASS)


def _message(error: BaseException) -> str:
    from sat.observations import cause

    return cause(error)


def _guarded(report, check, what, function, *args):
    """Run ``function``; an exception becomes a FAIL saying what could not be read."""
    try:
        return function(*args)
    except Exception as error:  # any failure is a verdict, not a crash
        report.add(FAIL, check, f"cannot read {what}: {_message(error)}")
        return None


# --- locating the HDUs of an observation ------------------------------------------


def _hdus_of_file(path: Path) -> dict:
    """Map HDU type -> (file, extension name) for the HDUs of a DL3 file."""
    from astropy.io import fits

    found = {}
    with fits.open(path) as hdul:
        for hdu in hdul[1:]:
            header = hdu.header
            kind = _HDUCLASS.get(
                str(header.get("HDUCLAS4", "")).upper()
            ) or _EXTNAME.get(str(header.get("HDUCLAS1", hdu.name)).upper())
            kind = kind or _EXTNAME.get(hdu.name.upper())
            if kind and kind not in found:
                hduclass = str(header.get("HDUCLAS4", kind)).lower()
                found[kind] = (path, hdu.name, hduclass)
    return found


def _observations_of_store(folder: Path):
    """Yield (obs_id, {HDU type: (file, extension, class)}) for every run of a store.

    Runs of the hdu-index missing from the obs-index come last, with None (the
    consistency check of Gammapy's `DataStoreChecker`, per run).
    """
    from astropy.table import Table

    def read(name):
        # FITS, named: astropy's guess of a damaged file's format lists them all.
        try:
            return Table.read(folder / name, format="fits")
        except Exception as error:
            raise ValueError(f"{name}: {_message(error)}") from None

    hdu_table = read("hdu-index.fits.gz")
    obs_table = read("obs-index.fits.gz")
    base = Path(hdu_table.meta.get("BASE_DIR", folder))
    base = base if base.is_absolute() and base.is_dir() else folder
    for obs_id in obs_table["OBS_ID"]:
        rows = hdu_table[hdu_table["OBS_ID"] == obs_id]
        hdus = {}
        for row in rows:
            path = base / str(row["FILE_DIR"]).strip() / str(row["FILE_NAME"]).strip()
            hdus[str(row["HDU_TYPE"]).strip()] = (
                path,
                str(row["HDU_NAME"]).strip(),
                str(row["HDU_CLASS"]).strip(),
            )
        yield int(obs_id), hdus
    orphans = set(map(int, hdu_table["OBS_ID"])) - set(map(int, obs_table["OBS_ID"]))
    for obs_id in sorted(orphans):
        yield obs_id, None


# --- the checks ----------------------------------------------------------------


def _read_hdu(path, name):
    """Read one HDU's header and table (fully, so truncation shows here)."""
    from astropy.io import fits
    from astropy.table import Table

    with fits.open(path) as hdul:
        hdu = hdul[name]
        header = hdu.header.copy()
        table = Table(hdu.data.copy()) if hdu.data is not None else Table()
        units = {c.name: (c.unit or "").strip() for c in hdu.columns}
    return header, table, units


def _unit_ok(unit: str, expected: str) -> bool:
    import astropy.units as u

    try:
        return u.Unit(unit or "") == u.Unit(expected)
    except ValueError:
        return False


def _check_events(report, header, table, units):
    import numpy as np

    report.stats["n_events"] = len(table)
    for column, unit in EVENT_COLUMNS.items():
        if column not in table.colnames:
            report.add(FAIL, "events", f"EVENTS column {column} is missing")
        elif not _unit_ok(units.get(column, ""), unit):
            report.add(
                FAIL,
                "events",
                f"EVENTS column {column} has unit {units.get(column)!r}, "
                f"GADF requires {unit!r}",
            )
    missing = [key for key in CORE_KEYS if key not in header]
    if missing:
        report.add(FAIL, "events", f"EVENTS header lacks {', '.join(missing)}")
    from gammapy.data.event_list import EventListChecker

    other = [
        key
        for key in EventListChecker.meta_required
        if key not in header and key not in CORE_KEYS
    ]
    if other:
        report.add(WARN, "events", f"EVENTS header lacks GADF keys {', '.join(other)}")
    if len(table) == 0:
        report.add(FAIL, "events", "the event list is empty")
        return
    if "TIME" in table.colnames:
        steps = np.diff(np.asarray(table["TIME"], dtype=float))
        backwards = int(np.sum(steps < 0))
        if backwards:
            report.add(
                FAIL if backwards > UNORDERED_MAX_FRACTION * len(steps) else WARN,
                "events",
                f"events are not time-ordered ({backwards} of {len(table)} steps "
                "go backwards)",
            )
    if "ENERGY" in table.colnames:
        energy = np.asarray(table["ENERGY"], dtype=float)
        if not np.all(np.isfinite(energy)) or np.any(energy <= 0):
            report.add(FAIL, "events", "EVENTS ENERGY has non-positive or NaN values")


def _check_deadtime(report, header, gti):
    import numpy as np

    deadc, ontime, livetime = (header.get(k) for k in ("DEADC", "ONTIME", "LIVETIME"))
    if deadc is not None and not 0 < deadc <= 1:
        report.add(FAIL, "deadtime", f"DEADC = {deadc} is outside (0, 1]")
    if None not in (deadc, ontime, livetime):
        report.stats.update(ontime_s=float(ontime), livetime_s=float(livetime))
        expected = ontime * deadc
        if not math.isclose(livetime, expected, rel_tol=LIVETIME_RTOL):
            report.add(
                FAIL,
                "deadtime",
                f"LIVETIME = {livetime:.1f} s but ONTIME x DEADC = {expected:.1f} s",
            )
    if gti is not None and ontime is not None and len(gti):
        total = float(np.sum(gti[:, 1] - gti[:, 0]))
        report.stats["gti_total_s"] = total
        if not math.isclose(total, ontime, rel_tol=ONTIME_RTOL):
            report.add(
                WARN,
                "deadtime",
                f"ONTIME = {ontime:.1f} s but the GTIs sum to {total:.1f} s",
            )


def _check_gti(report, header, table, units):
    """Check the GTI table; return its (start, stop) array or None."""
    import numpy as np

    for column in ("START", "STOP"):
        if column not in table.colnames:
            report.add(FAIL, "gti", f"GTI column {column} is missing")
            return None
        if not units.get(column):
            report.add(
                WARN, "gti", f"GTI column {column} has no unit (seconds assumed)"
            )
        elif not _unit_ok(units[column], "s"):
            report.add(FAIL, "gti", f"GTI column {column} has unit {units[column]!r}")
            return None
    if len(table) == 0:
        report.add(FAIL, "gti", "the GTI table is empty")
        return None
    gti = np.column_stack(
        [np.asarray(table["START"], float), np.asarray(table["STOP"], float)]
    )
    if np.any(gti[:, 1] <= gti[:, 0]):
        report.add(FAIL, "gti", "a GTI ends before it starts")
    return gti


def _check_times(report, header, events, gti):
    import numpy as np

    if gti is None or len(events) == 0 or "TIME" not in events.colnames:
        return
    time = np.asarray(events["TIME"], dtype=float)
    inside = np.zeros(len(time), dtype=bool)
    for start, stop in gti:
        inside |= (time >= start - 1e-6) & (time <= stop + 1e-6)
    outside = int(np.sum(~inside))
    if outside:
        report.add(
            FAIL if outside > OUTSIDE_GTI_MAX_FRACTION * len(time) else WARN,
            "gti",
            f"{outside} of {len(time)} events lie outside the GTIs",
        )
    tstart, tstop = header.get("TSTART"), header.get("TSTOP")
    if tstart is not None and tstop is not None and not tstart < tstop:
        report.add(FAIL, "gti", f"TSTART = {tstart} is not before TSTOP = {tstop}")
    _check_rate(report, np.sort(time[inside]), gti)


def _check_rate(report, time, gti):
    """Poisson outliers of the event rate in time bins inside the GTIs."""
    import numpy as np
    from scipy import stats

    exposure = float(np.sum(gti[:, 1] - gti[:, 0]))
    if len(time) < 2 * RATE_MIN_COUNTS or exposure <= 0:
        return
    rate = len(time) / exposure
    report.stats["rate_hz"] = round(rate, 4)
    width = max(RATE_MIN_BIN_S, RATE_MIN_COUNTS / rate)
    edges = np.arange(gti[0, 0], gti[-1, 1] + width, width)
    counts = np.histogram(time, edges)[0]
    # Time of each bin inside the GTIs.
    live = np.array(
        [
            np.sum(
                np.clip(np.minimum(gti[:, 1], hi) - np.maximum(gti[:, 0], lo), 0, None)
            )
            for lo, hi in itertools.pairwise(edges)
        ]
    )
    use = live > 0.5 * width
    n = counts[use]
    # The reference is the median rate of the bins, robust to a few bad ones.
    reference = float(np.median(n / live[use]))
    mu = reference * live[use]
    p_low, p_high = stats.poisson.cdf(n, mu), stats.poisson.sf(n - 1, mu)
    p_value = np.minimum(1.0, 2 * np.minimum(p_low, p_high))
    outlier = (p_value < RATE_P_VALUE / max(1, len(n))) & (
        np.abs(n - mu) > RATE_MIN_DEVIATION * mu
    )
    report.stats["rate_bins"] = len(n)
    if np.any(outlier):
        worst = float(np.max(np.abs(n[outlier] / mu[outlier] - 1)))
        report.add(
            WARN,
            "rate",
            f"{int(np.sum(outlier))} of {len(n)} time bins of {width:.0f} s have an "
            f"event rate off the run's median {reference:.2f} Hz (up to "
            f"{worst:.0%}, Poisson outliers)",
        )


def _check_pointing(report, header, events, irfs, irf_file):
    import numpy as np

    ra, dec = header.get("RA_PNT"), header.get("DEC_PNT")
    if ra is None or dec is None:
        return
    if not (0 <= ra < 360 and -90 <= dec <= 90):
        report.add(FAIL, "pointing", f"pointing RA={ra}, DEC={dec} is not on the sky")
        return
    alt = header.get("ALT_PNT")
    if alt is not None:
        zenith = 90.0 - float(alt)
        report.stats["zenith_deg"] = round(zenith, 2)
        if zenith > ZENITH_MAX_DEG:
            report.add(
                WARN, "pointing", f"zenith angle {zenith:.1f} deg > {ZENITH_MAX_DEG}"
            )
        known = _known_irf(irf_file)
        if (
            known is not None
            and abs(zenith - known.zenith_deg) > ZENITH_TOLERANCE_DEG
            and zenith > 0
        ):
            report.add(
                WARN,
                "pointing",
                f"zenith angle {zenith:.1f} deg is more than {ZENITH_TOLERANCE_DEG} "
                f"deg from the {known.zenith_deg:g} deg of IRF {known.name}",
            )
    aeff = irfs.get("aeff")
    if aeff is not None and len(events) and {"RA", "DEC"} <= set(events.colnames):
        from astropy.coordinates import SkyCoord

        pointing = SkyCoord(ra, dec, unit="deg")
        offsets = pointing.separation(
            SkyCoord(events["RA"], events["DEC"], unit="deg")
        ).deg
        axis_max = aeff.axes["offset"].edges.max().to_value("deg")
        beyond = float(np.mean(offsets > axis_max))
        report.stats["max_event_offset_deg"] = round(float(offsets.max()), 3)
        report.stats["fraction_beyond_irf"] = round(beyond, 4)
        if beyond > BEYOND_IRF_MAX_FRACTION:
            report.add(
                FAIL,
                "pointing",
                f"{beyond:.1%} of the events are beyond the IRF's largest offset "
                f"{axis_max:g} deg: is the pointing position right?",
            )


def _known_irf(irf_file):
    from sat.irf import known_irfs

    if irf_file is None:
        return None
    for info in known_irfs().values():
        if Path(info.file).name == Path(irf_file).name:
            return info
    return None


# Expected unit of each IRF's values (None: depends on the PSF parametrisation).
_IRF_UNITS = {"aeff": "m2", "edisp": "", "psf": None, "bkg": "s-1 MeV-1 sr-1"}


def _read_irf(path, name, hdu_class):
    """Read an IRF with the Gammapy class registered for its GADF HDU class."""
    from gammapy.irf import IRF_REGISTRY

    return IRF_REGISTRY.get_cls(hdu_class).read(path, hdu=name)


def _check_irfs(report, hdus):
    """Read each IRF with Gammapy, check energy ranges and units; return them."""
    import astropy.units as u
    import numpy as np

    irfs = {}
    for kind in ("aeff", "edisp", "psf", "bkg"):
        if kind not in hdus:
            continue
        path, name, hdu_class = hdus[kind]
        irf = _guarded(
            report,
            "irf",
            f"{kind} HDU {name} of {path}",
            _read_irf,
            path,
            name,
            hdu_class,
        )
        if irf is None:
            continue
        irfs[kind] = irf
        axis = "energy_true" if "energy_true" in irf.axes.names else "energy"
        edges = irf.axes[axis].edges
        if not edges.unit.is_equivalent(u.TeV):
            report.add(FAIL, "irf", f"{kind} energy axis has unit {edges.unit}")
            continue
        low, high = edges.min().to_value("TeV"), edges.max().to_value("TeV")
        report.stats[f"{kind}_energy_tev"] = [float(f"{low:.3g}"), float(f"{high:.3g}")]
        if not (
            IRF_ENERGY_RANGE_TEV[0] <= low < high <= IRF_ENERGY_RANGE_TEV[1]
        ) or np.any(np.diff(edges.value) <= 0):
            report.add(
                FAIL,
                "irf",
                f"{kind} energy axis {low:.3g}-{high:.3g} TeV is not increasing inside "
                f"{IRF_ENERGY_RANGE_TEV[0]:g}-{IRF_ENERGY_RANGE_TEV[1]:g} TeV",
            )
        # Parametric PSFs hold one array per parameter.
        quantity = irf.quantity
        arrays = quantity.values() if isinstance(quantity, dict) else [quantity]
        unit = _IRF_UNITS[kind]
        if unit is not None and not quantity.unit.is_equivalent(unit):
            report.add(
                FAIL, "irf", f"{kind} values have unit {quantity.unit}, not {unit}"
            )
        if not all(np.all(np.isfinite(a.value)) for a in arrays) or not any(
            np.max(a.value) > 0 for a in arrays
        ):
            report.add(FAIL, "irf", f"{kind} values are NaN or nowhere positive")
    return irfs


def _gammapy_checks(report, hdus):
    """Gammapy's `ObservationChecker` on GTI, aeff, edisp and PSF.

    Its events check is left out: in gammapy 2.1 it fails on the TIME column (a
    `Time` object has no unit); ours above covers it.
    """
    from gammapy.data import Observation
    from gammapy.data.observations import ObservationChecker
    from gammapy.utils.fits import HDULocation

    kinds = [kind for kind in ("gti", "aeff", "edisp", "psf") if kind in hdus]
    locations = {
        kind: HDULocation(
            hdu_class=hdus[kind][2],
            file_dir=str(hdus[kind][0].parent),
            file_name=hdus[kind][0].name,
            hdu_name=hdus[kind][1],
        )
        for kind in kinds
    }
    observation = Observation(obs_id=report.obs_id, **locations)
    for record in ObservationChecker(observation).run(checks=kinds):
        if record["level"] == "error":
            report.add(FAIL, "gammapy", record["msg"])
        elif record["level"] == "warning":
            report.add(WARN, "gammapy", record["msg"])


def _check_integrity(path: Path) -> None:
    """Raise if ``path`` is truncated or not FITS.

    astropy stops silently at a truncated gzip stream (the HDUs after the cut
    just vanish), so the stream is decompressed to its end-of-stream marker
    here; a plain FITS file is a whole number of 2880-byte blocks.
    """
    import gzip

    with open(path, "rb") as stream:
        compressed = stream.read(2) == b"\x1f\x8b"
    opener = gzip.open if compressed else open
    size = 0
    with opener(path, "rb") as stream:
        head = stream.read(6)
        size += len(head)
        while chunk := stream.read(1 << 20):
            size += len(chunk)
    if head != b"SIMPLE":
        raise ValueError("not a FITS file (no SIMPLE card)")
    if size % 2880:
        raise ValueError(
            f"truncated: {size} bytes is not a whole number of 2880-byte FITS blocks"
        )


def _check_observation(report, hdus, single_file=False):
    files = sorted({path for path, *_ in hdus.values() if path.is_file()})
    for path in files:
        _guarded(report, "read", str(path), _check_integrity, path)
    if report.verdict == FAIL:
        return report
    hint = " (IRFs in another file? check the data store folder)" if single_file else ""
    for kind in REQUIRED_HDUS:
        if kind not in hdus:
            report.add(
                FAIL,
                "hdus",
                f"no {kind.upper()} HDU{hint if kind not in ('events', 'gti') else ''}",
            )
    for kind in OPTIONAL_HDUS:
        if kind not in hdus:
            report.add(WARN, "hdus", f"no {kind.upper()} HDU")
    for kind, (path, *_) in hdus.items():
        if not path.is_file():
            report.add(FAIL, "read", f"{kind} file {path} does not exist")
    hdus = {k: v for k, v in hdus.items() if v[0].is_file()}
    events = gti_table = None
    if "events" in hdus:
        path, name, _ = hdus["events"]
        read = _guarded(report, "read", f"EVENTS of {path}", _read_hdu, path, name)
        if read is not None:
            header, events, units = read
            if report.obs_id is None and "OBS_ID" in header:
                report.obs_id = int(header["OBS_ID"])
            _check_events(report, header, events, units)
    if "gti" in hdus:
        path, name, _ = hdus["gti"]
        read = _guarded(report, "read", f"GTI of {path}", _read_hdu, path, name)
        if read is not None:
            gti_table = _check_gti(report, *read)
    if events is not None:
        _check_deadtime(report, header, gti_table)
        _check_times(report, header, events, gti_table)
    irfs = _check_irfs(report, hdus)
    if events is not None:
        irf_file = hdus["aeff"][0] if "aeff" in hdus else None
        _guarded(
            report,
            "pointing",
            "the pointing",
            _check_pointing,
            report,
            header,
            events,
            irfs,
            irf_file,
        )
    if {"gti", "aeff", "edisp"} <= set(hdus) and report.verdict != FAIL:
        _guarded(
            report,
            "gammapy",
            "the observation with Gammapy",
            _gammapy_checks,
            report,
            hdus,
        )
    return report


def check_paths(paths, progress=None) -> list[ObservationReport]:
    """Check every observation in ``paths``.

    Parameters
    ----------
    paths : list of path-like
        Data store folders (with ``obs-index.fits.gz`` and ``hdu-index.fits.gz``)
        or DL3 FITS files (events and GTI, IRFs in the same file or reported missing).
    progress : callable, optional
        ``progress(iterable, desc)`` wrapper (a tqdm bar).

    Returns
    -------
    list of ObservationReport
        One per observation, in the order found; a path that cannot be read at all
        gives one FAIL report naming it.
    """
    jobs = []
    reports = []
    for path in map(Path, paths):
        if not path.exists():  # one bad argument: named, the others checked
            report = ObservationReport(None, str(path))
            report.add(
                FAIL,
                "read",
                f"{path} does not exist: give a data store folder or DL3 files",
            )
            reports.append(report)
            continue
        if path.is_dir():
            if (
                not (path / "hdu-index.fits.gz").is_file()
                or not (path / "obs-index.fits.gz").is_file()
            ):
                report = ObservationReport(None, str(path))
                report.add(
                    FAIL, "read", f"{path} has no obs-index.fits.gz / hdu-index.fits.gz"
                )
                reports.append(report)
                continue
            store = _guarded(
                report := ObservationReport(None, str(path)),
                "read",
                f"the index tables of {path}",
                lambda p: list(_observations_of_store(p)),
                path,
            )
            if store is None:
                reports.append(report)
                continue
            for obs_id, hdus in store:
                if hdus is None:
                    report = ObservationReport(obs_id, str(path))
                    report.add(
                        WARN,
                        "hdus",
                        "in hdu-index.fits.gz but not in obs-index.fits.gz: "
                        "a DataStore cannot select it",
                    )
                    reports.append(report)
                else:
                    jobs.append((obs_id, str(path), hdus, False))
        else:
            report = ObservationReport(None, str(path))
            hdus = _guarded(report, "read", str(path), _hdus_of_file, path)
            if hdus is None:
                reports.append(report)
                continue
            jobs.append((None, str(path), hdus, True))
    iterable = progress(jobs, "checking") if progress else jobs
    for obs_id, source, hdus, single_file in iterable:
        report = ObservationReport(obs_id, source)
        reports.append(_check_observation(report, hdus, single_file))
    return reports
