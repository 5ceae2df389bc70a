"""The notebooks of the release: every use case and the SDC ON/OFF tutorial.

They are written from the gallery sources of the documentation by sphinx-gallery's
own converter (``docs/_ext/gallery_notebooks.py``, ``nox -s notebooks``; a test
fails when they drift from those sources) and ship in this package, so that the
wheel, the conda package and the images all carry them. Each asks for the kernel
named after the release (`kernel_name`), so a notebook says which release ran it.

`copy_notebooks` gives a user their own copies (``ctao-sat notebooks``; the Jupyter
image does it into HOME when the server starts). It never overwrites a notebook the
user changed: a manifest in the destination remembers what was copied, so a copy
the user never touched is updated to this release and an edited one is kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from sat.errors import SatError
from sat.stack import release_version

__all__ = [
    "MANIFEST",
    "CopyReport",
    "copy_notebooks",
    "default_folder",
    "install_kernel",
    "kernel_display_name",
    "kernel_name",
    "shipped",
]

# In a destination folder: what `copy_notebooks` wrote there (name -> SHA-256).
MANIFEST = ".ctao-sat-notebooks.json"


def kernel_name() -> str:
    """Return the name of the release's Jupyter kernel, ``ctao-sat-YYYY.MM.PATCH``."""
    return f"ctao-sat-{release_version()}"


def kernel_display_name() -> str:
    """Return the kernel's name in the Jupyter launcher, ``ctao-sat YYYY.MM.PATCH``."""
    return f"ctao-sat {release_version()}"


def default_folder() -> str:
    """Return the folder name the notebooks of this release are copied into."""
    return f"ctao-sat-{release_version()}"


def shipped() -> dict[str, bytes]:
    """Return every notebook of the release by file name, with its content.

    Raises
    ------
    SatError
        The installation carries no notebook (a broken or partial install).
    """
    found = {
        entry.name: entry.read_bytes()
        for entry in resources.files(__name__).iterdir()
        if entry.name.endswith(".ipynb")
    }
    if not found:
        raise SatError(
            "this ctao-sat installation has no notebooks: reinstall ctao-sat "
            f"{release_version()} (wheel, conda package or image)"
        )
    return dict(sorted(found.items()))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class CopyReport:
    """What `copy_notebooks` did, by notebook file name.

    Attributes
    ----------
    folder : Path
        The destination.
    copied : list of str
        New in the destination.
    updated : list of str
        Replaced: an untouched copy of another release, or ``force``.
    unchanged : list of str
        Already identical to this release's.
    kept : list of str
        Changed by the user since they were copied: left as they are.
    """

    folder: Path
    copied: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def _write_atomically(path: Path, data: bytes) -> None:
    # A reader (or a crash) never sees half a notebook.
    handle, partial = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(partial, 0o644)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def _read_manifest(folder: Path) -> dict[str, str]:
    try:
        return dict(json.loads((folder / MANIFEST).read_text())["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return {}  # none yet, or unreadable: every differing file counts as edited


def copy_notebooks(destination, force: bool = False) -> CopyReport:
    """Copy the release's notebooks into ``destination``, keeping the user's edits.

    Parameters
    ----------
    destination : str or Path
        Folder to copy into (created if needed).
    force : bool
        Overwrite notebooks the user changed, too.

    Returns
    -------
    CopyReport
        What happened to each notebook.

    Raises
    ------
    SatError
        ``destination`` is a file or cannot be written (one line, what to do).
    """
    notebooks = shipped()
    folder = Path(destination).expanduser()
    if folder.exists() and not folder.is_dir():
        raise SatError(f"{folder} is a file, not a folder: choose another --dest")
    report = CopyReport(folder=folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        copied_before = _read_manifest(folder)
        manifest = {}
        for name, data in notebooks.items():
            target = folder / name
            if not target.exists():
                _write_atomically(target, data)
                report.copied.append(name)
            else:
                current = _sha256(target.read_bytes())
                if current == _sha256(data):
                    report.unchanged.append(name)
                elif force or copied_before.get(name) == current:
                    _write_atomically(target, data)
                    report.updated.append(name)
                else:
                    report.kept.append(name)
                    # Still the user's: remember what we copied, not their edits.
                    if name in copied_before:
                        manifest[name] = copied_before[name]
                    continue
            manifest[name] = _sha256(data)
        record = {"release": release_version(), "files": manifest}
        _write_atomically(
            folder / MANIFEST, (json.dumps(record, indent=1) + "\n").encode()
        )
    except OSError as error:
        reason = error.strerror or str(error)
        raise SatError(
            f"cannot write the notebooks into {folder}: {reason}; choose a folder "
            "you can write to with --dest"
        ) from None
    return report


def install_kernel(user: bool = False, prefix: str | None = None) -> Path:
    """Install the release's Jupyter kernel for this Python environment.

    The kernel runs this interpreter (``sys.executable``) and shows its figures
    inline whatever ``MPLBACKEND`` says (the container sets Agg for scripts).

    Parameters
    ----------
    user : bool
        Install for this user (``~/.local/share/jupyter``) rather than into the
        environment (``sys.prefix``).
    prefix : str, optional
        Install under this prefix instead (an image build).

    Returns
    -------
    Path
        The folder of the installed kernel spec.

    Raises
    ------
    SatError
        ipykernel is not installed.
    """
    try:
        from ipykernel import kernelspec
    except ImportError:
        raise SatError(
            "ipykernel is not installed: pip install 'ctao-sat[jupyter]' (with the "
            "release constraints), or use the ctao-sat Jupyter image"
        ) from None
    if prefix is None and not user:
        prefix = sys.prefix
    try:
        path = kernelspec.install(
            user=user,
            prefix=prefix,
            kernel_name=kernel_name(),
            display_name=kernel_display_name(),
            env={"MPLBACKEND": "module://matplotlib_inline.backend_inline"},
        )
    except OSError as error:
        raise SatError(
            f"cannot install the kernel {kernel_name()}: {error.strerror or error}; "
            "try --user"
        ) from None
    return Path(path)
