"""The ``ctao-sat`` click group with lazily imported subcommands."""

from __future__ import annotations

import importlib

import click

from sat import __version__, interrupt
from sat.errors import SatError

# name -> "module:attribute"; modules are imported only when the command is used.
COMMANDS = {
    "archive": "sat.cli.archive:archive",
    "check": "sat.cli.check:check",
    "data": "sat.cli.data:data",
    "datavolume": "sat.cli.datavolume:datavolume",
    "doctor": "sat.cli.stack:doctor",
    "info": "sat.cli.stack:info",
    "irf": "sat.cli.irf:irf",
    "notebooks": "sat.cli.notebooks:notebooks",
    "quicklook": "sat.cli.quicklook:quicklook",
    "run": "sat.cli.run:run",
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when it is invoked.

    It also turns `SatError` into a one-line error and a non-zero exit, and
    Ctrl-C or SIGTERM into one line and exit 130 or 143 (`sat.interrupt`).
    """

    def list_commands(self, ctx):
        """List every registered subcommand, without importing any."""
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        """Import the module of subcommand ``name`` and return the command."""
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attribute)

    def main(self, *args, **kwargs):
        """Run the command line with SIGINT and SIGTERM handled from the start."""
        with interrupt.handled():
            return super().main(*args, **kwargs)

    def invoke(self, ctx):
        """Run the command; a `SatError` or a signal becomes one line and a code."""
        try:
            return super().invoke(ctx)
        except interrupt.Interrupted as stop:
            # The finally blocks have run (scratch folders removed, pools and
            # Ray stopped): exit at once, without the interpreter's shutdown.
            interrupt.exit_now(stop.signum)
        except Exception as error:
            # After a signal any error may be its disguise: a C extension
            # interrupted in its import says "initialization failed", and the
            # next import of it fails otherwise. The signal is what happened.
            stopped = interrupt.received()
            if stopped is not None:
                interrupt.exit_now(stopped)
            if not isinstance(error, SatError):
                raise
            click.secho(f"Error: {error}", err=True, fg="red")
            ctx.exit(error.exit_code)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="ctao-sat")
def main():
    """ctao-sat: the CTAO Science Analysis Tools distribution, built on Gammapy."""
