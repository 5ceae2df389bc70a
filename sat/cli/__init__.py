"""The ``ctao-sat`` command line.

Every subcommand lives in its own module under `sat.cli` and is imported only when
it runs, and each command imports the scientific stack inside its body, so that
``ctao-sat --help`` and ``ctao-sat --version`` stay instant.
"""

from sat.cli.main import main

__all__ = ["main"]
