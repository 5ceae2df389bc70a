"""``nox -s conda``: build the packages, make the channel, solve, install, test.

Routes (the first that applies, printed at the start):

``rattler-build`` / ``conda-build``
    The tool is on PATH and conda-forge answers: build ``recipe/`` against
    conda-forge, then solve and install against ``build/conda`` + conda-forge.
``offline``
    Otherwise: the same engine through the PyPI package py-rattler-build, against
    a local channel of the pinned stack's real PyPI wheels converted by whl2conda
    (`recipe.channel`), with the host's Python declared by a placeholder package.

Then, on every route: index ``build/conda`` as a channel, check the built packages
against the pins, solve ``ctao-sat`` with py-rattler, write the lock file next to
the packages, install into ``build/conda-env`` and run ``ctao-sat doctor`` and the
recipe's tests from that prefix. Any failure exits non-zero with one message.

Each step is a real check recorded as evidence (`satdev.evidence`) in
``build/evidence/conda.xml`` for C-SAT-0100, which the verification and the
release read: a step that fails is recorded with its message, and the steps
after it are not run (nor recorded).

Usage: ``python -m recipe.build [--route auto|offline|rattler-build|conda-build]``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from recipe import CondaError, channel, generate, install
from sat import stack
from satdev.evidence import EVIDENCE_DIR, Check, write_junit

__all__ = [
    "Recorder",
    "Route",
    "build_packages",
    "check_doctor",
    "choose_route",
    "main",
    "recipe_error_message",
]

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"
OUTPUT = BUILD / "conda"  # the ctao-sat channel: what a maintainer uploads
LOCAL = BUILD / "conda-local"  # offline: converted PyPI wheels + host python
CACHE = BUILD / "conda-cache"  # downloaded wheels, kept between runs
PREFIX = BUILD / "conda-env"  # the installed release
CONDA_FORGE = "https://conda.anaconda.org/conda-forge"
EVIDENCE = BUILD / EVIDENCE_DIR / "conda.xml"
# What the steps are evidence for: the conda release (C-SAT-0100); the pin checks
# also for one source of truth (C-SAT-0030), the doctor for the components
# (C-SAT-0020). A failing step makes each of them FAIL.
REQUIREMENT = "C-SAT-0100"


def log(message: str = "") -> None:
    """Print one progress line at once (nox interleaves our output with its own)."""
    print(message, flush=True)


@dataclass
class Route:
    """How the packages are built and where their dependencies come from."""

    name: str
    why: str
    channels: list = field(default_factory=list)


class Recorder:
    """Record each step of the session as a `satdev.evidence.Check`."""

    def __init__(self):
        self.checks: list[Check] = []

    @contextmanager
    def check(self, name: str, *also: str):
        """Time the step ``name``; record it passed, or failed with its message.

        The block may fill the yielded dict with figures (``{"packages": 2}``);
        a `CondaError` is recorded and raised again.
        """
        figures: dict = {}
        started = time.perf_counter()
        requirements = (REQUIREMENT, *also)
        try:
            yield figures
        except CondaError as error:
            seconds = time.perf_counter() - started
            self.checks.append(
                Check(name, False, requirements, message=str(error), seconds=seconds)
            )
            raise
        seconds = time.perf_counter() - started
        self.checks.append(
            Check(name, True, requirements, seconds=seconds, figures=figures)
        )

    @property
    def timings(self) -> dict[str, float]:
        """Seconds per step, for the summary."""
        return {c.name: c.seconds for c in self.checks}


def conda_forge_reachable(timeout: float = 10.0) -> bool:
    """Whether conda-forge's repodata answers (checked only when a tool is found)."""
    request = urllib.request.Request(
        f"{CONDA_FORGE}/noarch/repodata.json", method="HEAD"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def choose_route(requested: str = "auto") -> Route:
    """Pick the build route: a real conda tool with conda-forge, else offline."""
    offline = Route(
        "offline",
        "py-rattler-build (the rattler-build engine) against a local channel of the "
        "pinned PyPI wheels converted by whl2conda",
        [LOCAL],
    )
    tools = {"rattler-build": "rattler-build", "conda-build": "conda"}
    if requested == "offline":
        return offline
    if requested in tools:
        if not shutil.which(tools[requested]):
            raise CondaError(f"--route {requested}: {tools[requested]} is not on PATH")
        return Route(requested, f"{requested} against conda-forge", ["conda-forge"])
    found = [route for route, tool in tools.items() if shutil.which(tool)]
    if not found:
        offline.why += "; no rattler-build or conda on PATH"
        return offline
    if not conda_forge_reachable():
        offline.why += f"; {', '.join(found)} on PATH but {CONDA_FORGE} unreachable"
        return offline
    return Route(found[0], f"{found[0]} against conda-forge", ["conda-forge"])


# --- recipe errors ---------------------------------------------------------------


def _key_path(lines: list[str], number: int) -> str:
    """Return the YAML key path of line ``number`` (1-based), from indentation.

    ``outputs.requirements.run, item 'click >=>8.1'`` for a list item.
    """
    keys, item, indent = [], None, None
    for line in reversed(lines[:number]):
        stripped = line.lstrip(" ")
        if not stripped.strip() or stripped.startswith("#"):
            continue
        width = len(line) - len(stripped)
        if stripped.startswith("- "):
            width, stripped = width + 2, stripped[2:]
        if indent is not None and width >= indent:
            continue
        if match := re.match(r"([\w.-]+):", stripped):
            keys.append(match[1])
        elif indent is None:
            item = stripped.strip()
        indent = width
        if width == 0:
            break
    path = ".".join(reversed(keys))
    return f"{path}, item {item!r}" if item else path


def recipe_error_message(error: Exception, recipe: Path) -> str:
    """Return the engine's message with the recipe file, line and key it names.

    The engine names the key (``unknown field 'nubmer'``) or the template and its
    line; we add the file and, where the engine gives no line, find the line that
    holds the offending token.
    """
    message = str(error).strip()
    lines = recipe.read_text(encoding="utf-8").splitlines()
    number = None
    if match := re.search(r"line: (\d+)", message):
        number = int(match[1])
    else:
        tokens = re.findall(r"'([^']+)'", message)
        tokens += re.findall(r"(?:spec|version|value): (\S+)", message)
        for token in reversed(tokens):
            hits = [i for i, line in enumerate(lines, 1) if token in line]
            if hits:
                number = hits[0]
                break
    if number is None:
        return f"{recipe}: {message}"
    return f"{recipe}:{number}: key {_key_path(lines, number)}: {message}"


def render_outputs(recipe: Path) -> dict[str, dict]:
    """Render the recipe with the engine; a recipe error becomes a `CondaError`."""
    try:
        return generate.rendered_outputs(recipe)
    except Exception as error:  # the engine's own error types, all with a message
        raise CondaError(recipe_error_message(error, recipe)) from error


# --- building --------------------------------------------------------------------


class _BuildLog:
    """Progress callback of py-rattler-build: everything to a file, the gist shown."""

    SHOWN = ("+ ", "passed", "PASS ", "FAIL ", "WARN ", "Archive written", "checks")

    def __init__(self, path: Path):
        self.path = path
        self.file = path.open("w", encoding="utf-8")
        self.started = time.perf_counter()

    def _write(self, kind: str, message: str) -> None:
        elapsed = time.perf_counter() - self.started
        self.file.write(f"{elapsed:7.1f}s [{kind}] {message}\n")

    def on_log(self, event) -> None:
        self._write(event.level, event.message)
        message = event.message.strip()
        if event.level in ("error", "warn") or any(k in message for k in self.SHOWN):
            if "Running build script" not in (event.span or ""):
                log(f"    {message[:160]}")

    def on_build_step(self, event) -> None:
        self._write("step", f"{event.step_name}: {event.message}")

    def on_download_start(self, event) -> None:
        """Nothing: downloads are local files here."""

    def on_download_progress(self, event) -> None:
        """Nothing."""

    def on_download_complete(self, event) -> None:
        """Nothing."""

    def tail(self, lines: int = 40) -> str:
        self.file.flush()
        return "\n".join(self.path.read_text().splitlines()[-lines:])


def build_packages(route: Route, recipe: Path, output: Path) -> list[Path]:
    """Build every output of ``recipe`` into ``output`` and run the recipe tests.

    Raises
    ------
    CondaError
        With the engine's message (file, line and key for a recipe error), or
        the tail of the build log when a build or a recipe test fails.
    """
    if route.name == "rattler-build":
        command = ["rattler-build", "build", "--recipe", str(recipe)]
        command += ["--output-dir", str(output), "-c", "conda-forge"]
    elif route.name == "conda-build":
        command = ["conda", "build", str(recipe.parent), "--output-folder", str(output)]
        command += ["-c", "conda-forge", "--override-channels"]
    else:
        return _build_offline(route, recipe, output)
    log(f"  $ {' '.join(command)}")
    if subprocess.run(command, check=False).returncode != 0:
        raise CondaError(f"{route.name} failed on {recipe} (its output is above)")
    return sorted(output.glob("noarch/ctao-sat*.conda"))


def _build_offline(route: Route, recipe: Path, output: Path) -> list[Path]:
    from rattler_build import Stage0Recipe, ToolConfiguration

    try:
        variants = Stage0Recipe.from_file(recipe).render()
    except Exception as error:  # the engine's recipe errors
        raise CondaError(recipe_error_message(error, recipe)) from error
    build_log = _BuildLog(output / "build.log")
    channels = [install._url(c) for c in route.channels]
    results = []
    try:
        for variant in variants:
            # The release's tests (doctor, pip check) would solve exactly the
            # environment installed next into build/conda-env, where they all run:
            # run them once, there. ctao-sat-core's run here, at python_min.
            name = variant.recipe.package.name
            strategy = "skip" if name == generate.RELEASE else "native"
            where = "in the installed prefix below" if strategy == "skip" else "now"
            log(f"  {name}: build; its recipe tests run {where}")
            results.append(
                variant.run_build(
                    tool_config=ToolConfiguration(test_strategy=strategy),
                    output_dir=output,
                    channels=channels,
                    progress_callback=build_log,
                )
            )
    except Exception as error:  # build or recipe test failure: show why
        message = f"building {recipe} failed: {error}"
        if "resolve dependencies" in str(error):
            build_log.file.flush()
            message += "\n" + _explain_solve(build_log.path)
        raise CondaError(
            f"{message}\n--- last lines of {build_log.path}:\n{build_log.tail()}"
        ) from error
    finally:
        build_log.file.close()
    return [Path(p) for result in results for p in result.packages]


def _explain_solve(build_log: Path) -> str:
    """Re-solve the engine's last failed environment to show the conflict.

    The engine says only "Failed to resolve dependencies"; its log lists the
    channels and specs, and py-rattler's solver explains what conflicts.
    """
    lines = build_log.read_text(encoding="utf-8").splitlines()
    block: dict[str, list[str]] = {}
    current = None
    for line in lines:
        text = line.split("] ", 1)[-1].strip()
        if text in ("Channels:", "Specs:"):
            current = text[:-1]
            block[current] = []
        elif current and text.startswith("- "):
            block[current].append(text[2:])
        elif current and text:
            current = None
    channels, specs = block.get("Channels", []), block.get("Specs", [])
    if not specs:
        return "(no specs found in the build log)"
    try:
        install.solve(channels, specs)
    except CondaError as error:
        return str(error)
    return f"(re-solving {specs} succeeded: the engine's failure is elsewhere)"


def index_json(package: Path) -> dict:
    """Return the ``info/index.json`` of a package archive as a dict."""
    from rattler import IndexJson

    index = IndexJson.from_package_archive(package)
    return {
        "name": index.name.normalized,
        "version": str(index.version),
        "depends": list(index.depends),
        "constrains": list(index.constrains),
    }


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(
        p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()
    )


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB" if size > 2**20 else f"{size / 2**10:.0f} KiB"


# --- the whole session -----------------------------------------------------------


def check_doctor(recorder: Recorder, prefix: Path) -> None:
    """Run ``ctao-sat doctor`` in ``prefix`` as the step ``doctor_in_prefix``.

    A failing doctor is recorded with the lines it failed on (the component
    missing or at another version), not only its exit code.
    """
    lines: list[str] = []

    def keep(line: str) -> None:
        lines.append(line)
        log(line)

    with recorder.check("doctor_in_prefix", "C-SAT-0020"):
        try:
            install.run_in_prefix(prefix, "ctao-sat doctor", keep)
        except CondaError as error:
            failed = [line.strip() for line in lines if line.strip().startswith("FAIL")]
            raise CondaError("; ".join([str(error), *failed])) from error


def run(route: Route, recipe: Path = generate.RECIPE, recorder=None) -> dict:
    """Build, channel, solve, lock, install and test; return what was measured.

    Every step is recorded in ``recorder`` (a `Recorder`), passed or failed.
    """
    recorder = recorder or Recorder()
    version = stack.release_version()
    python_default = stack.release()["python_default"]

    with recorder.check("recipe_agrees_with_pins", "C-SAT-0030"):
        outputs = render_outputs(recipe)  # a recipe error stops here, naming the key
        problems = generate.check_consistency(recipe=recipe)
        if problems:
            raise CondaError(
                "the recipe disagrees with the pins:\n  " + "\n  ".join(problems)
            )

    local = None
    if route.name == "offline":
        log(
            f"local channel {LOCAL.relative_to(ROOT)} (wheels cached in "
            f"{CACHE.relative_to(ROOT)}):"
        )
        pins = [pin.requirement for pin in stack.load_pins()]
        pythons = sorted({generate.python_min(), python_default})
        with recorder.check("local_channel_of_pinned_wheels") as figures:
            local = channel.build_local_channel(
                pins, pythons, LOCAL, CACHE / "wheels", log
            )
            figures["packages"] = local["packages"]

    log(f"building {recipe.relative_to(ROOT)} into {OUTPUT.relative_to(ROOT)}:")
    shutil.rmtree(OUTPUT, ignore_errors=True)
    OUTPUT.mkdir(parents=True)
    with recorder.check("build_packages_and_recipe_tests") as figures:
        packages = build_packages(route, recipe, OUTPUT)
        channel.index_channel(OUTPUT)
        figures["packages"] = len(packages)
        figures["mib"] = round(sum(_size(p) for p in packages) / 2**20, 2)

    with recorder.check("built_packages_agree_with_pins", "C-SAT-0030"):
        indexes = {str(p.relative_to(ROOT)): index_json(p) for p in packages}
        problems = generate.check_consistency(recipe=recipe, index_jsons=indexes)
        if problems:
            raise CondaError(
                "built packages disagree with the pins:\n  " + "\n  ".join(problems)
            )

    channels = [OUTPUT, *route.channels]
    specs = [f"ctao-sat =={version}", f"python {python_default}.*", "pip"]
    with recorder.check("solve_and_lock") as figures:
        records = install.solve(channels, specs)
        lock = install.write_lock(
            records, channels, OUTPUT / f"ctao-sat-{version}.lock"
        )
        figures["packages"] = len(records)

    with recorder.check("install_prefix") as figures:
        install.install_prefix(records, PREFIX)
        figures["mib"] = round(_size(PREFIX) / 2**20, 1)

    python = next(r for r in records if r.name.normalized == "python")
    host = str(python.build) == channel.HOST_BUILD
    origin = "the HOST interpreter, via the placeholder" if host else python.channel
    log(
        f"installed {len(records)} packages into {PREFIX.relative_to(ROOT)}; "
        f"python {python.version} ({origin})"
    )
    check_doctor(recorder, PREFIX)
    log("recipe tests in the prefix:")
    with recorder.check("recipe_tests_in_prefix") as figures:
        count = install.run_recipe_tests(
            PREFIX, outputs, skip=("ctao-sat doctor",), log=log
        )
        figures["commands"] = count
    return {
        "packages": packages,
        "local": local,
        "records": records,
        "python": python,
        "host_python": host,
        "lock": lock,
        "tests": count,
        "timings": recorder.timings,
    }


def summary(route: Route, result: dict, total: float) -> list[str]:
    """Return the closing lines: what was built, from what, how big, how long."""
    lines = [f"conda: route {route.name}: {route.why}"]
    for package in result["packages"]:
        lines.append(f"  built    {package.relative_to(ROOT)} ({_mib(_size(package))})")
    if result["local"]:
        local = result["local"]
        pythons = ", ".join(i.version for i in local["interpreters"])
        lines.append(
            f"  channel  {LOCAL.relative_to(ROOT)}: {local['packages']} packages, "
            f"{_mib(_size(LOCAL))}: real PyPI wheels converted by whl2conda; python "
            f"{pythons} = placeholders for the HOST interpreters"
        )
    python = result["python"]
    origin = "HOST interpreter (placeholder)" if result["host_python"] else "conda"
    lines.append(
        f"  solved   {len(result['records'])} packages, python {python.version} "
        f"from the {origin}; lock {result['lock'].relative_to(ROOT)}"
    )
    lines.append(
        f"  prefix   {PREFIX.relative_to(ROOT)} ({_mib(_size(PREFIX))}): "
        f"doctor passed, {result['tests']} recipe test commands passed"
    )
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in result["timings"].items())
    lines.append(f"  timings  {timings}; total {total:.0f} s")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the conda session; print the route first and a summary last."""
    parser = argparse.ArgumentParser(prog="python -m recipe.build", description=__doc__)
    parser.add_argument(
        "--route",
        choices=["auto", "offline", "rattler-build", "conda-build"],
        default=os.environ.get("CTAO_SAT_CONDA_ROUTE", "auto"),
    )
    parser.add_argument("--recipe", type=Path, default=generate.RECIPE)
    parser.add_argument(
        "--evidence", type=Path, default=EVIDENCE, help="where the evidence goes"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    recorder = Recorder()
    try:
        with recorder.check("route") as figures:
            if not args.recipe.is_file():
                raise CondaError(f"no recipe at {args.recipe}")
            route = choose_route(args.route)
            figures["route"] = route.name
        log(f"conda: route {route.name}: {route.why}")
        result = run(route, args.recipe.resolve(), recorder)
    except CondaError as error:
        log(f"conda: FAILED: {error}")
        return 1
    finally:
        write_junit(args.evidence, "conda", recorder.checks, root=ROOT)
        log(f"conda: evidence of {len(recorder.checks)} checks in {args.evidence}")
    for line in summary(route, result, time.perf_counter() - started):
        log(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
