"""Errors a user can fix. The CLI prints them as one line on stderr, without a traceback."""

from __future__ import annotations


class InpaintzooError(Exception):
    """Base of every error that is the user's to fix (bad input, missing data, wrong run directory)."""


class UsageError(InpaintzooError, ValueError):
    """A component, key or value that does not exist or does not fit."""


class DataError(InpaintzooError):
    """A dataset, image or mask that cannot be read or used."""


class RunDirError(InpaintzooError):
    """A run directory that is missing, not a run, or would be overwritten."""
