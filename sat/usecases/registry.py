"""The use cases of the release, found by name.

Every module of `sat.usecases` that defines ``USECASE`` (a `UseCase` subclass) is a
use case; importing them is cheap because they import Gammapy inside ``run``.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from functools import cache

from sat.errors import ConfigError

__all__ = ["get_usecase", "usecases"]


@cache
def usecases() -> dict:
    """Return every use-case class by name, sorted by use-case id."""
    import sat.usecases

    found = {}
    for module in pkgutil.iter_modules(sat.usecases.__path__):
        usecase = _usecase_of(module.name)
        if usecase is not None:
            found[usecase.name] = usecase
    return dict(sorted(found.items(), key=lambda item: item[1].usecase_id))


def get_usecase(name: str):
    """Return the use-case class called ``name``, or raise a `ConfigError`.

    A use case lives in the module of its name (``spectrum-1d`` in
    ``sat.usecases.spectrum_1d``): that module alone is imported when it holds
    it. Importing all of them builds every use case's config classes, 0.2 s of
    CPU a run of one use case does not need (`benchmarks/overhead.py`).
    """
    module = name.replace("-", "_")
    if module.isidentifier() and importlib.util.find_spec(f"sat.usecases.{module}"):
        usecase = _usecase_of(module)
        if usecase is not None and usecase.name == name:
            return usecase
    known = usecases()
    if name not in known:
        raise ConfigError(f"unknown use case {name!r}; known: {', '.join(known)}")
    return known[name]


def _usecase_of(module: str):
    """Return the ``USECASE`` of module ``sat.usecases.<module>``, or None."""
    return getattr(importlib.import_module(f"sat.usecases.{module}"), "USECASE", None)
