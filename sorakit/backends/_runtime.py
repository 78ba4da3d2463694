"""What every diffusers family shares: loading and caching, memory presets, the estimate,
progress with a cheap preview, stopping, and out-of-memory recovery.

A family module supplies the model-specific parts (pipeline classes, call arguments, latent
layout); this module runs the generation the same way for all of them.
"""

from __future__ import annotations

from sorakit.errors import InvalidInput, MissingPackage, OutOfMemory, warn

import dataclasses
import gc
import hashlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from sorakit.backends import _guardrail
from sorakit.backends.contract import Conditioning
from sorakit.callbacks import OnStep, ShouldStop, Step
from sorakit.models import ModelSpec, fast_variant

def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise MissingPackage("Video generation requires torch and diffusers: pip install 'sorakit[video]' "
                          "(on a bare machine first: pip install torch==2.13.0, the CPU wheel)") from exc
    return torch


# -- memory presets ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Preset:
    """How a pipeline is placed on a device.

    Attributes:
        device: ``cuda`` or ``cpu``.
        dtype: ``float32``, ``float16`` or ``bfloat16`` (``float16`` where bf16 is missing, as on a T4).
        offload: ``None`` (all on the GPU), ``model`` (one model at a time) or ``group`` (layers
            streamed to the GPU as they run).
        fp8: keep transformer weights in float8 and upcast each layer as it runs.
        vae_tiling: decode the video in tiles.
        budget_gb: the GPU memory the preset plans for.
    """

    name: str
    device: str
    dtype: str
    offload: str | None
    fp8: bool
    vae_tiling: bool
    budget_gb: float
    text_encoder_apart: bool = False


# t4 keeps the text encoder apart: it loads alone, encodes the prompt and is freed before the
# transformer is placed (Wan's umT5 alone is ~11 GB; a free Colab session has ~12.7 GB of RAM).
# Its group offload streams layers without pinned host copies (use_stream=False), which would
# otherwise hold every offloaded weight in page-locked RAM.
PRESETS: dict[str, Preset] = {
    "cpu": Preset("cpu", "cpu", "float32", None, False, False, 0.0),
    "t4": Preset("t4", "cuda", "float16", "group", True, True, 15.0, text_encoder_apart=True),
    "l4": Preset("l4", "cuda", "bfloat16", "model", False, True, 22.0),
    "a100": Preset("a100", "cuda", "bfloat16", None, False, True, 40.0),
}


def choose_preset(requested: str = "auto") -> Preset:
    """The preset for ``requested``; ``auto`` reads the GPU: none → cpu, <20 GB → t4, <32 GB → l4, else a100."""
    torch = _torch()
    if requested != "auto":
        preset = PRESETS[requested]
        if preset.device == "cuda" and not torch.cuda.is_available():
            raise InvalidInput(f"memory={requested!r}: this preset needs a CUDA GPU and none was found; "
                             "use memory='auto' or 'cpu' (on Colab: Runtime > Change runtime type > GPU)")
        return preset
    if not torch.cuda.is_available():
        return PRESETS["cpu"]
    total = torch.cuda.get_device_properties(0).total_memory / 2**30
    name = "t4" if total < 20 else "l4" if total < 32 else "a100"
    preset = PRESETS[name]
    if preset.dtype == "bfloat16" and not torch.cuda.is_bf16_supported():
        preset = dataclasses.replace(preset, dtype="float16")
    if name == "a100":
        preset = dataclasses.replace(preset, budget_gb=round(total, 1))
    return preset


# -- estimate --------------------------------------------------------------------------------------
# Dense bf16/fp16 throughput a video transformer reaches in practice, TFLOP/s.
_THROUGHPUT = {"t4": 22.0, "l4": 60.0, "a100": 200.0, "cpu": 0.15}


@dataclass(frozen=True)
class Estimate:
    """Peak GPU memory and time for a Take under a preset, before anything loads."""

    peak_gb: float
    seconds: float
    seconds_per_step: float
    tokens: int
    fits: bool
    advice: str


def estimate(spec: ModelSpec, *, width: int, height: int, frames: int, steps: int, preset: Preset,
             passes: int = 2) -> Estimate:
    """A first-order estimate from parameter counts and the token count.

    Memory: weights that sit on the GPU at the peak (all of them without offload, the largest
    model with model offload, a few layers with group offload; float8 halves the transformer)
    plus activations, about 24 bytes per token per hidden unit for the widest layer, plus the
    VAE decode. Time: ``2 · params · tokens`` plus attention ``4 · tokens² · hidden · layers``
    FLOPs per forward pass, times ``passes`` forward passes a step (the family's
    ``passes_per_step``: 2 with classifier-free guidance, up to 4 for LTX-2's guidance).
    """
    arch = spec.arch
    if arch is None:
        return Estimate(0.0, 0.0, 0.0, 0, True, "")
    pt, ph, pw = arch.patch
    lat_f = (frames - 1) // arch.temporal + 1
    tokens = math.ceil(lat_f / pt) * math.ceil(height / arch.spatial / ph) * math.ceil(width / arch.spatial / pw)
    bytes_per = 4 if preset.dtype == "float32" else 2
    # float8 weights: the preset's layerwise casting, or a checkpoint that ships them (Cosmos 3's "fp8" revision)
    transformer_gb = arch.transformer * (1 if preset.fp8 or spec.revision == "fp8" else bytes_per)
    text_gb, vae_gb = arch.text_encoder * bytes_per, arch.vae * bytes_per
    # A text encoder kept apart is loaded alone, encodes, and is freed before the transformer runs.
    resident_text = 0.0 if preset.text_encoder_apart else text_gb
    if preset.offload is None:
        weights = transformer_gb + resident_text + vae_gb
    elif preset.offload == "model":
        weights = max(transformer_gb, resident_text) + vae_gb
    else:  # group offload keeps a few layers resident
        weights = transformer_gb * 4 / arch.layers + vae_gb
    activations = tokens * arch.hidden * 24 * bytes_per / 1e9
    pixels = frames * width * height
    vae_decode = (2.5 if preset.vae_tiling else pixels * 128 * bytes_per * 3 / 1e9)
    peak = weights + max(activations, vae_decode) + 0.8
    if preset.text_encoder_apart:
        peak = max(peak, text_gb + 0.8)  # the prompt is encoded before, not beside, the denoiser
    flops = 2 * arch.transformer * 1e9 * tokens + 4 * tokens**2 * arch.hidden * arch.layers
    per_step = flops * passes / (_THROUGHPUT.get(preset.name, 200.0) * 1e12)
    if preset.offload == "group":
        per_step += transformer_gb / 12.0  # streamed over PCIe (~12 GB/s) every step
    seconds = per_step * steps + 10.0
    fits = preset.device == "cpu" or peak <= preset.budget_gb
    advice = ""
    if not fits:
        advice = suggest(spec, width=width, height=height, frames=frames, steps=steps, preset=preset)
    return Estimate(round(peak, 1), round(seconds, 1), round(per_step, 2), tokens, fits, advice)


def suggest(spec: ModelSpec, *, width: int, height: int, frames: int, steps: int, preset: Preset) -> str:
    """Names a lighter preset, or a smaller size or shorter clip, that the estimate says fits.

    Whether a Take fits is a matter of memory alone, which the passes a step do not change, so the
    estimates here count the default two. ``frames`` are on the checkpoint's frame rule ``k·n + r``
    (the Take's were checked), and each try halves ``n``, down to ``n = 1``.
    """
    order = ["a100", "l4", "t4"]
    for lighter in order[order.index(preset.name) + 1:] if preset.name in order else []:
        alt = PRESETS[lighter]
        alt = dataclasses.replace(alt, dtype=preset.dtype, budget_gb=preset.budget_gb)
        if refused(spec, PRESETS[lighter]):  # what memory='<lighter>' would run under, refused before loading
            continue
        if estimate(spec, width=width, height=height, frames=frames, steps=steps, preset=alt).fits:
            return f"memory='{lighter}' (its offloading) should fit in {preset.budget_gb:g} GB"
    k, r = spec.frame_rule
    f = frames
    while f > r + k:
        f = (f - r) // 2 // k * k + r
        if estimate(spec, width=width, height=height, frames=f, steps=steps, preset=preset).fits:
            return f"frames={f} should fit in {preset.budget_gb:g} GB"
    m = spec.size_multiple
    w, h = max(m, width * 2 // 3 // m * m), max(m, height * 2 // 3 // m * m)
    return f"a smaller size such as {w}x{h} with fewer frames"


def work_frames(fam: ModuleType, take: Any) -> int:
    """The frames the model denoises for ``take``: the family's ``work_frames`` where it has one
    (Transfer: its whole chunk), else the clip's."""
    return int(fam.work_frames(take)) if hasattr(fam, "work_frames") else int(take.n_frames)


def refused(spec: ModelSpec, preset: Preset) -> bool:
    """Whether the family's ``preflight`` refuses ``preset`` for this checkpoint whatever the Take."""
    from sorakit.backends import family

    fam = family(spec.family)
    if not hasattr(fam, "preflight"):
        return False
    try:
        fam.preflight(spec, None, preset)
    except InvalidInput:
        return True
    except MissingPackage:  # a package missing is not the preset's fault
        return False
    return False


# -- loading and caching ---------------------------------------------------------------------------
_PIPELINES: dict[tuple[str, str, str], Any] = {}
_EMBEDS: dict[tuple[Any, ...], dict[str, Any]] = {}
_REVISIONS: dict[str, str] = {}
_PREVIEW: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def clear_cache() -> None:
    """Drops every cached pipeline and prompt embedding and frees GPU memory."""
    _PIPELINES.clear()
    _EMBEDS.clear()
    _REVISIONS.clear()
    _PREVIEW.clear()
    _free()


def _free() -> None:
    gc.collect()
    torch = _torch()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def pipeline(spec: ModelSpec, fam: ModuleType, mode: str, preset: Preset) -> Any:
    """The pipeline for (model, mode, preset), loaded once; modes that share a checkpoint share weights.

    A derived mode is built from the base pipeline's own components (``derive``), so no
    component changes dtype or device when another mode loads.
    """
    key = (spec.model_id, mode, preset.name)
    if key in _PIPELINES:
        return _PIPELINES[key]
    torch = _torch()
    import diffusers

    dtype = getattr(torch, preset.dtype)
    cls = getattr(diffusers, fam.PIPELINES[mode])
    base_mode = fam.base_mode(spec, mode)
    if base_mode != mode:
        pipe = derive(cls, pipeline(spec, fam, base_mode, preset))
    else:
        # Weights only as safetensors, and never remote code: a hub id (at its revision) or a local folder.
        where: dict[str, Any] = {} if os.path.isdir(spec.model_id) else {"revision": spec.revision}
        if preset.text_encoder_apart:  # loaded on its own for each new prompt (prompt_embeddings)
            where.update({name: None for name in _TEXT_PARTS})
        # Components the family keeps in float32 (Wan's VAE, per diffusers' Wan docs) get their own dtype.
        dtypes = {"default": dtype, **{name: torch.float32 for name in fam.FLOAT32}} if fam.FLOAT32 else dtype
        # A family may hand over components of its own: Cosmos' pass-through safety checker, Transfer's controlnet.
        parts = fam.load_parts(spec, mode, dtype) if hasattr(fam, "load_parts") else {}
        pipe = cls.from_pretrained(spec.model_id, dtype=dtypes, use_safetensors=True, **where, **parts)
        _set_scheduler(pipe, spec.card.shift, spec.card.scheduler)  # the card's; run() sets each Take's own
        _place(pipe, preset)
    pipe.set_progress_bar_config(disable=True)
    _PIPELINES[key] = pipe
    return pipe


_TEXT_PARTS = ("text_encoder", "text_encoder_2")


def derive(cls: Any, base: Any) -> Any:
    """A pipeline of class ``cls`` over ``base``'s own components and config, nothing copied or cast.

    diffusers' ``from_pipe`` ends with ``pipeline.to(dtype)``, float32 unless told otherwise, and
    the components are shared: it would cast the cached base pipeline's weights too (and a
    float32 VAE beside a bfloat16 transformer cannot survive any single dtype).
    """
    expected, optional = cls._get_signature_keys(cls)
    parts = {name: component for name, component in base.components.items() if name in expected}
    for name in expected:
        parts.setdefault(name, None)
    parts.update({k: base.config[k] for k in optional if k in base.config})
    pipe = cls(**parts)
    name_or_path = base.config.get("_name_or_path")
    if name_or_path is not None:
        pipe.register_to_config(_name_or_path=name_or_path)
    return pipe


def _set_scheduler(pipe: Any, shift: float | None, overrides: tuple[tuple[str, Any], ...] = ()) -> None:
    """Sets the flow-matching shift the card asks for on the pipeline's scheduler (``flow_shift`` or
    ``shift``) and any other config values (a fast variant's); what is not asked for goes back to
    what the scheduler was loaded with."""
    config = pipe.scheduler.config
    key = "flow_shift" if "flow_shift" in config else "shift" if "shift" in config else None
    asked = dict(overrides)
    if key is not None and shift is not None:
        asked[key] = shift
    loaded = pipe.__dict__.setdefault("_sorakit_loaded_scheduler", dict(config))
    changed = {k: v for k, v in {**loaded, **asked}.items() if config.get(k) != v}
    if changed:
        pipe.scheduler = type(pipe.scheduler).from_config(config, **changed)


def revision(spec: ModelSpec) -> str:
    """What exactly was loaded, for the clip's provenance.

    A hub id: the commit its cached snapshot resolves to (``owner/name@<commit>``), or the
    requested revision when the cache cannot say. A local folder: a fingerprint of its configs
    and weight files' names and sizes (``local sha256:<16 hex>``); hashing every weight would take
    minutes for a large model.
    """
    if spec.model_id in _REVISIONS:
        return _REVISIONS[spec.model_id]
    if os.path.isdir(spec.model_id):
        h = hashlib.sha256()
        root = Path(spec.model_id)
        for f in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = f.relative_to(root).as_posix()
            h.update(rel.encode())
            h.update(f.read_bytes() if f.suffix == ".json" else str(f.stat().st_size).encode())
        found = f"local sha256:{h.hexdigest()[:16]}"
    else:
        found = f"{spec.model_id}@{spec.revision}"
        try:
            from huggingface_hub import snapshot_download

            path = snapshot_download(spec.model_id, revision=spec.revision, local_files_only=True)
            found = f"{spec.model_id}@{Path(path).name}"
        except Exception:  # not in the local cache (or no huggingface_hub): say what was asked for
            pass
    _REVISIONS[spec.model_id] = found
    return found


def _place(pipe: Any, preset: Preset) -> None:
    torch = _torch()
    if preset.device == "cpu":
        pipe.to("cpu")
        return
    denoisers = [getattr(pipe, n) for n in ("transformer", "transformer_2") if getattr(pipe, n, None) is not None]
    if preset.fp8:
        for model in denoisers:
            model.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=getattr(torch, preset.dtype))
    if preset.offload == "model":
        pipe.enable_model_cpu_offload()
    elif preset.offload == "group":
        # No CUDA streams: with use_stream=True diffusers pins a page-locked host copy of every
        # offloaded weight, which a Colab session's ~12.7 GB of RAM cannot hold beside the model.
        pipe.enable_group_offload(onload_device=torch.device("cuda"), offload_device=torch.device("cpu"),
                                  offload_type="leaf_level", use_stream=False)
    else:
        pipe.to("cuda")
    vae = getattr(pipe, "vae", None)
    if preset.vae_tiling and vae is not None and hasattr(vae, "enable_tiling"):
        vae.enable_tiling()


def prompt_embeddings(spec: ModelSpec, fam: ModuleType, pipe: Any, prompt: str, negative: str,
                      cfg: bool, preset: Preset) -> dict[str, Any]:
    """Prompt embeddings as pipeline keyword arguments, computed once per (model, pipeline class, prompt,
    negative, cfg): each class encodes as its own ``__call__`` would (LTX's condition pipeline differs).

    Under a preset that keeps the text encoder apart (t4), the encoder loads alone onto the GPU,
    encodes, and is freed before the denoiser runs; the embeddings stay cached.
    """
    key = (spec.model_id, type(pipe).__name__, prompt, negative, cfg)
    if key not in _EMBEDS:
        torch = _torch()
        encoder = _text_encoder(spec, fam, pipe, preset) if preset.text_encoder_apart else pipe
        try:
            with torch.no_grad():
                _EMBEDS[key] = fam.encode_prompt(encoder, prompt, negative, cfg)
        finally:
            if encoder is not pipe:
                del encoder
                _free()
    return _EMBEDS[key]


def _text_encoder(spec: ModelSpec, fam: ModuleType, pipe: Any, preset: Preset) -> Any:
    """The pipeline class loaded with only its text encoder(s) and tokenizer(s), on the preset's device."""
    torch = _torch()
    where: dict[str, Any] = {} if os.path.isdir(spec.model_id) else {"revision": spec.revision}
    skip = {name: None for name, part in pipe.components.items() if part is not None and name not in _TEXT_PARTS
            and not name.startswith("tokenizer") and name not in ("scheduler", "safety_checker")}
    if getattr(pipe, "safety_checker", None) is not None:  # Cosmos: the same pass-through, not NVIDIA's checker
        skip["safety_checker"] = pipe.safety_checker
    if preset.device != "cpu":  # straight onto the GPU, not through host RAM (~11 GB for Wan's umT5)
        where["device_map"] = preset.device
    encoder = type(pipe).from_pretrained(spec.model_id, dtype=getattr(torch, preset.dtype), use_safetensors=True,
                                         **skip, **where)
    return encoder


# -- preview ---------------------------------------------------------------------------------------
def fit_preview(model_id: str, fam: ModuleType, pipe: Any) -> tuple[np.ndarray, np.ndarray]:
    """Fits ``rgb ≈ W · latent + b`` for this checkpoint's VAE by encoding a few test clips.

    The clips are still pictures (colour fields, gradients and a checker of colours), each
    ``1 + temporal`` frames long, so the last latent frame is a regular (non-causal) one, as
    the middle frame the preview shows is. Pictures are eight latent pixels a side, so the
    regression has far more equations than a 128-channel latent has unknowns; a small ridge
    keeps it stable. Done once per model.
    """
    if model_id in _PREVIEW:
        return _PREVIEW[model_id]
    spatial, temporal = _compression(pipe)
    size = 8 * spatial
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    rng = np.random.default_rng(0)
    pictures = []
    for i in range(12):
        c0, c1, c2 = rng.uniform(0, 1, (3, 3))
        img = c0 * (1 - xx[..., None]) + c1 * xx[..., None]
        img = img * (1 - yy[..., None]) + c2 * yy[..., None]
        if i % 3 == 2:  # blocks of random colour, one latent pixel each
            blocks = rng.uniform(0, 1, (8, 8, 3)).repeat(spatial, 0).repeat(spatial, 1)
            img = 0.5 * img + 0.5 * blocks
        pictures.append(img)
    images = (np.stack(pictures) * 255).round().astype(np.uint8)
    clips = np.repeat(images[:, None], temporal + 1, axis=1)  # [N, 1 + temporal, H, W, 3]
    # One clip per call: some VAEs (HunyuanVideo 1.5's) mis-broadcast a batch.
    latents = np.concatenate([fam.encode_video(pipe, clips[i:i + 1])[:, :, -1] for i in range(len(clips))])
    n, c, h, w = latents.shape
    pooled = images.reshape(n, h, size // h, w, size // w, 3).mean(axis=(2, 4)) / 255.0
    x = np.concatenate([latents.transpose(0, 2, 3, 1).reshape(-1, c), np.ones((n * h * w, 1))], axis=1)
    y = pooled.reshape(-1, 3)
    # The ridge follows the latents' own scale (not the bias column's ones), so that a VAE whose
    # latents are small is not shrunk towards its mean colour.
    ridge = 1e-3 * float((x[:, :-1] ** 2).sum()) / c
    reg = np.eye(x.shape[1]) * ridge
    reg[-1, -1] = 0.0  # the bias is not shrunk
    coef = np.linalg.solve(x.T @ x + reg, x.T @ y)
    _PREVIEW[model_id] = (coef[:-1].astype(np.float32), coef[-1].astype(np.float32))
    return _PREVIEW[model_id]


def _compression(pipe: Any) -> tuple[int, int]:
    """The VAE's (spatial, temporal) compression, under whichever names the pipeline uses."""
    spatial = getattr(pipe, "vae_scale_factor_spatial", None) or getattr(pipe, "vae_spatial_compression_ratio", 8)
    temporal = getattr(pipe, "vae_scale_factor_temporal", None) or getattr(pipe, "vae_temporal_compression_ratio", 4)
    return int(spatial or 8), int(temporal or 4)


def project(latent: np.ndarray, weights: tuple[np.ndarray, np.ndarray], *, max_side: int = 256) -> np.ndarray:
    """One latent frame ``[C, h, w]`` to a uint8 RGB picture, enlarged to at most ``max_side`` pixels."""
    w, b = weights
    rgb = np.clip(np.einsum("chw,cd->hwd", latent, w) + b, 0, 1)
    h, wd = rgb.shape[:2]
    scale = max(1, max_side // max(h, wd))
    rgb = rgb.repeat(scale, axis=0).repeat(scale, axis=1)
    out: np.ndarray = (rgb * 255).round().astype(np.uint8)
    return out


# -- running ---------------------------------------------------------------------------------------
@dataclass
class Run:
    """What a finished (or stopped) pipeline call produced; ``frames`` are the pipeline's float output."""

    frames: np.ndarray
    audio: np.ndarray | None
    sample_rate: int
    steps_done: int
    stopped: bool
    preset: str


LIGHTER = {"a100": "l4", "l4": "t4"}  # the next preset that needs less GPU memory


def run(spec: ModelSpec, fam: ModuleType, take: Any, cond: Conditioning, *, on_step: OnStep | None = None,
        should_stop: ShouldStop | None = None, progress: bool = True, retry_lighter: bool = False) -> Run:
    """Runs ``take`` (resolved) on its family's pipeline with progress, preview, stop and OOM recovery.

    On a CUDA out-of-memory error the memory is freed and the failed pipeline dropped from the
    cache; with ``retry_lighter`` the run starts again under the next lighter preset (a100 → l4 →
    t4, with a warning), otherwise ``OutOfMemory`` says what would fit.
    """
    torch = _torch()
    preset = choose_preset(take.memory)
    if hasattr(fam, "preflight"):  # a family that refuses a preset before anything loads (Cosmos 3 on a 24 GB GPU)
        fam.preflight(spec, take, preset)
    if _guardrail.on(take):  # NVIDIA's checker loads before the model: one that cannot load is said first
        _guardrail.checker()
    cfg = fam.uses_cfg(take)
    passes = fam.passes_per_step(take)
    width, height = take.size
    est = estimate(spec, width=width, height=height, frames=work_frames(fam, take), steps=fam.steps_for(take),
                   preset=preset, passes=passes)
    if not est.fits:
        warn(f"{spec.name} at {width}x{height}, {take.n_frames} frames, {take.steps} steps "
             f"needs about {est.peak_gb} GB under preset '{preset.name}' "
             f"({preset.budget_gb:g} GB): {est.advice}", ResourceWarning)
    try:
        pipe = pipeline(spec, fam, take.mode, preset)
        fast = fast_variant(take)
        _set_scheduler(pipe, take.shift, spec.card.scheduler + (fast.scheduler if fast is not None else ()))
        from sorakit.backends import _loras

        _loras.apply(pipe, take.all_loras)  # exactly these, the others taken off
        embeds = prompt_embeddings(spec, fam, pipe, take.model_prompt, take.negative_prompt or "", cfg, preset)
        latents, guide = None, None
        if cond.method == "ttm" and cond.motion is not None:  # Time-to-Move: start at t_weak from the motion video
            from sorakit.backends import _ttm

            guide = _ttm.prepare(fam, pipe, take, cond)
            latents = fam.pack_noise(pipe, guide.start(pipe.scheduler).numpy(), take, cond)
        elif cond.motion is not None:
            latents = fam.pack_noise(pipe, warped_noise(fam, pipe, take, cond), take, cond)
        total = fam.steps_for(take)
        state = {"done": 0, "stopped": False, "start": time.perf_counter()}
        bar = None
        if progress and on_step is None:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, desc=spec.name, unit="step")

        def on_step_end(step: int, step_latents: Any) -> Any:
            held, current = None, None  # current: the step's latents as [C, F, h, w] numpy, read once
            if guide is not None and step_latents is not None:  # TTM: the moving bodies held until t_strong
                current = fam.latents_for_preview(pipe, step_latents, take)
                kept = guide.after_step(pipe.scheduler, step, current)
                if kept is not None:
                    held = fam.pack_step(pipe, kept, take, cond).to(step_latents)
            state["done"] = step
            elapsed = time.perf_counter() - state["start"]
            per = elapsed / step
            if bar is not None:
                bar.update(1)
            if on_step is not None:
                preview = None
                if step_latents is not None:
                    weights = fit_preview(spec.model_id, fam, pipe)
                    if current is None:
                        current = fam.latents_for_preview(pipe, step_latents, take)
                    preview = project(current[:, current.shape[1] // 2], weights)
                on_step(Step(step, total, per, per * (total - step), preview))
            if should_stop is not None and step < total and should_stop():
                state["stopped"] = True
                pipe._interrupt = True
            return held

        generator = torch.Generator(device="cpu").manual_seed(take.seed)
        try:
            if guide is not None:
                from sorakit.backends import _ttm

                with _ttm.tail(pipe.scheduler, guide):
                    out = fam.call(pipe, take, cond, embeds, generator, on_step_end, latents)
            else:
                out = fam.call(pipe, take, cond, embeds, generator, on_step_end, latents)
        finally:
            if bar is not None:
                bar.close()
    except torch.OutOfMemoryError as exc:
        _PIPELINES.pop((spec.model_id, take.mode, preset.name), None)
        _free()
        lighter = LIGHTER.get(preset.name)
        if retry_lighter and lighter is not None:
            warn(f"{spec.name} ran out of GPU memory under preset '{preset.name}'; "
                 f"retrying under '{lighter}'", ResourceWarning)
            return run(spec, fam, take.replace(memory=lighter), cond, on_step=on_step, should_stop=should_stop,
                       progress=progress, retry_lighter=True)
        advice = suggest(spec, width=width, height=height, frames=take.n_frames, steps=fam.steps_for(take),
                         preset=preset)
        raise OutOfMemory(f"{spec.name} ran out of GPU memory at {width}x{height}, {take.n_frames} frames "
                          f"under preset '{preset.name}' (estimated peak {est.peak_gb} GB). The memory was freed; "
                          f"try {advice}.") from exc
    return Run(out.frames, out.audio, out.sample_rate, int(state["done"]), bool(state["stopped"]), preset.name)


def warped_noise(fam: ModuleType, pipe: Any, take: Any, cond: Conditioning) -> np.ndarray:
    """The previz-warped initial noise ``[C, F, h, w]`` on the grid the pipeline generates at.

    A family that works at another size than the Take's (HunyuanVideo 1.5 image-to-video picks
    a size bucket) gets the simulation rendered again at that size, so the motion lines up.
    """
    from sorakit.guidance.warp import warp_noise

    assert cond.motion is not None
    previz = cond.motion
    w, h = fam.working_size(pipe, take)
    if (w, h) != take.size and cond.sim is not None:
        from sorakit.previz import render

        previz = render(cond.sim, w, h, trail=False)
    c, f, lh, lw, temporal = fam.latent_grid(pipe, take)
    return warp_noise(previz.flow, previz.body_ids, latent_frames=f, latent_height=lh, latent_width=lw,
                      channels=c, temporal=temporal, seed=take.seed, strength=cond.strength)


def execution_device(module: Any) -> Any:
    """The device a module's inputs must be on: under offload hooks that is the hook's onload
    device, not where the weights rest (diffusers' own ``get_module_execution_device``)."""
    from diffusers.utils.torch_utils import get_module_execution_device

    return get_module_execution_device(module)


def pixels(vae: Any, video: np.ndarray) -> Any:
    """uint8 ``[N, T, H, W, 3]`` clips as a video tensor ``[N, 3, T, H, W]`` in [-1, 1] for ``vae``."""
    torch = _torch()
    x = torch.from_numpy(np.array(video, dtype=np.uint8)).permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0  # a writable copy
    return x.to(device=execution_device(vae), dtype=vae.dtype)


def encode_mode(vae: Any, video: np.ndarray) -> Any:
    """The VAE's latent mode (no sampling, no gradient) of uint8 ``[N, T, H, W, 3]`` clips: ``[N, C, F, h, w]``."""
    torch = _torch()
    with torch.no_grad():
        return vae.encode(pixels(vae, video)).latent_dist.mode()


def step_callback(on_step_end: Callable[[int, Any], Any]) -> Callable[..., dict[str, Any]]:
    """A diffusers ``callback_on_step_end`` that reports the step (from 1) and the latents, and
    hands the pipeline back the latents ``on_step_end`` returns in their place (None keeps them)."""

    def callback(pipe: Any, i: int, t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        replaced = on_step_end(i + 1, kwargs.get("latents"))
        if replaced is not None:
            kwargs["latents"] = replaced
        return kwargs

    return callback


def float_frames(video: Any) -> np.ndarray:
    """A pipeline's ``output_type="np"`` frames ([1, T, H, W, 3] or [T, H, W, 3]) as float32 [T, H, W, 3]."""
    arr = np.asarray(video, dtype=np.float32)
    if arr.ndim == 5:
        arr = arr[0]
    return arr


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Float frames in [0, 1] as uint8 [T, H, W, 3]."""
    arr = float_frames(frames)
    out: np.ndarray = (np.clip(arr, 0.0, 1.0) * 255).round().astype(np.uint8)
    return out

