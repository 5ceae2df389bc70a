"""A model of the CTAO data volume from DL3 upwards, per site, year and level.

Every number is either derived with Gammapy from the public IRFs, measured on
real files, or a documented assumption of the scenario (`Scenario`, YAML):

- event rate after gamma/hadron separation: the prod5 background model
  integrated over the field of view and energy (Gammapy's `MapDatasetMaker`
  background, summed), plus the gamma rate of a typical source (a fraction of
  the Crab, folded with the same IRF);
- bytes per event and per run overhead (headers, GTI): MEASURED on DL3 files
  (`measure_dl3`), gzip-compressed or not; IRF bytes per run: the IRF file;
- DL4 sizes: MEASURED by writing an empty Gammapy `MapDataset` / `SpectrumDataset`
  with the scenario's binning;
- DL5 and quick-look sizes: scenario values (quick look measured on ours).

Checked against DL3 files the model did not make (`check_real_runs`): for every
run of the H.E.S.S. DR1 and CTA 1DC releases, the event count predicted from its
live time and its own background IRF, and the file size predicted from the
actual event count with bytes per event measured on the OTHER runs of its
release, against the file. The yearly totals are model-only: no public CTAO
figure for DL3 and higher exists to compare them with (`PUBLIC_FIGURES` lists
what CTAO has published, for raw data). `check_against_files` compares simulated
runs with the same model (a consistency check of the bookkeeping, not a
validation).
"""

from __future__ import annotations

from pathlib import Path

from sat.datavolume.measure import dataset_bytes, event_rate, measure_dl3
from sat.datavolume.real_runs import (
    BYTES_TOLERANCE,
    POISSON_SIGMA,
    TEMPLATE_FACTOR,
    background_events,
    check_real_runs,
    real_run_checks,
)
from sat.datavolume.scenario import (
    LEVELS,
    PUBLIC_FIGURES,
    DataVolumeConfig,
    Scenario,
    Site,
)
from sat.datavolume.simulated import check_against_files, simulate_runs
from sat.datavolume.volume import plot_volume, volume_table

# The public API; each name lives in the submodule it is imported from
# (scenario, measure, volume, simulated, real_runs). run_model stays here and
# calls check_real_runs through this module (what the tests replace).
__all__ = [
    "BYTES_TOLERANCE",
    "LEVELS",
    "MODEL_ONLY",
    "POISSON_SIGMA",
    "PUBLIC_FIGURES",
    "TEMPLATE_FACTOR",
    "DataVolumeConfig",
    "Scenario",
    "Site",
    "background_events",
    "check_against_files",
    "check_real_runs",
    "dataset_bytes",
    "event_rate",
    "measure_dl3",
    "plot_volume",
    "real_run_checks",
    "run_model",
    "simulate_runs",
    "volume_table",
]

# What no file checks: the yearly totals extrapolate the checked per-run
# predictions with the scenario's assumptions.
MODEL_ONLY = (
    "every yearly total (runs per year, hours per year, retention are scenario "
    "assumptions; no public CTAO figure for DL3 or higher exists to check them)",
    "CTAO event rates: prod5 IRF background of the scenario's field and energy "
    "range plus a target of source_crab_fraction Crab; real runs may differ from "
    "their IRF by the factor the H.E.S.S. DR1 check measures",
    "DL4 sizes (written datasets of the scenario binning, random values), DL5 "
    "and quick-look sizes (scenario values)",
)


def run_model(
    scenario: Scenario, measure_paths, output, progress=None, releases=None
) -> dict:
    """Run the model: measure, derive the rates, write the table and the plot.

    Parameters
    ----------
    scenario : Scenario
        The scenario.
    measure_paths : list of path-like
        DL3 files to measure bytes per event and overhead on.
    output : path-like
        Folder for ``datavolume.ecsv``, ``datavolume.png``, ``assumptions.json``.
    progress : callable, optional
        ``progress(iterable, desc)`` wrapper.
    releases : dict, optional
        ``{name: DataStore}`` of DL3 releases to check the per-run predictions
        on (`check_real_runs`): the runs go to ``real_runs.json``, the verdicts
        into ``assumptions.json``.

    Returns
    -------
    dict
        The table, the measurements, the rates, the assumptions and, with
        ``releases``, the checks on real DL3 (``validation``; ``checks``: the
        `sat.result.BoundsCheck` of each).
    """
    import json

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    measured = measure_dl3(measure_paths)
    sites = list(scenario.sites.items())
    rates = {}
    for name, site in progress(sites, "event rates") if progress else sites:
        rates[name] = event_rate(
            site.irf,
            scenario.fov_half_width_deg,
            scenario.energy_min_tev,
            scenario.energy_max_tev,
            scenario.source_crab_fraction,
        )
    dl4 = dataset_bytes(scenario, output)
    for scratch in output.glob("*spectrum*.fits"):
        scratch.unlink()
    for scratch in output.glob("map.fits*"):
        scratch.unlink()
    table = volume_table(scenario, measured, dl4, rates)
    table.write(output / "datavolume.ecsv", format="ascii.ecsv", overwrite=True)
    plot_volume(table, output / "datavolume.png", scenario)
    assumptions = {
        "scenario": scenario.model_dump(),
        "descriptions": {
            name: field.description
            for name, field in Scenario.model_fields.items()
            if field.description
        },
        "measured_dl3": {**measured, "files": [str(p) for p in measure_paths]},
        "event_rates_hz": rates,
        "event_rates_source": "IRF background integrated over the field and energy "
        "(Gammapy MapDatasetMaker) + target (Crab log-parabola, MAGIC) x "
        "source_crab_fraction",
        "dl4_bytes": dl4,
        "dl4_source": "Gammapy MapDataset / SpectrumDatasetOnOff of the scenario "
        "binning, written with random values (upper bound after compression)",
        "irf_source": "size of each site's IRF file (sat.irf), one per run",
        "model_only": list(MODEL_ONLY),
        "public_figures": list(PUBLIC_FIGURES),
        "validation": None,
    }
    checks = []
    if releases:
        rows = check_real_runs(releases, progress)
        (output / "real_runs.json").write_text(json.dumps(rows, indent=2) + "\n")
        checks = real_run_checks(rows)
        assumptions["validation"] = {
            "what": "per-run predictions on DL3 files the model did not make",
            "runs": {
                name: sum(r["release"] == name for r in rows) for name in releases
            },
            "checks": [check.model_dump() for check in checks],
            "details": "real_runs.json",
        }
    (output / "assumptions.json").write_text(json.dumps(assumptions, indent=2) + "\n")
    return {"table": table, **assumptions, "checks": checks}
