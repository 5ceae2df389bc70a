"""Strict configs and their YAML: unknown keys are errors that name the key.

The ground floor of every configurable part of `sat` (use cases, the parallel
backend, archive sources, the data-volume scenario): `BaseConfig` validates
strictly, `load_config` reads defaults, overrides or a YAML file into one and
explains a bad key in one line, `dump_config` writes the YAML back.

- A block given in a config (YAML or Python) updates the default block key by
  key, as Gammapy's ``AnalysisConfig.update`` does: ``datasets: {stack: true}``
  changes one key of the use case's ``datasets`` block and keeps the others.
- `upstream` types a key with a class of another package (Gammapy's own
  ``AnalysisConfig`` blocks, its quantity types), imported only when a config
  is validated: listing the use cases and ``ctao-sat --help`` stay free of the
  scientific stack.
- A key that was renamed is refused with a line naming its new key
  (``BaseConfig.renamed``).
"""

from __future__ import annotations

import importlib
import types
from functools import cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from sat.errors import ConfigError

__all__ = ["BaseConfig", "dump_config", "load_config", "read_yaml", "upstream"]


class BaseConfig(BaseModel):
    """Base of every config: unknown keys and wrong types are errors.

    Attributes
    ----------
    renamed : dict
        Keys of earlier releases (dotted, ``*`` for any list index) and where
        their setting lives now: giving one is an error naming the new key.
    """

    # The docstring under a key is its description: the comment of
    # --print-config (sat.configdoc) and of the JSON schema.
    model_config = ConfigDict(
        extra="forbid",
        validate_assignment=True,
        validate_default=True,
        use_attribute_docstrings=True,
    )
    renamed: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _update_default_blocks(cls, values):
        # From YAML or from Python alike: a renamed key is named, a block given
        # updates the default one.
        if not isinstance(values, dict):
            return values
        _refuse_renamed(cls, values)
        return _with_defaults(cls, values)


_UNIONS = (Union, types.UnionType)


@cache
def _resolve(target: str):
    # "module:name" or "module:Model.field.field": the model of a nested field,
    # reached from a public class (e.g. Gammapy's blocks from its AnalysisConfig).
    module, _, path = target.partition(":")
    name, *fields = path.split(".")
    found = getattr(importlib.import_module(module), name)
    for field in fields:
        annotation = found.model_fields[field].annotation
        options = get_args(annotation) if get_origin(annotation) in _UNIONS else ()
        found = next(o for o in (*options, annotation) if isinstance(o, type))
    return found


@cache
def _adapter(target: str) -> TypeAdapter:
    kind = _resolve(target)
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return TypeAdapter(kind)
    # An annotated upstream type, e.g. Gammapy's astropy quantities.
    return TypeAdapter(kind, config=ConfigDict(arbitrary_types_allowed=True))


class _Upstream:
    """Validator and serialiser of a key typed by ``target`` ("module:name")."""

    def __init__(self, target: str):
        self.target = target

    def validate(self, value):
        try:
            return _adapter(self.target).validate_python(value)
        except ValidationError as error:
            # Carry the upstream errors: load_config names the full key.
            raise PydanticCustomError(
                "upstream",
                "{detail}",
                {
                    "detail": str(error.errors()[0]["msg"]),
                    "errors": error.errors(include_url=False),
                    "target": self.target,
                },
            ) from None
        except Exception as error:  # upstream validators raise what they like
            message = " ".join(str(error).split()) or type(error).__name__
            raise PydanticCustomError(
                "upstream_value", "{message}", {"message": message}
            ) from None

    def serialize(self, value):
        return _adapter(self.target).dump_python(value, mode="json")


def upstream(target: str):
    """Return a type validated and serialised by another package's ``target``.

    Parameters
    ----------
    target : str
        ``"module:name"`` of a pydantic model or annotated type, or
        ``"module:Model.field..."`` for the model of a nested field: e.g.
        ``"gammapy.analysis.config:AnalysisConfig.datasets"`` or
        ``"gammapy.utils.types:EnergyType"``; imported at the first validation.

    Returns
    -------
    typing.Annotated
        For a config field: its value is the upstream object (a Gammapy config
        block, an astropy quantity...), its YAML what the upstream type writes.
    """
    hook = _Upstream(target)
    return Annotated[
        Any,
        PlainValidator(hook.validate, json_schema_input_type=Any),
        PlainSerializer(hook.serialize),
    ]


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


def _problems(model: type[BaseModel], error: ValidationError, prefix=()):
    # (model, full location, error) for every error, upstream ones unfolded.
    for problem in error.errors():
        location = (*prefix, *problem["loc"])
        if problem["type"] == "upstream":
            inner = _resolve(problem["ctx"]["target"])
            inner = inner if isinstance(inner, type) else None
            for nested in problem["ctx"]["errors"]:
                yield (
                    inner,
                    len(location),
                    {
                        **nested,
                        "loc": (*location, *nested["loc"]),
                    },
                )
        else:
            yield model, 0, {**problem, "loc": location}


def _explain(model: type[BaseModel], error: ValidationError, origin: str) -> str:
    messages = []
    for owner, depth, problem in _problems(model, error):
        key = ".".join(str(part) for part in problem["loc"])
        if problem["type"] == "renamed":
            messages.append(problem["msg"])
        elif not key:  # a check of the whole config: its message names the keys
            messages.append(problem["msg"].removeprefix("Value error, "))
        elif problem["type"] == "extra_forbidden":
            known = _allowed_keys(owner, problem["loc"][depth:]) if owner else []
            messages.append(f"unknown key {key!r} (allowed: {', '.join(known)})")
        else:
            given = problem.get("input")
            # A whole block given is too long to repeat: the key and message say it.
            got = "" if isinstance(given, dict | list) else f" (got {given!r})"
            messages.append(f"key {key!r}: {problem['msg']}{got}")
    # One line, whatever the upstream messages look like.
    return " ".join(f"invalid config {origin}: {'; '.join(messages)}".split())


def _refuse_renamed(model: type[BaseConfig], values: dict) -> None:
    """Raise an error naming the new key of a renamed key in ``values``."""
    for old, new in model.renamed.items():
        if _present(values, old.split(".")):
            message = (
                f"key {old!r} was renamed: use {new} (ctao-sat run NAME "
                "--print-config shows every key)"
            )
            raise PydanticCustomError("renamed", "{message}", {"message": message})


def _present(values, parts: list[str]) -> bool:
    if not parts:
        return True
    head, rest = parts[0], parts[1:]
    if head == "*":
        items = values if isinstance(values, list) else []
        return any(_present(item, rest) for item in items)
    return isinstance(values, dict) and head in values and _present(values[head], rest)


def _deep_update(defaults: dict, values: dict) -> dict:
    # Gammapy's AnalysisConfig.update: mappings are merged, anything else replaced.
    merged = dict(defaults)
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            value = _deep_update(merged[key], value)
        merged[key] = value
    return merged


def _block(field) -> tuple[str, type[BaseModel] | None] | None:
    """Return what kind of block a field is: ("upstream" | "model", its model).

    A block is a nested config (``Model`` or ``Model | None``) or an upstream
    one; a plain mapping field (e.g. sites by name) is not (None): given values
    replace it.
    """
    if any(isinstance(m, PlainSerializer) for m in field.metadata):
        return "upstream", None
    annotation = field.annotation
    options = get_args(annotation) if get_origin(annotation) in _UNIONS else ()
    for option in (annotation, *options):
        if isinstance(option, type) and issubclass(option, BaseModel):
            return "model", option
    return None


def _block_default(field, kind: str) -> dict | None:
    """Return the default of a block field as a mapping (None: it has none)."""
    if field.is_required():
        return None
    default = field.get_default(call_default_factory=True)
    if isinstance(default, dict):
        return default
    if isinstance(default, BaseModel) and kind == "model":
        return default.model_dump(mode="json")
    if default is None:
        return None
    upstream_block = next(
        m for m in field.metadata if isinstance(m, PlainSerializer)
    ).func.__self__
    return upstream_block.serialize(upstream_block.validate(default))


def _with_defaults(model: type[BaseModel], values: dict, defaults=None) -> dict:
    """Return ``values`` with every block given updating its default block.

    Parameters
    ----------
    model : type of `pydantic.BaseModel`
        The config the values are for.
    values : dict
        The values given.
    defaults : dict, optional
        The defaults of ``model``'s blocks as its parent's default holds them
        (None: the field defaults of ``model``).
    """
    merged = dict(values)
    for name, value in values.items():
        field = model.model_fields.get(name)
        block = None if field is None else _block(field)
        if block is None or not isinstance(value, dict):
            continue
        kind, nested = block
        base = _block_default(field, kind) if defaults is None else defaults.get(name)
        if not isinstance(base, dict):
            continue
        if kind == "upstream":  # Gammapy's semantics: every mapping merged
            merged[name] = _deep_update(base, value)
        else:
            merged[name] = {**base, **_with_defaults(nested, value, base)}
    return merged


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
