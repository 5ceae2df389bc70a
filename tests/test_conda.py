"""Conda packaging: the recipe, environment.yml, built packages and pins agree.

The whole chain (build, local channel of real wheels, solve, install, doctor in the
prefix) is `nox -s conda`; these tests check its pieces on real artifacts made
cheaply here: the recipe as the engine renders it, a real build of the release
metapackage, a real whl2conda conversion, a real solve and install of the host-
python placeholder, and deliberately broken copies of the recipe and of the pins.
"""

import base64
import hashlib
import json
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from rattler_build import Stage0Recipe, ToolConfiguration, assemble_package

from recipe import CondaError, build, channel, generate, install
from sat import stack
from satdev.junit import read_junit
from tests.conftest import REPO

pytestmark = pytest.mark.verifies_requirement("C-SAT-0100")

VERSION = stack.release_version()


@pytest.fixture(scope="module")
def outputs():
    return generate.rendered_outputs()


def _empty_channel(folder: Path) -> str:
    (folder / "noarch").mkdir(parents=True)
    channel.index_channel(folder)
    return folder.as_uri()


@pytest.fixture(scope="module")
def built_release(tmp_path_factory):
    """The real ctao-sat metapackage, built by the engine from the committed recipe."""
    tmp = tmp_path_factory.mktemp("conda-build")
    variants = Stage0Recipe.from_file(generate.RECIPE).render()
    release = next(v for v in variants if v.recipe.package.name == "ctao-sat")
    result = release.run_build(
        tool_config=ToolConfiguration(test_strategy="skip"),  # its test is doctor
        output_dir=tmp / "out",
        channels=[_empty_channel(tmp / "empty")],
    )
    (package,) = result.packages
    return Path(package)


def _modified_pins(tmp_path, old, new):
    text = (REPO / "sat" / "pins.toml").read_text()
    assert text.count(old) == 1
    path = tmp_path / "pins.toml"
    path.write_text(text.replace(old, new))
    return path


# --- one source of truth ---------------------------------------------------------


@pytest.mark.verifies_requirement("C-SAT-0030")
def test_recipe_environment_and_pins_agree():
    assert generate.check_consistency() == []


@pytest.mark.verifies_requirement("C-SAT-0030")
def test_the_committed_recipe_is_generated_from_the_pins():
    text = generate.RECIPE.read_text()
    assert generate.render_recipe(text) == text, "run: nox -s pins"


@pytest.mark.verifies_requirement("C-SAT-0030")
def test_changing_one_pin_without_regenerating_fails_the_check(tmp_path):
    pins = _modified_pins(tmp_path, 'version = "2.4.6"', 'version = "2.4.7"')
    problems = generate.check_consistency(pins_file=pins)
    text = "\n".join(problems)
    # the recipe text, the rendered release requirements and environment.yml all differ
    assert "generated blocks differ" in text
    assert (
        f"{generate.RECIPE} (ctao-sat run): numpy 2.4.6 but the pins say 2.4.7" in text
    )
    assert "environment.yml: numpy 2.4.6 but the pins say 2.4.7" in text
    # and nothing else is blamed
    assert all("numpy" in p or "generated blocks" in p for p in problems)


@pytest.mark.verifies_requirement("C-SAT-0030")
def test_regenerating_from_a_changed_pin_changes_exactly_that_line(tmp_path):
    pins = _modified_pins(tmp_path, 'version = "2.4.6"', 'version = "2.4.7"')
    old = generate.RECIPE.read_text().splitlines()
    new = generate.render_recipe("\n".join(old) + "\n", pins).splitlines()
    changed = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
    assert changed == [("        - numpy ==2.4.6", "        - numpy ==2.4.7")]


@pytest.mark.verifies_requirement("C-SAT-0030")
def test_a_conda_name_change_is_caught_too(tmp_path):
    pins = _modified_pins(tmp_path, 'tzdata = "python-tzdata"', 'tzdata = "tzdata"')
    problems = generate.check_consistency(pins_file=pins)
    assert any("python-tzdata 2026.6 is not in the pins" in p for p in problems)
    assert any("tzdata missing" in p for p in problems)


def test_release_metapackage_pins_every_component_exactly(outputs):
    run = outputs["ctao-sat"]["requirements"]["run"]
    exact = {r.split()[0]: r.split()[1] for r in run if isinstance(r, str)}
    for pin in stack.load_pins():
        assert exact[pin.conda] == f"=={pin.version}", pin.name
    assert exact["python"] == stack.release()["python"]
    assert {"pin_subpackage": {"name": "ctao-sat-core", "exact": True}} in run


def test_core_follows_conda_forge_noarch_conventions(outputs):
    core = outputs["ctao-sat-core"]
    python_min = generate.python_min()
    assert python_min == "3.11"
    assert core["build"]["noarch"] == "python"
    assert f"python {python_min}.*" in core["requirements"]["host"]
    assert core["requirements"]["run"][0] == f"python >={python_min}"
    python_test = next(t["python"] for t in core["tests"] if "python" in t)
    assert python_test["python_version"] == f"{python_min}.*"
    assert "sat" in python_test["imports"]
    assert python_test.get("pip_check", True)
    # the unrelated units package `pint` must never share a prefix with pint-pulsar
    assert "pint <0.0a0" in core["requirements"]["run_constraints"]


def test_core_ranges_come_from_pyproject(outputs):
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    run = outputs["ctao-sat-core"]["requirements"]["run"]
    assert len(run) == 1 + len(project["dependencies"])  # + python
    assert "astropy-base >=8.0,<9" in run  # conda-forge name, pyproject range
    assert "regions >=0.11,<0.12" in run  # the gammapy 2.1 breakage stays excluded
    entry_points = outputs["ctao-sat-core"]["build"]["python"]["entry_points"]
    assert entry_points == [f"{k} = {v}" for k, v in project["scripts"].items()]


@pytest.mark.verifies_requirement("C-SAT-0030")
def test_pins_conda_names_agree_with_whl2conda():
    assert channel.conda_name_disagreements(stack.load_pins()) == []
    wrong = stack.Pin("tzdata", "2026.6", False, conda="tzdata")
    assert channel.conda_name_disagreements([wrong]) == [
        "tzdata: pins say tzdata, whl2conda says python-tzdata"
    ]


# --- a real build ------------------------------------------------------------------


@pytest.mark.verifies_requirement("C-SAT-0030")
def test_built_release_index_json_depends_on_exactly_the_pins(built_release):
    index = build.index_json(built_release)
    assert index["name"] == "ctao-sat"
    assert index["version"] == VERSION
    label = built_release.name
    assert generate.check_consistency(index_jsons={label: index}) == []
    core = [d for d in index["depends"] if d.startswith("ctao-sat-core ")]
    assert len(core) == 1 and core[0].startswith(f"ctao-sat-core =={VERSION} py")
    # a package built from other pins is caught
    index["depends"] = [
        "numpy ==2.5.0" if d.startswith("numpy ") else d for d in index["depends"]
    ]
    problems = generate.check_consistency(index_jsons={label: index})
    assert problems == [f"{label}: numpy 2.5.0 but the pins say 2.4.6"]


# --- bad input ---------------------------------------------------------------------


BROKEN = {
    "unknown key": (
        "  number: 0\n\noutputs:",
        "  number: 0\n  nubmer: 1\n\noutputs:",
        ["key build.nubmer", "unknown field 'nubmer'"],
    ),
    "bad match spec": (
        "        - click >=8.1\n",
        "        - click >=>8.1\n",
        ["key outputs.requirements.run, item 'click >=>8.1'", "version spec: >=>8.1"],
    ),
    "undefined variable": (
        "      host:\n        - python ${{ python_min }}.*\n",
        "      host:\n        - python ${{ pyhton_min }}.*\n",
        ["key outputs.requirements.host", "undefined value", "pyhton_min"],
    ),
}


@pytest.mark.parametrize("kind", BROKEN)
def test_recipe_errors_fail_the_session_naming_file_line_and_key(
    kind, tmp_path, capsys
):
    old, new, expected = BROKEN[kind]
    text = generate.RECIPE.read_text()
    assert text.count(old) == 1
    broken = tmp_path / "recipe.yaml"
    broken.write_text(text.replace(old, new, 1))
    line = (
        text.replace(old, new, 1)
        .splitlines()
        .index(next(x for x in new.splitlines() if x not in old.splitlines()))
        + 1
    )

    evidence = tmp_path / "conda.xml"
    arguments = ["--recipe", str(broken), "--route", "offline"]
    assert build.main([*arguments, "--evidence", str(evidence)]) == 1
    out = capsys.readouterr().out
    assert "conda: route offline" in out  # the route is printed first
    assert f"conda: FAILED: {broken}:{line}: " in out
    for fragment in expected:
        assert fragment in out
    # The session's evidence records the failed step for C-SAT-0100.
    route, recipe = read_junit(evidence)
    assert (route.test, route.outcome) == ("conda::route", "passed")
    assert (recipe.test, recipe.outcome) == ("conda::recipe_agrees_with_pins", "failed")
    assert recipe.requirements == ("C-SAT-0100", "C-SAT-0030")
    assert recipe.message.startswith(f"{broken}:{line}: ")


def _stub(channel_dir, name, version, depends=(), constrains=()):
    assemble_package(
        name=name,
        version=version,
        target_platform="noarch",
        build_string="0",
        output_dir=channel_dir / "noarch",
        files=[],
        depends=list(depends),
        constrains=list(constrains),
        noarch="generic",
    )


def test_unsatisfiable_solve_names_the_conflicting_packages(tmp_path, outputs):
    local = tmp_path / "channel"
    _stub(local, "numpy", "2.4.6")
    _stub(local, "gammapy", "2.1", depends=["numpy >=2.5"])
    channel.index_channel(local)
    with pytest.raises(CondaError) as error:
        install.solve([local], ["gammapy ==2.1", "numpy ==2.4.6"], platform="linux-64")
    message = str(error.value)
    assert message.startswith("cannot solve gammapy ==2.1, numpy ==2.4.6 from file://")
    assert "gammapy 2.1 would require" in message
    assert "numpy >=2.5" in message


def test_run_constraints_keep_the_units_package_pint_away(tmp_path, outputs):
    # a stand-in for ctao-sat-core carrying the recipe's own run_constraints
    local = tmp_path / "channel"
    constraints = outputs["ctao-sat-core"]["requirements"]["run_constraints"]
    _stub(local, "ctao-sat-core", VERSION, constrains=constraints)
    _stub(local, "pint", "0.24.4")  # the units package on conda-forge
    channel.index_channel(local)
    assert len(install.solve([local], ["ctao-sat-core"], platform="linux-64")) == 1
    with pytest.raises(CondaError) as error:
        install.solve([local], ["ctao-sat-core", "pint"], platform="linux-64")
    assert "pint" in str(error.value) and "ctao-sat-core" in str(error.value)


# --- the offline channel's pieces ----------------------------------------------------


def _wheel(folder: Path, name: str, version: str, requires: list[str]) -> Path:
    """A minimal real wheel (pure Python), as a PyPI wheel is laid out."""
    dist = f"{name}-{version}.dist-info"
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    metadata += ["Requires-Python: >=3.11"]
    metadata += [f"Requires-Dist: {r}" for r in requires]
    files = {
        f"{name}/__init__.py": "VALUE = 42\n",
        f"{dist}/METADATA": "\n".join(metadata) + "\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    records = []
    for member, text in files.items():
        digest = hashlib.sha256(text.encode()).digest()
        b64 = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        records.append(f"{member},sha256={b64},{len(text.encode())}\n")
    files[f"{dist}/RECORD"] = "".join(records) + f"{dist}/RECORD,,\n"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
    return path


def test_whl2conda_conversion_uses_conda_forge_names(tmp_path):
    wheel = _wheel(
        tmp_path,
        "astropy",
        "8.0.2",
        ["PyYAML>=6", "charset_normalizer<4,>=2", "typing-extensions>=4", "tzdata"],
    )
    package = channel._convert(wheel, tmp_path / "channel")
    assert package == "noarch/astropy-base-8.0.2-py_0.conda"
    index = build.index_json(tmp_path / "channel" / package)
    assert index["name"] == "astropy-base"
    names = sorted(d.split()[0] for d in index["depends"])
    assert names == [
        "charset-normalizer",
        "python",
        "python-tzdata",
        "pyyaml",
        "typing_extensions",
    ]


def test_placeholder_python_is_the_host_interpreter_in_a_venv_layout(tmp_path):
    host = channel.find_interpreter(f"{sys.version_info[0]}.{sys.version_info[1]}")
    assert host.version == ".".join(map(str, sys.version_info[:3]))
    local = tmp_path / "channel"
    channel.placeholder_python(host, local)
    channel.index_channel(local)
    records = install.solve([local], [f"python {host.minor}.*"])
    assert sorted(f"{r.name.normalized} {r.build}" for r in records) == [
        f"python {channel.HOST_BUILD}",
        f"python_abi 0_cp{host.minor.replace('.', '')}",
    ]
    prefix = install.install_prefix(records, tmp_path / "prefix")
    probe = "import json, sys; print(json.dumps([sys.prefix, sys.path]))"
    result = subprocess.run(
        [prefix / "bin" / "python", "-c", probe],
        capture_output=True,
        text=True,
        check=True,
    )
    sys_prefix, path = json.loads(result.stdout)
    assert sys_prefix == str(prefix)  # the prefix is the environment...
    assert str(prefix / "lib" / f"python{host.minor}" / "site-packages") in path
    host_site = [p for p in path if "site-packages" in p and str(prefix) not in p]
    assert host_site == []  # ...and the host's packages stay out


def test_lock_file_records_the_solution(tmp_path):
    local = tmp_path / "channel"
    _stub(local, "numpy", "2.4.6")
    channel.index_channel(local)
    records = install.solve([local], ["numpy ==2.4.6"], platform="linux-64")
    lock = install.write_lock(records, [local], tmp_path / "test.lock")
    text = lock.read_text()
    assert "numpy-2.4.6-0.conda" in text and local.as_uri() in text


# --- route and recipe tests ------------------------------------------------------


def test_without_conda_tools_the_route_is_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    route = build.choose_route("auto")
    assert route.name == "offline"
    assert "no rattler-build or conda on PATH" in route.why
    with pytest.raises(CondaError, match="rattler-build is not on PATH"):
        build.choose_route("rattler-build")


def test_a_tool_without_conda_forge_still_goes_offline(monkeypatch, tmp_path):
    tool = tmp_path / "rattler-build"
    tool.write_text("#!/bin/sh\nexit 0\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    route = build.choose_route("auto")  # the network is blocked in tests
    assert route.name == "offline"
    assert (
        "rattler-build on PATH but https://conda.anaconda.org/conda-forge" in route.why
    )


def test_the_prefix_runs_the_recipes_own_tests(outputs):
    commands = install.recipe_test_commands(outputs)
    lines = [command for _, command in commands]
    assert ("ctao-sat", "ctao-sat doctor") in commands
    assert 'python -c "import sat; import sat.cli.main"' in lines
    assert "python -m pip check" in lines
    assert "ctao-sat --version" in lines
    assert f"assert sat.__version__ == '{VERSION}'" in " ".join(lines)
    assert not any(re.search(r"\$\{\{", line) for line in lines)
