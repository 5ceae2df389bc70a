"""The state of the source tree, stamped before a release writes anything.

``nox -s release`` stamps the tree first (its ``provenance`` session): the commit,
and every path ``git status`` shows as modified or untracked. The verification
report and the release document carry that stamp, so a release from a clean
fresh clone says it is clean, and one from a modified tree names what differs.

Only the standard library: the noxfile imports it from the repository.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from satdev.evidence import current_run_id

__all__ = ["STAMP", "current_stamp", "stamp", "write_stamp"]

# Under the build folder.
STAMP = "provenance.json"


def _git(root: Path, *args: str) -> tuple[int, str]:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return 1, str(error)
    return done.returncode, done.stdout


def stamp(root: str | Path) -> dict:
    """Describe the tree at ``root`` now.

    Returns
    -------
    dict
        ``commit`` ("" outside a git clone), ``clean``, ``dirty`` (``git status
        --porcelain`` lines: modified, staged, deleted and untracked paths that
        are not ignored), ``stamped`` (UTC time) and the nox ``run_id``.
    """
    root = Path(root)
    code, commit = _git(root, "rev-parse", "HEAD")
    status_code, status = _git(root, "status", "--porcelain", "--untracked-files=all")
    if code != 0 or status_code != 0:
        dirty = [f"not a git clone: {root}"]
        commit = ""
    else:
        dirty = [line for line in status.splitlines() if line.strip()]
    return {
        "commit": commit.strip(),
        "clean": not dirty,
        "dirty": dirty,
        "stamped": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "run_id": current_run_id(),
    }


def write_stamp(root: str | Path, build: str | Path) -> dict:
    """Stamp the tree at ``root`` into ``<build>/provenance.json``; return it."""
    record = stamp(root)
    path = Path(build) / STAMP
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def current_stamp(root: str | Path, build: str | Path) -> dict:
    """Return the stamp this nox run made first, or stamp the tree now.

    A stamp of another run (or of no run) is stale: the tree may have changed
    since, so the tree is stamped again (and says when).
    """
    path = Path(build) / STAMP
    if path.is_file() and current_run_id():
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("run_id") == current_run_id():
            return record
    return stamp(root)
