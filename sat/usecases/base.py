"""The use-case framework: a strict config, a run context, and the outcome.

A use case is a small class: its `UseCaseConfig` (defaults and strict validation),
the datasets it needs, and ``run(config, context)``, which calls Gammapy's makers,
estimators and fit, writes products through the context and returns an `Outcome`.
`sat.usecases.runner` does everything else (atomic output, the `sat.result.Result`
in result.json, provenance).
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from sat.config import BaseConfig
from sat.result import Check, GammapyObjects

__all__ = [
    "Example",
    "Outcome",
    "RunContext",
    "UseCase",
    "UseCaseConfig",
    "fitted_parameters",
]


class UseCaseConfig(BaseConfig):
    """Base of every use-case config: unknown keys and wrong types are errors."""


@dataclass(frozen=True)
class Example:
    """A documented variant of a use case's config (``--example NAME``).

    Attributes
    ----------
    summary : str
        What it analyses and why these keys, in one or two sentences.
    config : dict
        The keys that differ from the defaults, as in a YAML config.
    """

    summary: str
    config: dict


@dataclass
class Outcome:
    """What a use case returns to the runner.

    Attributes
    ----------
    parameters : dict
        ``{name: {"value", "error", "unit"}}`` for every fitted parameter.
    validation : list of `sat.result.Check`
        Verdicts from `sat.validation.compare` and `~sat.validation.check_bounds`.
    summary : list of str
        Short human-readable lines printed at the end of the run.
    extra : dict
        Further results for ``result.json`` (statistics, tables...).
    """

    parameters: dict
    validation: list[Check]
    summary: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


class RunContext:
    """Where a running use case writes, what it read, and how it reports progress.

    Parameters
    ----------
    workdir : Path
        The (temporary) output folder; the runner moves it into place at the end.
    quiet : bool
        Silence progress messages and bars.
    """

    def __init__(self, workdir: Path, quiet: bool = False):
        self.workdir = Path(workdir)
        self.quiet = quiet
        self.inputs: list[Path] = []
        self.products: list[str] = []
        self.figures: dict = {}
        self.gammapy = GammapyObjects()

    def product(self, name: str) -> Path:
        """Register product ``name`` (relative path) and return where to write it."""
        path = self.workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        self.products.append(name)
        return path

    def add_products(self, *paths) -> None:
        """Register files already written into the output folder as products."""
        workdir = self.workdir.absolute()
        self.products.extend(
            Path(path).absolute().relative_to(workdir).as_posix() for path in paths
        )

    def write_models(self, models, name: str) -> Path:
        """Write Gammapy ``models`` to YAML product ``name``, with its covariance.

        `Models.write` also writes ``<stem>_covariance.dat`` next to the YAML (read
        back by `Models.read`): both are registered as products.
        """
        path = self.product(name)
        models.write(path, overwrite=True)
        covariance = path.with_name(f"{path.stem}_covariance.dat")
        if covariance.is_file():
            self.product(str(Path(name).with_name(covariance.name)))
        return path

    def save_figure(self, figure, name: str, dpi: int = 120) -> Path:
        """Write matplotlib ``figure`` to PNG product ``name`` and keep it.

        The figure is kept in the result (``result.figures[name]``, to show in a
        notebook) and let go by pyplot, so that figures do not pile up in a
        long session and a notebook does not show them twice.
        """
        import matplotlib.pyplot as plt

        path = self.product(name)
        figure.savefig(path, dpi=dpi, bbox_inches="tight")
        plt.close(figure)
        self.figures[name] = figure
        return path

    def keep(self, **objects) -> None:
        """Keep Gammapy objects in the result (`sat.result.GammapyObjects`).

        Parameters
        ----------
        **objects
            ``datasets``, ``models``, ``flux_points``, ``light_curve``, ``maps``;
            any other name goes to ``other``.
        """
        for name, value in objects.items():
            if name in ("datasets", "models", "flux_points", "light_curve", "maps"):
                setattr(self.gammapy, name, value)
            else:
                self.gammapy.other[name] = value

    def add_inputs(self, *paths) -> None:
        """Record input files (their checksums go into the provenance)."""
        self.inputs.extend(Path(path) for path in paths)

    def log(self, message: str) -> None:
        """Print a progress message on stderr."""
        if not self.quiet:
            print(message, file=sys.stderr, flush=True)

    @contextmanager
    def step(self, message: str):
        """Time one step of the analysis and report it."""
        self.log(f"... {message}")
        start = time.perf_counter()
        yield
        self.log(f"    done in {time.perf_counter() - start:.1f} s")

    def progress(self, iterable, description: str, total: int | None = None):
        """Wrap a long loop in a progress bar (on stderr)."""
        from tqdm.auto import tqdm

        return tqdm(
            iterable,
            desc=description,
            total=total,
            disable=self.quiet,
            file=sys.stderr,
            leave=False,
        )


class UseCase:
    """Base class of the use cases.

    Subclasses set the class attributes and implement `run`.
    """

    name: ClassVar[str]
    usecase_id: ClassVar[str]  # SUSS-UC-SAT-... in satdev/requirements.yaml
    summary: ClassVar[str]
    Config: ClassVar[type[UseCaseConfig]]
    datasets: ClassVar[tuple[str, ...]] = ()
    # Documented variants by name: `ctao-sat run NAME --print-config --example X`.
    examples: ClassVar[dict[str, Example]] = {}

    def required_datasets(self, config: UseCaseConfig) -> tuple[str, ...]:
        """Return the local datasets a run with ``config`` reads.

        The class's `datasets` by default; a use case whose config can point
        elsewhere (another data store, an archive) narrows it.
        """
        return self.datasets

    def run(self, config: UseCaseConfig, context: RunContext) -> Outcome:
        """Run the analysis with ``config``, writing products through ``context``."""
        raise NotImplementedError


def fitted_parameters(models) -> dict:
    """Flatten the free parameters of Gammapy models for ``result.json``.

    Parameters
    ----------
    models : `gammapy.modeling.models.Models`
        Fitted models. A parameter is named ``name`` when unique among the free
        parameters, else ``model.name``.

    Returns
    -------
    dict
        ``{name: {"value": float, "error": float, "unit": str}}``.
    """
    free = [
        (model.name, parameter)
        for model in models
        for parameter in model.parameters
        if not parameter.frozen
    ]
    names = [parameter.name for _, parameter in free]
    return {
        (p.name if names.count(p.name) == 1 else f"{model}.{p.name}"): {
            "value": float(p.value),
            "error": float(p.error),
            "unit": p.unit.to_string(),
        }
        for model, p in free
    }
