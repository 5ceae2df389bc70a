"""``python -m sat.cli`` runs the ``ctao-sat`` command line."""

from sat.cli import main

main(prog_name="ctao-sat")
