"""Config blocks shared by the use cases that analyse DL3 runs.

Which runs (`RunSelection`), where on the sky (`SkyPosition`, `Circle`), the
energy binning (`EnergyAxis`) and which energies of each run to trust
(`SafeMask`): spectrum-1d, lightcurve and map-3d spell them the same way, so a
key means the same thing in every config.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from sat.usecases.base import UseCaseConfig

__all__ = [
    "Circle",
    "EnergyAxis",
    "RunSelection",
    "SafeMask",
    "SafeMaskMethod",
    "SkyPosition",
]

SafeMaskMethod = Literal[
    "aeff-default", "aeff-max", "edisp-bias", "offset-max", "bkg-peak"
]


class RunSelection(UseCaseConfig):
    """Runs of the obs-index: those of a target, given ids, or the target's among them.

    A use case sets its own default ``target``.
    """

    target: str | None = None
    obs_ids: list[int] = Field(default_factory=list, validate_default=True)

    @field_validator("obs_ids", mode="after")
    @classmethod
    def _runs_selectable(cls, obs_ids: list[int], info: ValidationInfo):
        if not obs_ids and not info.data.get("target"):
            raise ValueError("give a target (obs-index name) or obs_ids, or both")
        return obs_ids


class SkyPosition(UseCaseConfig):
    """A sky position in ICRS degrees."""

    ra_deg: float = Field(ge=0, lt=360)
    dec_deg: float = Field(ge=-90, le=90)

    def coord(self):
        """Return this position as a `~astropy.coordinates.SkyCoord`."""
        from astropy.coordinates import SkyCoord

        return SkyCoord(self.ra_deg, self.dec_deg, unit="deg")


class Circle(UseCaseConfig):
    """A circular sky region (ICRS); without ra/dec it is centred on the target."""

    radius_deg: float = Field(gt=0)
    ra_deg: float | None = Field(default=None, ge=0, lt=360)
    dec_deg: float | None = Field(default=None, ge=-90, le=90)

    @model_validator(mode="after")
    def _both_or_neither(self):
        if (self.ra_deg is None) != (self.dec_deg is None):
            raise ValueError("give both ra_deg and dec_deg, or neither (the target)")
        return self

    def region(self, target):
        """Return this circle as a `regions.CircleSkyRegion`.

        Parameters
        ----------
        target : `~astropy.coordinates.SkyCoord`
            The centre of a circle given without ``ra_deg`` and ``dec_deg``.
        """
        import astropy.units as u
        from astropy.coordinates import SkyCoord
        from regions import CircleSkyRegion

        center = (
            target
            if self.ra_deg is None
            else SkyCoord(self.ra_deg, self.dec_deg, unit="deg")
        )
        return CircleSkyRegion(center, self.radius_deg * u.deg)


class EnergyAxis(UseCaseConfig):
    """Log-spaced energy bins from ``min_tev`` to ``max_tev``."""

    min_tev: float = Field(gt=0)
    max_tev: float = Field(gt=0)
    nbins: int = Field(gt=0)

    @model_validator(mode="after")
    def _increasing(self):
        if self.max_tev <= self.min_tev:
            raise ValueError("max_tev must be larger than min_tev")
        return self

    def axis(self, name: str = "energy"):
        """Return Gammapy's `~gammapy.maps.MapAxis` (``energy`` or ``energy_true``)."""
        from gammapy.maps import MapAxis

        return MapAxis.from_energy_bounds(
            self.min_tev, self.max_tev, self.nbins, unit="TeV", name=name
        )


class SafeMask(UseCaseConfig):
    """Gammapy's `SafeMaskMaker` settings (which energies of each run to trust)."""

    methods: list[SafeMaskMethod] = Field(default_factory=lambda: ["edisp-bias"])
    bias_percent: float = Field(default=10, gt=0)
    aeff_percent: float = Field(default=10, gt=0)
    offset_max_deg: float = Field(default=3.0, gt=0)
