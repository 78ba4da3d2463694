"""The one rule for where a sound or embedding model runs (the video models have memory presets)."""

from __future__ import annotations

from sorakit.errors import InvalidInput


def pick(device: str | None) -> str:
    """``device`` checked, or the GPU when there is one and the CPU otherwise when it is None.

    Raises:
        InvalidInput: not a torch device, or a CUDA device on a machine without one.
    """
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError) as exc:
        raise InvalidInput(f"device={device!r} is not a torch device; use 'cuda', 'cuda:0' or 'cpu'") from exc
    if kind == "cuda" and not torch.cuda.is_available():
        raise InvalidInput(f"device={device!r}: no CUDA GPU was found; use device='cpu' or leave it None "
                           "(on Colab: Runtime > Change runtime type > GPU)")
    return str(device)
