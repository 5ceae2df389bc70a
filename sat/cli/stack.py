"""``ctao-sat info`` and ``ctao-sat doctor``: the release and this environment."""

from __future__ import annotations

import json
import platform
import sys

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def info(as_json):
    """Show the release pins next to what is installed, and where data lives."""
    from sat import offline
    from sat.stack import compare_installed, release

    components = [
        {
            "name": pin.name,
            "expected": pin.version,
            "installed": installed,
            "ok": installed == pin.version,
            "component": pin.component,
        }
        for pin, installed in compare_installed()
    ]
    report = {
        "release": release(),
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "packages": components,
        "offline": offline.status(),
    }
    report["offline_ready"] = all(item["ready"] for item in report["offline"].values())
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return

    click.echo(f"ctao-sat {report['release']['version']}")
    click.echo(f"Python    {report['python']} ({report['executable']})")
    click.echo(f"Platform  {report['platform']}")
    click.echo("")
    width = max(len(row["name"]) for row in components)
    click.echo(f"{'package':<{width}}  {'expected':<22}  {'installed':<22}")
    for row in components:
        mark = "" if row["ok"] else "  <- differs"
        installed = row["installed"] or "missing"
        click.echo(
            f"{row['name']:<{width}}  {row['expected']:<22}  {installed:<22}{mark}"
        )
    click.echo("")
    click.echo("Offline readiness")
    for item, state in report["offline"].items():
        mark = "ready" if state["ready"] else "NOT READY"
        click.echo(f"  {item:<24} {mark:<9}  {state['where']}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def doctor(as_json):
    """Verify this environment against the release: versions, imports, smoke tests."""
    from sat.doctor import FAIL, run_checks

    checks = run_checks()
    failed = [check for check in checks if check.status == FAIL]
    if as_json:
        payload = {"ok": not failed, "checks": [c.to_dict() for c in checks]}
        click.echo(json.dumps(payload, indent=2))
    else:
        colours = {"PASS": "green", "FAIL": "red", "WARN": "yellow"}
        width = max(len(check.name) for check in checks)
        for check in checks:
            status = click.style(f"{check.status:<4}", fg=colours[check.status])
            click.echo(f"{status}  {check.name:<{width}}  {check.detail}")
        click.echo("")
        if failed:
            click.echo(f"{len(failed)} of {len(checks)} checks failed:", err=True)
            for check in failed:
                click.echo(f"  - {check.name}: {check.detail}", err=True)
                click.echo(f"    fix: {check.fix}", err=True)
        else:
            click.echo(f"All {len(checks)} checks passed.")
    if failed:
        sys.exit(1)
