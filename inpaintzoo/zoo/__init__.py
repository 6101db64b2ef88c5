"""Builtin components, registered through inpaintzoo's own entry points."""
