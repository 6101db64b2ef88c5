"""`python -m inpaintzoo.cli ...` runs the CLI (as `python -m inpaintzoo ...` does)."""

from inpaintzoo.cli import main

main()
