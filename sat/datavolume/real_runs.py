"""The model's per-run predictions checked on DL3 releases it did not make.

For every run of the H.E.S.S. DR1 and CTA 1DC releases: the events predicted
from its live time and its own background IRF, and its file size predicted from
its event count with bytes per event measured on the OTHER runs of its release,
against the file (`check_real_runs`); the verdicts with their tolerances
(`real_run_checks`).
"""

from __future__ import annotations

import math

from sat.datavolume.measure import measure_dl3

# Real runs: |events / IRF prediction - 1| for H.E.S.S. DR1 background templates
# (averaged over zenith angle, sky brightness and atmosphere, with no per-run
# normalisation) may be large; the 1DC events were drawn from their IRF, so their
# background (MC_ID) must match it within Poisson noise.
POISSON_SIGMA = 4.0
TEMPLATE_FACTOR = 2.0
# gzip of the whole file against bytes per event measured on other runs of the
# same release: compression depends on the content (energies, times) of a run.
BYTES_TOLERANCE = 0.05


def _selection(observation, header) -> dict:
    """Return the sky circle and energy range a DL3 run's events fill.

    The data producer's data-subspace keywords (``DSTYPn``/``DSVALn``, as in the
    CTA 1DC files) when present; else the domain of the run's background IRF
    (the circle inscribed in its field of view, its whole energy axis).
    """
    import re

    keywords = {
        header.get(f"DSTYP{i}"): str(header.get(f"DSVAL{i}"))
        for i in range(1, int(header.get("NDSKEYS", 0)) + 1)
    }
    bkg = observation.bkg
    energy = bkg.axes["energy"].edges.to_value("TeV")
    selection = {
        "radius_deg": float(
            min(
                abs(bkg.axes[name].edges).max().to_value("deg")
                for name in bkg.axes.names[1:]
            )
            if "offset" not in bkg.axes.names
            else bkg.axes["offset"].edges.max().to_value("deg")
        ),
        "energy_min_tev": float(energy.min()),
        "energy_max_tev": float(energy.max()),
        "declared": False,
    }
    if "ENERGY" in keywords and "POS(RA,DEC)" in keywords:
        low, high = (float(value) for value in keywords["ENERGY"].split(":"))
        circle = re.match(r"CIRCLE\(([^,]+),([^,]+),([^)]+)\)", keywords["POS(RA,DEC)"])
        if circle:
            selection.update(
                radius_deg=float(circle.group(3)),
                energy_min_tev=low,
                energy_max_tev=high,
                declared=True,
            )
    return selection


def background_events(observation, radius_deg, energy_min_tev, energy_max_tev):
    """Background events a run should hold: its IRF x live time, in a sky circle.

    Gammapy's `MapDatasetMaker` background of the run (its own IRF, live time and
    pointing) summed over the pixels within ``radius_deg`` of the pointing and
    the reconstructed-energy range.
    """
    from gammapy.datasets import MapDataset
    from gammapy.makers import MapDatasetMaker
    from gammapy.maps import MapAxis, WcsGeom

    pointing = observation.get_pointing_icrs(observation.tmid)
    energy = MapAxis.from_energy_bounds(energy_min_tev, energy_max_tev, 30, "TeV")
    geom = WcsGeom.create(
        skydir=pointing,
        width=2 * radius_deg + 0.2,
        binsz=0.05,
        axes=[energy],
        frame="icrs",
    )
    maker = MapDatasetMaker(selection=["background"])
    dataset = maker.run(MapDataset.create(geom), observation)
    inside = geom.to_image().separation(pointing).deg <= radius_deg
    return float(dataset.background.data[:, inside].sum())


def _counted(observation, header, selection) -> tuple[int, int | None]:
    """Events in the selection, and those of the background (1DC MC_ID) or None."""
    import numpy as np
    from astropy.coordinates import SkyCoord

    table = observation.events.table
    pointing = observation.get_pointing_icrs(observation.tmid)
    where = SkyCoord(table["RA"], table["DEC"], unit="deg")
    energy = np.asarray(table["ENERGY"])
    inside = (
        (where.separation(pointing).deg <= selection["radius_deg"])
        & (energy >= selection["energy_min_tev"])
        & (energy < selection["energy_max_tev"])
    )
    if "MC_ID" not in table.colnames:
        return int(inside.sum()), None
    # ctobssim lists its models as MIDnnnnn (id) and MMNnnnnn (name); the
    # instrumental background is the "Background model".
    ids = [
        header[f"MID{i:05d}"]
        for i in range(1, int(header.get("NMCIDS", 0)) + 1)
        if "background" in str(header.get(f"MMN{i:05d}", "")).lower()
    ]
    if not ids:
        return int(inside.sum()), None
    background = inside & np.isin(np.asarray(table["MC_ID"]), ids)
    return int(inside.sum()), int(background.sum())


def check_real_runs(releases, progress=None) -> list[dict]:
    """Check the model's per-run predictions on DL3 releases it did not make.

    For every run: the events predicted from its live time and its own
    background IRF (`background_events`) against the events it holds in the
    same selection (and, for 1DC, against its simulated background events,
    MC_ID); and its file size predicted from its actual event count with the
    bytes per event, per-run overhead and IRF bytes measured (`measure_dl3`) on
    the OTHER runs of the same release, against the file on disk.

    Parameters
    ----------
    releases : dict
        ``{name: gammapy DataStore}``, e.g. H.E.S.S. DR1 and CTA 1DC.
    progress : callable, optional
        ``progress(iterable, desc)`` wrapper.

    Returns
    -------
    list of dict
        One row per run with the predictions, the actual values and their ratios.
    """
    import math as _math

    from astropy.io import fits

    from sat.dl3.store import events_file, run_ids

    rows = []
    for name, store in releases.items():
        runs = run_ids(store)
        files = {obs_id: events_file(store, obs_id) for obs_id in runs}
        measured = {obs_id: measure_dl3([path]) for obs_id, path in files.items()}
        iterable = progress(runs, f"{name} runs") if progress else runs
        for obs_id in iterable:
            path = files[obs_id]
            observation = store.obs(obs_id)
            header = fits.getheader(path, "EVENTS")
            selection = _selection(observation, header)
            predicted = background_events(
                observation,
                selection["radius_deg"],
                selection["energy_min_tev"],
                selection["energy_max_tev"],
            )
            events, background = _counted(observation, header, selection)
            others = [m for key, m in measured.items() if key != obs_id]
            kind = "gzip" if path.suffix == ".gz" else "raw"
            # Raw bytes per event: the row width the run's format declares
            # (NAXIS1); compression, overhead and IRF bytes: the other runs'.
            compression = sum(
                m["bytes_per_event"][kind] * m["events"] for m in others
            ) / sum(m["bytes_per_event"]["raw"] * m["events"] for m in others)
            per_event = header["NAXIS1"] * compression
            overhead = sum(m["overhead_bytes"][kind] for m in others) / len(others)
            irf = sum(m["irf_bytes"][kind] for m in others) / len(others)
            own = measured[obs_id]
            in_file = own["events"]
            events_bytes = in_file * own["bytes_per_event"][kind]
            events_bytes += own["overhead_bytes"][kind]
            predicted_events_bytes = in_file * per_event + overhead
            predicted_bytes = predicted_events_bytes + irf
            size = path.stat().st_size
            rows.append(
                {
                    "release": name,
                    "obs_id": obs_id,
                    "file": path.name,
                    "livetime_s": float(
                        observation.observation_live_time_duration.to_value("s")
                    ),
                    "selection": selection,
                    "predicted_events": predicted,
                    "events": events,
                    "events_ratio": events / predicted,
                    "background_events": background,
                    "background_sigma": None
                    if background is None
                    else (background - predicted) / _math.sqrt(predicted),
                    "events_in_file": in_file,
                    "row_bytes": int(header["NAXIS1"]),
                    "bytes_per_event": per_event,
                    "compression": kind,
                    "events_bytes": events_bytes,
                    "predicted_events_bytes": predicted_events_bytes,
                    "events_bytes_ratio": events_bytes / predicted_events_bytes,
                    "irf_bytes": own["irf_bytes"][kind],
                    "predicted_irf_bytes": irf,
                    "bytes": size,
                    "predicted_bytes": predicted_bytes,
                    "bytes_ratio": size / predicted_bytes,
                    "calibrated_on": f"the other {len(others)} runs of {name}",
                }
            )
    return rows


def real_run_checks(rows: list[dict]) -> list:
    """Verdicts on `check_real_runs` rows, with their tolerances and reasons.

    Returns
    -------
    list of `sat.result.BoundsCheck`
        The worst run against its allowed interval, for: background events of
        simulated runs (Poisson), events of real runs (a factor 2), file sizes
        (5 %).
    """
    from sat.validation import Bounds, check_bounds

    simulated = [r for r in rows if r["background_sigma"] is not None]
    real = [r for r in rows if r["background_sigma"] is None]
    source = "per-run predictions on DL3 files the model did not make"
    checks = []

    def worst(values, key):
        return max(values, key=key) if values else math.nan

    if simulated:
        bounds = Bounds(
            "simulated background events vs IRF x live time (sigma, worst run)",
            -POISSON_SIGMA,
            POISSON_SIGMA,
            "sigma",
            source,
            "the 1DC events were drawn from their IRF by ctobssim: only Poisson "
            "noise separates count and prediction",
        )
        value = worst([r["background_sigma"] for r in simulated], abs)
        checks.append(check_bounds(bounds, value))
    if real:
        bounds = Bounds(
            "events of real runs / IRF background x live time (worst run)",
            1 / TEMPLATE_FACTOR,
            TEMPLATE_FACTOR,
            "",
            source,
            "a background template averaged over zenith angle, sky brightness and "
            "atmosphere, with no per-run normalisation, plus the gamma rays of the "
            "field: the model's event counts are good to this factor on real data",
        )
        value = worst([r["events_ratio"] for r in real], lambda x: abs(math.log(x)))
        checks.append(check_bounds(bounds, value))
    bounds = Bounds(
        "event bytes / (events x row width x compression of the other runs + "
        "their overhead) - 1 (worst run)",
        -BYTES_TOLERANCE,
        BYTES_TOLERANCE,
        "",
        source,
        "the row width is the format's; gzip's ratio, measured on the other runs "
        "of the release, varies with a run's content; 5 % is what a storage plan "
        "can use",
    )
    value = worst([r["events_bytes_ratio"] - 1 for r in rows], abs)
    checks.append(check_bounds(bounds, value))
    return checks
