"""Plain Gammapy: the survey's runs reduced into ON/OFF spectra by `DatasetsMaker`.

What a scientist would write without ctao-sat (no sat import) to reduce the DL3
runs of the ``survey`` use case: the first ``--n-runs`` runs of ``--datastore``,
the same makers and settings as `sat.usecases.survey` (reflected regions around
the source, PSF containment correction, ``aeff-max`` safe mask, the same energy
axes), ``--n-jobs 1`` serially or ``--n-jobs N`` with Gammapy's default
multiprocessing backend. `benchmarks/scaling.py` passes the survey's settings
and checks that both sides reduced the same data (the summed ON and OFF counts
in the safe energy ranges must be equal).

Writes ``{"wall_s", "cpu_s", "runs", "n_on", "n_off"}`` to ``--output``: wall and
CPU time of the reduction only (the CPU time includes the pool's worker
processes, reaped when the pool closes).
"""

import argparse
import json
import resource
import time
from pathlib import Path

import astropy.units as u
from astropy.coordinates import SkyCoord
from gammapy.data import DataStore
from gammapy.datasets import Datasets, SpectrumDataset
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
parser.add_argument("--datastore", type=Path, required=True)
parser.add_argument("--n-runs", type=int, required=True)
parser.add_argument("--n-jobs", type=int, default=1)
parser.add_argument("--ra", type=float, required=True, help="source RA (deg)")
parser.add_argument("--dec", type=float, required=True, help="source Dec (deg)")
parser.add_argument("--on-radius", type=float, required=True, help="deg")
parser.add_argument("--energy-min", type=float, required=True, help="TeV")
parser.add_argument("--energy-max", type=float, required=True, help="TeV")
parser.add_argument("--bins-per-decade", type=int, required=True)
parser.add_argument("--aeff-percent", type=float, required=True)
parser.add_argument("--output", type=Path, required=True)
args = parser.parse_args()

store = DataStore.from_dir(args.datastore)
obs_ids = [int(obs_id) for obs_id in store.obs_table["OBS_ID"]][: args.n_runs]
observations = store.get_observations(obs_ids)

energy_reco = MapAxis.from_energy_bounds(
    args.energy_min,
    args.energy_max,
    nbin=args.bins_per_decade,
    per_decade=True,
    unit="TeV",
)
# True energies a factor 2 beyond the analysis range (energy dispersion moves
# events across its edges), within the effective area's axis, 10 bins per decade.
aeff_edges = observations[0].aeff.axes["energy_true"].edges.to_value("TeV")
energy_true = MapAxis.from_energy_bounds(
    max(args.energy_min / 2, aeff_edges.min()),
    min(args.energy_max * 2, aeff_edges.max()),
    nbin=10,
    per_decade=True,
    unit="TeV",
    name="energy_true",
)
source = SkyCoord(args.ra, args.dec, unit="deg")
reference = SpectrumDataset.create(
    geom=RegionGeom.create(
        CircleSkyRegion(source, args.on_radius * u.deg), axes=[energy_reco]
    ),
    energy_axis_true=energy_true,
)
makers = [
    SpectrumDatasetMaker(
        selection=["counts", "exposure", "edisp"], containment_correction=True
    ),
    ReflectedRegionsBackgroundMaker(),
    SafeMaskMaker(methods=["aeff-max"], aeff_percent=args.aeff_percent),
]
wall, start = time.perf_counter(), cpu()
reduced = DatasetsMaker(makers, stack_datasets=False, n_jobs=args.n_jobs).run(
    reference, observations
)
wall, used = time.perf_counter() - wall, cpu() - start

usable = Datasets([d for d in reduced if d.counts_off is not None])
stacked = usable.stack_reduce(name="stacked")
mask = stacked.mask_safe.data
args.output.write_text(
    json.dumps(
        {
            "wall_s": wall,
            "cpu_s": used,
            "runs": len(reduced),
            "n_on": int(stacked.counts.data[mask].sum()),
            "n_off": int(stacked.counts_off.data[mask].sum()),
        }
    )
    + "\n"
)
