"""An offline conda channel made from the real PyPI wheels of the pinned stack.

No conda channel is reachable here, so the packages ``ctao-sat`` needs are made
from the wheels of every pin (and of the build tools pip and setuptools), downloaded
from PyPI at the pinned versions and converted by whl2conda, which keeps each
wheel's real dependency metadata and maps PyPI names to conda-forge's.

Only the Python interpreter cannot be had as a conda package. The channel declares
each host interpreter it needs with a placeholder ``python`` package (build string
``*_host``): it links the host's CPython into the prefix as a venv does (a
``bin/python3.X`` symlink and a ``pyvenv.cfg`` without system site-packages), so
the prefix uses the host's interpreter and standard library and nothing else.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from recipe import CondaError

__all__ = [
    "HOST_BUILD",
    "Interpreter",
    "build_local_channel",
    "conda_name_disagreements",
    "find_interpreter",
    "index_channel",
    "placeholder_python",
]

ROOT = Path(__file__).resolve().parents[1]
HOST_BUILD = "0_host"  # build string of the placeholder python: never conda-forge's
_LOG = logging.getLogger("recipe.channel")


@dataclass(frozen=True)
class Interpreter:
    """A CPython of the host, to be declared in the channel as ``python``.

    Attributes
    ----------
    executable : Path
        The real interpreter binary (symlinks and venvs resolved).
    version : str
        Its full version, e.g. ``3.12.1``.
    """

    executable: Path
    version: str

    @property
    def minor(self) -> str:
        """The ``X.Y`` version."""
        return ".".join(self.version.split(".")[:2])


_PROBE = (
    "import json, os, sys; print(json.dumps([os.path.realpath(getattr(sys, "
    "'_base_executable', sys.executable)), '%d.%d.%d' % sys.version_info[:3], "
    "sys.implementation.name]))"
)


def find_interpreter(minor: str) -> Interpreter:
    """Find the host's CPython ``minor`` (``3.11``) on PATH.

    Raises
    ------
    CondaError
        If there is none: the offline route needs it for the recipe's tests.
    """
    candidates = [sys.executable, shutil.which(f"python{minor}")]
    for candidate in filter(None, candidates):
        result = subprocess.run(
            [candidate, "-c", _PROBE], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            continue
        executable, version, implementation = json.loads(result.stdout)
        if implementation == "cpython" and version.startswith(f"{minor}."):
            return Interpreter(Path(executable), version)
    raise CondaError(
        f"no CPython {minor} on PATH (python{minor}): the offline conda route declares "
        f"the host's interpreters as `python`, and the recipe tests need {minor}"
    )


def placeholder_python(interpreter: Interpreter, channel: Path) -> list[Path]:
    """Write the ``python`` and ``python_abi`` packages declaring ``interpreter``.

    Parameters
    ----------
    interpreter : Interpreter
        The host interpreter to link into prefixes.
    channel : Path
        The channel folder; packages go to its ``linux-64`` subdir.

    Returns
    -------
    list of Path
        The two packages written.
    """
    from rattler_build import assemble_package

    subdir = channel / "linux-64"
    subdir.mkdir(parents=True, exist_ok=True)
    minor, tag = interpreter.minor, "cp" + interpreter.minor.replace(".", "")
    summary = (
        f"Placeholder for the HOST CPython {interpreter.version} at "
        f"{interpreter.executable}, linked into the prefix like a venv: "
        "not a conda-forge python"
    )
    with tempfile.TemporaryDirectory() as tmp:
        files = Path(tmp)
        (files / "bin").mkdir()
        (files / "bin" / f"python{minor}").symlink_to(interpreter.executable)
        for alias in ("python", "python3"):
            (files / "bin" / alias).symlink_to(f"python{minor}")
        # The prefix's own site-packages (Python adds it only if it exists).
        site = files / "lib" / f"python{minor}" / "site-packages"
        site.mkdir(parents=True)
        (site / "README.txt").write_text(
            "site-packages of this conda prefix; its interpreter is the host's "
            f"CPython {interpreter.version} (see ../../../pyvenv.cfg).\n"
        )
        # A venv's marker: stdlib from `home`, no host site-packages.
        (files / "pyvenv.cfg").write_text(
            f"home = {interpreter.executable.parent}\n"
            "include-system-site-packages = false\n"
            f"version = {interpreter.version}\n"
        )
        python = assemble_package(
            name="python",
            version=interpreter.version,
            target_platform="linux-64",
            build_string=HOST_BUILD,
            output_dir=subdir,
            files_dir=files,
            summary=summary,
            license="PSF-2.0",
            depends=[f"python_abi {minor}.* *_{tag}"],
            compression_level=1,
            detect_prefix=False,
        )
    abi = assemble_package(
        name="python_abi",
        version=minor,
        target_platform="linux-64",
        build_string=f"0_{tag}",
        output_dir=subdir,
        files=[],
        summary=f"ABI tag {tag} of the host python placeholder",
        constrains=[f"python {minor}.* *_host"],
        compression_level=1,
    )
    return [python.path, abi.path]


def _build_requirements() -> list[str]:
    """Build and test tools the recipe needs besides the pins (not release pins)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return ["pip", *project["build-system"]["requires"]]


def download_wheels(requirements: list[str], minor: str, cache: Path) -> list[Path]:
    """Download (once) the wheels of ``requirements`` for CPython ``minor``.

    The download is skipped when the cache already holds the wheels of exactly
    these requirements, so a second run needs no network.

    Parameters
    ----------
    requirements : list of str
        pip requirements (the pins, exact, plus the build tools).
    minor : str
        Target Python ``X.Y``.
    cache : Path
        Cache folder (one subfolder per Python).

    Returns
    -------
    list of Path
        The wheel files.
    """
    folder = cache / f"py{minor}"
    stamp = folder / "requirements.json"
    if stamp.is_file():
        saved = json.loads(stamp.read_text())
        wheels = [folder / name for name in saved["wheels"]]
        if saved["requirements"] == requirements and all(w.is_file() for w in wheels):
            return wheels
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--only-binary=:all:",
    ]
    command += ["--python-version", minor, "--dest", str(folder), *requirements]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise CondaError(f"pip download for Python {minor} failed:\n{result.stderr}")
    wheels = sorted(folder.glob("*.whl"))
    stamp.write_text(
        json.dumps({"requirements": requirements, "wheels": [w.name for w in wheels]})
    )
    return wheels


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _convert(wheel: Path, channel: Path) -> str:
    """Convert one wheel with whl2conda; return the package path in the channel.

    whl2conda keeps the wheel's dependencies (``keep_pip_dependencies`` makes
    ``pip check`` meaningful) and maps dependency names through its PyPI ->
    conda-forge table. Two gaps are closed here: the package itself is renamed by
    the same table (astropy -> astropy-base), and dependency names spelled
    unnormalised in wheel metadata (``charset_normalizer``, ``PyYAML``) are
    normalised as conda-forge names them. Packed at a fast zstd level: this is a
    local test channel, not a distribution.
    """
    import conda_package_handling.api as cph
    from whl2conda.api.converter import Wheel2CondaConverter
    from whl2conda.impl.pyproject import CondaPackageFormat

    logging.getLogger("whl2conda").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="whl2conda-") as tmp:
        converter = Wheel2CondaConverter(wheel, Path(tmp))
        converter.out_format = CondaPackageFormat.TREE
        converter.allow_impure = True  # binary wheels -> linux-64 packages
        converter.keep_pip_dependencies = True
        tree = converter.convert()
        renames = converter.std_renames
        index_file = tree / "info" / "index.json"
        index = json.loads(index_file.read_text())
        index["name"] = renames.get(index["name"], index["name"])
        keep = {"python", "python_abi", *renames.values()}
        depends = []
        for spec in index.get("depends", []):
            name, _, rest = spec.partition(" ")
            name = (
                name
                if name in keep
                else renames.get(_normalise(name), _normalise(name))
            )
            depends.append(f"{name} {rest}".strip())
        index["depends"] = depends
        index_file.write_text(json.dumps(index, indent=2))
        subdir = channel / index["subdir"]
        subdir.mkdir(parents=True, exist_ok=True)
        name = f"{index['name']}-{index['version']}-{index['build']}.conda"
        cph.create(str(tree), None, name, str(subdir), compression_level=3)
    return f"{index['subdir']}/{name}"


def convert_wheels(wheels: list[Path], channel: Path, log=print) -> dict[str, str]:
    """Convert every wheel not converted yet; drop packages of wheels gone.

    Parameters
    ----------
    wheels : list of Path
        Wheels to provide in the channel (duplicates by file name are merged).
    channel : Path
        The channel folder; ``converted.json`` maps wheel name -> package.
    log : callable
        Where progress lines go.

    Returns
    -------
    dict
        Wheel file name -> package path relative to the channel.
    """
    ledger_file = channel / "converted.json"
    previous = json.loads(ledger_file.read_text()) if ledger_file.is_file() else {}
    unique = {wheel.name: wheel for wheel in wheels}
    ledger = {
        w: pkg
        for w, pkg in previous.items()
        if w in unique and (channel / pkg).is_file()
    }
    todo = [wheel for name, wheel in sorted(unique.items()) if name not in ledger]
    if todo:
        log(f"converting {len(todo)} wheels with whl2conda ({len(ledger)} cached)")
        workers = max(1, min(2, os.cpu_count() or 1))
        with ProcessPoolExecutor(workers) as pool:
            for wheel, package in zip(
                todo, pool.map(_convert, todo, [channel] * len(todo)), strict=True
            ):
                ledger[wheel.name] = package
                log(f"  {wheel.name} -> {package}")
    channel.mkdir(parents=True, exist_ok=True)
    ledger_file.write_text(json.dumps(ledger, indent=1, sort_keys=True))
    for stale in set(previous.values()) - set(ledger.values()):
        (channel / stale).unlink(missing_ok=True)  # its wheel is no longer pinned
    return ledger


def index_channel(channel: Path) -> None:
    """Write the channel's ``repodata.json`` (py-rattler's indexer)."""
    import asyncio

    from rattler.index import index_fs

    (channel / "noarch").mkdir(parents=True, exist_ok=True)
    # Incremental: only packages added or removed since the last run are read.
    asyncio.run(index_fs(channel, write_shards=False))


def _placeholders(interpreters: list[Interpreter], channel: Path, log) -> None:
    """(Re)write the host-python packages only when the interpreters changed."""
    stamp = channel / "host-pythons.json"
    wanted = {i.version: str(i.executable) for i in interpreters}
    current = json.loads(stamp.read_text()) if stamp.is_file() else None
    packages = [channel / "linux-64" / f"python-{v}-{HOST_BUILD}.conda" for v in wanted]
    packages += [
        channel
        / "linux-64"
        / f"python_abi-{i.minor}-0_cp{i.minor.replace('.', '')}.conda"
        for i in interpreters
    ]
    if current != wanted or not all(p.is_file() for p in packages):
        for old in channel.glob(f"linux-64/python-*-{HOST_BUILD}.conda"):
            old.unlink()
        for old in channel.glob("linux-64/python_abi-*.conda"):
            old.unlink()
        for interpreter in interpreters:
            placeholder_python(interpreter, channel)
        stamp.write_text(json.dumps(wanted, indent=1))
    for version, executable in wanted.items():
        log(f"  python {version} = placeholder for the HOST interpreter {executable}")


def build_local_channel(
    pins: list[str], pythons: list[str], channel: Path, cache: Path, log=print
) -> dict:
    """Make the offline channel: converted wheels plus host-python placeholders.

    Parameters
    ----------
    pins : list of str
        Exact pip requirements of the release (``numpy==2.4.6``...).
    pythons : list of str
        Python ``X.Y`` versions to provide (python_min and the default).
    channel : Path
        The channel folder to fill and index.
    cache : Path
        Where downloaded wheels are kept between runs.
    log : callable
        Where progress lines go.

    Returns
    -------
    dict
        ``interpreters`` (list of Interpreter), ``packages`` (count),
        ``timings`` (seconds per step).
    """
    timings = {}
    start = time.perf_counter()
    interpreters = [find_interpreter(minor) for minor in pythons]
    requirements = [*pins, *_build_requirements()]
    wheels = []
    for minor in pythons:
        wheels += download_wheels(requirements, minor, cache)
    timings["download"] = time.perf_counter() - start

    start = time.perf_counter()
    ledger = convert_wheels(wheels, channel, log)
    timings["convert"] = time.perf_counter() - start

    start = time.perf_counter()
    _placeholders(interpreters, channel, log)
    index_channel(channel)
    timings["index"] = time.perf_counter() - start
    packages = len(set(ledger.values())) + 2 * len(interpreters)
    return {"interpreters": interpreters, "packages": packages, "timings": timings}


def conda_name_disagreements(pins) -> list[str]:
    """Pins whose conda name differs from whl2conda's PyPI -> conda-forge map.

    Parameters
    ----------
    pins : iterable of sat.stack.Pin
        The release pins.

    Returns
    -------
    list of str
        ``"tzdata: pins say tzdata, whl2conda says python-tzdata"`` lines.
    """
    from whl2conda.api.stdrename import load_std_renames

    renames = load_std_renames(update=False)
    return [
        f"{pin.name}: pins say {pin.conda}, whl2conda says {renames[pin.name]}"
        for pin in pins
        if renames.get(pin.name, pin.name) != pin.conda
    ]
