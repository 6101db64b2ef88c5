"""`python -m inpaintzoo ...` (and `torchrun -m inpaintzoo train ...`) run the CLI."""

from inpaintzoo.cli import main

main()
