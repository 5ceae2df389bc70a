"""Execute every notebook the image ships, inside the image, with nbclient.

Run by ``docker/jupyter.py`` in the Jupyter image (offline, read-only root, only
/tmp and HOME writable)::

    python execute.py OUT

The notebooks are copied from the package (`sat.notebooks`) into /tmp/notebooks
and executed there on the kernel each asks for (the release's), one after the
other; the executed notebooks and ``summary.json`` (per notebook: seconds, the
first error, the validation verdicts of the results it wrote) go to ``OUT``.
Exit 1 when a cell raised.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from sat import notebooks

WORK = Path("/tmp/notebooks")
CELL_TIMEOUT_S = 3600  # the slowest use case (map-3d) takes minutes, not an hour


def verdicts(results: Path) -> list[str]:
    """Return the validation verdicts of every result.json written under ``results``."""
    found = []
    for path in sorted(results.rglob("result.json")):
        found += [
            check["verdict"] for check in json.loads(path.read_text())["validation"]
        ]
    return found


def execute(name: str, out: Path) -> dict:
    """Execute one notebook; write it executed into ``out``; return its record."""
    notebook = nbformat.read(WORK / name, as_version=4)
    client = NotebookClient(
        notebook, timeout=CELL_TIMEOUT_S, resources={"metadata": {"path": str(WORK)}}
    )
    start = time.perf_counter()
    error = None
    try:
        client.execute()
    except CellExecutionError as failure:
        lines = [line for line in str(failure).splitlines() if line.strip()]
        error = lines[-1] if lines else "a cell raised"
    except Exception as failure:  # a kernel that died, a timeout: say which
        error = f"{type(failure).__name__}: {failure}".splitlines()[0]
    seconds = round(time.perf_counter() - start, 1)
    nbformat.write(notebook, out / name)
    return {
        "ok": error is None,
        "seconds": seconds,
        "error": error,
        "kernel": client.kernel_name,
        "verdicts": verdicts(WORK / "results" / name.removesuffix(".ipynb")),
    }


def main(out: str) -> int:
    """Execute every shipped notebook; return 1 when one failed."""
    out = Path(out)
    notebooks.copy_notebooks(WORK)
    summary = {}
    for name in notebooks.shipped():
        summary[name] = record = execute(name, out)
        state = "ok" if record["ok"] else f"FAILED: {record['error']}"
        print(f"{name}: {state} in {record['seconds']} s", flush=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if all(record["ok"] for record in summary.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
