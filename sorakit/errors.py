"""sorakit's one family of errors: catch ``SorakitError`` to catch everything sorakit raises on purpose.

``InvalidInput`` (a ``ValueError``) is a user mistake found before any heavy work, and its
message says the value, the rule and the fix. ``OutOfMemory`` (a ``RuntimeError``) is a GPU run
that did not fit; its message names a preset or size that would. ``UnsafeCheckpoint`` (a
``ValueError``) is a checkpoint refused because it holds more than weights; nothing in it ran.
"""

from __future__ import annotations

import os


class SorakitError(Exception):
    """The base of every error sorakit raises on purpose."""


class InvalidInput(SorakitError, ValueError):
    """A value that breaks a rule: the message gives the value, the rule and the fix."""


class OutOfMemory(SorakitError, RuntimeError):
    """A generation ran out of GPU memory; the memory was freed and the message says what fits."""


class SoundtrackFailed(SorakitError, RuntimeError):
    """The video was made but a sound model failed; ``clip`` holds the video with the sound that was made.

    Nothing is lost: ``err.clip.save("shot.mp4")`` keeps the frames, then fix the cause (named in
    the message) and make the soundtrack again.
    """

    def __init__(self, message: str, clip: object) -> None:
        super().__init__(message)
        self.clip = clip


class UnsafeCheckpoint(SorakitError, ValueError):
    """A checkpoint that pickles more than tensors and plain containers; it was refused and none of its code ran."""


class Stopped(SorakitError, RuntimeError):
    """``should_stop()`` returned True inside a sound model: it ended after ``done`` of ``total`` steps and,
    unlike a video model, gives back no partial audio."""

    def __init__(self, what: str, done: int, total: int) -> None:
        super().__init__(f"{what} stopped after step {done} of {total}: should_stop() returned True; "
                         "a sound model cannot return part of a generation, so no audio came back")
        self.what = what
        self.done = done
        self.total = total


class TakesFailed(SorakitError, RuntimeError):
    """Some takes of a sweep, a best-of or a storyboard failed on a farm (after their retries); every
    other take was rendered and saved. ``err.results`` holds a ``farm.Done`` per take."""

    def __init__(self, message: str, results: list[object]) -> None:
        super().__init__(message)
        self.results = results


class NotFound(SorakitError, FileNotFoundError):
    """A file sorakit needs is not there; the message names it and what to do. Still a ``FileNotFoundError``."""


class BadPath(InvalidInput, OSError):
    """A path no file can be written to or read from (a NUL, a name too long for the file system, a folder where
    the file must go, a file where a folder must be): the message gives the path, the rule and the fix. It is an
    ``OSError`` too, as the failed write or read would have been."""


class MissingPackage(SorakitError, ImportError):
    """A package a feature needs is missing or broken; the message gives the command that installs it."""


def warn(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` attributed to the first caller outside sorakit: the notebook line that asked
    for the work, whichever sorakit functions lie between (a fixed ``stacklevel`` would name a
    sorakit line whenever another sorakit function, a storyboard or a sweep, is the caller)."""
    import sys
    import warnings

    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = sys._getframe(1), 2  # 2: the function that called this one
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
