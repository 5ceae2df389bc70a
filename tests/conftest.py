"""Test configuration: real data is required, the network is blocked, ids are traced."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from satdev import unknown_ids
from satdev.evidence import RUN_ID_ENV

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]


def hess_run_file(obs_id: int) -> str:
    """Name of the H.E.S.S. DL3 DR1 file of run ``obs_id``."""
    return f"hess_dl3_dr1_obs_id_{obs_id:06d}.fits.gz"


def assert_user_error(result, message: str) -> None:
    """A CLI ``result`` is a user error: exit 1, one line with ``message``."""
    assert result.exit_code == 1, result.output
    assert message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.output


def assert_matches_measured(parameters: dict, measured: dict) -> None:
    """Fitted ``parameters`` (result.json) agree with ``measured`` (value, error).

    Same data, same pinned Gammapy: a regression check far inside 1 sigma, and
    errors within 5 %.
    """
    for name, (value, error) in measured.items():
        fitted = parameters[name]
        assert abs(fitted["value"] - value) < 0.1 * error, (name, fitted)
        assert fitted["error"] == pytest.approx(error, rel=0.05), (name, fitted)


def pytest_configure(config):
    # The suite runs on real data: a missing GAMMAPY_DATA is an error, never a skip.
    data = os.environ.get("GAMMAPY_DATA")
    if not data or not Path(data, "hess-dl3-dr1", "obs-index.fits.gz").is_file():
        raise pytest.UsageError(
            f"GAMMAPY_DATA={data!r} does not hold the shared test data "
            "(hess-dl3-dr1/obs-index.fits.gz): "
            "export GAMMAPY_DATA=../shared/gammapy-data"
        )
    os.environ.setdefault("MPLBACKEND", "Agg")
    # Under `nox -s verify` the suite inherits the run id of the release: no test
    # may write evidence of that run (a deliberately broken artifact would then
    # count against the real one). Tests that need a run id set their own.
    os.environ.pop(RUN_ID_ENV, None)


def pytest_collection_modifyitems(session, config, items):
    # A marker naming an id the requirements catalogue does not have fails the run.
    problems = unknown_ids(items)
    if problems:
        raise pytest.UsageError(
            "tests trace to ids missing from satdev/requirements.yaml:\n  "
            + "\n  ".join(problems)
        )


class NetworkBlocked(OSError):
    """Raised when a test tries to reach a non-loopback address."""


_connect = socket.socket.connect


def _loopback_only(sock, address):
    if sock.family == socket.AF_UNIX:
        return _connect(sock, address)
    host = address[0]
    if host in ("localhost", "::1") or host.startswith("127."):
        return _connect(sock, address)
    raise NetworkBlocked(f"test tried to reach {address}: the network is blocked")


@pytest.fixture(autouse=True)
def _block_network(monkeypatch):
    """Block every socket connection except loopback (nothing may go online)."""
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


@pytest.fixture(scope="session")
def gammapy_data() -> Path:
    """The shared real data (GAMMAPY_DATA)."""
    return Path(os.environ["GAMMAPY_DATA"])
