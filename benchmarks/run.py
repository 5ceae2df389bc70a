"""Run every benchmark, print a table and store the results as JSON.

Results go to ``<output>/<release version>.json`` so that one release can be
compared with the previous one.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import startup

import sat

BENCHMARKS = [startup]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("build/bench"))
    args = parser.parse_args()
    results = []
    for module in BENCHMARKS:
        result = module.run()
        results.append(result)
        print(json.dumps(result))
    args.output.mkdir(parents=True, exist_ok=True)
    record = {
        "release": sat.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "results": results,
    }
    path = args.output / f"{sat.__version__}.json"
    path.write_text(json.dumps(record, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
