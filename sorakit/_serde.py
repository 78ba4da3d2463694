"""Strict conversion between frozen dataclasses and JSON-ready dicts.

Every refusal names the key path (``physics.strength``), the value and what was
expected, so a hand-edited sidecar fails with a message a person can act on.
"""

from __future__ import annotations

from sorakit.errors import InvalidInput

import dataclasses
import types
import typing
from typing import Any, TypeVar, Union

T = TypeVar("T")

_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def to_dict(obj: Any) -> Any:
    """Turns a dataclass tree into dicts, lists and scalars (tuples become lists)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (tuple, list)):
        return [to_dict(v) for v in obj]
    return obj


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _type_name(tp: Any) -> str:
    if tp is float:
        return "a number"
    if tp is int:
        return "an integer"
    if tp is str:
        return "a string"
    if tp is bool:
        return "true or false"
    if tp is type(None):
        return "null"
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return f"an object ({tp.__name__})"
    origin = typing.get_origin(tp)
    if origin is tuple:
        return "a list"
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    return str(tp)


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        options = typing.get_args(tp)
        if isinstance(value, dict):
            # An object can only mean the dataclass member: report its own precise error.
            for option in options:
                if isinstance(option, type) and dataclasses.is_dataclass(option):
                    return _convert(option, value, path)
        for option in options:
            try:
                return _convert(option, value, path)
            except ValueError:
                continue
        raise InvalidInput(f"{path}: expected {_type_name(tp)}, got {_describe(value)}{_hint(tp, value)}")
    if tp is type(None):
        if value is None:
            return None
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif origin is tuple:
        if isinstance(value, (list, tuple)):
            args = typing.get_args(tp)
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(_convert(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
            if len(value) != len(args):
                raise InvalidInput(
                    f"{path}: expected a list of {len(args)} items, got {len(value)} items"
                )
            return tuple(_convert(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    elif isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if isinstance(value, dict):
            return from_dict(tp, value, path=path)
    else:  # pragma: no cover - a programming error in a dataclass annotation
        raise TypeError(f"{path}: unsupported annotation {tp!r}")
    raise InvalidInput(f"{path}: expected {_type_name(tp)}, got {_describe(value)}{_hint(tp, value)}")


_EXAMPLES = {float: "a number such as 5.0", int: "a whole number such as 30", str: "text in quotes, such as \"...\"",
             bool: "true or false (no quotes)", type(None): "null"}


def _hint(tp: Any, value: Any) -> str:
    """What to type instead: ``; write 5.0`` for a number given as text, and so on."""
    options = typing.get_args(tp) if typing.get_origin(tp) in (Union, types.UnionType) else (tp,)
    said = [_EXAMPLES[o] for o in options if o in _EXAMPLES]
    if isinstance(value, str) and (float in options or int in options):
        try:
            float(value)
        except ValueError:
            pass
        else:
            return f"; write {value.strip()} without quotes"
    return f"; write {' or '.join(said)}" if said else ""


def convert(tp: Any, value: Any, path: str) -> Any:
    """``value`` as the annotation ``tp`` (``tuple[Event, ...]``, ``int``, a dataclass), refused as in ``from_dict``.

    >>> convert(tuple[int, ...], [1, 2], "counts")
    (1, 2)
    """
    return _convert(tp, value, path)


def from_dict(cls: type[T], data: Any, *, path: str = "") -> T:
    """Builds ``cls`` from ``data``, refusing unknown keys and wrong types.

    >>> from sorakit.take import DialogueLine
    >>> from_dict(DialogueLine, {"speaker": "A", "text": "Hi", "start": 1})
    DialogueLine(speaker='A', text='Hi', start=1.0, voice='', style='')
    """
    where = path or cls.__name__
    if not isinstance(data, dict):
        raise InvalidInput(f"{where}: expected an object ({cls.__name__}), got {_describe(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = [k for k in data if k not in fields]
    if unknown:
        key = f"{path}.{unknown[0]}" if path else unknown[0]
        raise InvalidInput(
            f"{key}: unknown key for {cls.__name__}; known keys are {', '.join(sorted(fields))}"
        )
    hints = _hints(cls)
    kwargs = {}
    for name, field in fields.items():
        key = f"{path}.{name}" if path else name
        if name not in data:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise InvalidInput(f"{key}: missing required key for {cls.__name__}")
            continue
        kwargs[name] = _convert(hints[name], data[name], key)
    return cls(**kwargs)
