"""The typed result of a run: what ``result.json`` holds, as pydantic models.

`Result` is written by the runner (`sat.usecases.runner`) and read back by
everything that looks at a run afterwards: the command line, the documentation
pages, the verification of a release. Its JSON is ``result.json``: the keys of
the models below, plus the use case's own top-level keys (``fits``, ``runs``,
``reduction``...), which `Result` keeps as extra fields.

- `Parameter`: a fitted value, its error and unit.
- `Check`: one validation of a measured value against a reference (value,
  error, tolerance in sigma, where it comes from and why that tolerance): the
  deviation in sigma and the verdict. `BoundsCheck`: against an interval.
- `Product`: a file the run wrote, relative to its output folder.
- `Provenance`: versions, inputs with checksums, config and time of the run.

The models read like the JSON they come from (``result["validation"][0]["verdict"]``
is ``result.validation[0].verdict``), so code written against ``result.json``
keeps working on a `Result`.

This module imports pydantic only: reading a result needs no scientific package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    model_serializer,
)
from pydantic_core import core_schema

__all__ = [
    "FAIL",
    "PASS",
    "RESULT",
    "WARN",
    "BoundsCheck",
    "Check",
    "GammapyObjects",
    "Parameter",
    "Product",
    "Provenance",
    "Result",
    "Verdict",
    "worst",
]

RESULT = "result.json"
PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
Verdict = Literal["PASS", "WARN", "FAIL"]
_SEVERITY = {PASS: 0, WARN: 1, FAIL: 2}


def worst(verdicts) -> str:
    """Return the worst of ``verdicts`` (FAIL > WARN > PASS; PASS when empty)."""
    return max(verdicts, key=_SEVERITY.__getitem__, default=PASS)


class _Readable(BaseModel):
    """A model that also reads like the JSON it is written as: ``model["key"]``.

    Fields and extra keys are reachable by name, so code written against
    ``result.json`` (a dict) works on the model unchanged.
    """

    def _keys(self) -> list[str]:
        return [*type(self).model_fields, *(self.model_extra or {})]

    def keys(self) -> list[str]:
        """Return the keys of the JSON form (fields, then extra keys)."""
        return self._keys()

    def __getitem__(self, key: str):
        if key not in self._keys():
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        return key in self._keys()

    def get(self, key: str, default=None):
        """Return the value of ``key``, or ``default`` when there is none."""
        return self[key] if key in self else default

    def __eq__(self, other: object) -> bool:
        # Equal to the dict it is written as, too (a result.json read as JSON);
        # what is not JSON (a run's Gammapy objects, figures) is not compared.
        if isinstance(other, dict):
            return self.model_dump(mode="python") == other
        if isinstance(other, _Readable):
            return type(self) is type(other) and self.model_dump(
                mode="python"
            ) == other.model_dump(mode="python")
        return NotImplemented


class Parameter(_Readable):
    """A fitted (or derived) value with its 1-sigma error and unit."""

    model_config = ConfigDict(extra="forbid")

    value: float
    error: float | None = None
    unit: str = ""


class Check(_Readable):
    """A measured value compared with a reference value (`sat.validation.compare`).

    Attributes
    ----------
    quantity : str
        What is checked (a fitted parameter, a statistic).
    value, error : float
        The reference value and its 1-sigma error (0 for an exact expectation).
    unit : str
        Unit of the values ("" if dimensionless).
    source : str
        Where the reference comes from (paper, table, simulated truth).
    n_sigma : float
        Tolerance: the check passes when the deviation is at most this.
    why : str
        Why this reference and tolerance.
    measured, measured_error : float
        The measurement and its 1-sigma error.
    deviation_sigma : float or None
        ``|measured - value|`` in units of the combined errors.
    verdict : str
        "PASS" or "FAIL".
    fit : str, optional
        Which of several fits of the run is checked (joint-crab: per instrument).
    """

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="constants")

    quantity: str
    value: float
    error: float
    unit: str = ""
    source: str = ""
    n_sigma: float
    why: str = ""
    measured: float
    measured_error: float = 0.0
    deviation_sigma: float | None
    verdict: Verdict
    fit: str | None = None

    @model_serializer(mode="wrap")
    def _without_unset_fit(self, handler):
        # ``fit`` only where a run has several fits: result.json never had it else.
        data = handler(self)
        if data.get("fit") is None:
            data.pop("fit", None)
        return data

    @property
    def passed(self) -> bool:
        """True unless the verdict is FAIL (a WARN is reported, not failed)."""
        return self.verdict != FAIL

    def describe(self) -> str:
        """One line: the measurement against its reference and tolerance."""
        unit = f" {self.unit}" if self.unit else ""
        return (
            f"{self.quantity} = {self.measured:.4g} vs {self.value:.4g} ± "
            f"{self.error:.2g}{unit} ({self.deviation_sigma} sigma, tolerance "
            f"{self.n_sigma})"
        )


class BoundsCheck(Check):
    """A measured value checked against an interval (`sat.validation.check_bounds`).

    ``minimum`` and ``maximum`` are the interval (None: open end); ``value`` is
    the bound nearest to the measurement, ``deviation_sigma`` how far outside
    it is in units of ``measured_error`` (0 inside, None outside without error).
    """

    minimum: float | None
    maximum: float | None

    def describe(self) -> str:
        """One line: the measurement and the allowed interval."""
        low = "-inf" if self.minimum is None else f"{self.minimum:.4g}"
        high = "inf" if self.maximum is None else f"{self.maximum:.4g}"
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.quantity} = {self.measured:.4g}{unit}, allowed [{low}, {high}]"


def _check_kind(check: Any) -> str:
    # result.json tells a bounds check by its interval keys.
    if isinstance(check, dict):
        return "bounds" if "minimum" in check else "reference"
    return "bounds" if isinstance(check, BoundsCheck) else "reference"


AnyCheck = Annotated[
    Annotated[Check, Tag("reference")] | Annotated[BoundsCheck, Tag("bounds")],
    Discriminator(_check_kind),
]


# What a product is, from its name: how a reader (a plot gallery, a notebook)
# finds the figures, the models, the tables among the files of a run.
_KINDS = {
    ".png": "figure",
    ".yaml": "models",
    ".ecsv": "table",
    ".json": "table",
    ".dat": "covariance",
    ".fits": "fits",
    ".gz": "fits",
}


class Product(str):
    """A file written by a run: its path relative to the output folder.

    A product is that path (a string, as in ``result.json``), with what kind of
    file it is and where it lies once the output folder is known.
    """

    __slots__ = ()

    @classmethod
    def __get_pydantic_core_schema__(cls, source, handler):
        return core_schema.no_info_after_validator_function(
            cls, core_schema.str_schema()
        )

    @property
    def path(self) -> str:
        """The path relative to the output folder (POSIX separators)."""
        return str(self)

    @property
    def kind(self) -> str:
        """Return what the file is: figure, models, table, covariance, fits or file."""
        return _KINDS.get(PurePosixPath(self).suffix, "file")

    def locate(self, output) -> Path:
        """Return where the product is, given the run's output folder."""
        return Path(output, self)


class Provenance(_Readable):
    """Versions, platform, inputs (with SHA-256), config and time of a run."""

    model_config = ConfigDict(extra="allow")

    ctao_sat: str
    versions: dict[str, str | None] = Field(default_factory=dict)
    python: str = ""
    platform: str = ""
    started: str = ""
    wall_time_s: float | None = None
    config: dict = Field(default_factory=dict)
    inputs: list[dict] = Field(default_factory=list)


@dataclass
class GammapyObjects:
    """The Gammapy objects a run made, to go on working with them in Python.

    Kept by a run in this process (`sat.run`); a result read back from
    ``result.json`` has none (its products hold them: models as YAML, flux
    points as ECSV, datasets as FITS). An attribute is None where the use case
    makes no such object.

    Attributes
    ----------
    datasets : `~gammapy.datasets.Datasets`
        The reduced datasets (per run, or stacked), with the fitted models set.
    models : `~gammapy.modeling.models.Models`
        The fitted models (the first of several fits, whose flux points and
        validation the run reports).
    flux_points : `~gammapy.estimators.FluxPoints`
        The spectral energy distribution.
    light_curve : `~gammapy.estimators.FluxPoints`
        Fluxes in time bins (Gammapy's light curve is a `FluxPoints` with a time
        axis).
    maps : `~gammapy.maps.Maps`
        Sky maps (counts, significance, residuals...).
    other : dict
        Further objects by name (a table, a phase list...).
    """

    datasets: Any = None
    models: Any = None
    flux_points: Any = None
    light_curve: Any = None
    maps: Any = None
    other: dict = field(default_factory=dict)

    def names(self) -> list[str]:
        """Return the names of the objects that are there."""
        present = [f.name for f in fields(self) if f.name != "other"]
        return [name for name in present if getattr(self, name) is not None] + list(
            self.other
        )

    def __repr__(self) -> str:
        names = self.names()
        return f"GammapyObjects({', '.join(names) if names else 'none kept'})"


class Result(_Readable):
    """What a run found: ``result.json``.

    Attributes
    ----------
    usecase, usecase_id : str
        The use case (``ctao-sat run --list``) and its catalogue id.
    ctao_sat : str
        The release that ran it.
    parameters : dict of Parameter
        The main fitted parameters by name.
    validation : list of Check
        Every check of the result against its reference; the run fails if one
        does not pass.
    products : list of Product
        The files written, relative to the output folder.
    summary : list of str
        Human-readable lines, printed at the end of the run.
    provenance : Provenance
        How the result was made.

    Further keys of the use case (statistics, tables...) are extra fields, read
    as ``result["runs"]`` or ``result.model_extra``.

    A run in this process also keeps what is not JSON (never written to
    ``result.json``): `gammapy`, the Gammapy objects it made; `figures`, its
    matplotlib figures by product name; `output`, the folder it wrote to (None
    when it wrote nothing).
    """

    model_config = ConfigDict(extra="allow", ser_json_inf_nan="constants")

    _gammapy: GammapyObjects = PrivateAttr(default_factory=GammapyObjects)
    _figures: dict = PrivateAttr(default_factory=dict)
    _output: Path | None = PrivateAttr(default=None)

    usecase: str
    usecase_id: str
    ctao_sat: str
    parameters: dict[str, Parameter] = Field(default_factory=dict)
    validation: list[AnyCheck] = Field(default_factory=list)
    products: list[Product] = Field(default_factory=list)
    summary: list[str] = Field(default_factory=list)
    provenance: Provenance | None = None

    @property
    def gammapy(self) -> GammapyObjects:
        """The Gammapy objects of a run in this process (datasets, models...)."""
        return self._gammapy

    @property
    def figures(self) -> dict:
        """The run's matplotlib figures by product name (``"spectrum.png"``)."""
        return self._figures

    @property
    def output(self) -> Path | None:
        """The folder holding the products; None when the run wrote none."""
        return self._output

    def keep(self, gammapy=None, figures=None, output=None) -> Result:
        """Attach what a run in this process made (the runner does); return self."""
        if gammapy is not None:
            self._gammapy = gammapy
        if figures is not None:
            self._figures = dict(figures)
        if output is not None:
            self._output = Path(output)
        return self

    def __repr__(self) -> str:
        # What a notebook shows: the verdict and where to look, not every key.
        verdict = "PASS" if self.passed else "FAIL"
        checks = f"{len(self.validation)} check" + (
            "" if len(self.validation) == 1 else "s"
        )
        figures = ", ".join(self.figures) or "none"
        return (
            f"<Result {self.usecase}: {verdict} ({checks}); gammapy: "
            f"{', '.join(self.gammapy.names()) or 'none'}; figures: {figures}; "
            f"output: {self.output}>"
        )

    __str__ = __repr__

    @property
    def failures(self) -> list[Check]:
        """The checks whose verdict is FAIL."""
        return [check for check in self.validation if not check.passed]

    @property
    def passed(self) -> bool:
        """True when every check passed (also when there is none)."""
        return not self.failures

    def to_json(self) -> str:
        """Return ``result.json``'s text.

        The use case's own keys come before ``summary`` and ``provenance``, which
        close the file; NaN and infinities are written as Python's json does.
        """
        data = self.model_dump(mode="python")
        data |= {key: data.pop(key) for key in ("summary", "provenance")}
        return json.dumps(data, indent=2) + "\n"

    def write(self, folder) -> Path:
        """Write ``result.json`` into ``folder``; return its path."""
        path = Path(folder, RESULT)
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @classmethod
    def read(cls, path) -> Result:
        """Read a ``result.json`` (or the output folder holding one)."""
        path = Path(path)
        if path.is_dir():
            path = path / RESULT
        result = cls.model_validate(json.loads(path.read_text(encoding="utf-8")))
        return result.keep(output=path.parent)
