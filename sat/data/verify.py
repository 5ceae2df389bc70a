"""Check the files of a dataset against the sizes and SHA-256 of the manifest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sat.data.registry import DataFile, Dataset
from sat.provenance import file_sha256

__all__ = ["CORRUPT", "MISSING", "OK", "FileCheck", "check_file", "present", "verify"]

OK, MISSING, CORRUPT = "ok", "missing", "corrupt"


@dataclass(frozen=True)
class FileCheck:
    """The state of one file: `OK`, `MISSING` or `CORRUPT` (with what differs)."""

    file: DataFile
    state: str
    detail: str = ""


def check_file(root: Path, file: DataFile) -> FileCheck:
    """Check one file under ``root``: size first (cheap), then SHA-256.

    Parameters
    ----------
    root : Path
        The ``GAMMAPY_DATA`` folder.
    file : DataFile
        The manifest entry of the file.
    """
    path = Path(root, file.path)
    if not path.is_file():
        return FileCheck(file, MISSING)
    size = path.stat().st_size
    if size != file.size:
        return FileCheck(file, CORRUPT, f"{size} bytes, expected {file.size}")
    sha = file_sha256(path)
    if sha != file.sha256:
        return FileCheck(file, CORRUPT, f"SHA-256 {sha}, expected {file.sha256}")
    return FileCheck(file, OK)


def present(root: Path, dataset: Dataset) -> int:
    """Return how many files of ``dataset`` exist under ``root`` (no hashing)."""
    return sum(Path(root, f.path).is_file() for f in dataset.files)


def verify(root: Path, dataset: Dataset) -> list[FileCheck]:
    """Check every file of ``dataset`` under ``root``."""
    return [check_file(root, f) for f in dataset.files]
