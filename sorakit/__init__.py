"""sorakit: short AI videos with synchronized sound, in notebooks.

>>> import sorakit
>>> clip = sorakit.generate(sorakit.Take(frames=16, width=128, height=80))
>>> clip.duration
1.0
"""

from sorakit._version import __version__
from sorakit.callbacks import Step
from sorakit.cameo import Cameo
from sorakit.clip import Clip, Provenance, Verification, load, verify
from sorakit.errors import (BadPath, InvalidInput, MissingPackage, NotFound, OutOfMemory, SorakitError,
                            SoundtrackFailed, Stopped, TakesFailed, UnsafeCheckpoint)
from sorakit.display import (audio_html, clip_html, compare_html, filmstrip, show, show_compare, show_filmstrip,
                             show_soundtrack, show_waveform, soundtrack_html, soundtrack_png, waveform_png)
from sorakit.best import best_of
from sorakit.farm import Local, RayFarm
from sorakit.lipsync import lipsync
from sorakit.generate import generate
from sorakit.physics import Ball, Box, Change, Event, Material, Scene, Segment, SoundProfile, preset, simulate
from sorakit.physics.describe import describe
from sorakit.storyboard import Character, Film, Shot, Storyboard
from sorakit.take import SoundConfig, DialogueLine, PhysicsConfig, Take, physics_prompt
from sorakit.models import Lora

__all__ = [
    "Take", "PhysicsConfig", "SoundConfig", "DialogueLine", "Lora",
    "generate", "best_of", "lipsync", "Step", "Clip", "Provenance", "load", "verify", "Verification",
    "show", "show_filmstrip", "show_waveform", "show_soundtrack", "show_compare", "clip_html", "compare_html",
    "filmstrip", "waveform_png", "soundtrack_png", "soundtrack_html", "audio_html",
    "Scene", "Ball", "Box", "Segment", "Change", "Material", "SoundProfile", "preset", "simulate", "Event",
    "describe", "physics_prompt",
    "Cameo", "Storyboard", "Shot", "Character", "Film", "Local", "RayFarm",
    "Studio", "Gallery", "SweepGrid", "sweep", "SceneEditor",
    "SorakitError", "InvalidInput", "OutOfMemory", "SoundtrackFailed", "Stopped", "UnsafeCheckpoint", "NotFound", "BadPath",
    "MissingPackage", "TakesFailed",
    "__version__",
]

_WIDGETS = {"Studio": "sorakit.studio", "Gallery": "sorakit.studio", "SweepGrid": "sorakit.studio",
            "sweep": "sorakit.studio", "SceneEditor": "sorakit.notebook"}


def _register_views() -> None:
    """In IPython, a Clip or Film left as a cell's value shows as a video: the view layer is registered
    as their HTML formatter here, so the data classes know nothing of how they are shown."""
    import sys

    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return
    from sorakit.best import Ranking
    from sorakit.display import clip_html, film_html, ranking_html

    html = shell.display_formatter.formatters["text/html"]
    html.for_type(Clip, clip_html)
    html.for_type(Film, film_html)
    html.for_type(Ranking, ranking_html)


_register_views()

from sorakit import backends as _backends  # noqa: E402,F401  (registers every family's models; imports no torch)

# Submodules reachable as attributes after a bare ``import sorakit`` (``sorakit.report.measure(clip)``),
# imported on first use.
_SUBMODULES = ("report", "consistency", "models", "guidance", "previz", "foley", "audio", "backends", "cli")


def __getattr__(name: str) -> object:
    """The widget layer loads on first use, so ``import sorakit`` stays free of ipywidgets; so do the
    submodules in ``_SUBMODULES``."""
    import importlib

    if name in _WIDGETS:
        return getattr(importlib.import_module(_WIDGETS[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"sorakit.{name}")
    raise AttributeError(f"module 'sorakit' has no attribute {name!r}")
