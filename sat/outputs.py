"""Output folders that are never destroyed by surprise.

Every command that writes results (``run``, ``quicklook``, ``datavolume``,
``check --output``) writes through an `OutputFolder`, whose rules are those of the
README:

- a result is written into a scratch folder next to the output
  (``.NAME.tmp-XXXXXXXX``) and renamed into place only when it is complete, so the
  output folder appears complete or not at all;
- an output folder that exists and is not empty is refused, unless
  ``overwrite``; ``overwrite`` replaces only a previous result of the same kind
  (same use case), never a folder holding files no ctao-sat command wrote; the
  previous result stays in place until the new one is complete;
- a result whose validation failed does not replace a previous result unless
  ``overwrite_failed``: it goes next to it, into ``NAME-failed-YYYYmmddTHHMMSS``;
- one command at a time writes an output folder (a lock file ``.NAME.lock``
  beside it); scratch folders of a killed command are removed, and an
  interrupted replacement is completed, by the next command writing there;
- folders are created with the user's umask (a scratch folder is private
  while it is written);
- an output that cannot be written is one line naming it.

What a folder holds is read from its ``result.json`` (the use case or operation
that wrote it, its products); ``quicklook`` and ``datavolume`` results of earlier
releases, written without one, are recognised by their own files (`KINDS`).

This module imports only the standard library.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sat import interrupt
from sat.errors import SatError

__all__ = ["KINDS", "Contents", "OutputError", "OutputFolder", "contents"]

RESULT = "result.json"  # sat.result.RESULT, without importing pydantic here


class OutputError(SatError):
    """An output folder that cannot be written, or would be destroyed."""


@dataclass(frozen=True)
class Kind:
    """A result kind recognised by the files it writes (no ``result.json``).

    Attributes
    ----------
    name : str
        The command that writes it.
    signature : str
        The file that marks a complete result of this kind.
    patterns : tuple of str
        Glob patterns (relative to the folder) of every file it writes.
    """

    name: str
    signature: str
    patterns: tuple[str, ...]


KINDS = (
    Kind(
        "quicklook",
        "summary.json",
        ("summary.json", "obs_*/summary.json", "obs_*/quicklook.png"),
    ),
    Kind(
        "datavolume",
        "assumptions.json",
        ("assumptions.json", "datavolume.ecsv", "datavolume.png", "real_runs.json"),
    ),
)


@dataclass(frozen=True)
class Contents:
    """What an existing output folder holds.

    Attributes
    ----------
    kind : str or None
        The use case or command whose result it is (None: none).
    files : list of str
        Every file, relative to the folder.
    foreign : list of str
        The files that result did not write (all of them without a result).
    """

    kind: str | None
    files: list[str]
    foreign: list[str]

    def describe(self) -> str:
        """Return what the folder holds, in words."""
        if self.kind is None:
            return "files that are not a ctao-sat result"
        return f"a {self.kind} result"


def _files(folder: Path) -> list[str]:
    return sorted(
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if not path.is_dir() or path.is_symlink()
    )


def contents(folder) -> Contents:
    """Return what the existing output folder ``folder`` holds."""
    folder = Path(folder)
    files = _files(folder)
    result = folder / RESULT
    if result.is_file():
        try:
            written = json.loads(result.read_text(encoding="utf-8"))
            kind = str(written["usecase"])
            mine = {RESULT, *map(str, written.get("products", []))}
        except (OSError, ValueError, KeyError, TypeError):
            return Contents(None, files, files)
        return Contents(kind, files, [f for f in files if f not in mine])
    for kind in KINDS:
        if (folder / kind.signature).is_file():
            mine = {
                str(path.relative_to(folder))
                for pattern in kind.patterns
                for path in folder.glob(pattern)
            }
            return Contents(kind.name, files, [f for f in files if f not in mine])
    return Contents(None, files, files)


def _umask() -> int:
    # os.umask can only be read by setting it: put it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _private(folder: Path) -> bool:
    """Whether ``folder`` has `tempfile.mkdtemp`'s mode (0700)."""
    try:
        return folder.stat().st_mode & 0o777 == 0o700
    except OSError:
        return False


def _listing(names: list[str], most: int = 3) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _cannot_write(path: Path, error: OSError) -> OutputError:
    reason = error.strerror or str(error)
    if isinstance(error, FileExistsError | NotADirectoryError):
        # A file where a folder of the path should be: name it.
        blocker = next((p for p in path.parents if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            reason = f"{blocker} is not a folder"
    return OutputError(
        f"cannot write the output folder {path}: {reason}; choose a folder you "
        "can write to with --output"
    )


class OutputFolder:
    """Write a command's result into ``path``, by the rules of this module.

    Use as a context manager: entering checks the folder, takes its lock and
    makes the scratch folder (`scratch`) the command writes into; `publish` moves
    the finished result into place; leaving without `publish` removes the scratch
    folder (on any error or interruption) and leaves ``path`` as it was.

    Parameters
    ----------
    path : path-like
        The output folder.
    kind : str
        What writes it: the use case name, ``quicklook`` or ``datavolume``.
    overwrite : bool
        Replace a previous result of the same kind.
    overwrite_failed : bool
        With ``overwrite``: replace it even with a result whose validation failed.

    Raises
    ------
    OutputError
        On entering: the folder cannot be written, another command is writing
        it, or it holds something ``overwrite`` may not replace (one line).
    """

    def __init__(
        self, path, kind: str, overwrite: bool = False, overwrite_failed: bool = False
    ):
        self.path = Path(path).absolute()
        self.kind = kind
        self.overwrite = overwrite
        self.overwrite_failed = overwrite_failed
        self.scratch: Path | None = None
        self.previous: Contents | None = None
        self._lock_fd: int | None = None

    # --- entering ----------------------------------------------------------------

    def __enter__(self) -> OutputFolder:
        parent, name = self.path.parent, self.path.name
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise _cannot_write(self.path, error) from None
        self._lock()
        try:
            self._recover(parent, name)
            self._check_existing()
            try:
                self.scratch = Path(
                    tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=parent)
                )
            except OSError as error:
                raise _cannot_write(self.path, error) from None
            interrupt.register_scratch(self.scratch)
        except BaseException:
            self._unlock()
            raise
        return self

    def _lock(self) -> None:
        lock = self.path.with_name(f".{self.path.name}.lock")
        while True:
            try:
                fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as error:
                raise _cannot_write(self.path, error) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
                os.close(fd)
                if error.errno not in (errno.EAGAIN, errno.EACCES):
                    raise _cannot_write(self.path, error) from None
                who = f" (pid {holder})" if holder.isdigit() else ""
                raise OutputError(
                    f"another ctao-sat command{who} is writing {self.path}: wait "
                    "for it to finish, or choose another --output"
                ) from None
            # The previous holder may have removed the file after we opened it:
            # then this lock guards nothing, take the new file's.
            try:
                same = os.stat(lock).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd
        interrupt.register_scratch(lock)

    def _unlock(self) -> None:
        if self._lock_fd is None:
            return
        lock = self.path.with_name(f".{self.path.name}.lock")
        lock.unlink(missing_ok=True)
        interrupt.discard_scratch(lock)
        os.close(self._lock_fd)
        self._lock_fd = None

    def _recover(self, parent: Path, name: str) -> None:
        """Clean up after a command that was killed while writing this folder.

        We hold the lock: nobody else is writing here. Scratch folders are
        removed (those of earlier releases were ``.NAME.XXXXXXXX``); a previous
        result moved aside for a replacement that never finished goes back.
        Only what a command of ours made is touched: a scratch folder is named
        by `tempfile.mkdtemp` (8 of ``[a-z0-9_]``) and private (mode 0700, which
        `publish` alone changes), a folder moved aside carries `time.time_ns`
        (19 digits); a user's ``.NAME.previous`` or ``.NAME.old-1`` stays.
        """
        scratch = re.compile(rf"\.{re.escape(name)}\.(tmp-)?[a-z0-9_]{{8}}")
        old = re.compile(rf"\.{re.escape(name)}\.old-\d{{19}}")
        for entry in sorted(parent.iterdir()):
            if not entry.is_dir() or entry.is_symlink():
                continue
            if scratch.fullmatch(entry.name) and _private(entry):
                shutil.rmtree(entry, ignore_errors=True)
            elif old.fullmatch(entry.name):
                if self.path.exists():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.rename(self.path)

    def _check_existing(self) -> None:
        path = self.path
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise OutputError(
                f"output {path} exists and is not a folder: choose another --output"
            )
        if not path.exists():
            return
        try:
            found = contents(path)
        except OSError as error:
            raise _cannot_write(path, error) from None
        if not found.files:
            return  # an empty folder: nothing to lose
        if not self.overwrite:
            raise OutputError(
                f"output {path} already holds {found.describe()}: choose another "
                "--output"
                + (", or pass --overwrite to replace it" if found.kind else "")
            )
        if found.kind != self.kind:
            raise OutputError(
                f"output {path} holds {found.describe()}: --overwrite replaces only "
                f"a previous {self.kind} result; choose another --output"
            )
        if found.foreign:
            raise OutputError(
                f"output {path} holds {_listing(found.foreign)}, which the previous "
                f"{self.kind} result did not write: move them away or choose "
                "another --output"
            )
        self.previous = found
        # The replacement is renamed into place: the folder must be writable.
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise _cannot_write(path, PermissionError(errno.EACCES, "not writable"))

    # --- leaving -----------------------------------------------------------------

    def publish(self, passed: bool = True) -> Path:
        """Move the finished result into place; return where it is.

        Parameters
        ----------
        passed : bool
            Whether the result passed its validation. A failed one does not
            replace a previous result (unless ``overwrite_failed``): it goes to
            ``NAME-failed-YYYYmmddTHHMMSS`` beside it.
        """
        scratch = self.scratch
        keep_previous = self.previous is not None and not passed
        where = self.path
        if keep_previous and not self.overwrite_failed:
            stamp = time.strftime("%Y%m%dT%H%M%S")
            where = self.path.with_name(f"{self.path.name}-failed-{stamp}")
        old = None
        try:
            with interrupt.deferred():  # the renames finish, whatever signal comes
                try:
                    os.chmod(scratch, 0o777 & ~_umask())
                    if where != self.path:
                        scratch.rename(where)
                    else:
                        # rename() is atomic within a file system; the previous
                        # result goes only once the new one is in place (a crash
                        # in between is repaired by the next command's `_recover`).
                        if self.path.exists():
                            old = self.path.with_name(
                                f".{self.path.name}.old-{time.time_ns()}"
                            )
                            self.path.rename(old)
                        scratch.rename(self.path)
                except OSError as error:
                    if old is not None and not self.path.exists():
                        old.rename(self.path)  # put the previous result back
                        old = None
                    raise _cannot_write(where, error) from None
                self.scratch = None
                interrupt.discard_scratch(scratch)
        finally:
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        return where

    def __exit__(self, *exc) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            interrupt.discard_scratch(self.scratch)
            self.scratch = None
        self._unlock()
