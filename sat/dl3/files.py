"""Whether a DL3 file is whole: the one integrity check of a FITS file.

A damaged file must be named as damaged, not surface later as something else:
Gammapy reads HDUs lazily and turns a missing HDU of a truncated file into
``None``, and astropy stops silently at a cut gzip stream (the HDUs after the cut
vanish) or only warns that a file is short. So `damage` reads the file through
once: the gzip stream to its end-of-stream marker (which checks its CRC and
length), a FITS header first, a whole number of 2880-byte blocks, every HDU with
its data (astropy compares each header's declared data size with the bytes
present), the FITS checksums when the file has them, and the HDUs asked for.
`verify_file` and `verify_files` raise on it; the data-quality checks and the
archive's download check word it their own way.
"""

from __future__ import annotations

import gzip
import io
import warnings
import zlib
from pathlib import Path

from sat.dl3.store import observation_files
from sat.errors import DataError, cause

__all__ = ["damage", "verify_file", "verify_files"]

_BLOCK = 2880  # bytes of a FITS block


def _content(path: Path) -> bytes:
    with open(path, "rb") as stream:
        head = stream.read(2)
    if head != b"\x1f\x8b":
        if path.suffix == ".gz" and head:
            raise _Damaged("Not a gzipped file, though its name ends in .gz")
        return Path(path).read_bytes()
    try:
        with gzip.open(path) as stream:
            return stream.read()
    except (OSError, EOFError, zlib.error) as error:
        raise _Damaged(f"not a valid gzip stream ({cause(error)})") from None


class _Damaged(Exception):
    """What is wrong with a file, in words for a user."""


def _walk(content: bytes, hdu_names) -> list[str]:
    """Read every HDU of ``content``; return their names. Raise `_Damaged`."""
    from astropy.io import fits

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with fits.open(io.BytesIO(content), checksum=True) as hdus:
                names = [hdu.name for hdu in hdus]
                for hdu in hdus:
                    hdu.data  # noqa: B018 -- reading to the end finds truncation
                for name in hdu_names:
                    if name not in hdus:
                        raise _Damaged(f"no {name} HDU (HDUs: {', '.join(names)})")
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise _Damaged(cause(error)) from None
    problems = [
        " ".join(str(w.message).split())
        for w in caught
        if "truncat" in str(w.message) or "checksum" in str(w.message).lower()
    ]
    if problems:
        raise _Damaged(problems[0])
    return names


def damage(path, hdu_names=()) -> str | None:
    """Say what is wrong with the DL3 file ``path``, or None when it is whole.

    Parameters
    ----------
    path : path-like
        A FITS file, gzip-compressed or not.
    hdu_names : iterable of str
        HDUs the file must hold (e.g. ``EVENTS``, or those its hdu-index lists).

    Returns
    -------
    str or None
        One line without the file's name (the caller names it): a gzip stream
        cut short, no FITS header, a size that is no whole number of FITS
        blocks, a truncated HDU, a wrong checksum, a missing HDU.
    """
    path = Path(path)
    try:
        content = _content(path)
        # astropy's words where it has them: what users search for.
        if not content:
            return "Empty or corrupt FITS file (0 bytes)"
        if not content.startswith(b"SIMPLE"):
            return "not a valid FITS file: No SIMPLE card found"
        if len(content) % _BLOCK:
            return (
                f"File may have been truncated: {len(content)} bytes is not a "
                f"whole number of {_BLOCK}-byte FITS blocks"
            )
        _walk(content, list(hdu_names))
    except _Damaged as error:
        return str(error)
    except OSError as error:  # the file cannot be opened at all
        return cause(error)
    return None


def verify_file(path, hdu_names=()) -> None:
    """Check that the DL3 file ``path`` is whole and holds ``hdu_names``.

    Raises
    ------
    DataError
        The file is missing, truncated or corrupt, or lacks one of the HDUs:
        ``cannot read PATH: what is wrong``.
    """
    problem = damage(path, hdu_names)
    if problem is not None:
        raise DataError(f"cannot read {path}: {problem}")


def verify_files(store, obs_ids) -> dict[int, list[Path]]:
    """Check that every file of the runs ``obs_ids`` of ``store`` is whole.

    Parameters
    ----------
    store : `gammapy.data.DataStore`
        The data store (its HDU index says which file holds which HDU).
    obs_ids : iterable of int
        The runs to check.

    Returns
    -------
    dict
        ``{obs_id: [files]}``, the files holding each run.

    Raises
    ------
    DataError
        A file is missing, truncated or corrupt, or lacks an HDU the index lists;
        the message names the file.
    """
    files = {}
    for obs_id in obs_ids:
        hdus = observation_files(store, obs_id)
        for path, names in hdus.items():
            verify_file(path, names)
        files[int(obs_id)] = list(hdus)
    return files
