"""The timing analysis: PINT phase-folds Fermi-LAT photons, offline.

PINT needs the JPL DE421 ephemeris and observatory clock corrections (the
absolute phase refers to a TOA at the Green Bank Telescope): both come from
staged files through `sat.offline.configure_pint`, never from the network. The
weighted H-test (`pint.eventstats`) of the phases is validated against PINT's own
regression test of the default event file.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from sat.usecases.pulsar.config import DEFAULT_EVENTS, TimingConfig
from sat.usecases.pulsar.plots import plot_pulsar_phasogram
from sat.validation import Bounds, check_bounds

if TYPE_CHECKING:
    from sat.usecases.base import RunContext

EXAMPLES = "pint-examples"

# PINT's own regression test of this very file (tests/test_fermiphase.py) requires
# H > 1380 with weights computed from the PSF ("CALC"); the file's likelihood
# weights are better, so H is higher (3081 measured). A broken time chain (clock,
# ephemeris, barycentring, timing model) smears the pulse and drops H to noise.
H_TEST = Bounds(
    "h_test",
    1380.0,
    math.inf,
    "",
    "PINT tests/test_fermiphase.py: H > 1380 for this event file (PSF weights)",
    "PSR J0030+0451 is detected at > 50 sigma; any error in the clock, ephemeris "
    "or timing chain smears the pulse and H falls to noise level (<~ 50)",
)


def timing(config: TimingConfig, clock_dir, context: RunContext) -> dict:
    """Phase-fold the photons with PINT, H-test and phasogram."""
    import numpy as np
    from astropy.time import Time

    from sat import offline
    from sat.data import require

    examples = require(EXAMPLES)
    par = _locate(config.par_file, examples, "timing.par_file")
    events = _locate(config.event_file, examples, "timing.event_file")
    clocks = Path(clock_dir) if clock_dir else require(offline.CLOCK_DATASET)
    context.add_inputs(par, events)
    folded = _fold(config, par, events, clocks, context)
    from pint.eventstats import h2sig, hm, hmw  # once PINT is set up offline

    model, toas, weight_column = folded["model"], folded["toas"], folded["weights"]

    phases = np.mod(np.asarray(folded["phase"].value, dtype=float), 1.0)
    if weight_column is not None:
        weights = np.asarray(toas.get_flag_value("weight", as_type=float)[0])
        h_test = float(hmw(phases, weights))
    else:
        weights = np.ones_like(phases)
        h_test = float(hm(phases))
    h_unweighted = float(hm(phases))
    sigma = float(h2sig(h_test))
    mjd = np.asarray(toas.get_mjds().value, dtype=float)

    _write_phases(context.product("timing/phases.fits"), mjd, phases, weights)
    first, last = (Time(value, format="mjd").utc.iso[:10] for value in mjd[[0, -1]])
    what = (
        f"Fermi-LAT photons of {events.name}: {toas.ntoas} photons"
        f"{', weighted (' + weight_column + ')' if weight_column else ''}, "
        f"{first} to {last}; phases from PINT with {par.name}"
    )
    context.save_figure(
        plot_pulsar_phasogram(
            phases,
            weights,
            config.phase_bins,
            f"PSR {model.PSR.value}: Fermi-LAT pulse profile (H = {h_test:.0f})",
            what,
        ),
        "timing/phasogram.png",
    )
    validation = []
    if Path(events).name == DEFAULT_EVENTS and weight_column is not None:
        validation.append(check_bounds(H_TEST, h_test))
    setup, clock_files = folded["setup"], folded["clock_files"]
    return {
        "pulsar": model.PSR.value,
        "n_photons": int(toas.ntoas),
        "weight_column": weight_column,
        "sum_weights": float(weights.sum()),
        "h_test": h_test,
        "h_test_unweighted": h_unweighted,
        "h_test_sigma": sigma,
        "mjd_range": [float(mjd.min()), float(mjd.max())],
        "offline": {
            "clock_files": clock_files,
            "ephemeris": setup["ephemeris"],
            "astropy_cache": setup["cache"],
            "clock_files_seeded": len(setup["seeded"]),
            "clock_files_not_staged": setup["missing"],
        },
        "validation": validation,
        "summary": [
            f"PSR {model.PSR.value}: {toas.ntoas} photons, "
            f"{'weighted ' if weight_column else ''}H-test {h_test:.1f} "
            f"({sigma:.1f} sigma); clock files: "
            f"{', '.join(Path(f).name for f in clock_files) or 'none'}",
        ],
    }


def _fold(config: TimingConfig, par: Path, events: Path, clocks: Path, context):
    """Return PINT's absolute phases of the photons, offline.

    Returns a dict: the timing ``model``, the photon ``toas``, their ``phase``,
    the ``weights`` column used (or None), the offline ``setup`` and the
    ``clock_files`` PINT read.
    """
    from loguru import logger

    from sat import offline

    sink = _pint_logging(context)
    try:
        with context.step("PINT offline setup (clock files, DE421)"):
            setup = offline.configure_pint(clocks)
        import pint.models
        from pint.fermi_toas import get_Fermi_TOAs

        with context.step(f"timing model {par.name}"):
            model = pint.models.get_model(str(par))
        weight_column = _weight_column(config, model, events)
        with context.step(f"photon TOAs of {events.name} (clock, TDB, positions)"):
            toas = get_Fermi_TOAs(
                str(events),
                weightcolumn=weight_column,
                ephem="DE421",
                planets=config.planets,
            )
        with context.step(f"phases of {toas.ntoas} photons"):
            # Absolute phase: refers to the model's TZR TOA (at an observatory:
            # this is where the clock corrections are needed).
            _, phase = model.phase(toas, abs_phase=True)
        clock_files = offline.pint_clock_files()
    finally:
        logger.remove(sink)
    return {
        "model": model,
        "toas": toas,
        "phase": phase,
        "weights": weight_column,
        "setup": setup,
        "clock_files": clock_files,
    }


def _weight_column(config: TimingConfig, model, events: Path) -> str | None:
    """Return the event file's column of photon weights to use, or None.

    ``auto``: the column named PSR<name> (the Fermi convention) if the file has it.
    """
    from astropy.io import fits

    from sat.errors import ConfigError

    columns = fits.getheader(events, "EVENTS")
    names = [columns[f"TTYPE{i}"] for i in range(1, columns["TFIELDS"] + 1)]
    weight_column = config.weight_column
    if weight_column == "auto":
        guess = f"PSR{model.PSR.value}"
        weight_column = guess if guess in names else None
    elif weight_column is not None and weight_column not in names:
        raise ConfigError(
            f"key 'timing.weight_column': no column {weight_column!r} in "
            f"{events.name} (columns: {', '.join(names)})"
        )
    return weight_column


def _locate(name: str, folder: Path, key: str) -> Path:
    # A path as given if it exists, else the file of that name in the dataset.
    from sat.errors import DataError

    path = Path(name)
    if path.is_file():
        return path
    candidate = folder / name
    if candidate.is_file():
        return candidate
    raise DataError(f"key '{key}': no file {name} (nor {candidate})")


def _pint_logging(context: RunContext):
    # PINT logs through loguru at DEBUG by default: keep warnings on stderr and the
    # full INFO log (which clock file and ephemeris were used) in a product.
    import pint.logging
    from loguru import logger

    pint.logging.setup(
        level="ERROR" if context.quiet else "WARNING",
        # PINT_CLOCK_OVERRIDE overriding the (cached) global files is what
        # configure_pint sets up; it stays in pint.log.
        filter=pint.logging.LogFilter(never=["overrides global clock file"]),
        capturewarnings=False,
    )
    return logger.add(context.product("timing/pint.log"), level="INFO")


def _write_phases(path: Path, mjd, phases, weights) -> None:
    from astropy.table import Table

    table = Table(
        {"MJD_TT": mjd, "PULSE_PHASE": phases, "WEIGHT": weights},
        meta={"COMMENT": "PINT absolute pulse phases (sat pulsar use case)"},
    )
    table.write(path, overwrite=True)
