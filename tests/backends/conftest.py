from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest


def said_here(filenames: list[str] | set[str], here: str) -> bool:
    """The warnings name the test's own line (``here``), as they name a notebook's; under mutation
    testing mutmut's trampoline stands between the caller and sorakit's functions and is named instead."""
    return bool(filenames) and (set(filenames) == {here} or "MUTANT_UNDER_TEST" in os.environ)


@pytest.fixture(scope="module")
def tiny_wan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A tiny Wan text-to-video checkpoint built, saved and registered as the model ``tiny-wan-runtime``,
    with Wan 2.1 1.3B's architecture figures for the memory estimate to count."""
    from sorakit import models
    from sorakit.backends import _runtime
    from sorakit.tiny import wan

    folder = wan.build(tmp_path_factory.mktemp("wan"))
    spec = models.ModelSpec(name="tiny-wan-runtime", backend="diffusers", family="wan", model_id=str(folder),
                            modes=("t2v",), frame_rule=(4, 1), min_size=16, arch=models.get("wan2.1-t2v-1.3b").arch)
    models.register(spec)
    yield spec
    models.MODELS.pop(spec.name, None)
    _runtime.clear_cache()


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models run faster on one thread, and on a busy two-core machine much faster: use one, then restore."""
    try:
        import torch
    except ImportError:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def watch_passes(monkeypatch: pytest.MonkeyPatch, fam: ModuleType, after: Callable[[Any, Any, list[Any]], None],
                 each: Callable[[dict[str, Any]], Any] = lambda kwargs: None) -> None:
    """Makes ``fam.call`` watch the transformer: ``each(kwargs)`` is kept for every forward pass of a
    pipeline call, and ``after(pipe, output, kept)`` is called when the call returns. The
    transformer's own ``forward`` is back in place afterwards, even when the call fails."""
    call = fam.call

    def watched(pipe: Any, *args: Any) -> Any:
        kept: list[Any] = []
        forward = pipe.transformer.forward

        def one(*a: Any, **k: Any) -> Any:
            kept.append(each(k))
            return forward(*a, **k)

        pipe.transformer.forward = one
        try:
            out = call(pipe, *args)
        finally:
            del pipe.transformer.forward
        after(pipe, out, kept)
        return out

    monkeypatch.setattr(fam, "call", watched)
