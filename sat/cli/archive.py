"""``ctao-sat archive``: search and fetch DL3 data in IVOA archives; serve one."""

from __future__ import annotations

import json
from pathlib import Path

import click

ARCHIVE_ENV = "CTAO_SAT_ARCHIVE"


def _query_options(command):
    """Add the archive address and the ObsCore query options to ``command``."""
    options = [
        click.option(
            "--archive",
            "archive",
            envvar=ARCHIVE_ENV,
            metavar="URL",
            help=f"TAP service of the archive [env {ARCHIVE_ENV}].",
        ),
        click.option("--target", help="Part of the target name (any case)."),
        click.option("--ra", type=float, help="Position RA (deg, ICRS)."),
        click.option("--dec", type=float, help="Position Dec (deg, ICRS)."),
        click.option(
            "--radius",
            type=float,
            default=2.0,
            show_default=True,
            help="Runs pointed within this many deg of --ra/--dec.",
        ),
        click.option("--start", help="Runs ending after this (ISO date or MJD)."),
        click.option("--stop", help="Runs starting before this (ISO date or MJD)."),
        click.option("--energy-min", type=float, help="Runs reaching above (TeV)."),
        click.option("--energy-max", type=float, help="Runs reaching below (TeV)."),
        click.option("--collection", help="ObsCore obs_collection (exact)."),
        click.option("--facility", help="ObsCore facility_name (exact)."),
        click.option(
            "--type",
            "dataproduct_type",
            default="event",
            show_default=True,
            help="ObsCore dataproduct_type ('' for any).",
        ),
        click.option(
            "--obs-id", "obs_ids", multiple=True, help="Observation id (repeatable)."
        ),
        click.option("--where", help="Further ADQL condition on ivoa.obscore."),
        click.option("--max", "maxrec", type=int, help="At most this many runs."),
        click.option(
            "--timeout",
            type=float,
            default=60.0,
            show_default=True,
            help="Seconds to wait for the archive.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _run_query(archive, timeout, **criteria):
    """Build the `ObsQuery` and run it; return the `SearchResult`."""
    from sat.archive.query import ObsQuery, search

    if not archive:
        raise click.UsageError(
            f"give the archive's TAP service: --archive URL (or set {ARCHIVE_ENV})"
        )
    criteria["obs_ids"] = tuple(criteria["obs_ids"])
    criteria["dataproduct_type"] = criteria["dataproduct_type"] or None
    return search(archive, ObsQuery(**criteria), timeout)


def _range(low, high) -> str:
    if low is None and high is None:
        return "-"
    return "-".join("?" if value is None else f"{value:.3g}" for value in (low, high))


def _start(mjd) -> str:
    if mjd is None:
        return "-"
    from astropy.time import Time

    return Time(mjd, format="mjd").iso[:16]


def _print_table(found) -> None:
    rows = [
        (
            o.obs_id,
            o.collection,
            o.target,
            o.facility,
            "-" if o.ra is None else f"{o.ra:.3f}",
            "-" if o.dec is None else f"{o.dec:.3f}",
            _start(o.t_min),
            "-" if o.exptime is None else f"{o.exptime / 60:.1f}",
            _range(o.energy_min, o.energy_max),
            "-" if o.size_estimate is None else f"{o.size_estimate / 2**20:.2f}",
        )
        for o in found.observations
    ]
    header = (
        "obs_id",
        "collection",
        "target",
        "facility",
        "ra_pnt",
        "dec_pnt",
        "start (UTC)",
        "exp_min",
        "energy_TeV",
        "MiB",
    )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo(
            "  ".join(
                str(v).ljust(w) for v, w in zip(row, widths, strict=True)
            ).rstrip()
        )


_HELP = """Find and fetch DL3 data in IVOA archives (TAP/ObsCore, DataLink).

\b
Example (a local test archive: ctao-sat archive serve, or nox -s archive):
  ctao-sat archive search --archive http://127.0.0.1:8080/tap --target crab
  ctao-sat archive fetch --archive http://127.0.0.1:8080/tap --target crab
      --dest crab-dl3
"""


@click.group(help=_HELP)
def archive():
    """Find and fetch DL3 data in IVOA archives (TAP/ObsCore, DataLink)."""


@archive.command()
@_query_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.option("--adql", "show_adql", is_flag=True, help="Print the ADQL query too.")
def search(archive, timeout, as_json, show_adql, **criteria):
    """List the observations matching the criteria (ObsCore, ivoa.obscore)."""
    found = _run_query(archive, timeout, **criteria)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "archive": found.url,
                    "query": found.query.adql(),
                    "count": len(found.observations),
                    "observations": [o.to_dict() for o in found.observations],
                }
            )
        )
        return
    if show_adql:
        click.echo(found.query.adql())
    if not found.observations:
        click.echo(f"No observation in {found.url} matches {found.query.describe()}.")
        return
    _print_table(found)
    total = sum(o.exptime or 0 for o in found.observations) / 3600
    click.echo(f"{len(found.observations)} observations, {total:.2f} h")


@archive.command()
@_query_options
@click.option(
    "--dest",
    required=True,
    type=click.Path(file_okay=False),
    help="Data store folder to fetch into (new, or made by an earlier fetch).",
)
@click.option("--retries", type=int, default=3, show_default=True)
def fetch(archive, timeout, dest, retries, **criteria):
    """Download the matching observations into a Gammapy data store folder.

    Each file is verified (size, gzip CRC, FITS) and renamed into place only
    then; an interrupted fetch resumes; the GADF obs-index and hdu-index are
    written when every file is in place.
    """
    from sat.archive.fetch import fetch as fetch_runs

    found = _run_query(archive, timeout, **criteria)
    report = fetch_runs(found, dest, timeout=timeout, retries=retries)
    click.echo(
        f"fetched {len(report.downloaded)} runs ({report.bytes / 2**20:.1f} MiB, "
        f"{report.seconds:.1f} s, via {report.via}) into {report.folder}"
        + (f"; {len(report.skipped)} were already there" if report.skipped else "")
    )
    click.echo(
        f"  Gammapy: DataStore.from_dir({str(report.folder)!r}); "
        f"a use-case config: observations: {{datastore: {report.folder}}}"
    )


def _collections(folders) -> dict[str, Path]:
    if not folders:
        from sat.data import require

        return {"hess-dl3-dr1": require("hess-dl3-dr1")}
    result = {}
    for text in folders:
        name, _, path = text.rpartition("=")
        path = Path(path)
        result[name or path.resolve().name] = path
    return result


@archive.command()
@click.argument("folders", nargs=-1)
@click.option(
    "--port", type=int, default=8080, show_default=True, help="Port on 127.0.0.1."
)
def serve(folders, port):
    """Serve GADF DL3 FOLDERS as an ObsCore archive on 127.0.0.1 until Ctrl-C.

    Each FOLDER (or NAME=FOLDER) holds an obs-index and hdu-index and becomes
    the collection NAME (default: the folder's name); without FOLDERS, the
    H.E.S.S. DL3 DR1 runs of GAMMAPY_DATA. A private PostgreSQL and GAVO DaCHS
    run in a temporary folder (python3 -m sat.archive.install installs them).
    """
    from sat.archive.publish import serve as serve_archive

    serve_archive(_collections(folders), port, log=click.echo)
