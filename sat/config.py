"""Strict configs and their YAML: unknown keys are errors that name the key.

The ground floor of every configurable part of `sat` (use cases, the parallel
backend, archive sources, the data-volume scenario): `BaseConfig` validates
strictly, `load_config` reads defaults, overrides or a YAML file into one and
explains a bad key in one line, `dump_config` writes the YAML back.
"""

from __future__ import annotations

from pathlib import Path
from typing import get_args

from pydantic import BaseModel, ConfigDict, ValidationError

from sat.errors import ConfigError

__all__ = ["BaseConfig", "dump_config", "load_config"]


class BaseConfig(BaseModel):
    """Base of every config: unknown keys and wrong types are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _model_in(annotation) -> type[BaseModel] | None:
    # The model inside an annotation: Model, Model | None, list[Model]...
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        if (found := _model_in(argument)) is not None:
            return found
    return None


def _allowed_keys(model: type[BaseModel], location: tuple) -> list[str]:
    # Walk the nested models along the error location to list the allowed keys;
    # integer parts of the location are list indices and stay on the same model.
    for key in location[:-1]:
        if not isinstance(key, str):
            continue
        field = model.model_fields.get(key)
        model = _model_in(getattr(field, "annotation", None))
        if model is None:
            return []
    return list(model.model_fields)


def _explain(model: type[BaseModel], error: ValidationError, origin: str) -> str:
    messages = []
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"])
        if problem["type"] == "extra_forbidden":
            allowed = ", ".join(_allowed_keys(model, problem["loc"]))
            messages.append(f"unknown key {key!r} (allowed: {allowed})")
        else:
            messages.append(
                f"key {key!r}: {problem['msg']} (got {problem.get('input')!r})"
            )
    return f"invalid config {origin}: " + "; ".join(messages)


def load_config(model: type[BaseModel], source=None) -> BaseModel:
    """Validate a config against ``model``.

    Parameters
    ----------
    model : type of `BaseConfig`
        The config class.
    source : None, dict, str or Path
        None for the defaults, a dict of overrides, or a YAML file.

    Raises
    ------
    ConfigError
        One line naming the file and every bad key, with the allowed keys.
    """
    import yaml

    origin = "(defaults)"
    if source is None:
        values = {}
    elif isinstance(source, dict):
        values, origin = source, "(overrides)"
    else:
        path = Path(source)
        origin = str(path)
        try:
            values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as error:
            raise ConfigError(f"cannot read config {path}: {error.strerror}") from None
        except yaml.YAMLError as error:
            where = getattr(error, "problem_mark", None)
            line = f" line {where.line + 1}" if where else ""
            raise ConfigError(f"config {path}{line} is not valid YAML") from None
        if not isinstance(values, dict):
            raise ConfigError(f"config {path} must be a mapping of keys to values")
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise ConfigError(_explain(model, error, origin)) from None


def dump_config(config: BaseModel) -> str:
    """Render a config as YAML (the format ``--config`` reads)."""
    import yaml

    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
