"""`sat.interrupt` in this process: the handler, the watcher, deferral, clean-up.

The end-to-end proof is tests/test_faults_signals.py (real processes, every
backend). These cases check the pieces it relies on, here where coverage sees
them; the forced exit is replaced by a recorder, so that this process survives.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from sat import interrupt

pytestmark = pytest.mark.verifies_requirement("C-SAT-0283")


@pytest.fixture
def forced(monkeypatch):
    """Record the forced exits instead of exiting; restore the process after."""
    calls = []
    monkeypatch.setattr(interrupt, "exit_now", calls.append)
    monkeypatch.setattr(interrupt, "GRACE_S", 0.3)
    handlers = {s: signal.getsignal(s) for s in interrupt.SIGNALS}
    hook = sys.unraisablehook
    yield calls
    # After a signal `handled` leaves its handlers for the process's exit.
    for signum, handler in handlers.items():
        signal.signal(signum, handler)
    signal.set_wakeup_fd(-1)
    sys.unraisablehook = hook
    interrupt._state.update(main_pid=None, wakeup_fd=-1, sockets=())


def _wait_for(calls, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not calls and time.monotonic() < deadline:
        time.sleep(0.01)


def test_signal_raises_interrupted_then_the_watcher_forces_the_exit(forced):
    with pytest.raises(interrupt.Interrupted) as stopped:
        with interrupt.handled():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # interrupted long before
    assert stopped.value.exit_code == 130
    assert str(stopped.value).startswith("interrupted by SIGINT (Ctrl-C): stopped")
    # The process did not exit by itself within the grace time: forced.
    _wait_for(forced)
    assert forced == [signal.SIGINT]


def test_second_signal_forces_the_exit_at_once(forced, monkeypatch):
    monkeypatch.setattr(interrupt, "GRACE_S", 60)
    with pytest.raises(interrupt.Interrupted):
        with interrupt.handled():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
    os.kill(os.getpid(), signal.SIGTERM)  # still handled: ignored, watched
    _wait_for(forced)
    assert forced == [signal.SIGTERM]


def test_without_a_signal_everything_is_put_back(forced):
    before = signal.getsignal(signal.SIGINT)
    with interrupt.handled():
        assert signal.getsignal(signal.SIGINT) is interrupt._handler
    assert signal.getsignal(signal.SIGINT) is before
    assert forced == []


def test_deferred_block_finishes_before_the_signal(forced):
    done = []
    with pytest.raises(interrupt.Interrupted):
        with interrupt.handled():
            with interrupt.deferred():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)
                done.append("renamed")
            done.append("after")  # not reached
    assert done == ["renamed"]


def test_interrupted_where_it_cannot_propagate_is_sent_again(forced, monkeypatch):
    monkeypatch.setattr(interrupt, "GRACE_S", 60)
    with pytest.raises(interrupt.Interrupted):
        with interrupt.handled():
            # What an "Exception ignored" report hands the hook (an at-fork
            # callback, a __del__): the signal must come back as an exception.
            report = type("Unraisable", (), {})()
            report.exc_value = interrupt.interrupted(signal.SIGINT)
            sys.unraisablehook(report)
            time.sleep(5)
    time.sleep(0.2)
    assert forced == []  # the signal sent again is not a user's second one


class _Dropped:
    """An object whose finaliser is interrupted: Python can only report it."""

    def __del__(self):
        raise interrupt.interrupted(signal.SIGINT)


def test_interrupted_in_a_finaliser_stops_the_block_without_a_traceback(
    forced, monkeypatch, capfd
):
    monkeypatch.setattr(interrupt, "GRACE_S", 60)  # no forced exit: a real raise
    with pytest.raises(interrupt.Interrupted):
        with interrupt.handled():
            _Dropped()  # collected at once: "Exception ignored in ..." -> the hook
            for _ in range(50):
                time.sleep(0.1)
    time.sleep(0.2)
    assert forced == []
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception ignored" not in err, err


def test_reclaim_takes_the_handlers_back(forced):
    with interrupt.handled():
        signal.signal(signal.SIGTERM, lambda *args: sys.exit(15))  # as ray.init
        interrupt.reclaim()
        assert signal.getsignal(signal.SIGTERM) is interrupt._handler
    interrupt.reclaim()  # outside `handled`: nothing to take back


def test_a_worker_leaves_sigint_to_the_main_process(forced):
    with interrupt.handled():
        interrupt.quiet_worker()  # the main process itself: nothing changes
        assert signal.getsignal(signal.SIGINT) is interrupt._handler
        # In a forked worker (another pid) the inherited handler ignores SIGINT.
        interrupt._state["main_pid"] = os.getpid() + 1
        try:
            assert interrupt._handler(signal.SIGINT, None) is None
        finally:
            interrupt._state["main_pid"] = os.getpid()


def test_a_forked_process_has_none_of_the_commands_signals(forced):
    """A pool worker forked under `handled`: default handlers, no wake-up fd."""
    with interrupt.handled():
        pid = os.fork()
        if pid == 0:  # the child: report through the exit code, nothing else
            ok = (
                signal.set_wakeup_fd(-1) == -1
                and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
                and signal.getsignal(signal.SIGINT) is signal.SIG_DFL
            )
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert forced == []


def test_clean_up_removes_scratch_and_kills_children(tmp_path, monkeypatch):
    scratch, lock = tmp_path / ".out.tmp-x", tmp_path / ".out.lock"
    (scratch / "half").mkdir(parents=True)
    lock.write_text("1")
    interrupt.register_scratch(scratch)
    interrupt.register_scratch(lock)
    child = subprocess.Popen(["sleep", "60"])
    try:
        assert child.pid in interrupt._descendants(os.getpid())
        # Only this child: the test session's own servers must live on.
        monkeypatch.setattr(interrupt, "_descendants", lambda pid: [child.pid])
        interrupt._clean_up()
        assert child.wait(10) == -signal.SIGKILL
    finally:
        interrupt.discard_scratch(scratch)
        interrupt.discard_scratch(lock)
    assert list(tmp_path.iterdir()) == []


def test_announce_says_it_once(capsys, monkeypatch):
    monkeypatch.setitem(interrupt._state, "announced", False)
    interrupt.announce(signal.SIGTERM)
    interrupt.announce(signal.SIGTERM)
    assert capsys.readouterr().err == (
        "Error: interrupted by SIGTERM: stopped before the end; run it again to "
        "finish\n"
    )


def test_off_the_main_thread_nothing_is_installed():
    seen = []

    def body():
        with interrupt.handled():
            seen.append(signal.getsignal(signal.SIGINT))

    before = signal.getsignal(signal.SIGINT)
    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen == [before]


SWALLOWING = """
import os, signal, sys, time
import click
from sat.cli.main import COMMANDS, main
from sat.errors import SatError

@click.command()
def swallow():
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(2)
    except KeyboardInterrupt:
        # What a pybind11 extension's import does with it (scipy's HiGHS):
        raise SatError("key 'fit': initialization failed") from None

COMMANDS["swallow"] = "__main__:swallow"
main(["swallow"])
"""


def test_a_signal_disguised_as_another_error_still_stops_the_command():
    done = subprocess.run(
        [sys.executable, "-c", SWALLOWING], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 130, done.stderr
    assert "interrupted by SIGINT" in done.stderr
    assert "initialization failed" not in done.stderr
    assert "Traceback" not in done.stderr


def test_the_error_line_never_shares_a_line_with_an_open_progress_bar(monkeypatch):
    # The forced exit after the grace period announces while a bar is still
    # drawn (CI: "reducing runs:   0%| ... 0/20 [...]Error: interrupted by SIGINT").
    import io
    import signal

    from tqdm.auto import tqdm

    from sat import interrupt

    stderr = io.StringIO()
    monkeypatch.setattr(interrupt.sys, "stderr", stderr)
    monkeypatch.setitem(interrupt._state, "announced", False)
    bar = tqdm(total=20, desc="reducing runs", file=stderr, leave=False)
    try:
        interrupt.announce(signal.SIGINT)
    finally:
        bar.close()
    lines = stderr.getvalue().replace("\r", "\n").splitlines()
    errors = [line for line in lines if "Error:" in line]
    assert len(errors) == 1 and errors[0].startswith("Error: interrupted by SIGINT")
