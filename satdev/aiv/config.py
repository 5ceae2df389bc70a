"""``aiv-config.yml``: the project's configuration in CTAO's AIV toolkit schema.

CTAO's toolkit (``ctao-aiv-toolkit``) reads one file at the repository root, whose
top-level key ``variables`` holds GitLab CI variables (scalars only: GitLab
imports the file as CI variables). The toolkit has no schema file; its schema is
the set of variables its example configurations document (5.3.0, the last with
file-based traceability, and 6.0.0). `VARIABLES` lists them, and `read_config`
refuses any other key, so that a typo is an error, not a silently ignored
setting.

The toolkit keeps the document's sign-off in ``report/preamble.tex``; ctao-sat
keeps it in three variables of its own, read only here (the toolkit ignores
them): ``REPORT_PREPARER``, ``REPORT_REVIEWERS`` and ``REPORT_APPROVER``, each
``"Name (Organisation)"``, several reviewers separated by ``;``. Unset, the PDF
shows a placeholder and lists the missing sign-off as a non-conformance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sat.errors import SatError

__all__ = [
    "CONFIG",
    "OURS",
    "VARIABLES",
    "AivConfig",
    "Person",
    "parse_people",
    "read_config",
]

CONFIG = "aiv-config.yml"
# The variables of the toolkit's example aiv-config.yml (5.3.0 and 6.0.0) and its
# docs (EXTRA_CONFIG_FILES, docs/config.rst).
VARIABLES = frozenset(
    """
    AIV_DEPLOY_GET_INSTANCE_NAME_BASE_NAME AIV_DEPLOY_HELM_TEST_FILTER AIV_DOCKERFILE
    AIV_DOCKER_IMAGE_CONTEXT AIV_SYSTEM ALLOWED_IMAGE_PREFIXES ALLOW_SONAR_FAILURES
    APPLICATION_AUTHOR APPLICATION_AUTHOR_ORGANIZATION APPLICATION_NAME
    APPLICATION_VERSION_FOR_VP APPLY_PRE_UPGRADE_CRDS APPLY_PRE_UPGRADE_URL
    BASE_REF_PATCH_FILES CHART_LOCATION CHART_NAME CHERRY_PICK_COMMITS
    COLLECT_ONLY_TESTS CWL_DIR DISABLED_GENERATORS DISABLE_ALLURE_TEST_PARSING
    DISABLE_JUNIT_TEST_PARSING ENABLE_INGRESS ENABLE_REGISTRY_MIRRORS
    EXTRA_CONFIG_FILES EXTRA_REPORT_SONAR_PROJECT_KEYS HARBOR_PROJECT
    HARBOR_PROJECT_ID HELM_REPO_CONFIG JAMA_ADDITIONAL_PROJECT_IDS JAMA_PROJECT_ID
    JAMA_RELEASE_TAG JAMA_VP_TAG KUBECONFORM_EXTRA_ARGS MOUNT_REPO
    PRE_REF_INSTALL_COMMAND PRE_UPGRADE_COMMAND RANDOMIZED_RELEASE_NAME RELEASE
    RELEASE_PLAN_FN RELEASE_PLAN_FROM_JAMA STREAM_ONLY_TESTS TEST_ROLLBACK
    TEST_STEPS_LONG_STYLE TRACEABILITY_CSV_FN UC_GROUPS UC_SUBTREE_NAME
    """.split()
)
# ctao-sat's own variables (the sign-off), which the toolkit keeps in LaTeX.
OURS = frozenset({"REPORT_PREPARER", "REPORT_REVIEWERS", "REPORT_APPROVER"})
# What ctao-sat's report needs from the file.
REQUIRED = (
    "AIV_SYSTEM",
    "APPLICATION_NAME",
    "RELEASE",
    "UC_GROUPS",
    "RELEASE_PLAN_FN",
    "TRACEABILITY_CSV_FN",
)
SYSTEMS = ("DPPS", "SUSS")
PERSON = re.compile(r"^(?P<name>[^()]+?)\s*\((?P<organisation>[^()]+)\)$")


@dataclass(frozen=True)
class Person:
    """A name in the document's sign-off, with the organisation."""

    name: str
    organisation: str


@dataclass(frozen=True)
class AivConfig:
    """The variables of ``aiv-config.yml`` (names as in the file) and its path."""

    path: Path
    variables: dict

    def __getitem__(self, name: str):
        return self.variables[name]

    @property
    def system(self) -> str:
        """The computing system (``AIV_SYSTEM``: DPPS or SUSS)."""
        return self.variables["AIV_SYSTEM"]

    def people(self, role: str) -> list[Person]:
        """Return the preparer, reviewers or approver ([] if unset)."""
        raw = self.variables.get(f"REPORT_{role.upper()}") or ""
        return parse_people(raw, f"REPORT_{role.upper()} in {self.path}")


def parse_people(raw: str, where: str) -> list[Person]:
    """Parse ``"Name (Organisation); Name (Organisation)"``.

    Raises
    ------
    SatError
        An entry without its organisation in parentheses (naming ``where``).
    """
    people = []
    for entry in filter(None, (part.strip() for part in str(raw).split(";"))):
        match = PERSON.match(entry)
        if match is None:
            raise SatError(
                f'{where}: {entry!r} is not "Name (Organisation)"; separate '
                'several people with ";"'
            )
        people.append(Person(match["name"].strip(), match["organisation"].strip()))
    return people


def read_config(root: str | Path) -> AivConfig:
    """Read and check ``aiv-config.yml`` at the root of the repository.

    Raises
    ------
    SatError
        The file is missing, not YAML, has no ``variables`` mapping, a variable
        that is not scalar or not known to the toolkit, misses one we need, or
        has a malformed sign-off (each error names the file and the fix).
    """
    import yaml

    path = Path(root) / CONFIG
    if not path.is_file():
        raise SatError(f"no {CONFIG} at {path.parent}: the AIV report needs it")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise SatError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("variables"), dict):
        raise SatError(f"{path}: the variables must be a mapping under `variables:`")
    variables = raw["variables"]
    unknown = sorted(set(variables) - VARIABLES - OURS)
    if unknown:
        raise SatError(
            f"{path}: unknown variable(s) {', '.join(unknown)}: not in CTAO's AIV "
            "toolkit schema (satdev/aiv/config.py, VARIABLES) nor ctao-sat's "
            f"({', '.join(sorted(OURS))})"
        )
    nested = sorted(k for k, v in variables.items() if isinstance(v, dict | list))
    if nested:
        raise SatError(
            f"{path}: {', '.join(nested)} must be scalars (GitLab CI variables)"
        )
    absent = [name for name in REQUIRED if variables.get(name) in (None, "")]
    if absent:
        raise SatError(f"{path}: set {', '.join(absent)}")
    if variables["AIV_SYSTEM"] not in SYSTEMS:
        raise SatError(
            f"{path}: AIV_SYSTEM is {variables['AIV_SYSTEM']!r}, not one of "
            f"{', '.join(SYSTEMS)}"
        )
    config = AivConfig(path, dict(variables))
    for role in ("preparer", "reviewers", "approver"):
        config.people(role)  # raises on a malformed entry
    return config
