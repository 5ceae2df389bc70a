"""The EBL models and the power laws fitted through them.

The optical depth tau(E, z) of a published EBL model (Domínguez et al. 2011 by
default, or Franceschini et al. 2008) is read from the tables of the ``ebl``
dataset by Gammapy's `EBLAbsorptionNormSpectralModel`; `power_law` multiplies an
intrinsic power law by exp(-alpha_norm tau(E, z)). ``grb-followup`` uses them too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sat.usecases.models import AMPLITUDE_UNIT

__all__ = [
    "DEFAULT_EBL",
    "EBL_TABLES",
    "EblChoice",
    "EblModelName",
    "EblTable",
    "absorption_of",
    "ebl_absorption",
    "intrinsic",
    "power_law",
]


@dataclass(frozen=True)
class EblTable:
    """A published EBL model: its optical-depth table in the ``ebl`` dataset."""

    file: str
    reference: str


EBL_TABLES = {
    "dominguez": EblTable(
        "ebl_dominguez11.fits.gz", "Domínguez et al. 2011, MNRAS 410, 2556"
    ),
    "franceschini": EblTable(
        "ebl_franceschini.fits.gz", "Franceschini et al. 2008, A&A 487, 837"
    ),
}
EblModelName = Literal["dominguez", "franceschini"]
# "none": no absorption (the deliberately wrong analysis, or an EBL-free sky).
EblChoice = Literal["dominguez", "franceschini", "none"]
# The EBL model of the references when the analysis has none.
DEFAULT_EBL = "dominguez"


def ebl_absorption(model: str, redshift: float, alpha_norm: float = 1.0):
    """Return Gammapy's absorption exp(-alpha_norm tau(E, z)) of an EBL model.

    The table is read from the ``ebl`` dataset (`sat.data.require`), so it is
    found offline wherever ``GAMMAPY_DATA`` points, checked like every input.

    Parameters
    ----------
    model : {"dominguez", "franceschini"}
        The EBL model.
    redshift : float
        Redshift of the source (frozen in the returned model).
    alpha_norm : float
        Scale of the optical depth (frozen; free it to fit it).

    Raises
    ------
    ConfigError
        The redshift is outside the model's table (Gammapy would extrapolate).
    DataError
        The table is missing or unreadable.
    """
    from gammapy.modeling.models import EBLAbsorptionNormSpectralModel

    from sat.data import require
    from sat.errors import ConfigError, reading

    path = require("ebl") / EBL_TABLES[model].file
    with reading(path):
        absorption = EBLAbsorptionNormSpectralModel.read(
            path, redshift=redshift, alpha_norm=alpha_norm
        )
    low, high = float(min(absorption.param)), float(max(absorption.param))
    if not low <= redshift <= high:
        raise ConfigError(
            f"redshift {redshift:g} is outside the EBL model {model!r} "
            f"({low:g} to {high:g})"
        )
    return absorption


def power_law(
    name: str,
    reference_tev: float,
    ebl_model: str = "none",
    redshift: float = 0.0,
    index: float = 2.0,
    amplitude: float = 1e-12,
    free_norm: bool = False,
):
    """Return a `SkyModel`: a power law, EBL-absorbed unless ``ebl_model`` is none.

    Parameters
    ----------
    name : str
        The sky model's name.
    reference_tev : float
        Reference energy of the power law.
    ebl_model : {"dominguez", "franceschini", "none"}
        The absorption (`ebl_absorption`); "none" for a plain power law.
    redshift : float
        Redshift of the absorption.
    index, amplitude : float
        Intrinsic photon index and amplitude (cm-2 s-1 TeV-1) at the reference.
    free_norm : bool
        Fit the EBL normalisation alpha_norm too.
    """
    import astropy.units as u
    from gammapy.modeling.models import PowerLawSpectralModel, SkyModel

    spectral = PowerLawSpectralModel(
        index=index,
        amplitude=amplitude * u.Unit(AMPLITUDE_UNIT),
        reference=reference_tev * u.TeV,
    )
    if ebl_model != "none":
        absorption = ebl_absorption(ebl_model, redshift)
        absorption.alpha_norm.frozen = not free_norm
        spectral = spectral * absorption
    return SkyModel(spectral_model=spectral, name=name)


def intrinsic(sky_model):
    """Return the intrinsic power law of a `power_law` model."""
    spectral = sky_model.spectral_model
    return getattr(spectral, "model1", spectral)


def absorption_of(sky_model):
    """Return the EBL absorption of a `power_law` model, or None."""
    return getattr(sky_model.spectral_model, "model2", None)
