"""ctao-sat: the CTAO Science Analysis Tools distribution, a thin layer on Gammapy.

From Python (a notebook), the use cases run with `run`, which returns the result
with the Gammapy objects it made (`sat.api`)::

    import sat

    result = sat.run("spectrum-1d")
    result.gammapy.flux_points

Importing `sat` is cheap on purpose: it must not import the scientific stack, so
that `ctao-sat --help` starts instantly. Heavy imports live inside functions, and
the functions of `sat.api` are imported from it when first used.
"""

from sat.stack import release_version

__version__ = release_version()

_API = ("get_config", "list_usecases", "read_result", "run")

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    # The Python API, imported on first use (PEP 562).
    if name in _API:
        from sat import api

        return getattr(api, name)
    raise AttributeError(f"module 'sat' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
