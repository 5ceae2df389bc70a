"""Download dataset files from their official sources, or from a mirror.

Every file is written atomically: it is streamed to ``FILE.part``, its size and
SHA-256 are checked against the manifest, and only then is it renamed into place
(`os.replace`). So a file under its real name is always complete and verified; an
interrupted transfer leaves only a ``.part``, which the next attempt resumes with an
HTTP ``Range`` request. Transient failures (connection errors, time-outs, HTTP 5xx,
408, 429, short transfers) are retried a bounded number of times with exponential
back-off; anything else fails at once with one line naming the file and the address.
"""

from __future__ import annotations

import http.client
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from sat.data.registry import DataFile, Dataset
from sat.data.verify import OK, check_file
from sat.errors import DataError
from sat.provenance import file_sha256

__all__ = [
    "MIRROR_ENV",
    "Report",
    "Unreachable",
    "check_mirror",
    "download",
    "fetch",
    "file_url",
    "server_of",
]

MIRROR_ENV = "CTAO_SAT_DATA_MIRROR"
PACKAGE = "package:"
TRANSIENT_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
_CHUNK = 1 << 16
# What a flaky network raises (HTTPError, a URLError, is sorted out first).
_TRANSIENT = (
    urllib.error.URLError,
    http.client.HTTPException,
    ConnectionError,
    TimeoutError,
)


@dataclass
class Report:
    """What `download` did: files fetched, files already verified, failures.

    ``unreachable`` maps a server that never answered (after every retry of one
    file) to the reason: its other files were not tried.
    """

    downloaded: list[DataFile] = field(default_factory=list)
    skipped: list[DataFile] = field(default_factory=list)
    failed: list[tuple[DataFile, str]] = field(default_factory=list)
    unreachable: dict[str, str] = field(default_factory=dict)


class Unreachable(DataError):
    """Every attempt failed to reach the server (refused, no route, time-out)."""

    def __init__(self, message: str, server: str, reason: str):
        super().__init__(message)
        self.server = server
        self.reason = reason


def server_of(url: str) -> str:
    """Return the ``scheme://host[:port]`` part of ``url`` (what answers or not)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def file_url(file: DataFile, mirror: str | None = None) -> str:
    """Return where ``file`` is fetched from.

    Parameters
    ----------
    file : DataFile
        The manifest entry.
    mirror : str, optional
        Base address of a mirror in the ``GAMMAPY_DATA`` layout (a CTAO mirror, a
        test server): the file is fetched from ``MIRROR/PATH`` instead of its
        official source.
    """
    if mirror:
        return f"{mirror.rstrip('/')}/{urllib.parse.quote(file.path)}"
    return file.url


def check_mirror(mirror: str) -> str:
    """Return ``mirror`` if it is an http(s) or file URL; else one-line error."""
    parts = urllib.parse.urlsplit(str(mirror).strip())
    if (parts.scheme in ("http", "https") and parts.hostname) or (
        parts.scheme == "file" and parts.path
    ):
        return mirror
    raise DataError(
        f"mirror {mirror!r} (--mirror or {MIRROR_ENV}) is not a URL: give "
        "http(s)://HOST[:PORT]/PATH or file:///FOLDER of a mirror in the "
        "GAMMAPY_DATA layout"
    )


class _ShortTransfer(ConnectionError):
    """The transfer ended early: the ``.part`` is kept and resumed."""


class _Mismatch(Exception):
    """The complete download has the wrong size or SHA-256 (and was deleted)."""


def _open(url: str, offset: int, timeout: float):
    """Open ``url`` from byte ``offset``; return the stream and where it starts."""
    if url.startswith(PACKAGE):
        stream = resources.files("sat.data").joinpath(url[len(PACKAGE) :]).open("rb")
        stream.seek(offset)
        return stream, offset
    headers = {"User-Agent": "ctao-sat"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    response = urllib.request.urlopen(
        urllib.request.Request(url, headers=headers), timeout=timeout
    )
    # A server (or a file: URL) that ignores Range sends the whole file again.
    return response, offset if getattr(response, "status", None) == 206 else 0


def _transfer(url, part: Path, offset: int, limit: int, timeout: float, progress):
    stream, start = _open(url, offset, timeout)
    with stream, open(part, "ab" if start else "wb") as out:
        written = start
        progress(written)
        # Stop just past the expected size: a wrong file must not fill the disk.
        while written <= limit and (chunk := stream.read(_CHUNK)):
            out.write(chunk)
            written += len(chunk)
            progress(written)


def _install(file: DataFile, part: Path, target: Path, url: str, check=None) -> None:
    """Check the complete ``.part`` and rename it into place, or delete it."""
    size = part.stat().st_size
    if size < file.size:
        raise _ShortTransfer(f"transfer ended after {size} of {file.size} bytes")
    if file.sha256 is None:  # the source publishes no checksum: the size only
        if size != file.size:
            part.unlink()
            raise _Mismatch(
                f"size mismatch for {file.path} downloaded from {url}: got {size} "
                f"bytes, expected {file.size}; the bad download was deleted"
            )
    else:
        sha = file_sha256(part) if size == file.size else "(not computed)"
        if size != file.size or sha != file.sha256:
            part.unlink()
            raise _Mismatch(
                f"checksum mismatch for {file.path} downloaded from {url}: got "
                f"{size} bytes, SHA-256 {sha}; expected {file.size} bytes, SHA-256 "
                f"{file.sha256}; the bad download was deleted"
            )
    if check is not None:
        try:
            check(part)
        except DataError as error:
            part.unlink()
            raise _Mismatch(
                f"{file.path} downloaded from {url} is corrupt: {error}; the bad "
                "download was deleted"
            ) from None
    os.replace(part, target)


def fetch(
    file: DataFile,
    root: Path,
    url: str,
    *,
    retries: int = 3,
    backoff: float = 1.0,
    timeout: float = 60.0,
    progress=None,
    check=None,
    notify=None,
) -> None:
    """Download one file to ``root / file.path``, verified and atomic.

    Parameters
    ----------
    file : DataFile
        The manifest entry (size and SHA-256 to check).
    root : Path
        Destination ``GAMMAPY_DATA`` folder.
    url : str
        Address to fetch from (see `file_url`).
    retries : int
        Further attempts after a transient failure (0: one attempt only).
    backoff : float
        Seconds before the first retry; doubled at each further one.
    timeout : float
        Seconds without data before an attempt is abandoned.
    progress : callable, optional
        Called with the number of bytes of the file received so far.
    check : callable, optional
        Called with the complete ``.part`` (right size and SHA-256) before it is
        renamed into place; a `DataError` it raises counts as a checksum
        mismatch. For sources that publish sizes but no SHA-256
        (``file.sha256`` None), such as IVOA archives: a check of the content
        (a gzip CRC, a FITS read).
    notify : callable, optional
        Called with one line before each retry (what failed, when the next
        attempt starts): long retries are never silent.

    Raises
    ------
    Unreachable
        The server never answered (a `DataError`; the ``.part``, if any, is kept).
    DataError
        One line naming the file and the address: permanent HTTP error, checksum
        mismatch or failed ``check`` (the bad download is deleted), or transient
        failures beyond ``retries`` (the ``.part`` is kept for the next run to
        resume).
    """
    progress = progress or (lambda n: None)
    notify = notify or (lambda line: None)
    target = Path(root, file.path)
    part = target.with_name(target.name + ".part")
    fresh_start_done = False
    attempt = 0
    while True:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            offset = part.stat().st_size if part.exists() else 0
            if offset > file.size:
                part.unlink()
                offset = 0
            if offset < file.size:
                _transfer(url, part, offset, file.size, timeout, progress)
            _install(file, part, target, url, check)
            return
        except _Mismatch as error:
            if not offset or fresh_start_done:
                raise DataError(str(error)) from None
            # The .part came from an earlier, different transfer: start afresh once.
            fresh_start_done = True
            continue
        except urllib.error.HTTPError as error:
            reason = f"HTTP {error.code} {error.reason}"
            unanswered = False  # the server answered, with an error
            if error.code == 416:  # the .part does not fit the server's file
                part.unlink(missing_ok=True)
            elif error.code not in TRANSIENT_HTTP:
                raise DataError(
                    f"cannot download {file.path}: {url}: {reason}"
                ) from None
        except _TRANSIENT as error:
            reason = str(getattr(error, "reason", "") or error) or type(error).__name__
            # No connection, no answer in time: not a short or garbled answer.
            unanswered = not isinstance(
                error, _ShortTransfer | http.client.HTTPException
            )
        except OSError as error:  # a full disk, a read-only folder: not transient
            raise DataError(
                f"cannot download {file.path} from {url}: {error}"
            ) from None
        attempt += 1
        if attempt > retries:
            message = (
                f"cannot download {file.path} from {url} after {attempt} attempts: "
                f"{reason}; run the command again to resume"
            )
            if unanswered and url.startswith(("http:", "https:")):
                raise Unreachable(message, server_of(url), reason)
            raise DataError(message)
        delay = backoff * 2 ** (attempt - 1)
        notify(
            f"{file.path}: {reason} ({server_of(url)}); attempt {attempt + 1} of "
            f"{retries + 1} in {delay:g} s"
        )
        time.sleep(delay)


def download(
    selected: list[Dataset],
    root: Path,
    *,
    mirror: str | None = None,
    retries: int = 3,
    backoff: float = 1.0,
    timeout: float = 60.0,
    progress: bool | None = None,
) -> Report:
    """Download the missing or damaged files of ``selected`` datasets into ``root``.

    Files already present with the right SHA-256 are skipped. A failing file does
    not stop the others; the `Report` lists what failed and why. Retries are
    announced on stderr (unless ``progress`` is False); once a server has not
    answered any attempt for one file, its other files are not tried
    (``Report.unreachable``).

    Parameters
    ----------
    selected : list of Dataset
        The datasets to download.
    root : Path
        The destination ``GAMMAPY_DATA`` folder (created if needed).
    mirror : str, optional
        Base address of a mirror in the ``GAMMAPY_DATA`` layout (see `file_url`).
    retries, backoff, timeout
        See `fetch`.
    progress : bool, optional
        Show a progress bar on stderr (default: when stderr is a terminal).
    """
    from tqdm.auto import tqdm

    root = Path(root)
    if mirror:
        check_mirror(mirror)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(
            f"cannot create the destination {root}: {error.strerror or error}; "
            "choose a folder you can write to (--dest)"
        ) from None
    report = Report()
    todo, seen = {}, set()
    for dataset in selected:
        if not dataset.files:
            raise DataError(
                f"dataset {dataset.name!r} has no files in sat/data/manifest.json: "
                "run nox -s data_manifest"
            )
        for file in dataset.files:
            if file.path in seen:  # datasets may share a file (a README)
                continue
            seen.add(file.path)
            if check_file(root, file).state == OK:
                report.skipped.append(file)
            else:
                todo[file.path] = file
    done = 0
    with tqdm(
        total=sum(f.size for f in todo.values()),
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc="download",
        disable=None if progress is None else not progress,
        file=sys.stderr,
        leave=False,
    ) as bar:

        def advance(received: int) -> None:
            bar.update(done + received - bar.n)

        def notify(line: str) -> None:
            if progress is not False:
                tqdm.write(f"download: {line}", file=sys.stderr)

        for file in todo.values():
            bar.set_postfix_str(Path(file.path).name, refresh=False)
            url = file_url(file, mirror)
            server = server_of(url)
            if server in report.unreachable:
                report.failed.append(
                    (
                        file,
                        f"cannot download {file.path}: {server} did not answer "
                        f"({report.unreachable[server]}); not tried",
                    )
                )
                done += file.size
                continue
            try:
                fetch(
                    file,
                    root,
                    url,
                    retries=retries,
                    backoff=backoff,
                    timeout=timeout,
                    progress=advance,
                    notify=notify,
                )
            except Unreachable as error:
                report.unreachable[error.server] = error.reason
                report.failed.append((file, str(error)))
            except DataError as error:
                report.failed.append((file, str(error)))
            else:
                report.downloaded.append(file)
            done += file.size
            advance(0)
    return report
