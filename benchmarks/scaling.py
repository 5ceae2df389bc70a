"""Scaling: the survey's runs reduced serially and with 2 workers, by ctao-sat and by
plain Gammapy, interleaved and repeated.

Every repeat runs whole processes on the same first ``runs`` runs of the
``survey`` use case's DL3 files:

- ``ctao-sat run survey`` serially and with ``--backend multiprocessing --n-jobs 2``;
- in the first ``plain_repeats`` repeats also ``plain_reduction.py``: Gammapy's
  `DatasetsMaker` with the same makers and settings, ``n_jobs`` 1 and 2 (what a
  scientist would write without ctao-sat).

in ABBA order (even repeats ctao-sat serial, ctao-sat parallel, plain serial,
plain parallel; odd repeats the reverse), so that a drift of the machine's speed
favours no side. ctao-sat's own pair is repeated more often than plain
Gammapy's: its budget (1.8) is close to what 2 cores allow, so it needs the
narrower interval of more samples (gates.yaml), while plain Gammapy's pair, twice
as long, only has to be beaten.

From each repeat: the *reduction speedup* of each side (serial
over parallel wall time of the reduction itself, the part that runs in parallel:
``reduction.wall_s`` of result.json and the plain script's timer), their ratio
(``speedup_vs_plain``), ctao-sat's *end-to-end* speedup (whole process: start-up,
reduction, joint fit, products) and the CPU bound of each side (workers x serial
over parallel CPU time of the reduction: what a quiet machine allows at most, a
figure even a busy machine gives). The record keeps the median of each with its
samples (the budgets' intervals, `satdev.benchmarks`) and every measurement, with
the load of the machine and the CPU other processes used meanwhile.

Both sides must reduce the same data: the summed ON and OFF counts in the safe
energy ranges of all the runs of a repeat must be equal, or the benchmark
reports an error instead of a speedup.

Data: the DL3 runs of the survey use case (``nox -s bench`` runs it first and
they are reused), or simulated once with the survey's default configuration.

Standalone: ``python benchmarks/scaling.py --output build/scaling [--runs 50]
[--repeats 11] [--plain-repeats 5] [--ray]`` (``--ray`` adds ``ctao-sat run survey
--backend ray``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
# Run standalone too: `satdev` (the verification tooling) is in the repository only.
sys.path.insert(0, str(HERE.parent))

from satdev.benchmarks import SCALING, measure, median_interval  # noqa: E402
from satdev.gates import load_thresholds  # noqa: E402

PLAIN = HERE / "plain_reduction.py"
CTAO_SAT, PLAIN_GAMMAPY = "ctao-sat", "plain-gammapy"


def simulate(folder: Path, n_runs: int) -> Path:
    """Simulate ``n_runs`` survey runs into ``folder`` once; return the DL3 folder."""
    from sat import offline
    from sat.usecases.base import RunContext
    from sat.usecases.survey import SurveyConfig, simulate

    dl3 = folder / "dl3"
    if _count_runs(dl3) >= n_runs:
        return dl3
    offline.configure()
    simulate(SurveyConfig(n_runs=n_runs), RunContext(folder))
    return dl3


def _count_runs(dl3: Path) -> int:
    index = dl3 / "obs-index.fits.gz"
    if not index.is_file():
        return 0
    from astropy.table import Table

    return len(Table.read(index))


def _ctao_sat() -> str:
    return str(Path(sys.executable).with_name("ctao-sat"))


def _ray_environment() -> dict:
    """Environment for Ray runs on a loaded machine (see tests/test_backends.py)."""
    stub = Path(tempfile.mkdtemp(prefix="ray-stub-"))
    (stub / "rfc3987_syntax.py").write_text('raise ImportError("ray#65983")\n')
    path = os.pathsep.join(filter(None, [str(stub), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def _measure(command: list[str], log: Path, env=None) -> dict:
    """`measure` ``command`` with its output in ``log`` (Gammapy warns per run).

    A run longer than a use case's wall-time budget is killed: a hung run fails
    the benchmark instead of hanging the release.
    """
    timeout = load_thresholds()["benchmarks"]["usecase_wall_time_s"]["default"]
    with log.open("w") as out:
        return measure(command, timeout, env=env, stdout=out, stderr=subprocess.STDOUT)


def _failure(command: list[str], measured: dict, output: Path) -> str:
    """One line: the command, its exit code and the last line of its log."""
    if measured["timed_out"]:
        return f"{' '.join(command)}: killed after {measured['wall_time_s']:.0f} s"
    lines = output.with_suffix(".log").read_text(errors="replace").splitlines()
    last = next((line for line in reversed(lines) if line.strip()), "")
    return f"{' '.join(command)}: exit {measured['exit_code']}: {last.strip()}"


def ctao_sat(dl3: Path, runs: int, backend: str, n_jobs: int, output: Path) -> dict:
    """``ctao-sat run survey`` on the first ``runs`` runs of ``dl3``; one row."""
    output.parent.mkdir(parents=True, exist_ok=True)
    config = output.with_suffix(".yaml")
    config.write_text(yaml.safe_dump({"n_runs": runs, "datastore": str(dl3)}))
    command = [_ctao_sat(), "run", "survey", "--config", str(config), "-q"]
    # --overwrite: a previous benchmark's result in this folder is ours.
    command += ["--output", str(output), "--backend", backend, "--overwrite"]
    if backend != "serial":
        command += ["--n-jobs", str(n_jobs)]
    env = _ray_environment() if backend == "ray" else None
    load = os.getloadavg()[0]
    measured = _measure(command, output.with_suffix(".log"), env=env)
    row = {
        "side": CTAO_SAT,
        "backend": backend,
        "n_jobs": n_jobs if backend != "serial" else 1,
        "load_1min": round((load + os.getloadavg()[0]) / 2, 2),
        "process": measured,
    }
    if measured["exit_code"] != 0:
        return {
            **row,
            "error": f"{' '.join(command[1:])}: exit {measured['exit_code']}",
        }
    result = json.loads((output / "result.json").read_text())
    reduction = result["reduction"]
    parallel = reduction["workers"] > 1
    return {
        **row,
        "reduction_wall_s": reduction["wall_s"],
        # Serially the main process is the worker: count its CPU once.
        "reduction_cpu_s": reduction["main_cpu_s"]
        + (reduction["worker_cpu_s"] if parallel else 0),
        "runs_reduced": reduction["runs_reduced"],
        "peak_rss_mib_per_worker": reduction["peak_rss_mib_per_worker"],
        "n_on": result["stacked"]["n_on"],
        "n_off": result["stacked"]["n_off"],
    }


def plain_settings() -> list[str]:
    """The survey's default settings as arguments of ``plain_reduction.py``."""
    from sat.usecases.survey import SurveyConfig

    config = SurveyConfig()
    return [
        *("--ra", str(config.ra_deg), "--dec", str(config.dec_deg)),
        *("--on-radius", str(config.on_radius_deg)),
        *("--energy-min", str(config.energy_min_tev)),
        *("--energy-max", str(config.energy_max_tev)),
        *("--bins-per-decade", str(config.bins_per_decade)),
        # survey.py's SafeMaskMaker(methods=["aeff-max"], aeff_percent=10)
        *("--aeff-percent", "10"),
    ]


def plain_gammapy(dl3: Path, runs: int, n_jobs: int, output: Path) -> dict:
    """``plain_reduction.py`` on the first ``runs`` runs of ``dl3``; one row."""
    output.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(PLAIN), "--datastore", str(dl3)]
    command += ["--n-runs", str(runs), "--n-jobs", str(n_jobs), *plain_settings()]
    command += ["--output", str(output)]
    load = os.getloadavg()[0]
    measured = _measure(command, output.with_suffix(".log"))
    row = {
        "side": PLAIN_GAMMAPY,
        "backend": "serial" if n_jobs == 1 else "multiprocessing",
        "n_jobs": n_jobs,
        "load_1min": round((load + os.getloadavg()[0]) / 2, 2),
        "process": measured,
    }
    if measured["exit_code"] != 0:
        return {**row, "error": _failure([PLAIN.name], measured, output)}
    reduced = json.loads(output.read_text())
    return {
        **row,
        "reduction_wall_s": reduced["wall_s"],
        "reduction_cpu_s": reduced["cpu_s"],
        "runs_reduced": reduced["runs"],
        "n_on": reduced["n_on"],
        "n_off": reduced["n_off"],
    }


def _plan(n_jobs: int, ray: bool, plain: bool) -> list[tuple[str, str, int]]:
    """The measurements of a repeat: (side, backend, n_jobs)."""
    plan = [(CTAO_SAT, "serial", 1), (CTAO_SAT, "multiprocessing", n_jobs)]
    if plain:
        plan += [
            (PLAIN_GAMMAPY, "serial", 1),
            (PLAIN_GAMMAPY, "multiprocessing", n_jobs),
        ]
    if ray:
        plan.insert(2, (CTAO_SAT, "ray", n_jobs))
    return plan


def measure_repeats(
    dl3: Path,
    runs: int,
    repeats: int,
    output: Path,
    n_jobs: int = 2,
    ray=False,
    plain_repeats: int | None = None,
) -> list[dict]:
    """Every measurement of every repeat, in the order they ran.

    Plain Gammapy is measured in the first ``plain_repeats`` repeats (default all).
    """
    plain_repeats = repeats if plain_repeats is None else plain_repeats
    rows = []
    for repeat in range(repeats):
        plan = _plan(n_jobs, ray, plain=repeat < plain_repeats)
        for position, (side, backend, jobs) in enumerate(
            plan if repeat % 2 == 0 else plan[::-1]
        ):
            folder = output / f"{repeat}-{side}-{backend}"
            if side == CTAO_SAT:
                row = ctao_sat(dl3, runs, backend, jobs, folder / "out")
            else:
                row = plain_gammapy(dl3, runs, jobs, folder / "reduced.json")
            rows.append({"repeat": repeat, "position": position, **row})
            print(
                f"  scaling {repeat}.{position} {side} {backend}: "
                + (
                    row["error"]
                    if "error" in row
                    else f"reduction {row['reduction_wall_s']:.1f} s "
                    f"(process {row['process']['wall_time_s']:.1f} s, "
                    f"{row['process']['cpu_time_s']:.1f} s CPU; other processes "
                    f"{row['process']['background_cores']} cores)"
                ),
                flush=True,
            )
    return rows


def _same_data(rows: list[dict]) -> str | None:
    """Why the rows did not all reduce the same data, or None."""
    counts = {(row["n_on"], row["n_off"]) for row in rows}
    if len(counts) == 1:
        return None
    found = ", ".join(
        f"{row['side']} {row['backend']} ON {row['n_on']} OFF {row['n_off']}"
        for row in rows
    )
    return (
        f"the reductions differ ({found}): {PLAIN.name} no longer does the "
        "survey's reduction, or a backend changed the result"
    )


def summarise(rows: list[dict], runs: int, n_jobs: int, confidence: float) -> dict:
    """The scaling result (``kind: scaling``) from every measurement."""
    result = {"name": SCALING, "kind": "scaling", "rows": rows}
    failed = [row["error"] for row in rows if "error" in row]
    error = "; ".join(failed) if failed else _same_data(rows)
    if error:
        return {**result, "error": error, "metrics": {"runs": runs}}
    by_repeat: dict[int, dict] = {}
    for row in rows:
        by_repeat.setdefault(row["repeat"], {})[(row["side"], row["backend"])] = row
    samples: dict[str, list[float]] = {
        "reduction_speedup": [],
        "plain_gammapy_speedup": [],
        "speedup_vs_plain": [],
        "end_to_end_speedup": [],
        "plain_gammapy_end_to_end_speedup": [],
        "cpu_speedup_bound": [],
        "plain_gammapy_cpu_speedup_bound": [],
        "serial_cpu_per_run_s": [],
    }
    cores = min(n_jobs, os.cpu_count() or 1)
    for repeat in by_repeat.values():
        ours = repeat[(CTAO_SAT, "serial")], repeat[(CTAO_SAT, "multiprocessing")]
        speedup = ours[0]["reduction_wall_s"] / ours[1]["reduction_wall_s"]
        samples["reduction_speedup"].append(speedup)
        pairs = [("end_to_end_speedup", ours)]
        bounds = [("cpu_speedup_bound", ours)]
        if (PLAIN_GAMMAPY, "serial") in repeat:
            plain = (
                repeat[(PLAIN_GAMMAPY, "serial")],
                repeat[(PLAIN_GAMMAPY, "multiprocessing")],
            )
            plain_speedup = plain[0]["reduction_wall_s"] / plain[1]["reduction_wall_s"]
            samples["plain_gammapy_speedup"].append(plain_speedup)
            samples["speedup_vs_plain"].append(speedup / plain_speedup)
            pairs.append(("plain_gammapy_end_to_end_speedup", plain))
            bounds.append(("plain_gammapy_cpu_speedup_bound", plain))
        for key, (serial, parallel) in pairs:
            samples[key].append(
                serial["process"]["wall_time_s"] / parallel["process"]["wall_time_s"]
            )
        # The most a quiet machine could give this work: every core busy with
        # the CPU the parallel reduction cost (unlike wall time, CPU time hardly
        # depends on the other processes: a figure a busy machine can still give).
        for key, (serial, parallel) in bounds:
            samples[key].append(
                cores * serial["reduction_cpu_s"] / parallel["reduction_cpu_s"]
            )
        samples["serial_cpu_per_run_s"].append(ours[0]["reduction_cpu_s"] / runs)
    samples = {key: [round(v, 4) for v in values] for key, values in samples.items()}
    background = [
        row["process"]["background_cores"]
        for row in rows
        if row["process"]["background_cores"] is not None
    ]
    metrics = {key: statistics.median(values) for key, values in samples.items()}
    metrics.update(
        {
            "runs": runs,
            "n_jobs": n_jobs,
            "repeats": len(by_repeat),
            "plain_repeats": len(samples["plain_gammapy_speedup"]),
            # Other processes' CPU during the runs, in cores (the wall-time ratios
            # are judged only when it is low: satdev.benchmarks).
            "background_cores": _median(background),
            "background_cores_max": max(background) if background else None,
            "load_1min": statistics.median(row["load_1min"] for row in rows),
        }
    )
    intervals = {
        key: median_interval(values, confidence) for key, values in samples.items()
    }
    return {**result, "metrics": metrics, "samples": samples, "intervals": intervals}


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def plot(result: dict, path: Path, thresholds: dict) -> None:
    """Speedup of each repeat, both sides, with the medians and the budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples, metrics = result["samples"], result["metrics"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label, colour in (
        ("reduction_speedup", "ctao-sat", "tab:blue"),
        ("plain_gammapy_speedup", "plain Gammapy DatasetsMaker", "tab:grey"),
        ("end_to_end_speedup", "ctao-sat end to end", "tab:cyan"),
    ):
        values = samples[key]
        left.plot(range(len(values)), values, "o", color=colour, label=label)
        left.axhline(metrics[key], color=colour, lw=1)
    left.axhline(thresholds["scaling_min_speedup"], color="k", ls="--", label="budget")
    left.set_xlabel("repeat")
    left.set_ylabel(f"speedup with {metrics['n_jobs']} workers (wall time)")
    left.set_title(f"survey, {metrics['runs']} runs: serial / parallel")
    left.legend(fontsize="small")
    for key, label in (("serial", "serial"), ("multiprocessing", "2 workers")):
        for side, marker in ((CTAO_SAT, "o"), (PLAIN_GAMMAPY, "s")):
            rows = [
                r for r in result["rows"] if r["side"] == side and r["backend"] == key
            ]
            right.plot(
                [r["repeat"] for r in rows],
                [r["reduction_wall_s"] for r in rows],
                marker,
                label=f"{side} {label}",
            )
    right.set_xlabel("repeat")
    right.set_ylabel("reduction wall time [s]")
    right.set_title(
        f"other processes: {metrics['background_cores']} cores (median), "
        f"load {metrics['load_1min']}"
    )
    right.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def run(
    output: Path,
    dl3: Path | None = None,
    runs: int | None = None,
    repeats: int | None = None,
    n_jobs: int = 2,
    ray: bool = False,
    plain_repeats: int | None = None,
) -> dict:
    """Run the scaling benchmark; return its result (``kind: scaling``).

    Parameters
    ----------
    output : Path
        Where the runs write (and ``scaling.json``, ``scaling.png``).
    dl3 : Path, optional
        The survey's DL3 folder with at least ``runs`` runs; default simulate.
    runs, repeats, plain_repeats : int, optional
        Default ``scaling_runs``, ``scaling_repeats`` and ``scaling_plain_repeats``
        of gates.yaml (plain Gammapy: at most ``repeats``).
    n_jobs : int
        Workers of the parallel runs.
    ray : bool
        Also ``ctao-sat run survey --backend ray`` in every repeat.
    """
    thresholds = load_thresholds()["benchmarks"]
    runs = runs or thresholds["scaling_runs"]
    repeats = repeats or thresholds["scaling_repeats"]
    plain_repeats = min(plain_repeats or thresholds["scaling_plain_repeats"], repeats)
    output = Path(output).absolute()
    output.mkdir(parents=True, exist_ok=True)
    survey_dl3 = dl3
    if dl3 is None or _count_runs(dl3) < runs:
        dl3 = simulate(output / "runs", runs)
    print(
        f"scaling: {runs} survey runs of {dl3}, {repeats} repeats of ctao-sat "
        f"({plain_repeats} with plain Gammapy), serial and {n_jobs} workers",
        flush=True,
    )
    rows = measure_repeats(dl3, runs, repeats, output, n_jobs, ray, plain_repeats)
    result = summarise(rows, runs, n_jobs, thresholds["noise_confidence"])
    result["data"] = "survey use case" if dl3 == survey_dl3 else "simulated"
    if "error" not in result:
        plot(result, output / "scaling.png", thresholds)
        # Relative to the folder of the bench record (output is its "scaling").
        result["plot"] = f"{output.name}/scaling.png"
    (output / "scaling.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv=None) -> int:
    """Command line: run the benchmark and print its medians and intervals."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("build/scaling"))
    parser.add_argument("--datastore", type=Path, help="the survey's DL3 folder")
    parser.add_argument("--runs", type=int, help="survey runs reduced each time")
    parser.add_argument("--repeats", type=int, help="interleaved repeats")
    parser.add_argument(
        "--plain-repeats", type=int, help="of which also plain Gammapy's pair"
    )
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--ray", action="store_true", help="also the Ray backend")
    args = parser.parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    result = run(
        args.output,
        args.datastore,
        args.runs,
        args.repeats,
        args.n_jobs,
        args.ray,
        args.plain_repeats,
    )
    if "error" in result:
        print(f"scaling: ERROR {result['error']}")
        return 1
    for key, interval in result["intervals"].items():
        print(
            f"{key:>34}: median {interval['median']:.3f}, "
            f"{100 * interval['confidence']:.0f} % interval "
            f"[{interval['low']:.3f}, {interval['high']:.3f}] of {interval['n']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
