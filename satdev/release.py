"""``nox -s release``: gather the artifacts, describe them, checksum them.

The sessions that build artifacts (``conda``, ``container``, ``docs``) and
``verify`` run first (nox ``requires``); `make_release` then builds the wheel and
sdist, collects every artifact into ``build/release/`` and writes the SBOM, the
release notes (towncrier fragments), the release document, the AIV report in
CTAO's form (`satdev.aiv`, a PDF) and ``SHA256SUMS``.
Before anything is written it checks the version against the month (CalVer), folds
the artifact sessions' evidence of this run into the traceability (the docs
session runs after verify) and refuses when a gate failed, a claimed requirement
is not VERIFIED, or a required artifact is missing. It writes nothing into the
source tree: the benchmark record stays in ``build/`` and the release document
tells the maintainer to commit it.

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
from datetime import UTC, date, datetime
from pathlib import Path

from sat.errors import SatError
from sat.provenance import file_sha256

__all__ = [
    "ARTIFACTS",
    "Artifact",
    "build_python",
    "check_calver",
    "check_sums",
    "fold_evidence",
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


def check_calver(version: str, today: date | None = None) -> None:
    """Refuse a version whose ``YYYY.MM`` is not the release date's month.

    Parameters
    ----------
    version : str
        CalVer ``YYYY.MM.PATCH``.
    today : datetime.date, optional
        The release date (default: today, UTC).
    """
    check_version(version)
    today = today or datetime.now(UTC).date()
    match = CALVER.match(version)
    if (int(match["year"]), int(match["month"])) != (today.year, today.month):
        fix = f"{today.year}.{today.month}.0"
        raise SatError(
            f"release version {version} is not of this month ({today:%Y-%m}): set "
            f'[release] version = "{fix}" in sat/pins.toml and run nox -s pins'
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


def _size(path: Path) -> str:
    size = path.stat().st_size
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""  # pragma: no cover


def release_document(
    report,
    artifacts: dict,
    out: Path,
    notes: str,
    bench: Path | None,
    changed: list[str] | None = None,
) -> str:
    """Render RELEASE.md: what was built, from which tree, verified how.

    Parameters
    ----------
    report : satdev.report.Report
        The verification report, with the release's traceability.
    artifacts : dict
        ``{session: [released paths]}``.
    out : Path
        The release folder.
    notes : str
        The release notes.
    bench : Path or None
        The benchmark record in the release folder.
    changed : list of str, optional
        ``git status`` lines the run changed in the tree since its stamp.
    """
    from satdev.report import render_text

    rows = [
        (session, path.relative_to(out).as_posix(), _size(path))
        for session, paths in artifacts.items()
        for path in paths
    ]
    partial = bool(
        bench and json.loads(bench.read_text(encoding="utf-8")).get("partial")
    )
    return render_text(
        report,
        "release.md.j2",
        artifacts=rows,
        notes=notes,
        released=datetime.now(UTC).isoformat(timespec="seconds"),
        bench=bench.relative_to(out).as_posix() if bench else None,
        partial=partial,
        changed=changed or [],
    )


def fold_evidence(build: Path, report, catalogue=None, inspections=None):
    """Judge the catalogue again with the evidence of every session of this run.

    The docs session runs after verify: the release re-reads ``build/evidence/``
    and the inspection records, keeps verify's own sources (the test run in
    ``report/aiv/junit.xml``, the gates, the benchmark checks, the use-case
    runs) and replaces the traceability of ``report``.

    Parameters
    ----------
    build : Path
        The build folder (``report/``, ``evidence/``).
    report : satdev.report.Report
        Verify's report.
    catalogue : satdev.catalogue.Catalogue, optional
        Default: ``satdev/requirements.yaml``.
    inspections : Path, optional
        The inspection records' folder (default ``satdev/inspections``).

    Returns
    -------
    tuple
        The report (stage ``release``, its ``blocking`` list filled), the
        traces and the sessions' evidence.
    """
    from satdev.catalogue import load_catalogue
    from satdev.evidence import EVIDENCE_DIR, current_run_id, read_evidence
    from satdev.gates import blocks, requirements_gate
    from satdev.inspection import INSPECTIONS, read_inspections
    from satdev.junit import read_junit
    from satdev.report import GateRow, session_rows, trace_row
    from satdev.traceability import (
        FAIL,
        Sources,
        trace,
        unknown_traced_ids,
        unreleasable,
    )
    from satdev.waivers import accepted_budgets

    junit = build / "report" / "aiv" / "junit.xml"
    sources = Sources(
        tests=read_junit(junit) if junit.is_file() else [],
        gates={g.name: (g.passed, g.figure) for g in report.gates},
        benchmarks={
            r["name"]: {"checks": r["checks"], "error": r.get("error")}
            for r in (report.benchmarks or {}).get("results", [])
        },
        sessions=read_evidence(build / EVIDENCE_DIR),
        run_id=current_run_id(),
        inspections=read_inspections(inspections or INSPECTIONS),
        version=report.release,
        # verify's judgement of this release's waivers (satdev.waivers).
        accepted=accepted_budgets(report.waivers),
        waived_gates={g.name for g in report.gates if not g.passed and not blocks(g)},
    )
    validated = {
        name: (
            None
            if not case.ran
            else bool(case.checks) and all(c.verdict == "PASS" for c in case.checks)
        )
        for name, case in report.usecases.items()
    }
    catalogue = catalogue or load_catalogue()
    traces = trace(catalogue, sources, set(report.usecases), validated)
    report.traceability = [trace_row(t) for t in traces]
    # verify's requirements gate counted what was still awaiting evidence (the
    # docs session's, which runs after it): judge it again on these traces, or
    # the release document says "awaiting" beside a requirement it shows VERIFIED.
    fresh = requirements_gate(traces, unknown_traced_ids(catalogue, sources))
    report.gates = [
        GateRow(**fresh.as_dict()) if gate.name == fresh.name else gate
        for gate in report.gates
    ]
    report.sessions = session_rows(sources.sessions, sources.run_id)
    report.run_id = sources.run_id
    report.stage = "release"
    report.blocking = unreleasable(traces)
    # Accepted non-conformances do not block; they never make a PASS either.
    failed = [t for t in traces if t.kind == "requirement" and t.verdict == FAIL]
    if report.blocking or failed or not all(g.passed for g in report.gates):
        report.verdict = "FAIL"
    return report, traces, sources.sessions


def _refresh_aiv(report, traces, sessions: dict, report_dir: Path) -> None:
    """Put the final traceability and every session's evidence into ``aiv/``."""
    from satdev.traceability import write_csv

    aiv = report_dir / "aiv"
    write_csv(traces, aiv / "traceability.csv")
    for evidence in sessions.values():
        target = aiv / "evidence" / evidence.path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(evidence.path, target)
        report.aiv[f"evidence/{target.name}"] = f"aiv/evidence/{target.name}"


def make_release(
    root: Path,
    build: Path,
    required: list[str],
    *,
    today: date | None = None,
    catalogue=None,
    inspections: Path | None = None,
) -> Path:
    """Make the release in ``build/release``; refuse anything unverified.

    Parameters
    ----------
    root : Path
        The source tree (for the wheel, sdist, fragments and git commit).
    build : Path
        The ``build/`` folder holding the verification report, the sessions'
        evidence and artifacts.
    required : list of str
        The artifact sessions that ran for this release (``conda``,
        ``container``, ``docs``...): their artifacts must exist.
    today : datetime.date, optional
        The release date (default: today): its month must be the version's.
    catalogue, inspections : optional
        Another catalogue and inspections folder (see `fold_evidence`).

    Returns
    -------
    Path
        The release folder.
    """
    from sat import __version__
    from satdev.aiv import write_aiv
    from satdev.provenance import current_stamp, stamp
    from satdev.report import Provenance, read_report, render
    from satdev.sbom import sbom

    # The tree as it was before this run wrote anything (the provenance session
    # stamps it first); the release itself never writes into it.
    provenance = current_stamp(root, build)
    check_calver(__version__, today)
    report_dir = build / "report"
    report_file = report_dir / "report.json"
    if not report_file.is_file():
        raise SatError(f"no verification report at {report_file}: run nox -s verify")
    report = read_report(report_file)
    if report.release != __version__:
        raise SatError(
            f"the verification report is for {report.release}, not {__version__}: "
            "run nox -s verify"
        )
    from satdev.gates import blocks

    # A gate failed only on accepted non-conformances lets the release proceed.
    failed = [g for g in report.gates if blocks(g)]
    if failed:
        raise SatError(
            "no release: gate(s) failed: "
            + "; ".join(
                f"{g.name} {g.figure} (threshold {g.threshold})" for g in failed
            )
        )
    report.provenance = Provenance(**provenance)
    report, traces, sessions = fold_evidence(build, report, catalogue, inspections)
    _refresh_aiv(report, traces, sessions, report_dir)
    # The AIV report in CTAO's form of the release's traceability (satdev/aiv),
    # written even when the release refuses: it names every non-conformance.
    aiv = write_aiv(report, report_dir, root)
    render(report, report_dir)
    if report.blocking:
        raise SatError(
            f"no release: {len(report.blocking)} requirement(s) not verified "
            f"(report in {report_dir / 'index.html'}):\n  "
            + "\n  ".join(report.blocking)
        )
    out = build / "release"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    artifacts = {"python": build_python(root, out / "dist")}
    artifacts.update(collect(build, out, required))
    shutil.copytree(report_dir, out / "verification")
    # The document a CTAO review signs, at the top of the release.
    artifacts["aiv"] = [out / aiv.pdf.name]
    _place(aiv.pdf, artifacts["aiv"][0])
    source = build / "bench" / f"{__version__}.json"
    bench = out / "bench" / source.name if source.is_file() else None
    if bench:
        _place(source, bench)
    (out / "sbom.cdx.json").write_text(json.dumps(sbom(), indent=2) + "\n")
    notes = release_notes(root, __version__)
    (out / "RELEASE_NOTES.md").write_text(notes, encoding="utf-8")
    # Whatever the sessions of the run did to the tree since the stamp is said.
    changed = sorted(set(stamp(root)["dirty"]) ^ set(provenance["dirty"]))
    (out / "RELEASE.md").write_text(
        release_document(report, artifacts, out, notes, bench, changed),
        encoding="utf-8",
    )
    write_sums(out)
    problems = check_sums(out)
    if problems:  # pragma: no cover - a file changed under our feet
        raise SatError(f"{SUMS} does not verify: {'; '.join(problems)}")
    return out
