"""The plots of the verification report: the benchmarks against their budgets."""

from __future__ import annotations

from pathlib import Path

__all__ = ["bench_plots"]


def bench_plots(bench: dict | None, out: Path) -> dict[str, str]:
    """Plot the benchmarks against their budgets (PNG, matplotlib Agg).

    Parameters
    ----------
    bench : dict or None
        The benchmark record, each result with its budget ``checks``.
    out : Path
        The report folder; the plots go to ``out/plots``.

    Returns
    -------
    dict
        ``{plot name: path relative to out}``.
    """
    written: dict[str, str] = {}
    if not bench:
        return written
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    cases = [r for r in bench["results"] if r["kind"] == "usecase"]
    if cases:
        figure, axes = plt.subplots(1, 2, figsize=(10, 0.6 * len(cases) + 2))
        names = [r["usecase"] for r in cases]
        for ax, metric, label in (
            (axes[0], "wall_time_s", "wall time [s]"),
            (axes[1], "peak_rss_mib", "peak memory [MiB]"),
        ):
            values = [r["metrics"][metric] for r in cases]
            limits = [
                next(c["limit"] for c in r["checks"] if c["metric"] == metric)
                for r in cases
            ]
            colours = [
                "tab:green" if v <= lim else "tab:red"
                for v, lim in zip(values, limits, strict=True)
            ]
            ax.barh(names, values, color=colours)
            ax.scatter(limits, names, marker="|", s=400, color="k", label="budget")
            ax.set_xlabel(label)
            ax.legend(loc="lower right")
        axes[1].set_yticks([])
        figure.suptitle("Use cases: ctao-sat run NAME (one process each)")
        figure.tight_layout()
        figure.savefig(plots / "bench-usecases.png", dpi=100)
        plt.close(figure)
        written["usecases"] = "plots/bench-usecases.png"
    startup = [r for r in bench["results"] if r["kind"] in ("startup", "overhead")]
    if startup:
        figure, axes = plt.subplots(
            1, len(startup), figsize=(4.5 * len(startup), 3.5), squeeze=False
        )
        for ax, result in zip(axes[0], startup, strict=True):
            metrics = result["metrics"]
            if result["kind"] == "startup":
                labels = ["ctao-sat --help", "gammapy --help"]
                values = [metrics["ctao_sat_help_cpu_s"], metrics["gammapy_help_cpu_s"]]
                limit = result["checks"][0]["limit"]
                title = "CLI start-up (CPU time)"
            else:
                labels = ["ctao-sat run", "plain Gammapy"]
                values = [metrics["ctao_sat_cpu_s"], metrics["plain_gammapy_cpu_s"]]
                limit = values[1] * (1 + result["checks"][0]["limit"])
                title = f"{result['name'].split(':')[1]}: overhead (CPU time)"
            ax.bar(labels, values, color=["tab:blue", "tab:grey"])
            ax.axhline(limit, color="k", ls="--", label="budget")
            ax.set_ylabel("time [s]")
            ax.set_title(title)
            ax.legend()
        figure.tight_layout()
        figure.savefig(plots / "bench-startup.png", dpi=100)
        plt.close(figure)
        written["startup"] = "plots/bench-startup.png"
    _operations_plot(bench["results"], plots, written)
    rows = (bench.get("comparison") or {}).get("rows", [])
    if rows:
        figure, ax = plt.subplots(figsize=(8, 0.35 * len(rows) + 1.5))
        labels = [f"{r['benchmark']} {r['metric']}" for r in rows]
        ratios = [r["ratio"] for r in rows]
        colours = ["tab:red" if r["regression"] else "tab:green" for r in rows]
        ax.barh(labels, ratios, color=colours)
        ax.axvline(1, color="k")
        ax.axvline(bench["comparison"]["regression_ratio"], color="k", ls="--")
        ax.set_xlabel(f"ratio to release {bench['comparison']['previous']}")
        figure.tight_layout()
        figure.savefig(plots / "bench-history.png", dpi=100)
        plt.close(figure)
        written["history"] = "plots/bench-history.png"
    return written


def _operations_plot(results: list[dict], plots: Path, paths: dict) -> None:
    """Quick look and checks: time per run; data volume: predicted vs real DL3."""
    import matplotlib.pyplot as plt

    by_kind = {r["kind"]: r for r in results}
    timed = [by_kind[k] for k in ("quicklook", "check") if k in by_kind]
    volume = by_kind.get("datavolume")
    runs = (volume or {}).get("metrics", {}).get("runs") or []
    if volume and not all("release" in run for run in runs):
        # A record before 2026.12.0 checked simulated files: no real-DL3 rows.
        volume = None
    if not timed and not volume:
        return
    panels = len(timed) + (2 if volume is not None else 0)
    figure, axes = plt.subplots(1, panels, figsize=(5 * panels, 4), squeeze=False)
    for ax, result in zip(axes[0], timed, strict=False):
        runs = result["metrics"]["runs"]
        labels = [f"{r['data']}\n{r['obs_id']}" for r in runs]
        ax.bar(labels, [r["cpu_s"] for r in runs], label="CPU")
        ax.scatter(labels, [r["wall_s"] for r in runs], color="k", s=12, label="wall")
        ax.axhline(result["checks"][0]["limit"], color="k", ls="--", label="budget")
        ax.set_ylabel("time per run [s]")
        ax.set_title(f"ctao-sat {result['name']}")
        ax.tick_params(axis="x", labelrotation=90, labelsize="small")
        ax.legend(fontsize="small")
    if volume is not None:
        _volume_panels(volume, axes[0][-2], axes[0][-1])
    figure.tight_layout()
    figure.savefig(plots / "bench-operations.png", dpi=100)
    plt.close(figure)
    paths["operations"] = "plots/bench-operations.png"


def _one_to_one(ax, values, factor_low, factor_high, label):
    """Draw ``y = x`` over ``values`` and the band ``factor_low..high x``."""
    low, high = 0.8 * min(values), 1.25 * max(values)
    ax.plot([low, high], [low, high], color="k", lw=1)
    ax.fill_between(
        [low, high],
        [low * factor_low, high * factor_low],
        [low * factor_high, high * factor_high],
        color="0.85",
        label=label,
    )
    ax.set_xscale("log")
    ax.set_yscale("log")


def _volume_panels(volume: dict, bytes_ax, events_ax) -> None:
    """Plot the data volume on real DL3: event bytes and counts, predicted vs found.

    One point per run of each release (``check_real_runs`` rows); the bands are
    the budgets of the checks (`budget_checks`).
    """
    runs = volume["metrics"]["runs"]
    limits = {c["metric"]: c["limit"] for c in volume["checks"]}
    releases = sorted({r["release"] for r in runs})
    tolerance = limits["max_events_bytes_deviation"]
    predicted = [r["predicted_events_bytes"] / 2**20 for r in runs]
    found = [r["events_bytes"] / 2**20 for r in runs]
    _one_to_one(
        bytes_ax, predicted + found, 1 - tolerance, 1 + tolerance, f"±{tolerance:.0%}"
    )
    factor = limits["max_events_factor"]
    counts = [r["predicted_events"] for r in runs] + [r["events"] for r in runs]
    _one_to_one(events_ax, counts, 1 / factor, factor, f"factor {factor:g}")
    for release in releases:
        mine = [r for r in runs if r["release"] == release]
        bytes_ax.plot(
            [r["predicted_events_bytes"] / 2**20 for r in mine],
            [r["events_bytes"] / 2**20 for r in mine],
            "o",
            label=f"{release} ({len(mine)} runs)",
        )
        events_ax.plot(
            [r["predicted_events"] for r in mine],
            [r["events"] for r in mine],
            "o",
            label=f"{release}: all events",
        )
        simulated = [r for r in mine if r["background_events"] is not None]
        if simulated:
            events_ax.plot(
                [r["predicted_events"] for r in simulated],
                [r["background_events"] for r in simulated],
                "x",
                color="k",
                label=f"{release}: simulated background",
            )
    bytes_ax.set_xlabel("event bytes predicted [MiB]")
    bytes_ax.set_ylabel("event bytes in the file [MiB]")
    bytes_ax.set_title("data volume: event bytes of real DL3 runs")
    bytes_ax.legend(fontsize="small", loc="upper left")
    events_ax.set_xlabel("background events predicted (IRF x live time)")
    events_ax.set_ylabel("events in the file")
    events_ax.set_title("data volume: events of real DL3 runs")
    events_ax.legend(fontsize="small", loc="upper left")
