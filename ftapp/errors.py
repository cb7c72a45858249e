"""The one kind of failure a person is meant to read.

Every error that explains itself in plain words (bad data, a model that cannot be loaded, an
export that cannot be made, a setting out of range) derives from `UserFacingError`. The app
shows its message as it is, the CLI prints it as one line; anything else is a bug, logged with
its traceback and summarised in one line.
"""
from __future__ import annotations


class UserFacingError(Exception):
    """A failure explained in plain words: shown to the user as it is."""
