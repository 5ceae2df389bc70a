"""The CTAO array sites as astropy `EarthLocation`, without network access.

``EarthLocation.of_site`` downloads astropy's site registry, so the two CTAO sites
are defined here from the coordinates CTAO publishes.

Examples
--------
Where a source culminates, seen from CTAO-South (no network needed):

>>> import astropy.units as u
>>> from astropy.coordinates import AltAz, SkyCoord
>>> from astropy.time import Time
>>> from sat.sites import get_site, site_info
>>> site_info("paranal").name
'ctao-south'
>>> south = get_site("ctao-south")
>>> print(f"{south.lat.deg:.3f} deg, {south.height.to_value('m'):.0f} m")
-24.683 deg, 2150 m
>>> crab = SkyCoord(83.633, 22.014, unit="deg")
>>> frame = AltAz(obstime=Time("2025-01-01T04:00"), location=south)
>>> print(f"zenith angle {crab.transform_to(frame).zen.deg:.0f} deg")
zenith angle ... deg
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SITES", "Site", "get_site", "site_info"]


@dataclass(frozen=True)
class Site:
    """A CTAO array site.

    Attributes
    ----------
    name : str
        Canonical name ("ctao-north", "ctao-south").
    host : str
        Where the array stands.
    lon, lat : str
        Geodetic longitude (east positive) and latitude, as astropy angle strings.
    height_m : float
        Height above the WGS84 ellipsoid, in metres.
    source : str
        Where the coordinates come from.
    """

    name: str
    host: str
    lon: str
    lat: str
    height_m: float
    source: str

    @property
    def location(self):
        """The site as an `astropy.coordinates.EarthLocation`."""
        import astropy.units as u
        from astropy.coordinates import EarthLocation

        return EarthLocation.from_geodetic(
            lon=self.lon, lat=self.lat, height=self.height_m * u.m
        )


# Array coordinates as published by CTAO on its site pages, now
#   https://www.ctao.org/emission-to-discovery/array-sites/ctao-north/ (and ctao-south/)
# formerly
#   https://www.cta-observatory.org/about/array-locations/la-palma/ (and chile/):
# North 28d45m43.7904s N, 17d53m31.218s W, "at 2,200 metres in altitude";
# South 24d41m0.34s S, 70d18m58.84s W. CTAO gives no height for the South: 2150 m
# is the value of the CTA Monte Carlo group (G. Maier, quoted in Gammapy's
# gammapy/utils/observers.py).
SITES = {
    "ctao-north": Site(
        name="ctao-north",
        host="Observatorio del Roque de los Muchachos, La Palma, Spain",
        lon="-17d53m31.218s",
        lat="28d45m43.7904s",
        height_m=2200.0,
        source="CTAO web site, CTAO-North array coordinates",
    ),
    "ctao-south": Site(
        name="ctao-south",
        host="near ESO Paranal Observatory, Atacama Desert, Chile",
        lon="-70d18m58.84s",
        lat="-24d41m0.34s",
        height_m=2150.0,
        source="CTAO web site, CTAO-South array coordinates; height: CTA MC group",
    ),
}

_ALIASES = {
    "north": "ctao-north",
    "cta-north": "ctao-north",
    "la-palma": "ctao-north",
    "lapalma": "ctao-north",
    "south": "ctao-south",
    "cta-south": "ctao-south",
    "paranal": "ctao-south",
    "chile": "ctao-south",
}


def site_info(name: str) -> Site:
    """Return the `Site` called ``name`` (canonical name or alias, any case).

    Parameters
    ----------
    name : str
        "north", "south", "ctao-north", "ctao-south", "la-palma", "paranal"...

    Raises
    ------
    ConfigError
        For an unknown name, listing the known ones.
    """
    from sat.errors import ConfigError

    key = name.strip().lower().replace("_", "-").replace(" ", "-")
    key = _ALIASES.get(key, key)
    if key not in SITES:
        known = ", ".join([*SITES, *_ALIASES])
        raise ConfigError(f"unknown CTAO site {name!r}; known: {known}")
    return SITES[key]


def get_site(name: str):
    """Return the CTAO site ``name`` as an `astropy.coordinates.EarthLocation`.

    Parameters
    ----------
    name : str
        See `site_info`.
    """
    return site_info(name).location
