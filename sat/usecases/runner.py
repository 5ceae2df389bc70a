"""Run a use case and write its result atomically.

Check the data, run in a scratch folder, write result.json (a `sat.result.Result`),
move the folder into place atomically, and fail when the validation fails.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from sat import __version__, offline
from sat.config import load_config
from sat.data import require
from sat.errors import ConfigError, ValidationFailed
from sat.provenance import now, record
from sat.result import RESULT, Result
from sat.usecases.base import RunContext
from sat.usecases.registry import get_usecase

__all__ = ["run_usecase"]


def _check_output(output: Path) -> None:
    # Never clobber a folder that is not a previous result of ours.
    if output.exists() and not (output / RESULT).is_file():
        if output.is_file() or any(output.iterdir()):
            raise ConfigError(
                f"output {output} exists and is not a ctao-sat result: "
                "choose another --output"
            )


def _move_into_place(scratch: Path, output: Path) -> None:
    # rename() is atomic within a file system; the old result goes only afterwards.
    old = None
    if output.exists():
        old = output.with_name(f".{output.name}.old-{time.time_ns()}")
        output.rename(old)
    scratch.rename(output)
    if old is not None:
        shutil.rmtree(old)


def run_usecase(
    name: str, config=None, output="results", quiet: bool = False
) -> Result:
    """Run use case ``name`` and return its result (what result.json holds).

    Parameters
    ----------
    name : str
        Registered use-case name (``ctao-sat run --list``).
    config : None, dict, str or Path
        Defaults, overrides, or a YAML file.
    output : str or Path
        Folder to write the products and ``result.json`` into. It appears complete
        or not at all.
    quiet : bool
        No progress output.

    Raises
    ------
    SatError
        Bad config, missing data (one line each), or `ValidationFailed` after the
        products were written, naming the quantities outside tolerance.
    """
    usecase = get_usecase(name)
    settings = load_config(usecase.Config, config)
    offline.configure()  # no use case may download anything at run time
    case = usecase()
    for dataset in case.required_datasets(settings):
        require(dataset)
    output = Path(output).absolute()
    _check_output(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    context = RunContext(scratch, quiet=quiet)
    try:
        started, start = now(), time.perf_counter()
        outcome = case.run(settings, context)
        config_dict = settings.model_dump(mode="json")
        result = Result(
            usecase=usecase.name,
            usecase_id=usecase.usecase_id,
            ctao_sat=__version__,
            parameters=outcome.parameters,
            validation=outcome.validation,
            products=sorted(context.products),
            **outcome.extra,
            summary=outcome.summary,
            provenance=record(
                config_dict, context.inputs, started, time.perf_counter() - start
            ),
        )
        result.write(scratch)
        _move_into_place(scratch, output)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    if not result.passed:
        quantities = "; ".join(check.describe() for check in result.failures)
        raise ValidationFailed(
            f"{name}: validation failed for {quantities}; products in {output}"
        )
    return result
