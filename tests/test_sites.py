"""The CTAO sites: published positions, aliases, and no network access."""

from __future__ import annotations

import numpy as np
import pytest

from sat.errors import ConfigError
from sat.sites import SITES, get_site, site_info

pytestmark = pytest.mark.verifies_requirement("C-SAT-0150")

# Written out independently of sat.sites, in decimal degrees (east and north
# positive) from the CTAO site pages: North 28d45m43.7904s N 17d53m31.218s W,
# "2,200 metres"; South 24d41m0.34s S 70d18m58.84s W.
PUBLISHED = {
    "ctao-north": (-17.892005, 28.762164, 2200.0),
    "ctao-south": (-70.316344, -24.683428, 2150.0),
}


def _distance_m(location, lon, lat, height):
    from astropy.coordinates import EarthLocation

    reference = EarthLocation.from_geodetic(lon, lat, height)
    a = np.array([c.to_value("m") for c in location.geocentric])
    b = np.array([c.to_value("m") for c in reference.geocentric])
    return float(np.linalg.norm(a - b))


@pytest.fixture(autouse=True)
def _no_site_registry(monkeypatch):
    """Fail if anything asks astropy's (downloaded) site registry."""
    from astropy.coordinates import EarthLocation

    def refuse(*args, **kwargs):
        raise AssertionError("EarthLocation.of_site downloads the site registry")

    monkeypatch.setattr(EarthLocation, "of_site", refuse)
    monkeypatch.setattr(EarthLocation, "get_site_names", refuse)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_positions_match_the_published_ones(name):
    location = get_site(name)
    assert _distance_m(location, *PUBLISHED[name]) < 1000.0
    # Far closer than the requirement: the same numbers, rounding apart.
    assert _distance_m(location, *PUBLISHED[name]) < 1.0


def test_agree_with_gammapy_observatory_locations():
    from gammapy.data import observatory_locations

    for name, gammapy_name in (("north", "ctao_north"), ("south", "ctao_south")):
        ours, theirs = get_site(name), observatory_locations[gammapy_name]
        assert abs(ours.lat.deg - theirs.lat.deg) < 1e-6
        assert abs(ours.lon.deg - theirs.lon.deg) < 1e-6
        # Gammapy's North height (2147 m) is the MC group's MST-1; ours is CTAO's.
        assert abs(ours.height.to_value("m") - theirs.height.to_value("m")) < 60


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("north", "ctao-north"),
        ("CTAO_North", "ctao-north"),
        ("La Palma", "ctao-north"),
        ("south", "ctao-south"),
        ("Paranal", "ctao-south"),
        ("cta-south", "ctao-south"),
    ],
)
def test_aliases(alias, name):
    assert site_info(alias) is SITES[name]
    assert get_site(alias) == SITES[name].location


def test_hemispheres_and_sources():
    north, south = get_site("north"), get_site("south")
    assert 28 < north.lat.deg < 29 and -18 < north.lon.deg < -17
    assert -25 < south.lat.deg < -24 and -71 < south.lon.deg < -70
    for site in SITES.values():
        assert "CTAO" in site.source and site.host


def test_unknown_site_lists_the_known_ones():
    with pytest.raises(ConfigError) as error:
        get_site("mauna kea")
    assert "unknown CTAO site 'mauna kea'" in str(error.value)
    assert "ctao-north" in str(error.value) and "paranal" in str(error.value)


def test_irf_sites_exist():
    from sat.irf import known_irfs

    for info in known_irfs().values():
        assert info.site in SITES
