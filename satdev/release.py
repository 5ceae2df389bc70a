"""``nox -s release``: gather the artifacts, describe them, checksum them.

The sessions that build artifacts (``conda``, ``container``, ``docs``) and
``verify`` run first (nox ``requires``); `make_release` then builds the wheel and
sdist, collects every artifact into ``build/release/`` and writes the SBOM, the
release notes (towncrier fragments), the release document and ``SHA256SUMS``.
It refuses to release when a gate failed or a required artifact is missing.

Versions are CalVer ``YYYY.MM.PATCH`` (``[release] version`` in ``sat/pins.toml``):
the year and month of the release and a patch counter from 0 within the month,
like stenv and pangeo; PATCH releases change pins or fixes, never the month.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sat.errors import SatError
from sat.provenance import file_sha256

__all__ = [
    "ARTIFACTS",
    "Artifact",
    "build_python",
    "check_sums",
    "make_release",
    "release_notes",
    "write_sums",
]

SUMS = "SHA256SUMS"
CALVER = re.compile(r"^(?P<year>20\d\d)\.(?P<month>1[0-2]|[1-9])\.(?P<patch>\d+)$")


@dataclass(frozen=True)
class Artifact:
    """An artifact a nox session builds under ``build/``.

    Attributes
    ----------
    session : str
        The nox session that builds it.
    what : str
        What it is, for the release document.
    patterns : tuple of str
        Globs under ``build/`` matching its files.
    archive : str or None
        A folder under ``build/`` to pack as ``<archive name>.tar.gz`` instead.
    extras : tuple of str
        Globs of files released along with it (an index, a record), if present.
    """

    session: str
    what: str
    patterns: tuple[str, ...] = ()
    archive: str | None = None
    extras: tuple[str, ...] = ()


# Where each session leaves its artifacts (file driven: a session writes there).
# The conda channel is released whole (packages and index: usable as it is with
# `conda install -c file://.../conda`) with the lock file of the tested install;
# the container with its deployment record.
ARTIFACTS = (
    Artifact(
        "conda",
        "conda packages",
        ("conda/*/*.conda", "conda/*/*.tar.bz2"),
        extras=("conda/*/repodata.json", "conda/*.lock"),
    ),
    Artifact(
        "container",
        "OCI container image",
        ("container/*.tar", "container/*.tar.gz", "container/*.tar.zst"),
        extras=("container/deploy.json",),
    ),
    # The Jupyter image (docker/jupyter.py, same session): its archive must be
    # there too, with its record (sizes, start-up, notebooks executed in it).
    Artifact(
        "container",
        "Jupyter container image",
        ("container/*-jupyter.oci.tar",),
        extras=("container/jupyter.json",),
    ),
    Artifact("docs", "HTML documentation", archive="docs/html"),
    # The Helm chart package (values pinned to the released image's digest) and the
    # same package as an OCI image layout (`oras cp --from-oci-layout` pushes it).
    Artifact("chart", "Helm chart", ("chart/*.tgz", "chart/*.chart.oci.tar")),
)


def check_version(version: str) -> None:
    """Refuse a version that is not CalVer ``YYYY.MM.PATCH``."""
    if not CALVER.match(version):
        raise SatError(
            f"release version {version!r} is not CalVer YYYY.MM.PATCH "
            "(set [release] version in sat/pins.toml)"
        )


def _place(source: Path, target: Path) -> None:
    # Hard links keep multi-GB images cheap; copy across file systems.
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def build_python(root: Path, out: Path) -> list[Path]:
    """Build the wheel and the sdist of ``root`` into ``out`` (uv, else build)."""
    out.mkdir(parents=True, exist_ok=True)
    uv = shutil.which("uv")
    if uv:
        # The wheel is built from the sdist, as a user's pip would build it.
        command = [uv, "build", "--out-dir", str(out), str(root)]
    else:
        try:
            import build  # noqa: F401
        except ImportError:
            raise SatError(
                "neither uv nor build is installed: pip install uv (or build)"
            ) from None
        command = [sys.executable, "-m", "build", "--outdir", str(out), str(root)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SatError(f"building the wheel and sdist failed:\n{done.stderr[-3000:]}")
    built = sorted([*out.glob("*.whl"), *out.glob("*.tar.gz")])
    if not any(p.suffix == ".whl" for p in built) or len(built) < 2:
        raise SatError(f"the build left no wheel and sdist in {out}")
    return built


def collect(build: Path, out: Path, required: list[str]) -> dict[str, list[Path]]:
    """Gather the artifacts of the sessions into ``out``.

    Parameters
    ----------
    build : Path
        The ``build/`` folder the sessions wrote to.
    out : Path
        The release folder.
    required : list of str
        Sessions that ran for this release: their artifacts must exist.

    Returns
    -------
    dict
        ``{session: [released paths]}``.
    """
    from sat import __version__

    found: dict[str, list[Path]] = {}
    for artifact in ARTIFACTS:
        if artifact.session not in required:
            continue
        placed = []
        if artifact.archive:
            folder = build / artifact.archive
            if folder.is_dir() and any(folder.iterdir()):
                target = out / artifact.session / f"ctao-sat-{artifact.session}"
                target = target.with_name(f"{target.name}-{__version__}.tar.gz")
                target.parent.mkdir(parents=True, exist_ok=True)
                with tarfile.open(target, "w:gz") as tar:
                    tar.add(
                        folder, arcname=f"ctao-sat-{artifact.session}-{__version__}"
                    )
                placed.append(target)
        else:
            for pattern in artifact.patterns:
                for source in sorted(build.glob(pattern)):
                    relative = source.relative_to(build)
                    _place(source, out / relative)
                    placed.append(out / relative)
        if not placed:
            where = artifact.archive or ", ".join(artifact.patterns)
            raise SatError(
                f"no {artifact.what} under {build}/ ({where}): "
                f"the {artifact.session} session built nothing"
            )
        for pattern in artifact.extras:
            for source in sorted(build.glob(pattern)):
                relative = source.relative_to(build)
                _place(source, out / relative)
                placed.append(out / relative)
        released = found.setdefault(artifact.session, [])
        released += [path for path in placed if path not in released]
    return found


def release_notes(root: Path, version: str) -> str:
    """Render the towncrier fragments of ``docs/changes`` for ``version``."""
    local = Path(sys.executable).parent / "towncrier"
    towncrier = str(local) if local.exists() else shutil.which("towncrier")
    if towncrier is None:
        raise SatError(
            "towncrier is not installed (release notes): pip install towncrier"
        )
    done = subprocess.run(
        [towncrier, "build", "--draft", "--version", version],
        cwd=root,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SatError(f"towncrier failed: {done.stderr.strip()}")
    return done.stdout.strip() + "\n"


def write_sums(folder: Path) -> Path:
    """Write ``SHA256SUMS`` (``sha256sum -c`` format) for every file of ``folder``."""
    lines = [
        f"{file_sha256(path)}  {path.relative_to(folder).as_posix()}"
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != SUMS
    ]
    path = folder / SUMS
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def check_sums(folder: Path) -> list[str]:
    """Check ``SHA256SUMS`` against the files; return the problems (empty if none)."""
    problems = []
    listed = set()
    for line in (folder / SUMS).read_text(encoding="utf-8").splitlines():
        digest, name = line.split("  ", 1)
        listed.add(name)
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif file_sha256(path) != digest:
            problems.append(f"{name}: checksum differs")
    for path in folder.rglob("*"):
        name = path.relative_to(folder).as_posix()
        if path.is_file() and path.name != SUMS and name not in listed:
            problems.append(f"{name}: not in {SUMS}")
    return problems


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _size(path: Path) -> str:
    size = path.stat().st_size
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""  # pragma: no cover


def release_document(
    version: str, out: Path, report: dict, artifacts: dict, notes: str, git: dict
) -> str:
    """Write the release document: what was built, verified, with which results."""
    lines = [
        f"# ctao-sat {version}",
        "",
        f"Released {datetime.now(UTC).isoformat(timespec='seconds')} from commit "
        f"`{git.get('commit') or 'unknown'}`"
        + (" (with uncommitted changes)" if git.get("dirty") else "")
        + ".",
        "",
        "Version scheme: CalVer `YYYY.MM.PATCH` (year, month, patch counter within "
        "the month), from `[release] version` in `sat/pins.toml`.",
        "",
        "## What was built",
        "",
        "| artifact | file | size |",
        "|---|---|---|",
    ]
    for session, paths in artifacts.items():
        for path in paths:
            lines.append(
                f"| {session} | `{path.relative_to(out).as_posix()}` | {_size(path)} |"
            )
    lines += [
        "",
        f"Every file of this folder is listed in `{SUMS}`: check them with "
        f"`sha256sum -c {SUMS}`. `sbom.cdx.json` is the CycloneDX SBOM of the "
        "released run-time environment (versions and licences).",
        "",
        f"## Verification: {report['verdict']}",
        "",
        "The full report is `verification/index.html` (also `report.md`, "
        "`report.json`, and the AIV inputs in `verification/aiv/`).",
        "",
        "| gate | verdict | figure | threshold |",
        "|---|---|---|---|",
    ]
    for gate in report["gates"]:
        verdict = "PASS" if gate["passed"] else "FAIL"
        lines.append(
            f"| {gate['name']} | {verdict} | {gate['figure']} | {gate['threshold']} |"
        )
    counts: dict[str, int] = {}
    for item in report["traceability"]:
        counts[item["verdict"]] = counts.get(item["verdict"], 0) + 1
    lines += [
        "",
        "Requirements and use cases by verdict: "
        + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        + ".",
        "",
        "## What is not yet verified",
        "",
    ]
    pending = [
        item for item in report["traceability"] if item["verdict"] not in ("VERIFIED",)
    ]
    lines += [
        f"- {item['id']} ({item['kind']}, {item['method']}): {item['verdict']}: "
        f"{item['note']}"
        for item in pending
    ] or ["Nothing: every requirement and use case is verified."]
    for gate in report["gates"]:
        lines += [f"- warning ({gate['name']}): {w}" for w in gate["warnings"]]
    bench = report.get("benchmarks") or {}
    rows = [
        (result["name"], check)
        for result in bench.get("results", [])
        for check in result["checks"]
    ]
    if rows:
        lines += ["", "## Benchmarks", ""]
        lines += ["| benchmark | metric | value | interval | budget | verdict |"]
        lines.append("|---|---|---|---|---|---|")
        lines += [
            f"| {name} | {c['metric']} | {c['value']} | {_span(c['interval'])} | "
            f"{c['op']} {c['limit']} {c['unit']} | {c['verdict']} |"
            for name, c in rows
        ]
        comparison = bench.get("comparison") or {}
        lines += [
            "",
            f"Previous release: {comparison.get('previous') or 'none recorded'}; "
            f"{sum(r['regression'] for r in comparison.get('rows', []))} regression(s)"
            f" above x{comparison.get('regression_ratio')}.",
        ]
    env = report["environment"]
    lines += [
        "",
        "## Environment of the verification",
        "",
        f"{env['implementation']} {env['python']} on {env['platform']}.",
        "",
        "| component | version |",
        "|---|---|",
        *(f"| {p['name']} | {p['installed']} |" for p in env["pins"]),
        "",
        "## Release notes",
        "",
        notes,
    ]
    return "\n".join(lines)


def _span(interval: list[float] | None) -> str:
    return f"[{interval[0]:.4g}, {interval[1]:.4g}]" if interval else ""


def record_history(record: Path, history: Path) -> Path | None:
    """Store a complete benchmark record in ``history`` (the next release's baseline).

    A partial record (``--only``) is never stored: it would hide the use cases it
    did not measure from the comparison.
    """
    if json.loads(record.read_text(encoding="utf-8")).get("partial"):
        return None
    history.mkdir(parents=True, exist_ok=True)
    target = history / record.name
    shutil.copyfile(record, target)
    return target


def make_release(root: Path, build: Path, required: list[str]) -> Path:
    """Make the release in ``build/release``; fail on a failed gate or artifact.

    Parameters
    ----------
    root : Path
        The source tree (for the wheel, sdist, fragments and git commit).
    build : Path
        The ``build/`` folder holding the verification report and the sessions'
        artifacts.
    required : list of str
        The artifact sessions that ran for this release (``conda``,
        ``container``, ``docs`` when it exists).

    Returns
    -------
    Path
        The release folder.
    """
    from sat import __version__
    from satdev.sbom import sbom

    check_version(__version__)
    report_dir = build / "report"
    report_file = report_dir / "report.json"
    if not report_file.is_file():
        raise SatError(f"no verification report at {report_file}: run nox -s verify")
    report = json.loads(report_file.read_text(encoding="utf-8"))
    if report["release"] != __version__:
        raise SatError(
            f"the verification report is for {report['release']}, not {__version__}: "
            "run nox -s verify"
        )
    failed = [g for g in report["gates"] if not g["passed"]]
    if failed:
        raise SatError(
            "no release: gate(s) failed: "
            + "; ".join(
                f"{g['name']} {g['figure']} (threshold {g['threshold']})"
                for g in failed
            )
        )
    out = build / "release"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    artifacts = {"python": build_python(root, out / "dist")}
    artifacts.update(collect(build, out, required))
    shutil.copytree(report_dir, out / "verification")
    bench = build / "bench" / f"{__version__}.json"
    if bench.is_file():
        _place(bench, out / "bench" / bench.name)
        record_history(bench, root / "benchmarks" / "history")
    (out / "sbom.cdx.json").write_text(json.dumps(sbom(), indent=2) + "\n")
    notes = release_notes(root, __version__)
    (out / "RELEASE_NOTES.md").write_text(notes, encoding="utf-8")
    git = {
        "commit": _git(root, "rev-parse", "HEAD"),
        "dirty": bool(_git(root, "status", "--porcelain", "--untracked-files=no")),
    }
    (out / "RELEASE.md").write_text(
        release_document(__version__, out, report, artifacts, notes, git),
        encoding="utf-8",
    )
    write_sums(out)
    problems = check_sums(out)
    if problems:  # pragma: no cover - a file changed under our feet
        raise SatError(f"{SUMS} does not verify: {'; '.join(problems)}")
    return out
