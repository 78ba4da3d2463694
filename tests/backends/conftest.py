from __future__ import annotations

from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest


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
