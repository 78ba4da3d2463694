"""Video backends over diffusers: one self-contained module per model family.

Importing this package registers every family's models (their rules and hub ids) and
imports no torch or diffusers: each family imports them on first use.
"""

from __future__ import annotations

from sorakit.errors import InvalidInput

import importlib
from types import ModuleType

FAMILIES = ("wan", "ltx", "ltx2", "cogvideox", "hunyuan15", "cosmos", "cosmos3")


def family(name: str) -> ModuleType:
    """The backend module of a family (``sorakit.backends.wan`` for ``"wan"``)."""
    if name not in FAMILIES:
        raise InvalidInput(f"family {name!r} is unknown; use one of {', '.join(FAMILIES)}")
    return importlib.import_module(f"sorakit.backends.{name}")


for _name in FAMILIES:
    family(_name)
