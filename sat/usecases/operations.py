"""Operations on DL3 data that run like the use cases: quicklook, check, datavolume.

They are commands on data rather than analyses of a science case (``ctao-sat
run --list`` does not list them), but they run through the same runner
(`sat.usecases.runner.run`): a strict config, the data checked, the work done in
a scratch folder moved into place by the rules of `sat.outputs`, and the same
`sat.result.Result` in ``result.json`` (parameters, validation checks, products,
summary, provenance).

- `Quicklook`: the quick-look products of runs (`sat.quicklook`); its check is
  that every run was looked at.
- `Check`: the data-quality verdict of observations (`sat.quality`); one check
  per observation, which fails on a FAIL finding (a WARN is reported).
- `DataVolume`: the data-volume model (`sat.datavolume`); its checks are the
  per-run predictions on DL3 files it did not make.
"""

from __future__ import annotations

from pathlib import Path

from sat.datavolume import DataVolumeConfig
from sat.quality.run import CheckConfig
from sat.quicklook import QuicklookConfig
from sat.result import FAIL, WARN, Parameter
from sat.usecases.base import Outcome, RunContext, UseCase
from sat.validation import Bounds, Reference, check_bounds, compare

__all__ = ["OPERATIONS", "Check", "DataVolume", "Quicklook"]


def _written(context: RunContext) -> None:
    """Register every file the operation wrote into the output as a product."""
    files = sorted(p for p in context.workdir.rglob("*") if p.is_file())
    context.add_products(*files)


class Quicklook(UseCase):
    """Quick-look products of DL3 runs: maps, theta², ON/OFF numbers, a spectrum."""

    name = "quicklook"
    usecase_id = "SUSS-UC-SAT-090"
    summary = "Quick-look maps, theta², ON/OFF numbers and first spectrum per run"
    Config = QuicklookConfig

    def run(self, config: QuicklookConfig, context: RunContext) -> Outcome:
        """Look at every run; a run that cannot be looked at is named, not fatal.

        Raises
        ------
        QuicklookFailed
            No run could be looked at: nothing is written.
        """
        from sat.quicklook import QuicklookFailed, run_quicklook

        entries = run_quicklook(
            config.paths,
            context.workdir,
            obs_ids=config.obs_ids or None,
            target=config.target,
            settings=config.settings,
            progress=context.progress,
        )
        failed = [entry for entry in entries if "error" in entry]
        if len(failed) == len(entries):
            raise QuicklookFailed(failed)
        _written(context)
        looked_at = compare(
            Reference(
                "runs looked at",
                float(len(entries)),
                0.0,
                "",
                "the runs asked for",
                0.0,
                "a run that could not be looked at is named with its cause",
            ),
            float(len(entries) - len(failed)),
        )
        summary = [_quicklook_line(entry) for entry in entries if "error" not in entry]
        return Outcome({}, [looked_at], summary, {"runs": entries})


def _quicklook_line(entry: dict) -> str:
    """One run's quick look in a line: ON/OFF, excess, live time, spectrum."""
    fit = entry["spectrum"]["fit"]
    index = (
        f"index {fit['index']:.2f} ± {fit['index_error']:.2f}"
        if fit["success"]
        else "fit failed"
    )
    theta2 = entry["theta2"]
    # The live time with the counts it gave; how long the quick look took last,
    # said as such (a bare "12.3 s" read as the run's duration).
    return (
        f"obs {entry['obs_id']}: ON {theta2['n_on']} OFF {theta2['n_off']} excess "
        f"{theta2['excess']:.0f} ({theta2['significance']:.1f} sigma) in "
        f"{entry['livetime_s'] / 3600:.2f} h live time, map max "
        f"{entry['maps']['max_significance']:.1f} sigma, {index} (looked at in "
        f"{entry['time_s']:.1f} s)"
    )


class Check(UseCase):
    """Data-quality verdicts of DL3 observations (PASS, WARN or FAIL)."""

    name = "check"
    usecase_id = "SUSS-UC-SAT-090"
    summary = "Data-quality verdict (PASS/WARN/FAIL) of every DL3 observation"
    Config = CheckConfig

    def run(self, config: CheckConfig, context: RunContext) -> Outcome:
        """Check every observation of the paths; one verdict each."""
        from sat.quality import check_paths, overall_verdict

        reports = check_paths(config.paths, progress=context.progress)
        counts = {v: sum(r.verdict == v for r in reports) for v in ("PASS", "WARN")}
        counts[FAIL] = sum(r.verdict == FAIL for r in reports)
        summary = [
            f"{len(reports)} observations: "
            + ", ".join(f"{n} {verdict}" for verdict, n in counts.items())
        ]
        extra = {
            "verdict": overall_verdict(reports),
            "observations": [report.as_dict() for report in reports],
        }
        return Outcome({}, [_quality(r) for r in reports], summary, extra)


def _quality(report):
    """Return the verdict of one observation as a check: no FAIL finding."""
    fails = sum(finding.level == FAIL for finding in report.findings)
    bounds = Bounds(
        f"FAIL findings of obs {report.obs_id} ({report.source})",
        0.0,
        0.0,
        "",
        "GADF DL3 format and Gammapy's checkers (sat.quality)",
        "a FAIL finding makes the run unusable for an analysis; WARN findings "
        "are reported, not failed",
    )
    check = check_bounds(bounds, float(fails))
    if report.verdict == WARN:  # no FAIL finding, warnings: reported as such
        check = check.model_copy(update={"verdict": WARN})
    return check


class DataVolume(UseCase):
    """The CTAO DL3+ data volume per site, year and product level."""

    name = "datavolume"
    usecase_id = "SUSS-UC-SAT-100"
    summary = "DL3+ data volume per site, year and level, checked on real DL3"
    Config = DataVolumeConfig

    def required_datasets(self, config: DataVolumeConfig) -> tuple[str, ...]:
        """Return the IRFs, and the DL3 runs measured or checked on."""
        needed = ["cta-caldb"]
        if config.check or not config.measure:
            needed.append("hess-dl3-dr1")
        if config.check:
            needed.append("cta-1dc")
        return tuple(needed)

    def run(self, config: DataVolumeConfig, context: RunContext) -> Outcome:
        """Measure, derive the rates, tabulate the volume, check on real DL3."""
        from sat.data import require
        from sat.datavolume import run_model
        from sat.dl3.store import open_store

        paths = [Path(p) for p in config.measure] or sorted(
            (require("hess-dl3-dr1") / "data").glob("*.fits.gz")
        )
        context.add_inputs(*paths)
        releases = None
        if config.check:
            releases = {
                "H.E.S.S. DR1": open_store(require("hess-dl3-dr1")),
                "CTA 1DC": open_store(require("cta-1dc") / "index" / "gps"),
            }
        model = run_model(
            config.scenario,
            paths,
            context.workdir,
            progress=context.progress,
            releases=releases,
        )
        _written(context)
        return _volume_outcome(config, model, len(paths))


def _volume_outcome(config: DataVolumeConfig, model: dict, measured: int) -> Outcome:
    """Return the data-volume result: totals, lines to read, checks on real DL3."""
    scenario, table = config.scenario, model["table"]
    last = table[table["year"] == scenario.years]
    stored = {
        f"{row['site']} {row['level']}": float(row["stored_bytes"] / 1e9)
        for row in last
    }
    total = float(last["stored_bytes"].sum() / 1e12)
    parameters = {"stored_tb": Parameter(value=total, unit="TB")}
    kind = "gzip" if scenario.compressed else "raw"
    summary = [
        f"bytes per event {table.meta['bytes_per_event']:.1f} ({kind}, measured on "
        f"{measured} files)",
        *(
            f"{name}: {rate['background_hz']:.1f} Hz background + "
            f"{rate['gamma_hz']:.2f} Hz target"
            for name, rate in model["event_rates_hz"].items()
        ),
        f"stored at the end of year {scenario.years}: {total:.2f} TB (model-only)",
    ]
    checked = model["validation"]
    extra = {
        "bytes_per_event": float(table.meta["bytes_per_event"]),
        "event_rates_hz": model["event_rates_hz"],
        "stored_gb": stored,
        "model_only": model["model_only"],
        "public_figures": model["public_figures"],
        "checked_runs": None if checked is None else checked["runs"],
    }
    return Outcome(parameters, model["checks"], summary, extra)


# The operations by command name.
OPERATIONS = {case.name: case for case in (Quicklook, Check, DataVolume)}
