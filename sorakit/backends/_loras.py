"""LoRAs on a pipeline's transformer: loaded through diffusers (``load_lora_weights``, peft
underneath), set to their weights, removed when the next Take asks for others, and named exactly
in the provenance.

A LoRA is injected as peft adapters beside the base weights, never fused into them, so removing
it (``unload_lora_weights``) gives back the base model exactly. The applied set is remembered on
the transformer itself, which the modes of one checkpoint share. A file whose keys diffusers
cannot convert is refused whole: diffusers raises on unknown keys, and the full-weight ``.diff``
keys it would silently skip are refused here before anything loads; a failed load removes what
was loaded, so a LoRA is never half applied.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from sorakit.errors import InvalidInput, MissingPackage
from sorakit.models import Lora

__all__ = ["apply", "describe", "keys"]

_APPLIED = "_sorakit_loras"  # the attribute on the transformer that says which LoRAs it carries
_REVISIONS: dict[tuple[str, str], str] = {}


def keys(lora: Lora) -> list[str]:
    """The tensor names in the LoRA's safetensors file (read from its header; nothing loads)."""
    from safetensors import safe_open

    with safe_open(_file(lora), framework="pt") as f:
        return list(f.keys())


def _file(lora: Lora) -> str:
    """The local path of the LoRA's ``.safetensors`` file (from the hub cache or the hub for a hub id)."""
    if os.path.isfile(lora.ref):
        return lora.ref
    if os.path.isdir(lora.ref):
        if lora.file:
            return os.path.join(lora.ref, lora.file)
        found = sorted(Path(lora.ref).glob("*.safetensors"))
        if len(found) != 1:
            raise InvalidInput(f"loras: {lora.ref!r} holds {len(found)} .safetensors files; name the one to use "
                               "with Lora(ref, file='name.safetensors')")
        return str(found[0])
    from huggingface_hub import hf_hub_download

    if not lora.file:
        raise InvalidInput(f"loras: {lora.ref!r} is a hub repository; name its file with "
                           "Lora(ref, file='name.safetensors')")
    return str(hf_hub_download(lora.ref, lora.file))


def _check(lora: Lora) -> None:
    diffs = [k for k in keys(lora) if k.endswith((".diff", ".diff_b")) and "norm" not in k and "lora" not in k]
    if any(k.endswith(".diff") for k in diffs):  # full-weight differences: diffusers would skip them and load the rest
        raise InvalidInput(f"loras: {lora.ref!r} holds full-weight differences ({diffs[0]}, ...) that diffusers "
                           "does not load; it would run half applied. Use a LoRA made of lora_A/lora_B (or "
                           "lora_down/lora_up) pairs")


def apply(pipe: Any, loras: tuple[Lora, ...]) -> None:
    """Puts exactly ``loras`` (at their weights) on ``pipe``'s transformer, removing any others first."""
    transformer = pipe.transformer
    wanted = tuple((x.ref, x.file, float(x.weight)) for x in loras)
    if getattr(transformer, _APPLIED, ()) == wanted:
        return
    if getattr(transformer, _APPLIED, ()):
        pipe.unload_lora_weights()
        setattr(transformer, _APPLIED, ())
    if not loras:
        return
    if not hasattr(pipe, "load_lora_weights"):
        raise InvalidInput(f"loras: {type(pipe).__name__} takes no LoRAs in diffusers; remove them for this model")
    try:
        import peft  # noqa: F401
    except ImportError as exc:
        raise MissingPackage("LoRAs load through peft: pip install 'sorakit[video]' (or pip install peft)") from exc
    names = [f"sorakit_{i}" for i in range(len(loras))]
    which = ""  # the LoRA being loaded, for the message
    try:
        for name, lora in zip(names, loras):
            which = repr(lora.ref)
            _check(lora)
            path = _file(lora)
            which = f"{lora.ref!r} ({os.path.basename(path)})"
            pipe.load_lora_weights(os.path.dirname(path) or ".", weight_name=os.path.basename(path), adapter_name=name)
        which = "the LoRAs together"
        pipe.set_adapters(names, adapter_weights=[float(x.weight) for x in loras])
    except Exception as exc:
        pipe.unload_lora_weights()  # whatever was loaded goes: nothing half applied
        if isinstance(exc, (InvalidInput, MissingPackage)):
            raise
        raise InvalidInput(f"loras: {which} does not load on {type(transformer).__name__}: {type(exc).__name__}: "
                           f"{exc}. Nothing of it was applied; check that it was made for this model") from exc
    setattr(transformer, _APPLIED, wanted)


def describe(loras: tuple[Lora, ...]) -> str:
    """The LoRAs for the provenance: each with its exact revision and weight."""
    return "; ".join(f"{_revision(x)} x{x.weight:g}" for x in loras)


def _revision(lora: Lora) -> str:
    """A hub file as ``owner/name@<commit>/file``; a local file by the sha256 of its bytes."""
    key = (lora.ref, lora.file)
    if key not in _REVISIONS:
        if os.path.exists(lora.ref):
            path = _file(lora)
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            _REVISIONS[key] = f"{os.path.basename(path)} (local sha256:{h.hexdigest()[:16]})"
        else:
            found = f"{lora.ref}/{lora.file}"
            try:
                from huggingface_hub import hf_hub_download

                path = hf_hub_download(lora.ref, lora.file, local_files_only=True)
                found = f"{lora.ref}@{Path(path).parent.name}/{lora.file}"
            except Exception:  # not cached: say what was asked for
                pass
            _REVISIONS[key] = found
    return _REVISIONS[key]
