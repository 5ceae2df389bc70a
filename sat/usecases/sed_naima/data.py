"""The flux points to fit: a source's, a Gammapy file, a naima table or a result."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sat.usecases.base import RunContext
    from sat.usecases.sed_naima.config import SedNaimaConfig
    from sat.usecases.sed_naima.sources import Source


def load_flux_points(config: SedNaimaConfig, source: Source, context: RunContext):
    """Return the flux points to fit and a label for them."""
    from gammapy.estimators import FluxPoints

    from sat.data import require
    from sat.errors import DataError, reading

    if config.flux_points is None:
        path = require(source.dataset) / source.file
        label = source.label
    else:
        path = Path(config.flux_points)
        if path.is_dir():
            # A spectrum-1d result folder.
            path = path / "flux_points.ecsv"
        if not path.is_file():
            raise DataError(
                f"key 'flux_points': no file {path} (give a flux-points FITS/ECSV "
                "file, a naima .dat table or a spectrum-1d result folder)"
            )
        label = f"{path.name} ({config.source})"
    context.add_inputs(path)
    with reading(path):
        try:
            if path.suffix == ".dat":
                return read_naima_table(path), label
            return FluxPoints.read(path), label
        except IndexError as error:  # astropy's IPAC reader on a mangled header
            raise ValueError(f"malformed table ({error})") from None


def read_naima_table(path: Path):
    """Read a naima-style IPAC spectrum into Gammapy `FluxPoints` (dN/dE)."""
    import numpy as np
    from astropy.io import ascii
    from astropy.table import Table
    from gammapy.estimators import FluxPoints
    from naima.utils import validate_data_table

    table = ascii.read(path, format="ipac")
    # Older naima examples name the columns ene / flux_elo / flux_ehi.
    for old, new in (
        ("ene", "energy"),
        ("flux_elo", "flux_error_lo"),
        ("flux_ehi", "flux_error_hi"),
    ):
        if old in table.colnames and new not in table.colnames:
            table.rename_column(old, new)
    data = validate_data_table(table)
    unit = "cm-2 s-1 TeV-1"
    flux = data["flux"].to(unit)
    points = Table(
        {
            "e_ref": data["energy"].to("TeV"),
            "dnde": flux,
            "dnde_errn": data["flux_error_lo"].to(unit),
            "dnde_errp": data["flux_error_hi"].to(unit),
            # Gammapy's chi2 wants a symmetric error too.
            "dnde_err": (data["flux_error_lo"] + data["flux_error_hi"]).to(unit) / 2,
            "is_ul": np.asarray(data["ul"], dtype=bool),
            "dnde_ul": np.where(data["ul"], flux.value, np.nan) * flux.unit,
        },
        meta={"SED_TYPE": "dnde"},
    )
    return FluxPoints.from_table(points, sed_type="dnde")


def upper_limits(table):
    """Return the upper-limit flags of a flux-points table (all False if none)."""
    import numpy as np

    if "is_ul" not in table.colnames:
        return np.zeros(len(table), dtype=bool)
    return np.asarray(table["is_ul"], dtype=bool)
