"""Ctrl-C and SIGTERM stop a command within seconds: one line, exit 130 or 143.

The command line runs every command inside `handled`: the first SIGINT or SIGTERM
raises `Interrupted` in the main thread (a `KeyboardInterrupt`, so that the pools
of multiprocessing and Ray stop their workers as they do on Ctrl-C), the
``finally`` blocks remove scratch folders, and `sat.cli.main` prints one line and
exits with the shell's code for the signal (128 + its number).

Two things can keep that from happening in time, and a watcher thread covers both:
the main thread may be inside a long C call (numpy, a FITS read) where Python
cannot raise, or a shutdown may hang (a pool, a Ray cluster). The watcher learns
of the signal at once (`signal.set_wakeup_fd`, written by the C-level handler), and
if the process is still there `GRACE_S` seconds later (or at a second signal) it
removes the registered scratch folders, kills every process this one started and
exits with the same line and code.

Workers never print a traceback of their own and never outlive a SIGTERM: a
process forked under `handled` starts with the kernel's default actions and no
wake-up fd (`_forked`), and `quiet_worker` makes each pool worker ignore SIGINT
(the main process stops them) and keep SIGTERM's default, which ends the process
in the kernel. A Python-level handler would not do: it runs only when the main
thread next executes bytecode, and a signal that lands just before a worker
blocks in ``sem_wait`` (a pool's queue lock, while the pool terminates) is never
seen, so the worker and the pool's ``join`` wait for ever.

This module imports only the standard library.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import socket
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "GRACE_S",
    "Interrupted",
    "announce",
    "deferred",
    "discard_scratch",
    "exit_now",
    "handled",
    "interrupted",
    "message",
    "quiet_worker",
    "received",
    "reclaim",
    "register_scratch",
]

# Seconds between the first signal and the forced exit when the process has not
# stopped by itself (Ray's shutdown takes 1-3 s on a busy machine).
GRACE_S = 5.0
SIGNALS = (signal.SIGINT, signal.SIGTERM)
_NAMES = {signal.SIGINT: "SIGINT (Ctrl-C)", signal.SIGTERM: "SIGTERM"}

_state = {
    "main_pid": None,  # the process running `handled` (workers are others)
    "signum": None,  # the first signal received
    "raised": False,  # `Interrupted` was raised for it
    "announced": False,  # its line was printed
    "wakeup_fd": -1,
    "defer": 0,  # depth of `deferred` blocks
    "pending": None,  # a signal held back by `deferred`
    "echoes": 0,  # signals sent again by `_unraisable`, not by the user
    "sockets": (),  # the wake-up pair: kept alive while the watcher may need it
}
_scratch: set[Path] = set()
_lock = threading.Lock()


class Interrupted(KeyboardInterrupt):
    """The command was stopped by a signal; ``exit_code`` is 128 + its number."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        self.exit_code = 128 + signum

    def __str__(self) -> str:
        return message(self.signum)


def message(signum: int) -> str:
    """Return the one line said when signal ``signum`` stops a command."""
    name = _NAMES.get(signum, signal.Signals(signum).name)
    return f"interrupted by {name}: stopped before the end; run it again to finish"


def register_scratch(path) -> None:
    """Remove ``path`` (a folder or a file) if the process exits on a signal.

    For what the normal stop removes in ``finally`` blocks too, in case those do
    not run (`exit_now`); `discard_scratch` forgets it.
    """
    with _lock:
        _scratch.add(Path(path))


def discard_scratch(path) -> None:
    """Forget ``path``: it was published or removed."""
    with _lock:
        _scratch.discard(Path(path))


def quiet_worker() -> None:
    """Make this pool worker leave interruptions to the main process.

    SIGINT (a terminal's Ctrl-C reaches the whole process group) is ignored: the
    main process stops the workers. SIGTERM (how a pool stops its workers) takes
    the kernel's default, ending the worker at once without a line of Python, so
    no traceback and no Python handler that must run for it. Called at the start
    of each task, for pools started by spawn or forkserver too (a forked worker
    is quiet from the fork on, `_forked`). Not in the main process (the serial
    backend) nor in a Ray worker, which Ray stops itself.
    """
    import multiprocessing

    if threading.current_thread() is not threading.main_thread():
        return
    if multiprocessing.parent_process() is None:
        return  # the main process, or a Ray worker
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _forked() -> None:
    """In a process forked from a command under `handled`: none of its signals.

    The wake-up fd would write this process's signals into the command's own
    watcher (a pool stopping its workers with SIGTERM would look like a user's
    SIGTERM), and the handlers are the command's: defaults instead (an ``exec``
    keeps neither).
    """
    if _state["main_pid"] is None or _state["main_pid"] == os.getpid():
        return
    try:
        signal.set_wakeup_fd(-1)
        for signum in SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
    except ValueError:  # forked from a thread that Python does not make main
        pass


os.register_at_fork(after_in_child=_forked)


def received() -> int | None:
    """Return the signal that is stopping this command, or None."""
    if _state["main_pid"] != os.getpid():
        return None
    return _state["signum"]


def interrupted(signum: int) -> Interrupted:
    """Record that signal ``signum`` stops the command; return its exception.

    For code that learns of a signal another way (a library's own handler ran):
    from then on the watcher forces the exit if the process does not stop.
    Warnings are silenced from then on: those raised while the command unwinds
    are the stop's echoes, not news (a C extension interrupted in the middle of
    its import says "Cython module failed to patch module with custom type").
    """
    with _lock:
        if _state["signum"] is None:
            _state["signum"] = signum
        _state["raised"] = True
    warnings.simplefilter("ignore")
    return Interrupted(signum)


def _handler(signum, frame):
    if os.getpid() != _state["main_pid"]:
        # A forked worker inherited this handler: quiet, as `quiet_worker`.
        if signum == signal.SIGTERM:
            os._exit(128 + signum)
        return
    with _lock:
        if _state["signum"] is None:
            _state["signum"] = signum
        if _state["defer"]:
            _state["pending"] = _state["signum"]
            return
        if _state["raised"]:
            return  # already stopping: the watcher forces the exit if need be
    raise interrupted(_state["signum"])


def _unraisable(hook, unraisable) -> None:
    """Deliver again an `Interrupted` that was raised where it cannot propagate.

    A signal handled during an at-fork callback or a ``__del__`` raises into
    Python's "Exception ignored" report, and the command would go on: the
    signal is sent again, to be raised at the next ordinary line.

    Not from this hook's own thread: ``signal.raise_signal`` runs the handler
    before it returns, so the exception would leave the hook, be reported as
    "Exception ignored in sys.unraisablehook" (a traceback on the user's console)
    and be lost again. A thread sends it once the hook has returned; the handler
    then raises in the main thread's next ordinary line.
    """
    error = unraisable.exc_value
    if not isinstance(error, Interrupted) or os.getpid() != _state["main_pid"]:
        hook(unraisable)
        return
    with _lock:
        _state["raised"] = False
        _state["echoes"] += 1
    threading.Thread(
        target=_send_again, args=(error.signum,), name="sat-resend", daemon=True
    ).start()


def _send_again(signum: int) -> None:
    time.sleep(0.01)  # let the hook return first
    signal.raise_signal(signum)  # to this thread: the main thread runs the handler


def announce(signum: int) -> None:
    """Print the one line of an interruption on stderr, once."""
    with _lock:
        if _state["announced"]:
            return
        _state["announced"] = True
    # A progress bar still drawn (the forced exit after the grace period skips
    # its close) would take the line: the error starts a fresh one.
    fresh = "\n" if _bar_drawn() else ""
    try:
        sys.stderr.write(f"{fresh}Error: {message(signum)}\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed or broken stderr: still exit
        pass


def _bar_drawn() -> bool:
    """Whether a tqdm progress bar is open and shown (tqdm keeps them in a set)."""
    tqdm = getattr(sys.modules.get("tqdm"), "tqdm", None)
    bars = list(getattr(tqdm, "_instances", ()))
    return any(not getattr(bar, "disable", True) for bar in bars)


def _descendants(pid: int) -> list[int]:
    """Every process started by ``pid`` and by its children, from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _clean_up() -> None:
    """Remove the registered scratch paths; kill every process this one started."""
    with _lock:
        paths = list(_scratch)
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    for child in _descendants(os.getpid()):
        try:
            os.kill(child, signal.SIGKILL)
        except OSError:
            pass


def exit_now(signum: int) -> None:
    """End the command stopped by ``signum``: one line, exit 128 + ``signum``.

    The scratch folders still registered are removed and every process this
    one started (pool workers, a local Ray cluster) is killed; the interpreter's
    own shutdown is skipped (Ray's takes seconds more on a busy machine). Never
    returns.
    """
    announce(signum)
    _clean_up()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(128 + signum)


def _watch(reader: socket.socket, stopped: threading.Event) -> None:
    """Force the exit `GRACE_S` after a signal, or at a second one."""
    first = None
    deadline = None
    while not stopped.is_set():
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                exit_now(first)
                return
            reader.settimeout(remaining)
        try:
            data = reader.recv(64)
        except TimeoutError:
            continue
        except OSError:
            return
        if not data:
            return
        for byte in data:
            if byte not in SIGNALS or stopped.is_set():
                continue
            with _lock:
                echo = _state["echoes"] > 0
                _state["echoes"] -= echo
            if echo:
                continue
            if first is not None:  # a second signal: the user wants out now
                exit_now(first)
                return
            first = byte
            with _lock:
                if _state["signum"] is None:
                    _state["signum"] = byte
            deadline = time.monotonic() + GRACE_S


@contextmanager
def handled():
    """Run the block with SIGINT and SIGTERM turned into `Interrupted`.

    In the main thread only (elsewhere the block runs as is). Without a signal
    the previous handlers are restored afterwards; after one they stay, with the
    watcher, until the process has exited (by itself, or forced).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    stopped = threading.Event()
    _state.update(
        main_pid=os.getpid(),
        signum=None,
        raised=False,
        announced=False,
        wakeup_fd=writer.fileno(),
        defer=0,
        pending=None,
        echoes=0,
        # After a signal this frame ends while the watcher still counts down:
        # the pair must outlive it (a collected writer would close the wake-up
        # fd under the C handler's feet).
        sockets=(reader, writer),
    )
    old_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    old_hook = sys.unraisablehook
    sys.unraisablehook = functools.partial(_unraisable, old_hook)
    watcher = threading.Thread(
        target=_watch, args=(reader, stopped), name="sat-interrupt", daemon=True
    )
    for signum in SIGNALS:
        signal.signal(signum, _handler)
    watcher.start()
    try:
        yield
    finally:
        if _state["signum"] is None:
            stopped.set()
            signal.set_wakeup_fd(old_fd)
            try:
                writer.send(b"\0")  # wake the watcher: it sees `stopped`, returns
            except OSError:
                pass
            watcher.join(1)
            sys.unraisablehook = old_hook
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            writer.close()
            reader.close()
            _state.update(main_pid=None, wakeup_fd=-1, sockets=())


def reclaim() -> None:
    """Take SIGINT and SIGTERM back after a library installed its own handlers.

    ``ray.init`` makes SIGTERM exit at once (``sys.exit(15)``), without the
    cleanup and the line of `handled`: call this after it. A no-op outside
    `handled` or off the main thread.
    """
    if _state["main_pid"] != os.getpid():
        return
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in SIGNALS:
        signal.signal(signum, _handler)
    signal.set_wakeup_fd(_state["wakeup_fd"], warn_on_full_buffer=False)


@contextmanager
def deferred():
    """Hold SIGINT and SIGTERM back during the block (renames that must finish).

    A signal that arrives meanwhile raises `Interrupted` when the block ends
    (the watcher still forces the exit after `GRACE_S`: keep the block short).
    """
    with _lock:
        _state["defer"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["defer"] -= 1
            pending = None
            if not _state["defer"]:
                pending, _state["pending"] = _state["pending"], None
    if pending is not None:  # only after a block that finished
        raise interrupted(pending)
