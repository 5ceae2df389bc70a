"""The spectral models the use cases fit, and the unit they report amplitudes in.

One home for what several use cases share: the power law they fit (with the
start values that keep MINUIT away from overflowing predictions) and
``AMPLITUDE_UNIT``, the unit of a differential flux in ``result.json``.
"""

from __future__ import annotations

__all__ = ["AMPLITUDE_UNIT", "power_law", "slug"]

AMPLITUDE_UNIT = "cm-2 s-1 TeV-1"


def power_law(name: str, reference, index: float = 2.0, amplitude: float = 1e-12):
    """Return a `~gammapy.modeling.models.SkyModel` with a power-law spectrum.

    Parameters
    ----------
    name : str
        Model name (the source of flux points and light curves).
    reference : `~astropy.units.Quantity`
        Reference energy.
    index : float
        Start (or true) spectral index.
    amplitude : float
        Start (or true) amplitude at ``reference``, in ``AMPLITUDE_UNIT``. The
        default start values are Gammapy's tutorial ones: fixed, so that a fit
        is reproducible, and far from an overflowing prediction.
    """
    import astropy.units as u
    from gammapy.modeling.models import PowerLawSpectralModel, SkyModel

    spectral = PowerLawSpectralModel(
        index=index,
        amplitude=amplitude * u.Unit(AMPLITUDE_UNIT),
        reference=u.Quantity(reference, "TeV"),
    )
    return SkyModel(spectral_model=spectral, name=name)


def slug(label: str) -> str:
    """Return ``label`` as a name Gammapy accepts for a model (no spaces)."""
    import re

    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", label)
