"""The volume per site, year and level, and its figure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sat.datavolume.measure import irf_file_bytes
from sat.datavolume.scenario import LEVELS

if TYPE_CHECKING:
    from sat.datavolume.scenario import Scenario


def volume_table(scenario: Scenario, measured: dict, dl4: dict, rates: dict):
    """Compute the data volume per site, year and level.

    Parameters
    ----------
    scenario : Scenario
        The scenario.
    measured : dict
        From `measure_dl3` (bytes per event, overhead, IRF bytes).
    dl4 : dict
        From `dataset_bytes`.
    rates : dict
        Site name -> `event_rate` result.

    Returns
    -------
    `~astropy.table.Table`
        One row per site, year and level: runs, bytes produced that year and
        bytes stored at its end (after the retention policy).
    """
    from astropy.table import Table

    kind = "gzip" if scenario.compressed else "raw"
    per_event = scenario.bytes_per_event or measured["bytes_per_event"][kind]
    overhead = scenario.run_overhead_bytes or measured["overhead_bytes"][kind]
    rows = []
    for name, site in scenario.sites.items():
        irf_bytes = scenario.irf_bytes_per_run or irf_file_bytes(site.irf, kind)
        runs = site.hours_per_year * 60 / scenario.run_minutes
        rate = rates[name]["background_hz"] + rates[name]["gamma_hz"]
        events = rate * scenario.run_minutes * 60
        produced = {
            "DL3 events": runs * (events * per_event + overhead),
            "DL3 IRFs": runs * irf_bytes,
            "DL4 per run": runs * (dl4["3d"] + dl4["1d"]),
            "DL4 stacked": scenario.targets_per_year * (dl4["3d"] + dl4["1d"]),
            "DL5": scenario.dl5_analyses_per_year * scenario.dl5_bytes_per_analysis,
            "quick-look": runs * scenario.quicklook_bytes_per_run,
        }
        for year in range(1, scenario.years + 1):
            for level in LEVELS:
                keep = scenario.retention_years.get(level)
                kept_years = year if keep is None else min(year, keep)
                rows.append(
                    {
                        "site": name,
                        "year": year,
                        "level": level,
                        "runs": round(runs),
                        "events_per_run": round(events),
                        "produced_bytes": produced[level],
                        "stored_bytes": produced[level] * kept_years,
                    }
                )
    table = Table(rows=rows)
    table.meta["bytes_per_event"] = per_event
    table.meta["run_overhead_bytes"] = overhead
    return table


def plot_volume(table, path, scenario=None) -> None:
    """Stacked bars of the stored volume (TB, both sites) by level and year.

    ``scenario`` (the sites and their hours) is written under the figure.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    from sat.plots import caption, label

    years = sorted(set(table["year"]))
    figure, ax = plt.subplots(figsize=(8, 5))
    bottom = np.zeros(len(years))
    for level in LEVELS:
        rows = table[table["level"] == level]
        values = np.array(
            [rows["stored_bytes"][rows["year"] == y].sum() / 1e12 for y in years]
        )
        ax.bar(years, values, bottom=bottom, label=level)
        bottom += values
    ax.set_xticks(years)
    ax.set_xlabel("year of operations")
    ax.set_ylabel(label("Stored volume at year end, all sites", "TB"))
    ax.set_title("CTAO data volume by product level (model)")
    ax.legend(title="product level")
    if scenario is not None:
        sites = ", ".join(
            f"{name} {site.hours_per_year:g} h/year ({site.irf})"
            for name, site in scenario.sites.items()
        )
        caption(
            figure,
            f"Model: {sites}; {scenario.run_minutes:g}-min runs, sources of "
            f"{scenario.source_crab_fraction:g} Crab; bytes per event "
            + ("measured on real DL3" if scenario.bytes_per_event is None else "given"),
        )
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
