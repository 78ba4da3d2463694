"""sorakit's one family of errors: catch ``SorakitError`` to catch everything sorakit raises on purpose.

``InvalidInput`` (a ``ValueError``) is a user mistake found before any heavy work, and its
message says the value, the rule and the fix. ``OutOfMemory`` (a ``RuntimeError``) is a GPU run
that did not fit; its message names a preset or size that would.
"""

from __future__ import annotations


class SorakitError(Exception):
    """The base of every error sorakit raises on purpose."""


class InvalidInput(SorakitError, ValueError):
    """A value that breaks a rule: the message gives the value, the rule and the fix."""


class OutOfMemory(SorakitError, RuntimeError):
    """A generation ran out of GPU memory; the memory was freed and the message says what fits."""
