"""The checks of an observation's pointing and IRFs, and Gammapy's own checker.

- the pointing and zenith angle against the IRF (events beyond the IRF offsets,
  zenith far from that of a known CTAO IRF);
- the IRFs read with Gammapy, their energy ranges and units;
- Gammapy's `ObservationChecker` on GTI, effective area, energy dispersion, PSF.

Each check adds its findings to an `sat.quality.report.ObservationReport`.
"""

from __future__ import annotations

from pathlib import Path

from sat.quality.report import FAIL, WARN, guarded

__all__ = ["check_irfs", "check_pointing", "gammapy_checks"]

# More than this fraction of the events beyond the IRF's largest offset means the
# pointing position is wrong (H.E.S.S. DR1: 10-14 % beyond 2.75 deg, normal).
BEYOND_IRF_MAX_FRACTION = 0.5
# Zenith angle of a run vs that of the known CTAO IRF it uses (deg).
ZENITH_TOLERANCE_DEG = 10.0
# Zenith angles above this have no public IRF and little IACT sensitivity.
ZENITH_MAX_DEG = 65.0
# Sane energy ranges of IACT IRFs (TeV): prod5 true-energy axes reach 10 PeV, the
# 1DC PSF 1.26 PeV and starts at 12.6 GeV; an axis in MeV or eV written as TeV
# falls outside.
IRF_ENERGY_RANGE_TEV = (1e-4, 1e5)


def check_pointing(report, header, events, irfs, irf_file):
    """Check the pointing on the sky, its zenith angle and the events' offsets."""
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


def check_irfs(report, hdus):
    """Read each IRF with Gammapy, check energy ranges and units; return them."""
    import astropy.units as u
    import numpy as np

    irfs = {}
    for kind in ("aeff", "edisp", "psf", "bkg"):
        if kind not in hdus:
            continue
        path, name, hdu_class = hdus[kind]
        irf = guarded(
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


def gammapy_checks(report, hdus):
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
