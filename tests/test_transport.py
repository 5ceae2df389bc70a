"""What the reduction's worker pool sends between processes (`sat.transport`).

A WCS sent through multiprocessing's pickler must come back as the very WCS
astropy's own unpickling gives (same header, same pixel shape), a separate
object each time, while its FITS payload is parsed once per process.
"""

import pickle
from multiprocessing.reduction import ForkingPickler

import pytest


@pytest.fixture
def registered(monkeypatch):
    """`sat.transport.register` on a copy of multiprocessing's reducers."""
    from sat import transport

    monkeypatch.setattr(
        ForkingPickler, "_extra_reducers", dict(ForkingPickler._extra_reducers)
    )
    monkeypatch.setattr(transport, "_TEMPLATES", {})
    transport.register()
    return transport


def _geometries():
    from gammapy.maps import RegionGeom, WcsGeom

    region = RegionGeom.create("icrs;circle(83.63, 22.01, 0.11)")
    # A map geometry's WCS has a pixel shape, which astropy keeps outside the FITS
    # header it pickles: it must survive too.
    wcs_map = WcsGeom.create(
        skydir=(83.63, 22.01), width=(4, 3), binsz=0.02, frame="galactic", proj="TAN"
    )
    return [region.wcs, wcs_map.wcs]


@pytest.mark.parametrize("index", [0, 1], ids=["region", "map"])
def test_a_wcs_comes_back_as_astropy_unpickles_it(registered, index):
    wcs = _geometries()[index]
    payload = ForkingPickler.dumps(wcs)
    astropys = pickle.loads(pickle.dumps(wcs))
    first, second = pickle.loads(payload), pickle.loads(payload)
    for copy in (first, second):
        assert type(copy) is type(astropys)
        assert copy.to_header_string() == astropys.to_header_string()
        assert copy.pixel_shape == astropys.pixel_shape == wcs.pixel_shape
        assert copy.wcs.compare(astropys.wcs)
    assert first is not second and first.wcs is not second.wcs
    # Changing one copy leaves the next one alone (nothing shared).
    first.wcs.crval = [0, 0]
    assert pickle.loads(payload).wcs.compare(astropys.wcs)


def test_a_payload_is_parsed_once(registered, monkeypatch):
    parsed = []
    unpickle = registered.unpickle_wcs

    def counting(*args):
        parsed.append(args[0])
        return unpickle(*args)

    monkeypatch.setattr(registered, "unpickle_wcs", counting)
    region, wcs_map = _geometries()
    for _ in range(5):
        pickle.loads(ForkingPickler.dumps(region))
        pickle.loads(ForkingPickler.dumps(wcs_map))
    assert len(parsed) == 2


def test_plain_pickle_is_untouched(registered):
    from astropy.wcs.wcs import __WCS_unpickle__

    region, _ = _geometries()
    constructor, _ = region.__reduce__()
    assert constructor is __WCS_unpickle__
    assert b"sat.transport" not in pickle.dumps(region)
    assert b"sat.transport" in bytes(ForkingPickler.dumps(region))
