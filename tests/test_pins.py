"""The release pins: one source of truth, derived files agree, and they are proven."""

import tomllib

import pytest
from packaging.requirements import Requirement

from sat import doctor, stack
from tests.conftest import REPO

pytestmark = pytest.mark.verifies_requirement("C-SAT-0030")


def test_every_component_has_a_smoke_check():
    components = {pin.name for pin in stack.load_pins() if pin.component}
    assert components == set(doctor.SMOKE_CHECKS)


def test_pins_are_exact_and_unique():
    pins = stack.load_pins()
    names = [pin.name for pin in pins]
    assert len(names) == len(set(names))
    for pin in pins:
        assert Requirement(pin.requirement).specifier.__str__() == f"=={pin.version}"


def test_environment_yml_is_generated_from_the_pins():
    committed = (REPO / "environment.yml").read_text()
    assert committed == stack.environment_yml(), "run: nox -s pins"


def test_pyproject_ranges_admit_every_pin():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = {pin.name: pin.version for pin in stack.load_pins()}
    for line in project["dependencies"]:
        requirement = Requirement(line)
        name = stack.canonical_name(requirement.name)
        assert name in pins, f"{name} is a dependency of sat but not pinned"
        assert requirement.specifier.contains(pins[name]), (
            f"pyproject range {requirement} excludes the pin {pins[name]}"
        )


def test_version_is_the_release_version():
    import sat

    assert sat.__version__ == stack.release()["version"]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == stack.release()["python"]


@pytest.mark.verifies_requirement("C-SAT-0010")
def test_this_environment_is_exactly_the_release():
    # nox builds the test environment from the pins: every pin must be honoured.
    wrong = [
        f"{pin.name}: {found} != {pin.version}"
        for pin, found in stack.compare_installed()
        if found != pin.version
    ]
    assert wrong == []


def test_constraints_cover_every_pin():
    lines = stack.constraints_txt().splitlines()
    assert lines[0].startswith("# Generated")
    assert sorted(lines[1:]) == sorted(p.requirement for p in stack.load_pins())
    with_ray = stack.constraints_txt(extras=("ray",)).splitlines()
    extra = sorted(p.requirement for p in stack.extra_pins("ray"))
    assert sorted(set(with_ray) - set(lines)) == extra
    assert any(requirement.startswith("ray==") for requirement in extra)


@pytest.mark.parametrize("extra", [None, *stack.optional_extras()])
def test_pins_hold_every_requirement_of_what_they_pin(extra):
    # pip --no-deps installs exactly the pins (the container does): a requirement
    # of a pinned distribution that is not pinned itself would be missing there.
    from importlib import metadata

    pins = [*stack.load_pins(), *(stack.extra_pins(extra) if extra else ())]
    pins = [pin for pin in pins if pin.applies()]  # markers: this interpreter's
    pinned = {pin.name for pin in pins}
    missing = []
    for pin in pins:
        for line in metadata.requires(pin.name) or []:
            requirement = Requirement(line)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue  # another platform, Python or an extra of that package
            if stack.canonical_name(requirement.name) not in pinned:
                missing.append(f"{pin.name} needs {requirement.name}")
    assert missing == []


def test_extras_agree_on_what_they_share():
    # The image installs every extra from one constraints file: a distribution
    # two extras pin must be pinned at one version.
    versions = {}
    for extra in stack.optional_extras():
        for pin in stack.extra_pins(extra):
            versions.setdefault(pin.name, set()).add(pin.version)
    assert {name: v for name, v in versions.items() if len(v) > 1} == {}
    assert versions["jsonschema"] == {"4.26.0"}  # in both ray and jupyter


def test_a_marker_limits_where_a_pin_applies():
    import sys

    overrides = next(p for p in stack.extra_pins("jupyter") if p.name == "overrides")
    assert overrides.requirement == 'overrides==7.7.0; python_version < "3.12"'
    assert overrides.applies() == (sys.version_info < (3, 12))
    constraints = stack.constraints_txt(extras=("jupyter",)).splitlines()
    assert overrides.requirement in constraints
    assert len(constraints) == len(set(constraints))
