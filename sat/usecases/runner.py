"""Run a use case and write its result atomically.

Check the data, run in a scratch folder, write result.json (a `sat.result.Result`),
move the folder into place by the rules of `sat.outputs` (never over something
else, never a failed validation over a previous result unless asked), and fail
when the validation fails.
"""

from __future__ import annotations

import time

from sat import __version__, offline
from sat.config import load_config
from sat.data import require
from sat.errors import ValidationFailed
from sat.outputs import OutputFolder
from sat.provenance import now, record
from sat.result import Result
from sat.usecases.base import RunContext
from sat.usecases.registry import get_usecase

__all__ = ["run_usecase"]


def run_usecase(
    name: str,
    config=None,
    output="results",
    quiet: bool = False,
    overwrite: bool = False,
    overwrite_failed: bool = False,
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
        or not at all; it must not exist, or be empty (`sat.outputs`).
    quiet : bool
        No progress output.
    overwrite : bool
        Replace a previous result of this use case in ``output``.
    overwrite_failed : bool
        Replace it even when this run's validation fails (otherwise the failed
        run goes to ``OUTPUT-failed-YYYYmmddTHHMMSS`` beside it).

    Raises
    ------
    SatError
        Bad config, missing data, an output folder that cannot be written or
        would be destroyed (one line each), or `ValidationFailed` after the
        products were written, naming the quantities outside tolerance.
    """
    usecase = get_usecase(name)
    settings = load_config(usecase.Config, config)
    offline.configure()  # no use case may download anything at run time
    case = usecase()
    for dataset in case.required_datasets(settings):
        require(dataset)
    with OutputFolder(output, usecase.name, overwrite, overwrite_failed) as folder:
        context = RunContext(folder.scratch, quiet=quiet)
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
        result.write(folder.scratch)
        where = folder.publish(passed=result.passed)
    if not result.passed:
        quantities = "; ".join(check.describe() for check in result.failures)
        kept = ""
        if where != folder.path:
            kept = (
                f"; the previous result in {folder.path} is kept (--overwrite-failed"
                " replaces it)"
            )
        raise ValidationFailed(
            f"{name}: validation failed for {quantities}; products in {where}{kept}"
        )
    return result
