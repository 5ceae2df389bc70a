"""``ctao-sat notebooks``: your own copies of the release's notebooks."""

from __future__ import annotations

import click


def _names(names: list[str]) -> str:
    return ", ".join(names)


@click.command()
@click.option(
    "--dest",
    type=click.Path(file_okay=True, dir_okay=True),
    help="Folder to copy the notebooks into [default: ./ctao-sat-VERSION].",
)
@click.option(
    "--force", is_flag=True, help="Also overwrite notebooks you changed since."
)
@click.option("--list", "list_only", is_flag=True, help="List them; copy nothing.")
@click.option(
    "--install-kernel",
    is_flag=True,
    help="Also install the release's Jupyter kernel into this environment.",
)
@click.option("--user", is_flag=True, help="With --install-kernel: for this user only.")
def notebooks(dest, force, list_only, install_kernel, user):
    """Copy the notebooks of every use case and the SDC tutorial into a folder.

    A notebook you changed since it was copied is kept unless you pass --force;
    an untouched copy of an earlier release is updated. The notebooks ask for
    the kernel ctao-sat-VERSION (the Jupyter image has it; --install-kernel
    installs it here).
    """
    from sat import notebooks as nb

    if list_only:
        for name in nb.shipped():
            click.echo(name)
        return
    if install_kernel:
        path = nb.install_kernel(user=user)
        click.echo(f"installed the kernel {nb.kernel_name()} in {path}")
    report = nb.copy_notebooks(dest or nb.default_folder(), force=force)
    done = len(report.copied) + len(report.updated) + len(report.unchanged)
    click.echo(f"{done} notebooks of {nb.kernel_display_name()} in {report.folder}")
    if report.updated:
        click.echo(f"  updated: {_names(report.updated)}")
    if report.kept:
        click.echo(
            f"  kept {len(report.kept)} you changed: {_names(report.kept)} "
            "(--force overwrites them)"
        )
