"""Errors that users can act on.

A `SatError` is a user error (bad input, missing data, broken environment): the
command line prints its message as one line and exits non-zero, no traceback.
Anything else is a bug and keeps its traceback. `reading` turns the failure to
read a file into a `DataError` naming it.
"""

import re
from contextlib import contextmanager

__all__ = [
    "ConfigError",
    "DataError",
    "SatError",
    "ValidationFailed",
    "ValidationWarning",
    "cause",
    "reading",
]


class SatError(Exception):
    """An error the user can fix; its message says what is wrong and what to do."""

    exit_code = 1


class ConfigError(SatError):
    """An invalid configuration (unknown key, wrong type, impossible value)."""


class DataError(SatError):
    """Missing, corrupt or unselectable input data."""


class ValidationFailed(SatError):
    """A science result outside its validated tolerance.

    Attributes
    ----------
    result : `sat.result.Result` or None
        The result whose checks failed (written all the same).
    output : Path or None
        Where it was written (None: nowhere).
    """

    result = None
    output = None


# What astropy adds for Python programmers, not for users of a command line.
_ADVICE = re.compile(r"\s*If this is really a FITS file, try with \w+=True\.?")


def cause(error: BaseException) -> str:
    """Return the cause of a read failure in one line, without a path repeated."""
    if isinstance(error, OSError) and error.strerror and error.filename:
        return error.strerror  # "[Errno 2] No such file or directory: 'PATH'"
    message = " ".join(str(error).split()) or type(error).__name__
    return _ADVICE.sub("", message)


@contextmanager
def reading(path):
    """Turn a failure to read ``path`` (corrupt, truncated) into a `DataError`."""
    try:
        yield
    except (OSError, EOFError, ValueError, KeyError, TypeError) as error:
        raise DataError(f"cannot read {path}: {cause(error)}") from None


class ValidationWarning(UserWarning):
    """A science result outside its validated tolerance, in Python (`sat.run`).

    The command line fails such a run (`ValidationFailed`); in a notebook the
    result is returned, with this warning, so that its plots and objects can be
    looked at.
    """
