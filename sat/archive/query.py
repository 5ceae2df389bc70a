"""Search an IVOA archive for DL3 observations: ADQL on ObsCore, run through TAP.

`ObsQuery` holds what a user can ask (a target name, a position and radius, a time
range, an energy range, a collection, a facility, a data product type, observation
ids, a raw ADQL condition) and renders it as ADQL on the standard ObsCore columns
of ``ivoa.obscore``. `search` runs it on a TAP service with pyvo and returns the
matching `Observation` records; every failure (no answer, an HTTP error, a VOTable
that does not parse, an ADQL error reported by the service) becomes a one-line
`DataError` naming the archive.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import asdict, dataclass, field

from sat.errors import ConfigError, DataError

__all__ = [
    "COLUMNS",
    "HC_TEV_M",
    "ObsQuery",
    "Observation",
    "SearchResult",
    "check_url",
    "search",
    "tap_session",
]

# Photon wavelength in metres times its energy in TeV (h c): ObsCore's em_min and
# em_max are wavelengths, so the highest energy gives em_min.
HC_TEV_M = 1.23984198e-18
COLUMNS = (
    "obs_id",
    "obs_collection",
    "obs_publisher_did",
    "dataproduct_type",
    "calib_level",
    "target_name",
    "facility_name",
    "instrument_name",
    "s_ra",
    "s_dec",
    "s_fov",
    "t_min",
    "t_max",
    "t_exptime",
    "em_min",
    "em_max",
    "access_url",
    "access_format",
    "access_estsize",
)
DEFAULT_TIMEOUT = 60.0


def _quote(text: str) -> str:
    """Return ``text`` as an ADQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"


def _mjd(value) -> float | None:
    """Return a time given as MJD (number) or ISO date/time (UTC) as MJD."""
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        pass
    from astropy.time import Time

    try:
        return float(Time(str(value), scale="utc").mjd)
    except ValueError:
        raise ConfigError(
            f"time {value!r} is neither an MJD nor an ISO date (2004-12-04 or "
            "2004-12-04T22:00:00)"
        ) from None


@dataclass(frozen=True)
class ObsQuery:
    """What to look for in the archive's ObsCore table.

    Attributes
    ----------
    target : str, optional
        Part of the target name, matched without case (``target_name``).
    ra, dec : float, optional
        Position (ICRS, deg): observations pointed within ``radius`` of it.
    radius : float
        Cone radius in degrees (pointing ``s_ra``, ``s_dec`` to the position).
    start, stop : str or float, optional
        Time range (MJD or ISO date, UTC): observations overlapping it.
    energy_min, energy_max : float, optional
        Energy range in TeV: observations whose energy range overlaps it.
    collection, facility : str, optional
        Exact ``obs_collection`` and ``facility_name``.
    dataproduct_type : str, optional
        ObsCore data product type (DL3 event lists: ``event``).
    obs_ids : tuple of str
        Observation ids (``obs_id``).
    where : str, optional
        A further ADQL condition, used as given.
    maxrec : int, optional
        At most this many observations.
    """

    target: str | None = None
    ra: float | None = None
    dec: float | None = None
    radius: float = 2.0
    start: str | float | None = None
    stop: str | float | None = None
    energy_min: float | None = None
    energy_max: float | None = None
    collection: str | None = None
    facility: str | None = None
    dataproduct_type: str | None = "event"
    obs_ids: tuple = field(default=())
    where: str | None = None
    maxrec: int | None = None

    def __post_init__(self):
        if (self.ra is None) != (self.dec is None):
            raise ConfigError("give both --ra and --dec, or neither")
        if self.ra is not None and not (0 <= self.ra < 360 and -90 <= self.dec <= 90):
            raise ConfigError(f"no such position: RA {self.ra}, Dec {self.dec} (deg)")
        if not self.radius > 0:
            raise ConfigError(f"the radius must be positive (got {self.radius})")
        for name in ("energy_min", "energy_max"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"{name} must be a positive energy in TeV")
        low, high = self.energy_min, self.energy_max
        if low is not None and high is not None and low >= high:
            raise ConfigError(f"empty energy range {low}-{high} TeV")
        start, stop = _mjd(self.start), _mjd(self.stop)
        if start is not None and stop is not None and start >= stop:
            raise ConfigError(f"empty time range {self.start} to {self.stop}")

    def conditions(self) -> list[str]:
        """Return the ADQL conditions of this query (joined with AND)."""
        where = []
        if self.target:
            pattern = _quote(f"%{self.target.lower()}%")
            where.append(f"LOWER(target_name) LIKE {pattern}")
        if self.ra is not None:
            where.append(
                "CONTAINS(POINT('ICRS', s_ra, s_dec), "
                f"CIRCLE('ICRS', {self.ra!r}, {self.dec!r}, {self.radius!r})) = 1"
            )
        if self.start is not None:
            where.append(f"t_max >= {_mjd(self.start)!r}")
        if self.stop is not None:
            where.append(f"t_min <= {_mjd(self.stop)!r}")
        if self.energy_min is not None:
            where.append(f"em_min <= {HC_TEV_M / self.energy_min!r}")
        if self.energy_max is not None:
            where.append(f"em_max >= {HC_TEV_M / self.energy_max!r}")
        if self.collection:
            where.append(f"obs_collection = {_quote(self.collection)}")
        if self.facility:
            where.append(f"facility_name = {_quote(self.facility)}")
        if self.dataproduct_type:
            where.append(f"dataproduct_type = {_quote(self.dataproduct_type)}")
        if self.obs_ids:
            ids = ", ".join(_quote(i) for i in self.obs_ids)
            where.append(f"obs_id IN ({ids})")
        if self.where:
            where.append(f"({self.where})")
        return where

    def adql(self) -> str:
        """Return the ADQL query on ``ivoa.obscore``."""
        top = f"TOP {self.maxrec} " if self.maxrec else ""
        conditions = self.conditions()
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        return (
            f"SELECT {top}{', '.join(COLUMNS)} FROM ivoa.obscore{where} "
            "ORDER BY obs_collection, t_min"
        )

    def describe(self) -> str:
        """Return the query in words, for messages."""
        parts = []
        if self.target:
            parts.append(f"target {self.target!r}")
        if self.ra is not None:
            parts.append(
                f"pointed within {self.radius:g} deg of RA {self.ra:g} Dec {self.dec:g}"
            )
        if self.start is not None or self.stop is not None:
            parts.append(f"time {self.start or '...'} to {self.stop or '...'}")
        if self.energy_min is not None or self.energy_max is not None:
            parts.append(
                f"energy {self.energy_min or '...'} to {self.energy_max or '...'} TeV"
            )
        for name in ("collection", "facility", "dataproduct_type"):
            if getattr(self, name):
                parts.append(f"{name.replace('_', ' ')} {getattr(self, name)!r}")
        if self.obs_ids:
            parts.append(f"obs_id {', '.join(map(str, self.obs_ids))}")
        if self.where:
            parts.append(f"where {self.where}")
        return ", ".join(parts) or "any observation"


@dataclass(frozen=True)
class Observation:
    """One observation found in the archive (an ObsCore record)."""

    obs_id: str
    collection: str
    did: str
    target: str
    facility: str
    instrument: str
    ra: float | None
    dec: float | None
    fov: float | None
    t_min: float | None
    t_max: float | None
    exptime: float | None
    energy_min: float | None
    energy_max: float | None
    access_url: str
    access_format: str
    size_estimate: int | None

    def to_dict(self) -> dict:
        """Return the record as JSON-ready values."""
        return asdict(self)


@dataclass
class SearchResult:
    """The observations a query found, and the pyvo result they came from."""

    url: str
    query: ObsQuery
    observations: list[Observation]
    results: object = field(repr=False, default=None)  # pyvo TAPResults


def _value(row, name):
    """Return ``row[name]`` as a plain Python value (None when masked or absent)."""
    import numpy as np

    try:
        value = row[name]
    except (KeyError, IndexError):
        return None
    if value is None or value is np.ma.masked:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _energy(em) -> float | None:
    return None if em in (None, 0) else HC_TEV_M / float(em)


def _observation(row) -> Observation:
    size = _value(row, "access_estsize")
    return Observation(
        obs_id=str(_value(row, "obs_id")),
        collection=str(_value(row, "obs_collection") or ""),
        did=str(_value(row, "obs_publisher_did") or ""),
        target=str(_value(row, "target_name") or ""),
        facility=str(_value(row, "facility_name") or ""),
        instrument=str(_value(row, "instrument_name") or ""),
        ra=_value(row, "s_ra"),
        dec=_value(row, "s_dec"),
        fov=_value(row, "s_fov"),
        t_min=_value(row, "t_min"),
        t_max=_value(row, "t_max"),
        exptime=_value(row, "t_exptime"),
        energy_min=_energy(_value(row, "em_max")),
        energy_max=_energy(_value(row, "em_min")),
        access_url=str(_value(row, "access_url") or ""),
        access_format=str(_value(row, "access_format") or ""),
        # ObsCore gives kilobytes (an estimate).
        size_estimate=None if size is None else int(size) * 1024,
    )


def tap_session(timeout: float = DEFAULT_TIMEOUT):
    """Return a requests session whose every request times out after ``timeout`` s.

    pyvo's own session waits forever on a server that accepts the connection and
    never answers.
    """
    import requests

    class _Session(requests.Session):
        def request(self, *args, **kwargs):
            kwargs.setdefault("timeout", timeout)
            return super().request(*args, **kwargs)

    session = _Session()
    session.headers["User-Agent"] = "ctao-sat (pyvo)"
    return session


def _reason(error: BaseException) -> str:
    """Return the innermost readable reason of a network error."""
    text = str(error)
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if match:
        return match.group(1).strip()
    return " ".join(text.split())[:200] or type(error).__name__


def translate(error: BaseException, url: str, what: str, timeout: float) -> DataError:
    """Return the one-line `DataError` for a failure of ``what`` on archive ``url``."""
    import requests
    from pyvo.dal import DALFormatError, DALQueryError, DALServiceError

    cause = getattr(error, "cause", None) or error.__cause__ or error
    if isinstance(cause, requests.Timeout):
        return DataError(
            f"archive {url} did not answer {what} within {timeout:g} s: try later "
            "or raise --timeout"
        )
    if isinstance(cause, requests.ConnectionError):
        return DataError(
            f"archive {url} does not answer ({_reason(cause)}): check the address "
            "and that the archive is running"
        )
    if isinstance(error, DALQueryError):
        return DataError(
            f"archive {url} rejected {what}: {' '.join(str(error).split())}"
        )
    if isinstance(error, DALServiceError) and getattr(error, "code", None):
        return DataError(
            f"archive {url} answered {what} with HTTP {error.code}: "
            f"{' '.join(str(error.reason).split())[:200]}"
        )
    if isinstance(error, DALFormatError | ValueError | IndexError | KeyError):
        return DataError(
            f"archive {url} sent a malformed VOTable for {what}: {_reason(error)}"
        )
    return DataError(f"archive {url} failed on {what}: {_reason(error)}")


def check_url(url: str) -> str:
    """Return ``url`` if it can be a TAP service's address (http or https).

    Raises
    ------
    ConfigError
        One line: anything else (a typo, a bare host name, a file path), which
        would otherwise surface as an HTTP library's or VOTable parser's error.
    """
    from urllib.parse import urlsplit

    parts = urlsplit(str(url).strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"archive address {url!r} (--archive, CTAO_SAT_ARCHIVE or archive.url) "
            "is not an http(s) URL: give the TAP service as http(s)://HOST[:PORT]"
            "/PATH, e.g. http://127.0.0.1:8080/tap"
        )
    return url


def search(url: str, query: ObsQuery, timeout: float = DEFAULT_TIMEOUT) -> SearchResult:
    """Run ``query`` on the TAP service at ``url``.

    Parameters
    ----------
    url : str
        Base address of the TAP service (``.../tap``).
    query : ObsQuery
        What to look for.
    timeout : float
        Seconds to wait for the service.

    Returns
    -------
    SearchResult
        The observations found (possibly none), in collection and time order.

    Raises
    ------
    ConfigError
        ``url`` is not an http(s) address.
    DataError
        One line: the archive does not answer, answers with an HTTP error or a
        malformed VOTable, or reports an error in the query.
    """
    import pyvo
    from pyvo.dal import DALAccessError

    check_url(url)
    service = pyvo.dal.TAPService(url, session=tap_session(timeout))
    try:
        with warnings.catch_warnings():
            # VOTable quirks of a service are its business, not the user's.
            warnings.simplefilter("ignore")
            results = service.run_sync(query.adql(), maxrec=query.maxrec)
            table = results.to_table()
    except (DALAccessError, ValueError, IndexError, KeyError) as error:
        raise translate(error, url, "the ObsCore query", timeout) from None
    # What every run needs; a table without them is not an ObsCore answer.
    missing = [c for c in ("obs_id", "access_url") if c not in table.colnames]
    if missing:
        raise DataError(
            f"archive {url} answered the ObsCore query without the column(s) "
            f"{', '.join(missing)}: is it a TAP service with an ivoa.obscore table?"
        )
    observations = [_observation(row) for row in table]
    return SearchResult(url, query, observations, results)
