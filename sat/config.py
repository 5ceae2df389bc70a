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

__all__ = ["BaseConfig", "dump_config", "load_config", "read_yaml"]


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


def _strict_loader():
    """Return a YAML safe loader that refuses a key given twice in one mapping.

    PyYAML keeps the last value of a repeated key without a word: a config with
    ``target`` twice would silently analyse the second one.
    """
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    repeated = key in seen
                except TypeError:  # an unhashable key: PyYAML names it below
                    continue
                if repeated:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"key {key!r} given twice (first on line {seen[key]}): "
                        "keep one of them",
                        key_node.start_mark,
                    )
                seen[key] = line
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


def read_yaml(path: Path) -> dict:
    """Read the YAML config ``path``: a non-empty mapping, each key once.

    Raises
    ------
    ConfigError
        One line: the file cannot be read, is empty, is not YAML, repeats a
        key, or is not a mapping.
    """
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read config {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config {path} is not a text file (UTF-8)") from None
    try:
        values = yaml.load(text, Loader=_strict_loader())  # a SafeLoader
    except yaml.constructor.ConstructorError as error:
        where = error.problem_mark
        line = f" line {where.line + 1}" if where else ""
        raise ConfigError(f"config {path}{line}: {error.problem}") from None
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" line {where.line + 1}" if where else ""
        raise ConfigError(f"config {path}{line} is not valid YAML") from None
    if values is None:
        raise ConfigError(
            f"config {path} is empty: give the keys to change (--print-config "
            "shows them all), or leave out the config for the defaults"
        )
    if not isinstance(values, dict):
        raise ConfigError(f"config {path} must be a mapping of keys to values")
    return values


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
    origin = "(defaults)"
    if source is None:
        values = {}
    elif isinstance(source, dict):
        values, origin = source, "(overrides)"
    else:
        path = Path(source)
        origin = str(path)
        values = read_yaml(path)
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise ConfigError(_explain(model, error, origin)) from None


def dump_config(config: BaseModel) -> str:
    """Render a config as YAML (the format ``--config`` reads)."""
    import yaml

    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
