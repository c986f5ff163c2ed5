"""The one exception of the model layer: a problem a user can fix, named by field or operator."""

from __future__ import annotations


class ModelError(Exception):
    """Bad input or an impossible request: the message names the field (or operator) and the fix.

    The CLI prints the message as one line and exits 1; nothing is half-written when it is raised.
    """
