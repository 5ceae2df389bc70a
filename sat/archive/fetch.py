"""Fetch the observations an archive search found into a Gammapy data store folder.

For every observation: the download address and size come from the service's
DataLink ``#this`` link when it offers DataLink, else from ObsCore ``access_url``
and ``access_estsize``; the exact size from the HTTP server. The file is downloaded
by `sat.data.download.fetch` (``.part``, HTTP Range resume, retries, size check,
atomic rename) with `whole_events_file` as its content check (gzip
CRC, FITS checksums, EVENTS HDU). When every file is in place, ``archive.json``
(what came from where), the hdu-index and last the obs-index are written, each
atomically: a folder with an obs-index is always complete, and a failed fetch
leaves the earlier state (and the verified files, which the next run skips).

Layout of the folder: ``COLLECTION/FILE`` for the runs, the GADF index tables
and ``archive.json`` at the top; it accumulates runs over several fetches.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from sat.archive.query import (
    DEFAULT_TIMEOUT,
    Observation,
    ObsQuery,
    SearchResult,
    search,
    translate,
)
from sat.data.download import TRANSIENT_HTTP
from sat.data.download import fetch as fetch_file
from sat.data.registry import DataFile
from sat.dl3.files import damage
from sat.dl3.index import Run, write_indexes
from sat.dl3.store import OBS_INDEX
from sat.errors import ConfigError, DataError

__all__ = [
    "MANIFEST",
    "FetchReport",
    "Link",
    "datastore",
    "fetch",
    "links",
    "whole_events_file",
]

MANIFEST = "archive.json"
DATALINK_THIS = "#this"
# Sizes an archive lists are estimates (ObsCore: kilobytes; DaCHS rounds its
# DataLink content_length to kilobytes too): the server's exact size must be
# within a kilobyte plus 1 % of them.
_SIZE_SLACK = 1024
_SIZE_FRACTION = 0.01


def whole_events_file(path) -> None:
    """Check that a downloaded file is a whole DL3 file with an EVENTS HDU.

    Raises
    ------
    DataError
        Saying what is wrong (`sat.dl3.files.damage`), without the file name:
        the download names it.
    """
    problem = damage(path, ["EVENTS"])
    if problem is not None:
        raise DataError(problem)


@dataclass(frozen=True)
class Link:
    """Where to download one observation: address and the archive's size."""

    observation: Observation
    url: str
    size_hint: int | None
    via: str  # "datalink" or "obscore"


@dataclass
class FetchReport:
    """What `fetch` did."""

    folder: Path
    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0
    via: str = "obscore"


def _int_or_none(value) -> int | None:
    """Return a VOTable integer cell as int (None when empty or masked)."""
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # None, masked, NaN
        return None


def links(found: SearchResult, timeout: float = DEFAULT_TIMEOUT) -> list[Link]:
    """Return the download link of every observation found.

    DataLink ``#this`` when the service offers DataLink for the result (a service
    descriptor in the VOTable, or DataLink access URLs), else ``access_url``.

    Raises
    ------
    DataError
        The DataLink service fails (one line, like `search`), or an observation
        has no address at all.
    """
    from pyvo.dal import DALAccessError

    by_did = {}
    if found.results is not None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for datalink in found.results.iter_datalinks():
                    row = datalink.original_row
                    did = row["obs_publisher_did"] if row is not None else None
                    # Not pyvo's bysemantics: it downloads the IVOA vocabulary.
                    for link in datalink:
                        if str(link.semantics).strip() != DATALINK_THIS:
                            continue
                        if link.error_message:
                            raise DataError(
                                f"archive {found.url}: DataLink has no file for "
                                f"{did}: {link.error_message}"
                            )
                        size = _int_or_none(getattr(link, "content_length", None))
                        by_did[str(did)] = (str(link.access_url), size)
                        break
        except (DALAccessError, ValueError, KeyError, IndexError) as error:
            raise translate(error, found.url, "the DataLink request", timeout) from None
    result = []
    for observation in found.observations:
        if observation.did in by_did:
            url, size = by_did[observation.did]
            result.append(Link(observation, url, size, "datalink"))
        elif observation.access_url:
            result.append(
                Link(
                    observation,
                    observation.access_url,
                    observation.size_estimate,
                    "obscore",
                )
            )
        else:
            raise DataError(
                f"archive {found.url} gives no address for observation "
                f"{observation.obs_id} (no access_url, no DataLink)"
            )
    return result


def remote_size(url: str, timeout: float = DEFAULT_TIMEOUT, retries: int = 2) -> int:
    """Return the exact size in bytes of the file at ``url`` (a 1-byte Range GET).

    Raises
    ------
    DataError
        The server does not answer, answers with an HTTP error, or gives no size.
    """
    request = urllib.request.Request(
        url, headers={"Range": "bytes=0-0", "User-Agent": "ctao-sat"}
    )
    for attempt in range(retries + 1):
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                content_range = response.headers.get("Content-Range", "")
                match = re.search(r"/(\d+)\s*$", content_range)
                if response.status == 206 and match:
                    return int(match.group(1))
                length = response.headers.get("Content-Length")
                if response.status == 200 and length and length.isdigit():
                    return int(length)
            raise DataError(f"{url} gives no size (no Content-Range, Content-Length)")
        except urllib.error.HTTPError as error:
            if error.code not in TRANSIENT_HTTP or attempt == retries:
                raise DataError(
                    f"cannot download {url}: HTTP {error.code} {error.reason}"
                ) from None
        except (urllib.error.URLError, OSError) as error:
            if attempt == retries:
                reason = getattr(error, "reason", error)
                raise DataError(f"cannot download {url}: {reason}") from None
        time.sleep(2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _file_name(link: Link) -> str:
    """Return ``COLLECTION/NAME`` for the run's file (safe characters only)."""
    name = os.path.basename(urllib.parse.unquote(urllib.parse.urlparse(link.url).path))
    if not re.search(r"\.fits(\.gz)?$", name, re.IGNORECASE):
        name = f"obs_{link.observation.obs_id}.fits"
    collection = link.observation.collection or "archive"
    safe = re.compile(r"[^A-Za-z0-9_.+-]+")
    return f"{safe.sub('_', collection)}/{safe.sub('_', name)}"


def _read_manifest(folder: Path) -> dict:
    """Return the folder's ``archive.json`` (empty for a new folder).

    Raises
    ------
    ConfigError
        The folder holds something that a fetch did not make.
    """
    path = folder / MANIFEST
    if path.is_file():
        try:
            manifest = json.loads(path.read_text("utf-8"))
            if isinstance(manifest.get("runs"), dict):
                return manifest
        except (ValueError, AttributeError):
            pass
        raise ConfigError(f"{path} is damaged: fetch into a new folder")
    if folder.is_file() or (folder.is_dir() and (folder / OBS_INDEX).exists()):
        raise ConfigError(
            f"{folder} is not a folder made by ctao-sat archive fetch (it has an "
            f"{OBS_INDEX} but no {MANIFEST}): choose another destination"
        )
    return {"runs": {}}


def _write_json(path: Path, content: dict) -> None:
    part = path.with_name(f".part-{path.name}")
    part.write_text(json.dumps(content, indent=2) + "\n", "utf-8")
    os.replace(part, path)


def _check_size(link: Link, size: int) -> None:
    hint = link.size_hint
    if hint is not None and abs(size - hint) > _SIZE_SLACK + _SIZE_FRACTION * hint:
        raise DataError(
            f"observation {link.observation.obs_id}: {link.url} is {size} bytes "
            f"but the archive lists {hint} ({link.via}): the archive is "
            "inconsistent; nothing was downloaded"
        )


def fetch(
    found: SearchResult,
    folder,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = 3,
    backoff: float = 1.0,
    progress: bool | None = None,
) -> FetchReport:
    """Download the observations of ``found`` into the data store ``folder``.

    Parameters
    ----------
    found : SearchResult
        What `sat.archive.query.search` returned (not empty).
    folder : Path
        Destination: a new folder or one an earlier fetch made (runs accumulate).
    timeout, retries, backoff
        Network time-out in seconds; retries of a transient failure and the
        first wait between them (see `sat.data.download.fetch`).
    progress : bool, optional
        Show a progress bar on stderr (default: when stderr is a terminal).

    Returns
    -------
    FetchReport
        Files downloaded and already present.

    Raises
    ------
    DataError
        Nothing matched, or a file could not be downloaded or is corrupt (one
        line naming it). Files verified so far stay and are skipped next time;
        the index tables are only written when every file is in place.
    """
    import sys

    from tqdm.auto import tqdm

    if not found.observations:
        raise DataError(
            f"no observation in {found.url} matches {found.query.describe()}: "
            "nothing to fetch"
        )
    start = time.perf_counter()
    folder = Path(folder).absolute()
    manifest = _read_manifest(folder)
    targets = list(links(found, timeout))
    report = FetchReport(folder, via=targets[0].via if targets else "obscore")
    folder.mkdir(parents=True, exist_ok=True)
    manifest.update(archive=found.url, query=found.query.adql())
    runs = manifest["runs"]
    with tqdm(
        total=len(targets),
        unit="run",
        desc="fetch",
        disable=None if progress is None else not progress,
        file=sys.stderr,
        leave=False,
    ) as bar:
        for link in targets:
            observation = link.observation
            name = _file_name(link)
            bar.set_postfix_str(os.path.basename(name), refresh=False)
            known = runs.get(observation.did, {})
            path = folder / name
            if known.get("file") == name and path.is_file():
                if path.stat().st_size == known.get("size"):
                    report.skipped.append(name)
                    bar.update()
                    continue
            size = remote_size(link.url, timeout)
            _check_size(link, size)
            fetch_file(
                DataFile(name, size, None, link.url),
                folder,
                link.url,
                retries=retries,
                backoff=backoff,
                timeout=timeout,
                check=whole_events_file,
            )
            runs[observation.did] = {
                "file": name,
                "size": size,
                "obs_id": observation.obs_id,
                "collection": observation.collection,
                "target": observation.target,
                "url": link.url,
                "via": link.via,
            }
            # Recorded at once: after a failure, the next fetch skips this file.
            _write_json(folder / MANIFEST, manifest)
            report.downloaded.append(name)
            report.bytes += size
            bar.update()
    _write_json(folder / MANIFEST, manifest)
    write_indexes(folder, [Run(r["file"], r["target"]) for r in runs.values()])
    report.seconds = time.perf_counter() - start
    return report


def datastore(
    url: str,
    query: ObsQuery,
    folder,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool | None = None,
) -> FetchReport:
    """Search ``url`` with ``query`` and fetch what it finds into ``folder``.

    The folder is then a Gammapy data store (``DataStore.from_dir(folder)``),
    e.g. the ``datastore`` of a use case.
    """
    return fetch(
        search(url, query, timeout), folder, timeout=timeout, progress=progress
    )
