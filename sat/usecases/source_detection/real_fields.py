"""The H.E.S.S. DR1 fields: a blind search, each target at its catalogue place."""

from __future__ import annotations

import math

from sat.usecases.base import Outcome, RunContext
from sat.usecases.source_detection.config import RealField
from sat.usecases.source_detection.plots import _plot_real
from sat.usecases.source_detection.simulated import _fit
from sat.validation import Reference, compare

# H.E.S.S. systematic pointing uncertainty, per axis (20 arcsec, Gillessen 2004,
# and the H.E.S.S. source-position papers since, e.g. Acero et al. 2010, MNRAS
# 402, 1877).
HESS_POINTING_DEG = 20 / 3600
# A 2D offset of N(0, sigma) per axis exceeds 3.44 sigma with probability 0.27 %:
# the two-dimensional equivalent of a 3 sigma check.
OFFSET_N_SIGMA = 3.44


def _real_fields(config, context: RunContext) -> Outcome:
    """Search each H.E.S.S. field blind; find its target at its catalogue place."""
    from astropy.coordinates import SkyCoord
    from astropy.table import Table

    validation, summary, rows, results, images = [], [], [], {}, {}
    observed = []  # the runs of each field, for the figure
    for field in config.real_data.fields:
        catalogue, catalogue_error, reference = _catalogue_position(context, field)
        found, maps, runs = _search_field(config, context, field)
        images[field.target] = (maps, field.catalogue, catalogue)
        observed.append(f"{field.target}, {runs.text()}")
        rows += [{**row, "field": field.target} for row in found]
        nearest = _nearest(found, catalogue, config.detection.match_radius_deg)
        error = _offset_error(nearest, catalogue_error)
        offset = (
            float("nan")
            if nearest is None
            else float(
                SkyCoord(nearest["ra_deg"], nearest["dec_deg"], unit="deg")
                .separation(catalogue)
                .deg
            )
        )
        validation.append(
            compare(
                Reference(
                    f"{field.target}: offset from {field.catalogue}",
                    0.0,
                    error,
                    "deg",
                    reference,
                    OFFSET_N_SIGMA,
                    "detected at TS >= threshold within the fit error, the "
                    "catalogue error and the H.E.S.S. pointing systematic (20 "
                    "arcsec per axis) combined; 3.44 sigma holds 99.73 % of 2D "
                    "offsets",
                ),
                offset,
            )
        )
        results[field.target] = {
            "detections": len(found),
            "offset_deg": offset,
            "offset_error_deg": error,
            "ts": None if nearest is None else nearest["ts"],
            "extended": None if nearest is None else bool(nearest["extended"]),
        }
        summary.append(
            f"{field.target}: {len(found)} detections; "
            + (
                "target not detected"
                if nearest is None
                else f"target at TS {nearest['ts']:.0f}, {offset * 60:.2f}' from "
                f"{field.catalogue} (combined error {error * 60:.2f}'), "
                + ("extended" if nearest["extended"] else "point-like")
            )
        )
    if rows:
        Table(rows=rows).write(context.product("real_detections.ecsv"), overwrite=True)
    what = "\n".join(observed)  # one stacked cube per field
    context.save_figure(_plot_real(config, images, rows, what), "real_fields.png")
    parameters = {
        f"{target}: offset": {
            "value": result["offset_deg"],
            "error": result["offset_error_deg"],
            "unit": "deg",
        }
        for target, result in results.items()
    }
    return Outcome(parameters, validation, summary, {"fields": results})


def _catalogue_position(context: RunContext, field: RealField):
    """Return a field's catalogue position, its error per axis (deg), the source.

    gammacat's ``pos_err`` is taken as the error per axis; the HGPS gives the
    radius holding 68 % of a 2D Gaussian, 1.515 times the error per axis.
    """
    import numpy as np
    from astropy.coordinates import SkyCoord
    from gammapy.catalog import SourceCatalogGammaCat, SourceCatalogHGPS

    from sat.data import require
    from sat.errors import ConfigError

    folder = require("catalogs")
    if field.catalogue == "hgps":
        path = folder / "hgps_catalog_v1.fits.gz"
        catalogue = SourceCatalogHGPS(path)
    else:
        path = folder / "gammacat" / "gammacat.fits.gz"
        catalogue = SourceCatalogGammaCat(path)
    context.add_inputs(path)
    try:
        entry = catalogue[field.catalogue_name].data
    except KeyError:
        raise ConfigError(
            f"{field.catalogue_name!r} is not in {field.catalogue}: give its name there"
        ) from None
    if field.catalogue == "hgps":
        position = SkyCoord(entry["RAJ2000"], entry["DEJ2000"])
        error = float(entry["Pos_Err_68"].to_value("deg")) / 1.515
        reference = f"HGPS (H.E.S.S. 2018, A&A 612, A1): {entry['Source_Name']}"
    else:
        position = SkyCoord(entry["ra"], entry["dec"])
        # Masked (no error given) for positions taken from other wavebands.
        error = float(np.nan_to_num(entry["pos_err"].to_value("deg")))
        reference = f"gammacat: {entry['common_name']} ({entry['reference_id']})"
    return position, error, reference


def _search_field(config, context: RunContext, field: RealField):
    """Reduce, stack and search one H.E.S.S. field.

    Return its fits, its TS maps and the `sat.plots.ObservationSummary` of its
    runs.
    """
    import numpy as np
    from astropy.coordinates import SkyCoord
    from gammapy.makers import FoVBackgroundMaker, MapDatasetMaker
    from gammapy.modeling.models import FoVBackgroundModel
    from regions import CircleSkyRegion

    from sat.data import require
    from sat.detection import find_sources, ts_map
    from sat.dl3.makers import map_reference, safe_mask_maker
    from sat.dl3.runs import checked_runs
    from sat.plots import ObservationSummary
    from sat.reduction import reduce_observations
    from sat.stacking import StackingMaker

    real = config.real_data
    block = real.datasets
    selection = checked_runs(context, require("hess-dl3-dr1"), field.target)
    table = selection.store.obs_table
    rows = np.isin(table["OBS_ID"], selection.obs_ids)
    # Blind: the field is centred on the mean pointing of its runs.
    pointing = SkyCoord(table["RA_PNT"][rows], table["DEC_PNT"][rows], unit="deg")
    vector = pointing.cartesian
    mean = SkyCoord(
        *(np.mean(getattr(vector, axis)) for axis in "xyz"),
        representation_type="cartesian",
    )
    centre = SkyCoord(mean.spherical.lon, mean.spherical.lat, frame="icrs")
    stacked = map_reference(block.geom, centre)
    geom = stacked.counts.geom
    makers = [
        MapDatasetMaker(selection=list(block.map_selection)),
        safe_mask_maker(block.safe_mask),
    ]
    stacked = reduce_observations(
        context,
        config.general,
        makers,
        stacked,
        selection.observations,
        selection.files,
        f"{field.target}: reducing and stacking {len(selection.obs_ids)} runs",
        maker_class=StackingMaker,
        cutout_width=2 * block.geom.selection.offset_max,
    ).datasets[0]
    template = stacked.background.copy()

    def search(exclusion_regions):
        stacked.background = template.copy()
        mask = (
            geom.to_image().region_mask(exclusion_regions, inside=False)
            if exclusion_regions
            else None
        )
        stacked.models = [FoVBackgroundModel(dataset_name=stacked.name)]
        normalised = FoVBackgroundMaker(method="scale", exclusion_mask=mask).run(
            stacked
        )
        # The normalised template becomes the background the fits keep fixed.
        normalised.background = normalised.npred_background().copy()
        normalised.models = [FoVBackgroundModel(dataset_name=normalised.name)]
        detection = config.detection
        maps = ts_map(normalised, detection.index, detection.kernel_width_deg)
        peaks = find_sources(maps, detection.ts_threshold, detection.min_distance_deg)
        return normalised, maps, peaks

    with context.step(f"{field.target}: two-pass search"):
        _, _, first = search([])
        regions = [
            CircleSkyRegion(
                SkyCoord(row["ra"], row["dec"], unit="deg"),
                real.exclusion_radius,
            )
            for row in first
        ]
        dataset, maps, peaks = search(regions)
    with context.step(f"{field.target}: fitting {len(peaks)} detections"):
        found = [
            _fit(dataset, peak, peaks, config.detection, frame="icrs") for peak in peaks
        ]
    runs = ObservationSummary.from_observations(selection.observations, "H.E.S.S. DR1")
    return found, maps, runs


def _nearest(found: list[dict], position, radius_deg: float):
    """Return the detection nearest ``position`` within ``radius_deg``, or None."""
    from astropy.coordinates import SkyCoord

    best, best_separation = None, radius_deg
    for row in found:
        separation = (
            SkyCoord(row["ra_deg"], row["dec_deg"], unit="deg").separation(position).deg
        )
        if separation <= best_separation:
            best, best_separation = row, separation
    return best


def _offset_error(row, catalogue_error: float) -> float:
    """Per-axis error of the offset: fit, catalogue and pointing systematic."""
    if row is None:
        return HESS_POINTING_DEG
    cos = math.cos(math.radians(row["dec_deg"]))
    fit = math.sqrt((row["lon_error_deg"] * cos) ** 2 + row["lat_error_deg"] ** 2) / (
        math.sqrt(2)
    )
    return math.sqrt(fit**2 + catalogue_error**2 + HESS_POINTING_DEG**2)
