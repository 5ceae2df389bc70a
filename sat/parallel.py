"""Which parallel backend reduces the observations: serial, multiprocessing or Ray.

The loop over observations is Gammapy's own (`DatasetsMaker` with ``n_jobs`` and
``parallel_backend``, i.e. `gammapy.utils.parallel`), configured as Gammapy's
``AnalysisConfig`` does: ``general: {n_jobs: 4}`` in a use case's config
(`ParallelConfig`), ``n_jobs: 1`` being serial. This module turns that block into
the makers' arguments and, for Ray, starts a local Ray cluster of ``n_jobs``
CPUs or connects to the one named by ``RAY_ADDRESS``, with a one-line error when
that cluster does not answer.

Ray is optional (``pip install 'ctao-sat[ray]'``, version pinned in
``sat/pins.toml`` ``[extras.ray]``). This module imports no scientific package.
"""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager
from typing import Literal

from pydantic import Field

from sat import interrupt
from sat.config import BaseConfig
from sat.errors import ConfigError, SatError

__all__ = ["RENAMED", "ParallelConfig", "maker_options", "parallel_session"]

# Seconds to wait for the cluster named by RAY_ADDRESS before giving up.
RAY_CONNECT_TIMEOUT_S = 20
# The keys of release 2026.11, at the top of a use case's config
# (`sat.config.BaseConfig.renamed`).
RENAMED = {
    "backend": "general.parallel_backend (multiprocessing or ray; general.n_jobs: 1 "
    "is serial)",
    "n_jobs": "general.n_jobs",
    "skip_failed": "general.skip_failed",
}


class ParallelConfig(BaseConfig):
    """The ``general`` block of a use case that loops over observations.

    ``n_jobs`` (Gammapy's ``general.n_jobs``; 1 is serial) and
    ``parallel_backend`` (Gammapy's makers' argument) choose how the
    observations are reduced: the results do not depend on it. ``skip_failed``
    keeps going without an observation that cannot be reduced instead of
    failing the run.
    """

    n_jobs: int = Field(default=1, ge=1)
    """Processes reducing the runs at once (Gammapy's general.n_jobs; 1: serial)."""
    parallel_backend: Literal["multiprocessing", "ray"] = "multiprocessing"
    """How the runs are spread when n_jobs > 1: multiprocessing or ray (RAY_ADDRESS: a
    running cluster)."""
    skip_failed: bool = False
    """Go on without a run that fails to reduce (listed in result.json) instead of
    failing."""

    @property
    def backend(self) -> str:
        """Where the work runs: "serial", "multiprocessing" or "ray"."""
        if self.parallel_backend == "ray":
            return "ray"
        return "serial" if self.n_jobs == 1 else "multiprocessing"


def maker_options(config: ParallelConfig) -> dict:
    """Return the ``n_jobs`` and ``parallel_backend`` arguments of `DatasetsMaker`.

    Raises
    ------
    ConfigError
        Ray is asked for and not installed: said before Gammapy's makers would
        log that they fall back to multiprocessing.
    """
    if config.backend == "ray":
        _import_ray()
    return {"n_jobs": config.n_jobs, "parallel_backend": config.parallel_backend}


def _import_ray():
    try:
        import ray
    except ImportError:
        # Gammapy would silently fall back to multiprocessing: say it instead.
        raise ConfigError(
            "key 'general.parallel_backend': 'ray' needs Ray, which is not installed: "
            "pip install 'ctao-sat[ray]'"
        ) from None
    return ray


def _connect(ray, address: str | None, n_jobs: int) -> None:
    """Start a local Ray cluster, or connect to ``address``; one-line errors."""
    if not address:
        try:
            ray.init(
                num_cpus=n_jobs,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        except SystemExit as stop:
            # ray.init's own SIGTERM handler exits with the signal's number.
            if stop.code == signal.SIGTERM:
                raise interrupt.interrupted(signal.SIGTERM) from None
            raise
        return
    import threading

    # ray.init retries an unreachable cluster for minutes: bound the wait. A
    # daemon thread, so that a connection attempt still hanging does not keep
    # the process alive after the error.
    outcome: list = []

    def connect():
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
            outcome.append(None)
        except Exception as error:  # Ray raises ConnectionError, RuntimeError, ...
            outcome.append(error)

    thread = threading.Thread(target=connect, name="ray-connect", daemon=True)
    thread.start()
    thread.join(RAY_CONNECT_TIMEOUT_S)
    if not outcome:
        raise SatError(
            f"the Ray cluster at RAY_ADDRESS={address} does not answer within "
            f"{RAY_CONNECT_TIMEOUT_S} s: check the address, or unset RAY_ADDRESS "
            "to start a local Ray cluster"
        )
    error = outcome[0]
    if error is not None:
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise SatError(
            f"cannot connect to the Ray cluster at RAY_ADDRESS={address} "
            f"({type(error).__name__}: {first}): check the address, or unset "
            "RAY_ADDRESS to start a local Ray cluster"
        )


@contextmanager
def parallel_session(config: ParallelConfig):
    """Prepare the backend of ``config`` for the block (Ray: start or connect).

    With ``parallel_backend: ray`` the block runs on the Ray cluster already
    initialised in this process, else on the one at ``RAY_ADDRESS``, else on a new
    local cluster of ``n_jobs`` CPUs, which is shut down afterwards.

    Yields
    ------
    dict
        Where the work ran, for the provenance: ``backend`` (serial,
        multiprocessing or ray), ``n_jobs`` and, for Ray, ``ray_address``
        ("local" for a cluster started here).

    Raises
    ------
    ConfigError
        ``parallel_backend: ray`` without Ray installed.
    SatError
        The cluster at ``RAY_ADDRESS`` does not answer.
    """
    where = {"backend": config.backend, "n_jobs": config.n_jobs}
    if config.backend != "ray":
        yield where
        return
    ray = _import_ray()
    started = False
    if ray.is_initialized():
        where["ray_address"] = "existing session"
    else:
        address = os.environ.get("RAY_ADDRESS") or None
        _connect(ray, address, config.n_jobs)
        interrupt.reclaim()  # ray.init made SIGTERM exit without cleaning up
        started = True
        where["ray_address"] = address or "local"
    try:
        yield where
    finally:
        if started:
            ray.shutdown()
