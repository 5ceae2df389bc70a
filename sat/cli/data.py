"""``ctao-sat data``: list, verify and download the datasets of the use cases."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

_DIR_HELP = "Data folder [default: $GAMMAPY_DATA]."


def _human(size: int) -> str:
    """Return a size in bytes as KiB/MiB/GiB text."""
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _root(folder: str | None) -> Path | None:
    value = folder or os.environ.get("GAMMAPY_DATA")
    return Path(value) if value else None


@click.group()
def data():
    """List, verify (SHA-256) and download the datasets of the use cases."""


@data.command("list")
@click.option("--dir", "folder", type=click.Path(file_okay=False), help=_DIR_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def list_(folder, as_json):
    """Show every dataset: files, size, whether it is present, licence."""
    from sat.data import datasets, licences
    from sat.data.verify import present

    root = _root(folder)
    terms = licences()
    rows = []
    for dataset in datasets().values():
        found = present(root, dataset) if root and root.is_dir() else 0
        total = len(dataset.files)
        status = (
            "present"
            if total and found == total
            else "missing"
            if not found
            else f"partial {found}/{total}"
        )
        licence = terms.get(dataset.licence, {})
        rows.append(
            {
                "name": dataset.name,
                "description": dataset.description,
                "path": dataset.path,
                "files": total,
                "bytes": dataset.size,
                "status": status,
                "licence": dataset.licence,
                "licence_short": licence.get("short"),
                "licence_text": licence.get("text"),
                "source": dataset.source,
                "origin": dataset.origin,
                "file_list": [vars(f) for f in dataset.files],
            }
        )
    if as_json:
        click.echo(json.dumps({"root": str(root) if root else None, "datasets": rows}))
        return
    width = max(len(row["name"]) for row in rows)
    click.echo(f"Data folder: {root or 'not set (GAMMAPY_DATA)'}")
    click.echo(f"{'name':<{width}}  {'files':>5}  {'size':>9}  {'status':<13}  licence")
    for row in rows:
        click.echo(
            f"{row['name']:<{width}}  {row['files']:>5}  {_human(row['bytes']):>9}  "
            f"{row['status']:<13}  {row['licence_short'] or '?'}"
        )
    click.echo("Checksums: ctao-sat data verify; missing data: ctao-sat data download")


@data.command()
@click.argument("names", nargs=-1)
@click.option("--dir", "folder", type=click.Path(file_okay=False), help=_DIR_HELP)
def verify(names, folder):
    """Check the SHA-256 of every file present of datasets NAMES (default: all).

    Exit 1 naming each missing or corrupt file. A dataset with no file present
    counts as missing only when it is named.
    """
    from sat.data import gammapy_data, select
    from sat.data.verify import MISSING, OK
    from sat.data.verify import verify as check
    from sat.errors import DataError

    selected = select(names)
    root = Path(folder) if folder else gammapy_data()
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist")
    problems, checked = [], 0
    for dataset in selected:
        results = check(root, dataset)
        if all(r.state == MISSING for r in results) and not names:
            click.echo(f"{dataset.name}: not installed")
            continue
        bad = [r for r in results if r.state != OK]
        checked += len(results) - len(bad)
        if not bad:
            click.echo(f"{dataset.name}: {len(results)} files OK")
            continue
        click.echo(f"{dataset.name}: {len(bad)} of {len(results)} files bad")
        for result in bad:
            detail = f" ({result.detail})" if result.detail else ""
            click.echo(f"  {result.state:<8} {result.file.path}{detail}")
        problems += [f"{r.file.path} ({r.state})" for r in bad]
    if problems:
        shown = ", ".join(problems[:5]) + (", ..." if len(problems) > 5 else "")
        raise DataError(
            f"{len(problems)} file(s) failed verification in {root}: {shown}; "
            f"repair with: ctao-sat data download {' '.join(names)}".rstrip()
        )
    if not checked:
        raise DataError(f"no dataset is installed in {root}: ctao-sat data download")
    click.echo(f"All {checked} files present match their SHA-256.")


@data.command()
@click.argument("names", nargs=-1)
@click.option(
    "--dest",
    type=click.Path(file_okay=False),
    help="Destination data folder [default: $GAMMAPY_DATA].",
)
@click.option(
    "--mirror",
    envvar="CTAO_SAT_DATA_MIRROR",
    metavar="URL",
    help="Fetch from this mirror (GAMMAPY_DATA layout) instead of the official "
    "sources [env: CTAO_SAT_DATA_MIRROR].",
)
@click.option(
    "--retries",
    type=click.IntRange(0, 10),
    default=3,
    show_default=True,
    help="Retries of a file after a transient error.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def download(names, dest, mirror, retries, quiet):
    """Download datasets NAMES (default: all) from their official sources.

    Each file is verified by SHA-256 before it is moved into place; files already
    present and verified are skipped; an interrupted download resumes.
    """
    from sat.data import select
    from sat.data.download import download as fetch_all
    from sat.errors import DataError

    selected = select(names)
    root = dest or os.environ.get("GAMMAPY_DATA")
    if not root:
        raise DataError("no destination: pass --dest DIR or set GAMMAPY_DATA")
    report = fetch_all(
        selected,
        Path(root),
        mirror=mirror,
        retries=retries,
        progress=False if quiet else None,
    )
    size = sum(f.size for f in report.downloaded)
    click.echo(
        f"{len(report.downloaded)} file(s) downloaded ({_human(size)}), "
        f"{len(report.skipped)} already present and verified, in {root}"
    )
    if report.unreachable:
        # One line, not one per file: the server is the problem.
        (server, reason), *others = report.unreachable.items()
        also = f" (and {len(others)} other servers)" if others else ""
        where = "--mirror (or CTAO_SAT_DATA_MIRROR)" if mirror else "the network"
        raise DataError(
            f"{server}{also} does not answer ({reason}) after {retries + 1} "
            f"attempts: {len(report.failed)} file(s) not downloaded; check {where} "
            "and run the command again (finished files are kept)"
        )
    if report.failed:
        if len(report.failed) > 1:
            for _, message in report.failed:
                click.echo(f"  failed: {message}", err=True)
        first = report.failed[0][1]
        raise DataError(
            first
            if len(report.failed) == 1
            else f"{len(report.failed)} files failed (listed above); first: {first}"
        )
    current = os.environ.get("GAMMAPY_DATA")
    if dest and (not current or Path(current).resolve() != Path(dest).resolve()):
        click.echo(f"Use it with: export GAMMAPY_DATA={Path(dest).resolve()}")
