"""The registry of datasets the use cases need, and how they are found."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from sat.errors import DataError

__all__ = ["Dataset", "datasets", "gammapy_data", "require"]


@dataclass(frozen=True)
class Dataset:
    """A named dataset under ``GAMMAPY_DATA``.

    Attributes
    ----------
    name : str
        Name used on the command line (``ctao-sat data download NAME``).
    path : str
        Folder relative to ``GAMMAPY_DATA``.
    marker : str
        A file, relative to ``GAMMAPY_DATA``, whose presence shows it is installed.
    description : str
        What the dataset holds.
    """

    name: str
    path: str
    marker: str
    description: str


@cache
def datasets() -> dict[str, Dataset]:
    """Return every known dataset by name (read once from ``datasets.yaml``)."""
    import yaml

    text = resources.files("sat.data").joinpath("datasets.yaml").read_text("utf-8")
    return {name: Dataset(name=name, **e) for name, e in yaml.safe_load(text).items()}


def gammapy_data(needed_for: str = "") -> Path:
    """Return the ``GAMMAPY_DATA`` folder, or raise a `DataError` saying what to do.

    Parameters
    ----------
    needed_for : str
        Dataset name, to say what to download in the error message.
    """
    hint = f"ctao-sat data download {needed_for}".strip()
    value = os.environ.get("GAMMAPY_DATA")
    if not value:
        raise DataError(
            f"GAMMAPY_DATA is not set: point it at your data folder or run: {hint}"
        )
    path = Path(value)
    if not path.is_dir():
        raise DataError(
            f"GAMMAPY_DATA={value} does not exist: point it at your data folder "
            f"or run: {hint}"
        )
    return path


def require(name: str) -> Path:
    """Return the folder of dataset ``name``, or raise a one-line `DataError`.

    Parameters
    ----------
    name : str
        A name of `datasets`.
    """
    known = datasets()
    if name not in known:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(known)}")
    dataset = known[name]
    root = gammapy_data(name)
    if not (root / dataset.marker).is_file():
        raise DataError(
            f"dataset {name!r} is missing from GAMMAPY_DATA={root} "
            f"(no {dataset.marker}): run: ctao-sat data download {name}"
        )
    return root / dataset.path
