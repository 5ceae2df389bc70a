"""A config as documentation: YAML with a comment on every key (``--print-config``).

``ctao-sat run NAME --print-config`` prints the config a run uses, every key with
its value and a one-line comment: what it means (with its unit when the key's
name or value does not carry one) and, where the value is not the default, the
default. A list that is empty shows what an entry looks like, commented out. The
text is YAML that ``--config`` reads back unchanged.

Where the comments come from, one home each:

- our keys: the field's description (the docstring under the field, or
  ``Field(description=...)``) and its ``examples``;
- Gammapy's ``AnalysisConfig`` blocks (`sat.config.upstream`): the
  ``Attributes`` section of their class docstring, and `GAMMAPY_KEYS` for the
  keys Gammapy does not document.
"""

from __future__ import annotations

import inspect
import re
from typing import get_args

from pydantic import BaseModel

from sat.config import _resolve

__all__ = ["GAMMAPY_KEYS", "commented_yaml", "describe_keys"]

# Gammapy's config keys its docstrings do not describe (or describe wrongly: the
# flux-points energy is "for the light curve" there), as "Class.key".
GAMMAPY_KEYS = {
    "EnergyAxisConfig.min": "lower edge, with its unit (e.g. 0.1 TeV)",
    "EnergyAxisConfig.max": "upper edge, with its unit (e.g. 100 TeV)",
    "EnergyAxisConfig.nbins": "number of bins, logarithmic in energy",
    "EnergyRangeConfig.min": "lower energy, with its unit (null: no limit)",
    "EnergyRangeConfig.max": "upper energy, with its unit (null: no limit)",
    "TimeRangeConfig.start": "start time (ISO, e.g. 2004-12-04T22:00:00; null: any)",
    "TimeRangeConfig.stop": "stop time (ISO; null: any)",
    "SpatialCircleConfig.frame": "sky frame of lon and lat: icrs or galactic",
    "SpatialCircleConfig.lon": "centre longitude or RA, with its unit (e.g. 83.63 deg)",
    "SpatialCircleConfig.lat": "centre latitude or Dec, with its unit (e.g. 22.01 deg)",
    "SpatialCircleConfig.radius": "radius, with its unit (e.g. 0.11 deg)",
    "SkyCoordConfig.frame": "sky frame: icrs or galactic (null: the target's)",
    "SkyCoordConfig.lon": "longitude or RA, with its unit (null: the target's)",
    "SkyCoordConfig.lat": "latitude or Dec, with its unit (null: the target's)",
    "EnergyAxesConfig.energy": "reconstructed-energy axis of the datasets",
    "EnergyAxesConfig.energy_true": "true-energy axis of the IRFs in the datasets",
    "SelectionConfig.offset_max": "events and IRFs kept up to this offset from the "
    "pointing",
    "WidthConfig.width": "map width, with its unit",
    "WidthConfig.height": "map height, with its unit",
    "FluxPointsConfig.energy": "energy bins of the flux points",
    "FluxPointsConfig.source": "name of the model whose flux points are estimated",
    "FluxPointsConfig.parameters": "options of Gammapy's FluxPointsEstimator "
    "(selection_optional: ul, errn-errp, scan, all)",
    "LightCurveConfig.parameters": "options of Gammapy's LightCurveEstimator "
    "(selection_optional: ul, errn-errp, scan, all)",
    "ExcessMapConfig.parameters": "options of Gammapy's ExcessMapEstimator",
    "BackgroundConfig.parameters": "options of the background maker",
    "SafeMaskConfig.parameters": "options of the methods (bias_percent, "
    "aeff_percent, offset_max...)",
    "ObservationsConfig.obs_file": "YAML file listing observation ids (instead of "
    "obs_ids)",
    "ObservationsConfig.obs_cone": "runs pointed within this circle",
    "ObservationsConfig.obs_time": "runs within this time range",
    "DatasetsConfig.map_selection": "maps the dataset maker computes",
    "GeomConfig.selection": "what the maker keeps of the events and IRFs",
    "DatasetsConfig.type": "1d (spectra in an ON region) or 3d (maps)",
    "DatasetsConfig.stack": "stack the runs into one dataset (else one per run)",
    "DatasetsConfig.containment_correction": "correct the ON region for the PSF "
    "containment (1d)",
    "ObservationsConfig.datastore": "folder of the data store (obs-index and "
    "hdu-index)",
    "ObservationsConfig.obs_ids": "runs to analyse (empty: every run of the target)",
}

# Examples of Gammapy's list keys that are empty by default.
GAMMAPY_EXAMPLES = {
    "ObservationsConfig.obs_ids": [[23523, 23526]],
}


def _docstring_attributes(cls) -> dict[str, str]:
    """Return the first sentence of each attribute in ``cls``'s numpy docstring."""
    doc = inspect.getdoc(cls) or ""
    found = re.search(r"^Attributes\n-+\n(.*?)(?=^\w[\w ]*\n-+\n|\Z)", doc, re.S | re.M)
    if not found:
        return {}
    described, names, lines = {}, [], []
    for line in [*found[1].splitlines(), "END : end"]:
        head = re.match(r"^(\w+(?:, \w+)*) : ", line)
        if head or line == "END : end":
            text = " ".join(" ".join(lines).split())
            sentence = re.split(r"(?<=\.)\s", text)[0].rstrip(".")
            for name in names:
                described[name] = sentence
            names, lines = (head[1].split(", ") if head else []), []
        elif line.strip():
            lines.append(line.strip())
    return described


def _upstream_class(field):
    # The class behind a key typed with sat.config.upstream("module:Name"): in
    # the field's metadata, or in that of its type's arguments (list[...]).
    def metadata(annotation):
        yield from getattr(annotation, "__metadata__", ())
        for argument in get_args(annotation):
            yield from metadata(argument)

    for meta in [*field.metadata, *metadata(field.annotation)]:
        hook = getattr(getattr(meta, "func", None), "__self__", None)
        target = getattr(hook, "target", None)
        if isinstance(target, str) and ":" in target:
            # "module:Name" or "module:Model.field" (a block of Gammapy's config),
            # resolved as sat.config resolves it to validate the key.
            found = _resolve(target)
            return found if isinstance(found, type) else None
    return None


def _model_in(annotation):
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        if (found := _model_in(argument)) is not None:
            return found
    return None


def _nested(field):
    """Return the model class of a field's value (or of its list entries)."""
    return _upstream_class(field) or _model_in(field.annotation)


def _description(model, name: str, field) -> str:
    text = GAMMAPY_KEYS.get(f"{model.__name__}.{name}") or field.description
    # A key a subclass sets a new default for keeps the meaning of its base's.
    for base in model.__mro__[1:]:
        if text:
            break
        inherited = getattr(base, "model_fields", {}).get(name)
        text = getattr(inherited, "description", None)
    if not text:
        text = _docstring_attributes(model).get(name, "")
    return " ".join(text.split()).rstrip(".")


def _examples(model, name: str, field) -> list:
    return list(field.examples or GAMMAPY_EXAMPLES.get(f"{model.__name__}.{name}", []))


def _flow(value) -> str:
    import yaml

    text = yaml.safe_dump(
        [value],
        default_flow_style=True,
        width=10**6,
        allow_unicode=True,
        sort_keys=False,
    )
    return text.strip()[1:-1]


def describe_keys(model) -> dict[str, str]:
    """Return every key of ``model`` (dotted, nested blocks too) and its comment.

    A key without a comment maps to ''.
    """
    found = {}
    for name, field in model.model_fields.items():
        found[name] = _description(model, name, field)
        nested = _nested(field)
        if nested is not None:
            for key, text in describe_keys(nested).items():
                found[f"{name}.{key}"] = text
    return found


class _Writer:
    def __init__(self):
        self.lines: list[str] = []

    def add(self, text: str, comment: str) -> None:
        if comment:
            text = (
                f"{text.ljust(38)}  # {comment}"
                if len(text) < 38
                else (f"{text}  # {comment}")
            )
        self.lines.append(text)


def _comment(model, name, field, value, default) -> str:
    text = _description(model, name, field)
    if default is not _MISSING and value != default and not isinstance(value, dict):
        text += f"; default: {_flow(default)}" if text else f"default: {_flow(default)}"
    return text


_MISSING = object()


def _render(
    writer, model, values: dict, defaults, indent: str, first: str = ""
) -> None:
    prefix = first or indent
    for name, field in model.model_fields.items():
        if name not in values:
            continue
        value = values[name]
        default = (
            defaults.get(name, _MISSING) if isinstance(defaults, dict) else _MISSING
        )
        comment = _comment(model, name, field, value, default)
        nested = _nested(field)
        key = f"{prefix}{name}:"
        prefix = indent
        if nested is not None and isinstance(value, dict) and value:
            writer.add(key, comment)
            _render(
                writer,
                nested,
                value,
                default if isinstance(default, dict) else {},
                indent + "  ",
            )
        elif nested is not None and isinstance(value, list) and value:
            writer.add(key, comment)
            for entry in value:
                if isinstance(entry, dict):
                    _render(writer, nested, entry, {}, indent + "    ", indent + "  - ")
                else:
                    writer.add(f"{indent}  - {_flow(entry)}", "")
        elif value is None and _examples(model, name, field):
            writer.add(f"{key} null", f"{comment}; for example:")
            for example in _examples(model, name, field):
                writer.lines.append(f"{indent}#   {name}: {_flow(example)}")
        elif nested is not None and value is None:
            writer.add(
                f"{key} null", comment + "; its keys:" if comment else "its keys:"
            )
            _render_commented(writer, nested, indent + "#   ")
        elif isinstance(value, list) and not value:
            examples = _examples(model, name, field)
            writer.add(f"{key} []", comment + ("; for example:" if examples else ""))
            for example in examples:
                entries = example if isinstance(example, list) else [example]
                if all(not isinstance(e, dict | list) for e in entries):
                    writer.lines.append(f"{indent}#   {name}: {_flow(entries)}")
                    continue
                for entry in entries:
                    writer.lines.append(f"{indent}#   - {_flow(entry)}")
        else:
            writer.add(f"{key} {_flow(value)}", comment)


def _render_commented(writer, model, indent: str) -> None:
    """Write the keys of a block that is not set, commented out, with defaults."""
    for name, field in model.model_fields.items():
        if field.is_required():
            shown = "..."
        else:
            default = field.get_default(call_default_factory=True)
            if isinstance(default, BaseModel):
                default = default.model_dump(mode="json")
            try:
                shown = _flow(default)
            except Exception:  # an object YAML cannot write: say it is set
                shown = "..."
        text = _description(model, name, field)
        if field.is_required():
            text = f"{text} (required)" if text else "required"
        writer.add(f"{indent}{name}: {shown}", text)


def commented_yaml(config: BaseModel, header: list[str] = ()) -> str:
    """Return ``config`` as YAML with a one-line comment on every key.

    Parameters
    ----------
    config : pydantic model
        A validated config (a use case's, the data-volume scenario...).
    header : list of str
        Lines written first, as comments.

    Returns
    -------
    str
        YAML that `sat.config.load_config` reads back to ``config``. Keys whose
        value differs from the default say the default in their comment.
    """
    model = type(config)
    values = config.model_dump(mode="json")
    try:
        defaults = model().model_dump(mode="json")
    except ValueError:  # a config without defaults for every key
        defaults = {}
    writer = _Writer()
    writer.lines += [f"# {line}" if line else "#" for line in header]
    _render(writer, model, values, defaults, "")
    return "\n".join(writer.lines) + "\n"
