"""``ctao-sat run``: run a science use case."""

from __future__ import annotations

import sys
from pathlib import Path

import click


def _print_summary(result, output: Path) -> None:
    click.echo(f"{result.usecase} ({result.usecase_id}): results in {output}")
    for line in result.summary:
        click.echo(f"  {line}")
    for check in result.validation:
        fit = f"{check.fit}: " if check.fit else ""
        click.echo(f"  {check.verdict}  {fit}{check.describe()}")
    # Runs that did not contribute: said where the user looks, never only in
    # result.json (--skip-failed went on without the failed ones).
    _say_runs(
        "NOTE", result.get("outside_fov_runs"), "left out, outside their field of view"
    )
    _say_runs("WARNING", result.get("failed_runs"), "skipped (skip_failed)")


def _say_runs(level: str, runs, why: str) -> None:
    if runs:
        click.secho(
            f"  {level}  {len(runs)} run(s) {why}: " + "; ".join(runs), fg="yellow"
        )


def _general(backend, n_jobs, skip_failed) -> dict:
    """Return the ``general`` keys that --backend, --n-jobs, --skip-failed set."""
    if backend == "serial" and (n_jobs or 1) > 1:
        raise click.UsageError("--backend serial runs one job: drop --n-jobs")
    general = {"n_jobs": 1 if backend == "serial" else n_jobs}
    if backend in ("multiprocessing", "ray"):
        general["parallel_backend"] = backend
    if skip_failed:
        general["skip_failed"] = True
    return {key: value for key, value in general.items() if value is not None}


def _documented(case, config, example=None) -> str:
    """Return ``config`` as commented YAML, headed by what it is and how to run it."""
    from sat.configdoc import commented_yaml

    header = [f"{case.name} ({case.usecase_id}): {case.summary}"]
    if example:
        header.append(f"example {example}: {case.examples[example].summary}")
    header += [
        f"Run it: ctao-sat run {case.name} --config FILE. Every key is shown with its",
        "value; a file may give only the keys it changes (the others keep the",
        "defaults). Where a value is not the default, the comment says the default.",
    ]
    if case.examples and not example:
        header.append(f"Documented variants (--example): {', '.join(case.examples)}")
    import textwrap

    lines = [part for line in header for part in textwrap.wrap(line, 86)]
    return commented_yaml(config, lines)


@click.command()
@click.argument("usecase", required=False)
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    help="YAML config (see --print-config for the keys and defaults).",
)
@click.option(
    "--output",
    "output",
    type=click.Path(file_okay=False),
    help="Output folder [default: results/USECASE].",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace a previous result of this use case in the output folder (kept "
    "until the new one is complete; not by a run whose validation fails).",
)
@click.option(
    "--overwrite-failed",
    is_flag=True,
    help="With --overwrite: replace it even when this run's validation fails.",
)
@click.option(
    "--print-config",
    is_flag=True,
    help="Print the config (every key, its default and what it means) as YAML that "
    "--config reads, and exit.",
)
@click.option(
    "--example",
    metavar="NAME",
    help="With --print-config: start from the documented variant NAME of the use "
    "case (--print-config --example x lists them).",
)
@click.option("--list", "list_", is_flag=True, help="List the use cases.")
@click.option("--all", "all_", is_flag=True, help="Run every use case.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@click.option(
    "--backend",
    type=click.Choice(["serial", "multiprocessing", "ray"]),
    help="Override how observations are reduced (general.parallel_backend; serial: "
    "general.n_jobs 1; ray: RAY_ADDRESS names a running cluster, else a local one "
    "is started).",
)
@click.option("--n-jobs", type=click.IntRange(min=1), help="Override general.n_jobs.")
@click.option(
    "--skip-failed",
    is_flag=True,
    help="Go on without observations that fail to reduce (general.skip_failed; "
    "listed in result.json).",
)
def run(
    usecase,
    config,
    output,
    overwrite,
    overwrite_failed,
    print_config,
    example,
    list_,
    all_,
    quiet,
    backend,
    n_jobs,
    skip_failed,
):
    """Run a science use case (USECASE) and validate its results.

    Products and result.json are written to --output, atomically: a new folder,
    or an empty one, or with --overwrite a previous result of the same use case.
    Exits 1 when the validation against the published reference fails.
    """
    from sat.config import load_config
    from sat.errors import SatError
    from sat.usecases.registry import get_usecase, usecases
    from sat.usecases.runner import run_usecase

    if overwrite_failed and not overwrite:
        raise click.UsageError("--overwrite-failed goes with --overwrite")
    if example and not print_config:
        raise click.UsageError("--example goes with --print-config")
    if list_:
        for name, case in usecases().items():
            click.echo(f"{name:<16} {case.usecase_id:<16} {case.summary}")
        return
    if all_:
        root = Path(output or "results")
        failures = []
        for name in usecases():
            try:
                result = run_usecase(
                    name, None, root / name, quiet, overwrite, overwrite_failed
                )
                _print_summary(result, root / name)
            except SatError as error:
                click.secho(f"Error: {error}", err=True, fg="red")
                failures.append(name)
        if failures:
            click.echo(
                f"{len(failures)} use case(s) failed: {', '.join(failures)}", err=True
            )
            sys.exit(1)
        return
    if not usecase:
        raise click.UsageError("give a USECASE, --list or --all")
    case = get_usecase(usecase)
    if example:
        if config:
            raise click.UsageError("give --example or --config, not both")
        from sat.api import example_config

        config = example_config(case, example)
    general = _general(backend, n_jobs, skip_failed)
    if general:
        if "general" not in case.Config.model_fields:
            raise click.UsageError(
                f"{usecase} does not loop over observations: --backend, --n-jobs "
                "and --skip-failed do not apply"
            )
        # Overrides go through the config, so result.json's provenance has them.
        values = load_config(case.Config, config).model_dump(mode="json")
        config = {**values, "general": {**values["general"], **general}}
    if print_config:
        click.echo(
            _documented(case, load_config(case.Config, config), example), nl=False
        )
        return
    destination = Path(output or Path("results") / usecase)
    result = run_usecase(
        usecase, config, destination, quiet, overwrite, overwrite_failed
    )
    _print_summary(result, destination)
