"""Plain Gammapy: the 20 MSH 15-52 runs reduced in 1D by `DatasetsMaker`.

What a scientist would write without ctao-sat (no sat import), timed around the
reduction only: ``--n-jobs 1`` serially, ``--n-jobs 2`` with Gammapy's default
multiprocessing backend. Writes ``{"wall_s", "cpu_s", "runs"}`` to ``--output``;
the CPU time includes the pool's worker processes (reaped when the pool closes).
"""

import argparse
import json
import os
import resource
import time
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from gammapy.data import DataStore
from gammapy.datasets import SpectrumDataset
from gammapy.makers import (
    DatasetsMaker,
    ReflectedRegionsBackgroundMaker,
    SafeMaskMaker,
    SpectrumDatasetMaker,
)
from gammapy.maps import MapAxis, RegionGeom
from regions import CircleSkyRegion


def cpu() -> float:
    """CPU time of this process and of its reaped children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--n-jobs", type=int, default=1)
parser.add_argument("--output", type=Path, required=True)
args = parser.parse_args()

store = DataStore.from_dir(Path(os.environ["GAMMAPY_DATA"], "hess-dl3-dr1"))
table = store.obs_table
rows = table[np.char.strip(np.asarray(table["TARGET_NAME"], dtype=str)) == "MSH 15-52"]
observations = store.get_observations(list(rows["OBS_ID"]))
position = SkyCoord(rows["RA_OBJ"][0], rows["DEC_OBJ"][0], unit="deg")
reference = SpectrumDataset.create(
    geom=RegionGeom.create(
        region=CircleSkyRegion(position, 0.3 * u.deg),
        axes=[MapAxis.from_energy_bounds(0.1, 100, 24, unit="TeV")],
    ),
    energy_axis_true=MapAxis.from_energy_bounds(
        0.05, 150, 48, unit="TeV", name="energy_true"
    ),
)
makers = [
    SpectrumDatasetMaker(
        selection=["counts", "exposure", "edisp"], containment_correction=True
    ),
    ReflectedRegionsBackgroundMaker(),
    SafeMaskMaker(methods=["edisp-bias"], bias_percent=10),
]
wall, start = time.perf_counter(), cpu()
datasets = DatasetsMaker(makers, stack_datasets=False, n_jobs=args.n_jobs).run(
    reference, observations
)
wall, used = time.perf_counter() - wall, cpu() - start
args.output.write_text(
    json.dumps({"wall_s": wall, "cpu_s": used, "runs": len(datasets)}) + "\n"
)
