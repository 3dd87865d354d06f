"""``python -m vce`` runs the ``vce`` command."""

from vce.cli import main

main()
