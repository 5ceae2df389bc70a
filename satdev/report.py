"""The verification report: HTML for people, Markdown and JSON, and the AIV inputs.

`write_report` turns a `Verification` into ``<out>/``:

- ``index.html``: verdict, gates, traceability matrix, use-case validation tables
  with their plots, benchmark tables and plots, the exact environment;
- ``report.md`` and ``report.json``: the same content;
- ``aiv/``: what CTAO's AIV report consumes: ``junit.xml``, ``coverage.xml``,
  ``traceability.csv``, ``lint.json``;
- ``plots/``: the use cases' PNGs and the benchmark plots.
"""

from __future__ import annotations

import html
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

from satdev.benchmarks import budget_checks
from satdev.gates import load_thresholds
from satdev.traceability import write_csv

__all__ = ["build_report", "write_report"]

TITLE = "ctao-sat {version}: verification report"


def _check_row(check: dict) -> dict:
    return {
        "fit": check.get("fit", ""),
        "quantity": check["quantity"],
        "measured": check["measured"],
        "measured_error": check.get("measured_error", 0.0),
        "reference": check["value"],
        "reference_error": check["error"],
        "unit": check.get("unit", ""),
        "deviation_sigma": check["deviation_sigma"],
        "n_sigma": check["n_sigma"],
        "verdict": check["verdict"],
        "source": check.get("source", ""),
        "why": check.get("why", ""),
    }


def build_report(verification, environment: dict) -> dict:
    """Build the report content (JSON-ready) from a `Verification`."""
    thresholds = load_thresholds()["benchmarks"]
    bench = verification.bench
    benchmarks = None
    if bench is not None:
        benchmarks = {
            **{k: v for k, v in bench.items() if k != "results"},
            "results": [
                {**result, "checks": budget_checks(result, thresholds)}
                for result in bench["results"]
            ],
        }
    usecases = {}
    for name, result in verification.usecases.items():
        usecases[name] = {
            "usecase_id": verification.registered.get(name, ""),
            "ran": result is not None,
            "summary": (result or {}).get("summary", []),
            "checks": [_check_row(c) for c in (result or {}).get("validation", [])],
            "plots": [],
            "wall_time_s": ((result or {}).get("provenance") or {}).get("wall_time_s"),
        }
    return {
        "title": TITLE.format(version=verification.version),
        "release": verification.version,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "verdict": "PASS" if verification.passed else "FAIL",
        "gates": [gate.as_dict() for gate in verification.gates],
        "traceability": [
            {
                "id": t.id,
                "kind": t.kind,
                "level": t.level,
                "method": t.method,
                "status": t.status,
                "text": t.text,
                "verdict": t.verdict,
                "note": t.note,
                "tests": [
                    {"test": r.test, "outcome": r.outcome, "message": r.message}
                    for r in t.tests
                ],
            }
            for t in verification.traces
        ],
        "tests": {
            "total": len(verification.tests),
            "passed": sum(r.outcome == "passed" for r in verification.tests),
        },
        "usecases": usecases,
        "benchmarks": benchmarks,
        "environment": environment,
        "aiv": {},
        "plots": {},
    }


# ---------------------------------------------------------------- files


def _copy_aiv(verification, report: dict, out: Path) -> None:
    aiv = out / "aiv"
    aiv.mkdir(parents=True, exist_ok=True)
    inputs = verification.inputs
    for name, source in (
        ("junit.xml", inputs.junit),
        ("coverage.xml", inputs.coverage),
        ("lint.json", inputs.lint),
    ):
        if source is not None and Path(source).is_file():
            shutil.copyfile(source, aiv / name)
            report["aiv"][name] = f"aiv/{name}"
    write_csv(verification.traces, aiv / "traceability.csv")
    report["aiv"]["traceability.csv"] = "aiv/traceability.csv"


def _copy_usecase_plots(verification, report: dict, out: Path) -> None:
    folder = verification.inputs.usecases
    for name, result in verification.usecases.items():
        if result is None or folder is None:
            continue
        for product in result.get("products", []):
            source = Path(folder, name, product)
            if source.suffix.lower() == ".png" and source.is_file():
                target = Path("plots", "usecases", name, product)
                (out / target).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, out / target)
                report["usecases"][name]["plots"].append(target.as_posix())


def _bench_plots(report: dict, out: Path) -> None:
    """Plot the benchmarks against their budgets (PNG, matplotlib Agg)."""
    bench = report["benchmarks"]
    if not bench:
        return
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
        report["plots"]["usecases"] = "plots/bench-usecases.png"
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
        report["plots"]["startup"] = "plots/bench-startup.png"
    _operations_plot(bench["results"], plots, report)
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
        report["plots"]["history"] = "plots/bench-history.png"


def _operations_plot(results: list[dict], plots: Path, report: dict) -> None:
    """Quick look and checks: time per run; data volume: written vs predicted."""
    import matplotlib.pyplot as plt

    by_kind = {r["kind"]: r for r in results}
    timed = [by_kind[k] for k in ("quicklook", "check") if k in by_kind]
    volume = by_kind.get("datavolume")
    if not timed and not volume:
        return
    panels = len(timed) + (volume is not None)
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
        ax = axes[0][-1]
        runs = volume["metrics"]["runs"]
        predicted = [r["predicted_bytes"] / 2**20 for r in runs]
        written = [r["bytes"] / 2**20 for r in runs]
        ax.plot(predicted, written, "o")
        for p, w, r in zip(predicted, written, runs, strict=True):
            ax.annotate(
                f"{r['livetime_h']} h, {r['offset_deg']} deg",
                (p, w),
                fontsize="small",
                textcoords="offset points",
                xytext=(4, -10),
            )
        top = 1.1 * max(predicted + written)
        ax.plot([0, top], [0, top], color="k", lw=1, label="written = predicted")
        deviation = volume["checks"][0]["limit"]
        ax.fill_between(
            [0, top],
            [0, top * (1 - deviation)],
            [0, top * (1 + deviation)],
            color="0.85",
            label=f"budget ±{deviation:.0%}",
        )
        ax.set_xlabel("predicted by the volume model [MiB]")
        ax.set_ylabel("written [MiB]")
        ax.set_title(f"data volume: simulated {volume['metrics']['irf']} runs")
        ax.legend(fontsize="small", loc="upper left")
    figure.tight_layout()
    figure.savefig(plots / "bench-operations.png", dpi=100)
    plt.close(figure)
    report["plots"]["operations"] = "plots/bench-operations.png"


# ---------------------------------------------------------------- Markdown


def _md_table(header: list[str], rows: list[list]) -> str:
    def cell(value) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _interval(check: dict) -> str:
    """Format the interval of a benchmark check with its coverage ("" if none)."""
    if not check.get("interval"):
        return ""
    low, high = check["interval"]
    return (
        f"[{low:.4g}, {high:.4g}] ({100 * check['confidence']:.0f} %, n={check['n']})"
    )


def render_markdown(report: dict) -> str:
    """Render the report as Markdown."""
    parts = [f"# {report['title']}", ""]
    parts += [f"**Verdict: {report['verdict']}** ({report['created']})", ""]
    parts += ["## Gates", ""]
    parts.append(
        _md_table(
            ["gate", "verdict", "figure", "threshold"],
            [
                [
                    g["name"],
                    "PASS" if g["passed"] else "FAIL",
                    g["figure"],
                    g["threshold"],
                ]
                for g in report["gates"]
            ],
        )
    )
    for gate in report["gates"]:
        if gate["details"] or gate["warnings"]:
            parts += ["", f"**{gate['name']}**:", ""]
            parts += [f"- {line}" for line in gate["details"]]
            parts += [f"- warning: {line}" for line in gate["warnings"]]
    parts += ["", "## Traceability", ""]
    parts.append(
        _md_table(
            ["id", "kind", "method", "verdict", "tests (passed/total)", "note"],
            [
                [
                    t["id"],
                    t["kind"],
                    t["method"],
                    t["verdict"],
                    f"{sum(x['outcome'] == 'passed' for x in t['tests'])}"
                    f"/{len(t['tests'])}",
                    t["note"],
                ]
                for t in report["traceability"]
            ],
        )
    )
    parts += ["", "## Use-case validation", ""]
    for name, case in report["usecases"].items():
        parts += [f"### {name} ({case['usecase_id']})", ""]
        if not case["ran"]:
            parts += ["No result: the use case did not run.", ""]
            continue
        parts += [f"- {line}" for line in case["summary"]] + [""]
        parts.append(
            _md_table(
                [
                    "fit",
                    "quantity",
                    "measured",
                    "reference",
                    "sigma",
                    "tol.",
                    "verdict",
                ],
                [
                    [
                        c["fit"],
                        c["quantity"],
                        f"{_fmt(c['measured'])} ± {_fmt(c['measured_error'])}",
                        f"{_fmt(c['reference'])} ± {_fmt(c['reference_error'])}",
                        c["deviation_sigma"],
                        c["n_sigma"],
                        c["verdict"],
                    ]
                    for c in case["checks"]
                ],
            )
        )
        parts += [""] + [f"![{name}]({plot})" for plot in case["plots"]] + [""]
    parts += ["## Benchmarks", ""]
    bench = report["benchmarks"]
    if bench:
        parts.append(
            _md_table(
                ["benchmark", "metric", "value", "interval", "budget", "verdict"],
                [
                    [
                        r["name"],
                        c["metric"],
                        _fmt(c["value"]),
                        _interval(c),
                        f"{c['op']} {c['limit']} {c['unit']}".strip(),
                        c["verdict"],
                    ]
                    for r in bench["results"]
                    for c in r["checks"]
                ],
            )
        )
        comparison = bench.get("comparison") or {}
        parts += ["", f"Previous release: {comparison.get('previous') or 'none'}", ""]
        if comparison.get("rows"):
            parts.append(
                _md_table(
                    ["benchmark", "metric", "previous", "current", "ratio", "flag"],
                    [
                        [
                            r["benchmark"],
                            r["metric"],
                            r["previous"],
                            r["current"],
                            r["ratio"],
                            "REGRESSION" if r["regression"] else "",
                        ]
                        for r in comparison["rows"]
                    ],
                )
            )
        parts += [""] + [f"![{k}]({v})" for k, v in report["plots"].items()]
    else:
        parts.append("No benchmark record.")
    env = report["environment"]
    parts += ["", "## Environment", ""]
    parts += [
        f"- ctao-sat {env['release']}, {env['implementation']} {env['python']} "
        f"on {env['platform']} ({env['cpus']} CPUs)",
        *(
            f"- {tool}: {version or 'not installed'}"
            for tool, version in env["tools"].items()
        ),
        "",
    ]
    parts.append(
        _md_table(
            ["distribution", "pinned", "installed"],
            [[p["name"], p["pinned"], p["installed"]] for p in env["pins"]],
        )
    )
    parts += ["", "## AIV inputs", ""]
    parts += [f"- [{name}]({path})" for name, path in report["aiv"].items()]
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------- HTML

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px;
       color: #222; padding: 0 1em; }
h1 { margin-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left;
         vertical-align: top; }
th { background: #eef; }
.PASS, .VERIFIED { background: #d8f5d8; }
.FAIL, .FAILED, .NO-PASSING-TEST { background: #f9d0d0; }
.NOT-YET-VERIFIED, .NOT-IMPLEMENTED, .warn { background: #fff2c4; }
.verdict { font-size: 1.6em; padding: 0.3em 0.8em; display: inline-block;
           border-radius: 0.3em; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; }
details { margin: 0; } code { font-size: 0.85em; }
"""


def _e(value) -> str:
    return html.escape(_fmt(value))


def _cls(verdict: str) -> str:
    return verdict.replace(" ", "-").split("-(")[0]


def _html_table(header: list[str], rows: list[tuple[str, list[str]]]) -> str:
    """Rows are (css class, already escaped cells)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        f'<tr class="{cls}">' + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"
        for cls, cells in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _list(lines: list[str], cls: str = "") -> str:
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return f'<ul class="{cls}">{items}</ul>'


def render_html(report: dict) -> str:
    """Render the report as one HTML page (plots are PNG files beside it)."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(report['title'])}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{html.escape(report['title'])}</h1>",
        f"<p>Created {html.escape(report['created'])}. "
        f"{report['tests']['passed']}/{report['tests']['total']} tests passed.</p>",
        f'<p class="verdict {report["verdict"]}">Verdict: {report["verdict"]}</p>',
        '<nav><a href="#gates">Gates</a> · <a href="#trace">Traceability</a> · '
        '<a href="#usecases">Use cases</a> · <a href="#bench">Benchmarks</a> · '
        '<a href="#env">Environment</a> · <a href="#aiv">AIV inputs</a></nav>',
        '<h2 id="gates">Quality gates</h2>',
    ]
    rows = []
    for gate in report["gates"]:
        verdict = "PASS" if gate["passed"] else "FAIL"
        notes = _list(gate["details"]) + _list(
            [f"warning: {w}" for w in gate["warnings"]], "warn"
        )
        rows.append(
            (
                verdict,
                [
                    _e(gate["name"]),
                    verdict,
                    _e(gate["figure"]),
                    _e(gate["threshold"]),
                    notes,
                ],
            )
        )
    out.append(_html_table(["gate", "verdict", "figure", "threshold", "details"], rows))
    out.append('<h2 id="trace">Traceability: requirement → tests → result</h2>')
    rows = []
    for t in report["traceability"]:
        passed = sum(x["outcome"] == "passed" for x in t["tests"])
        tests = "".join(
            f"<li>{_e(x['outcome'])}: <code>{_e(x['test'])}</code></li>"
            for x in t["tests"]
        )
        tests = (
            f"<details><summary>{passed}/{len(t['tests'])} passed</summary>"
            f"<ul>{tests}</ul></details>"
            if t["tests"]
            else "none"
        )
        rows.append(
            (
                _cls(t["verdict"]),
                [
                    f"<b>{_e(t['id'])}</b>",
                    _e(t["kind"]),
                    _e(t["method"]),
                    _e(t["text"]),
                    tests,
                    _e(t["verdict"]),
                    _e(t["note"]),
                ],
            )
        )
    out.append(
        _html_table(["id", "kind", "method", "text", "tests", "verdict", "note"], rows)
    )
    out.append('<h2 id="usecases">Use-case validation</h2>')
    if not report["usecases"]:
        out.append("<p>No use case is registered.</p>")
    for name, case in report["usecases"].items():
        out.append(f"<h3>{_e(name)} ({_e(case['usecase_id'])})</h3>")
        if not case["ran"]:
            out.append('<p class="FAIL">No result.json: the use case did not run.</p>')
            continue
        out.append(_list(case["summary"]))
        rows = [
            (
                c["verdict"],
                [
                    _e(c["fit"]),
                    _e(c["quantity"]),
                    f"{_e(c['measured'])} ± {_e(c['measured_error'])}",
                    f"{_e(c['reference'])} ± {_e(c['reference_error'])}",
                    _e(c["unit"]),
                    _e(c["deviation_sigma"]),
                    _e(c["n_sigma"]),
                    c["verdict"],
                    _e(c["source"]),
                ],
            )
            for c in case["checks"]
        ]
        out.append(
            _html_table(
                [
                    "fit",
                    "quantity",
                    "measured",
                    "reference",
                    "unit",
                    "deviation [σ]",
                    "tolerance [σ]",
                    "verdict",
                    "source",
                ],
                rows,
            )
        )
        whys = sorted({c["why"] for c in case["checks"] if c["why"]})
        if whys:
            out.append("<p><b>Why these tolerances:</b></p>" + _list(whys))
        out += [
            f'<img src="{html.escape(plot)}" alt="{_e(name)} plot">'
            for plot in case["plots"]
        ]
    out.append('<h2 id="bench">Benchmarks</h2>')
    bench = report["benchmarks"]
    if not bench:
        out.append('<p class="FAIL">No benchmark record.</p>')
    else:
        out.append(
            f"<p>Measured {_e(bench.get('date'))} on {_e(bench.get('platform'))} "
            f"({_e(bench.get('cpus'))} CPUs), Python {_e(bench.get('python'))}.</p>"
        )
        rows = [
            (
                {"PASS": "PASS", "FAIL": "FAIL"}.get(c["verdict"], "warn"),
                [
                    _e(r["name"]),
                    _e(c["metric"]),
                    _e(_fmt(c["value"])),
                    _e(_interval(c)),
                    f"{_e(c['op'])} {_e(c['limit'])} {_e(c['unit'])}",
                    _e(c["verdict"]),
                ],
            )
            for r in bench["results"]
            for c in r["checks"]
        ]
        header = ["benchmark", "metric", "value", "interval", "budget", "verdict"]
        out.append(_html_table(header, rows))
        out.append(
            "<p>Repeated measurements: value is the median, interval its "
            "distribution-free confidence interval (coverage shown); NOT "
            "RESOLVABLE: the budget lies inside the noise, never a pass.</p>"
        )
        comparison = bench.get("comparison") or {}
        previous = comparison.get("previous")
        out.append(
            f"<p>Compared with the previous release: {_e(previous or 'none recorded')}"
            f" (regression flag above x{_e(comparison.get('regression_ratio'))}).</p>"
        )
        if comparison.get("rows"):
            rows = [
                (
                    "warn" if r["regression"] else "",
                    [
                        _e(r["benchmark"]),
                        _e(r["metric"]),
                        _e(r["previous"]),
                        _e(r["current"]),
                        _e(r["ratio"]),
                        "REGRESSION" if r["regression"] else "",
                    ],
                )
                for r in comparison["rows"]
            ]
            out.append(
                _html_table(
                    ["benchmark", "metric", "previous", "current", "ratio", "flag"],
                    rows,
                )
            )
        out += [
            f'<img src="{html.escape(path)}" alt="benchmark plot {_e(key)}">'
            for key, path in report["plots"].items()
        ]
    env = report["environment"]
    out.append('<h2 id="env">Environment</h2>')
    out.append(
        _list(
            [
                f"ctao-sat {env['release']}",
                f"{env['implementation']} {env['python']} ({env['executable']})",
                f"{env['platform']}, {env['machine']}, {env['cpus']} CPUs",
                *(
                    f"{tool}: {version or 'not installed'}"
                    for tool, version in env["tools"].items()
                ),
            ]
        )
    )
    rows = [
        (
            "PASS" if p["installed"] == p["pinned"] else "FAIL",
            [_e(p["name"]), _e(p["pinned"]), _e(p["installed"])],
        )
        for p in env["pins"]
    ]
    out.append("<h3>Release pins</h3>")
    out.append(_html_table(["distribution", "pinned", "installed"], rows))
    rows = [("", [_e(name), _e(v)]) for name, v in env["distributions"].items()]
    out.append(
        "<details><summary>Every installed distribution "
        f"({len(rows)})</summary>{_html_table(['distribution', 'version'], rows)}"
        "</details>"
    )
    out.append('<h2 id="aiv">Inputs for the CTAO AIV report</h2>')
    out.append(
        "<ul>"
        + "".join(
            f'<li><a href="{html.escape(path)}">{html.escape(name)}</a></li>'
            for name, path in report["aiv"].items()
        )
        + "</ul>"
    )
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_report(verification, out: str | Path, environment: dict | None = None):
    """Write the report of ``verification`` into ``out`` (replacing an old one).

    Parameters
    ----------
    verification : Verification
        From `satdev.verify.evaluate`.
    out : str or Path
        The report folder (``build/report``).
    environment : dict, optional
        From `satdev.environment.describe_environment` (default: this
        environment).

    Returns
    -------
    dict
        The report content (as in ``report.json``).
    """
    from satdev.environment import describe_environment

    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    report = build_report(verification, environment or describe_environment())
    _copy_aiv(verification, report, out)
    _copy_usecase_plots(verification, report, out)
    _bench_plots(report, out)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(render_markdown(report), encoding="utf-8")
    (out / "index.html").write_text(render_html(report), encoding="utf-8")
    return report
