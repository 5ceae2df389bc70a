"""The use cases of the release, found by name.

Every module of `sat.usecases` that defines ``USECASE`` (a `UseCase` subclass) is a
use case; importing them is cheap because they import Gammapy inside ``run``.
"""

from __future__ import annotations

import importlib
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
        usecase = getattr(
            importlib.import_module(f"sat.usecases.{module.name}"), "USECASE", None
        )
        if usecase is not None:
            found[usecase.name] = usecase
    return dict(sorted(found.items(), key=lambda item: item[1].usecase_id))


def get_usecase(name: str):
    """Return the use-case class called ``name``, or raise a `ConfigError`."""
    known = usecases()
    if name not in known:
        raise ConfigError(f"unknown use case {name!r}; known: {', '.join(known)}")
    return known[name]
