"""Errors that users can act on.

A `SatError` is a user error (bad input, missing data, broken environment): the
command line prints its message as one line and exits non-zero, no traceback.
Anything else is a bug and keeps its traceback.
"""

__all__ = ["ConfigError", "DataError", "SatError", "ValidationFailed"]


class SatError(Exception):
    """An error the user can fix; its message says what is wrong and what to do."""

    exit_code = 1


class ConfigError(SatError):
    """An invalid configuration (unknown key, wrong type, impossible value)."""


class DataError(SatError):
    """Missing, corrupt or unselectable input data."""


class ValidationFailed(SatError):
    """A science result outside its validated tolerance."""
