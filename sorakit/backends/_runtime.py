"""What every diffusers family shares: loading and caching, memory presets, the estimate,
progress with a cheap preview, stopping, and out-of-memory recovery.

A family module supplies the model-specific parts (pipeline classes, call arguments, latent
layout); this module runs the generation the same way for all of them.
"""

from __future__ import annotations

from sorakit.errors import InvalidInput, OutOfMemory

import gc
import hashlib
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from sorakit.models import ModelSpec


class Step(NamedTuple):
    """One step of a generation, as ``on_step`` receives it.

    ``preview`` is a small uint8 ``[h, w, 3]`` image decoded from the latents without the VAE.
    """

    step: int
    total: int
    seconds_per_step: float
    eta: float
    preview: np.ndarray | None


OnStep = Callable[[Step], None]
ShouldStop = Callable[[], bool]




def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise ImportError("Video generation requires torch and diffusers: pip install 'sorakit[video]' "
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


PRESETS: dict[str, Preset] = {
    "cpu": Preset("cpu", "cpu", "float32", None, False, False, 0.0),
    "t4": Preset("t4", "cuda", "float16", "group", True, True, 15.0),
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
        preset = Preset(preset.name, preset.device, "float16", preset.offload, preset.fp8, preset.vae_tiling,
                        preset.budget_gb)
    if name == "a100":
        preset = Preset(preset.name, preset.device, preset.dtype, None, False, True, round(total, 1))
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
             cfg: bool = True) -> Estimate:
    """A first-order estimate from parameter counts and the token count.

    Memory: weights that sit on the GPU at the peak (all of them without offload, the largest
    model with model offload, a few layers with group offload; float8 halves the transformer)
    plus activations, about 24 bytes per token per hidden unit for the widest layer, plus the
    VAE decode. Time: ``2 · params · tokens`` plus attention ``4 · tokens² · hidden · layers``
    FLOPs per forward pass, two passes with classifier-free guidance.
    """
    arch = spec.arch
    if arch is None:
        return Estimate(0.0, 0.0, 0.0, 0, True, "")
    pt, ph, pw = arch.patch
    lat_f = (frames - 1) // arch.temporal + 1
    tokens = math.ceil(lat_f / pt) * math.ceil(height / arch.spatial / ph) * math.ceil(width / arch.spatial / pw)
    bytes_per = 4 if preset.dtype == "float32" else 2
    transformer_gb = arch.transformer * (1 if preset.fp8 else bytes_per)
    text_gb, vae_gb = arch.text_encoder * bytes_per, arch.vae * bytes_per
    if preset.offload is None:
        weights = transformer_gb + text_gb + vae_gb
    elif preset.offload == "model":
        weights = max(transformer_gb, text_gb) + vae_gb
    else:  # group offload keeps a few layers resident
        weights = transformer_gb * 4 / arch.layers + vae_gb
    activations = tokens * arch.hidden * 24 * bytes_per / 1e9
    pixels = frames * width * height
    vae_decode = (2.5 if preset.vae_tiling else pixels * 128 * bytes_per * 3 / 1e9)
    peak = weights + max(activations, vae_decode) + 0.8
    flops = 2 * arch.transformer * 1e9 * tokens + 4 * tokens**2 * arch.hidden * arch.layers
    per_step = flops * (2 if cfg else 1) / (_THROUGHPUT.get(preset.name, 200.0) * 1e12)
    if preset.offload == "group":
        per_step += transformer_gb / 12.0  # streamed over PCIe (~12 GB/s) every step
    seconds = per_step * steps + 10.0
    fits = preset.device == "cpu" or peak <= preset.budget_gb
    advice = ""
    if not fits:
        advice = suggest(spec, width=width, height=height, frames=frames, steps=steps, preset=preset, cfg=cfg)
    return Estimate(round(peak, 1), round(seconds, 1), round(per_step, 2), tokens, fits, advice)


def suggest(spec: ModelSpec, *, width: int, height: int, frames: int, steps: int, preset: Preset,
            cfg: bool = True) -> str:
    """Names a lighter preset, or a smaller size or shorter clip, that the estimate says fits."""
    order = ["a100", "l4", "t4"]
    for lighter in order[order.index(preset.name) + 1:] if preset.name in order else []:
        alt = PRESETS[lighter]
        alt = Preset(alt.name, alt.device, preset.dtype, alt.offload, alt.fp8, alt.vae_tiling, preset.budget_gb)
        if estimate(spec, width=width, height=height, frames=frames, steps=steps, preset=alt, cfg=cfg).fits:
            return f"memory='{lighter}' (its offloading) should fit in {preset.budget_gb:g} GB"
    k, r = spec.frame_rule
    f = frames
    while f > r + k:
        f = max(r + k, (f - r) // 2 // k * k + r if k > 1 else f // 2)
        if estimate(spec, width=width, height=height, frames=f, steps=steps, preset=preset, cfg=cfg).fits:
            return f"frames={f} should fit in {preset.budget_gb:g} GB"
        if f == r + k:
            break
    m = spec.size_multiple
    w, h = max(m, width * 2 // 3 // m * m), max(m, height * 2 // 3 // m * m)
    return f"a smaller size such as {w}x{h} with fewer frames"


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
    """The pipeline for (model, mode, preset), loaded once; modes that share a checkpoint share weights."""
    key = (spec.model_id, mode, preset.name)
    if key in _PIPELINES:
        return _PIPELINES[key]
    torch = _torch()
    import diffusers

    dtype = getattr(torch, preset.dtype)
    cls = getattr(diffusers, fam.PIPELINES[mode])
    base_mode = fam.base_mode(spec, mode)
    if base_mode != mode:
        base = pipeline(spec, fam, base_mode, preset)
        pipe = cls.from_pipe(base)
    else:
        # Weights only as safetensors, and never remote code: a hub id (at its revision) or a local folder.
        where = {} if os.path.isdir(spec.model_id) else {"revision": spec.revision}
        pipe = cls.from_pretrained(spec.model_id, dtype=dtype, use_safetensors=True, **where)
        _place(pipe, preset)
    pipe.set_progress_bar_config(disable=True)
    _PIPELINES[key] = pipe
    return pipe


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
        pipe.enable_group_offload(onload_device=torch.device("cuda"), offload_device=torch.device("cpu"),
                                  offload_type="leaf_level", use_stream=True)
    else:
        pipe.to("cuda")
    vae = getattr(pipe, "vae", None)
    if preset.vae_tiling and vae is not None and hasattr(vae, "enable_tiling"):
        vae.enable_tiling()


def prompt_embeddings(spec: ModelSpec, fam: ModuleType, pipe: Any, prompt: str, negative: str,
                      cfg: bool) -> dict[str, Any]:
    """Prompt embeddings as pipeline keyword arguments, computed once per (model, prompt, negative, cfg)."""
    key = (spec.model_id, prompt, negative, cfg)
    if key not in _EMBEDS:
        torch = _torch()
        with torch.no_grad():
            _EMBEDS[key] = fam.encode_prompt(pipe, prompt, negative, cfg)
    return _EMBEDS[key]


# -- preview ---------------------------------------------------------------------------------------
def fit_preview(model_id: str, fam: ModuleType, pipe: Any) -> tuple[np.ndarray, np.ndarray]:
    """Fits ``rgb ≈ W · latent + b`` for this checkpoint's VAE by encoding a few test pictures.

    The pictures are colour fields and gradients; their VAE latents (as the transformer sees
    them) are regressed on the pictures box-filtered to the latent grid. Done once per model.
    """
    if model_id in _PREVIEW:
        return _PREVIEW[model_id]
    size = 64
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    rng = np.random.default_rng(0)
    pictures = []
    for _ in range(6):
        c0, c1, c2 = rng.uniform(0, 1, (3, 3))
        img = c0 * (1 - xx[..., None]) + c1 * xx[..., None]
        img = img * (1 - yy[..., None]) + c2 * yy[..., None]
        pictures.append(img)
    images = (np.stack(pictures) * 255).round().astype(np.uint8)
    # One picture per call: some VAEs (HunyuanVideo 1.5's) mis-broadcast a batch of single frames.
    latents = np.concatenate([fam.encode_images(pipe, images[i:i + 1]) for i in range(len(images))])  # [N, C, h, w]
    n, c, h, w = latents.shape
    pooled = images.reshape(n, h, size // h, w, size // w, 3).mean(axis=(2, 4)) / 255.0
    x = np.concatenate([latents.transpose(0, 2, 3, 1).reshape(-1, c), np.ones((n * h * w, 1))], axis=1)
    y = pooled.reshape(-1, 3)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    _PREVIEW[model_id] = (coef[:-1].astype(np.float32), coef[-1].astype(np.float32))
    return _PREVIEW[model_id]


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
    """What a finished (or stopped) pipeline call produced."""

    frames: np.ndarray
    audio: np.ndarray | None
    sample_rate: int
    steps_done: int
    stopped: bool
    preset: str


LIGHTER = {"a100": "l4", "l4": "t4"}  # the next preset that needs less GPU memory


def run(spec: ModelSpec, fam: ModuleType, take: Any, inputs: dict[str, Any], *, on_step: OnStep | None = None,
        should_stop: ShouldStop | None = None, progress: bool = True, retry_lighter: bool = False) -> Run:
    """Runs ``take`` on its family's pipeline with progress, preview, stop and OOM recovery.

    On a CUDA out-of-memory error the memory is freed and the failed pipeline dropped from the
    cache; with ``retry_lighter`` the run starts again under the next lighter preset (a100 → l4 →
    t4, with a warning), otherwise ``OutOfMemory`` says what would fit.
    """
    torch = _torch()
    preset = choose_preset(take.memory)
    cfg = fam.uses_cfg(take)
    est = estimate(spec, width=take.width, height=take.height, frames=take.frames, steps=take.steps,
                   preset=preset, cfg=cfg)
    if not est.fits:
        warnings.warn(f"{spec.name} at {take.width}x{take.height}, {take.frames} frames, {take.steps} steps "
                      f"needs about {est.peak_gb} GB under preset '{preset.name}' "
                      f"({preset.budget_gb:g} GB): {est.advice}", ResourceWarning, stacklevel=3)
    try:
        pipe = pipeline(spec, fam, take.mode, preset)
        embeds = prompt_embeddings(spec, fam, pipe, take.prompt, take.negative_prompt, cfg)
        previz = inputs.pop("warp", None)
        if previz is not None:
            from sorakit.guidance.warp import warp_noise

            c, f, h, w, temporal = fam.latent_grid(pipe, take)
            noise = warp_noise(previz.flow, previz.body_ids, latent_frames=f, latent_height=h, latent_width=w,
                               channels=c, temporal=temporal, seed=take.seed, strength=take.physics.strength)
            inputs["latents"] = fam.pack_noise(pipe, noise, take)
        total = fam.steps_for(take)
        state = {"done": 0, "stopped": False, "start": time.perf_counter()}
        bar = None
        if progress and on_step is None:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, desc=spec.name, unit="step")

        def on_step_end(step: int, latents: Any) -> None:
            state["done"] = step
            elapsed = time.perf_counter() - state["start"]
            per = elapsed / step
            if bar is not None:
                bar.update(1)
            if on_step is not None:
                preview = None
                if latents is not None:
                    weights = fit_preview(spec.model_id, fam, pipe)
                    lat = fam.latents_for_preview(pipe, latents, take)  # [C, F, h, w] numpy
                    preview = project(lat[:, lat.shape[1] // 2], weights)
                on_step(Step(step, total, per, per * (total - step), preview))
            if should_stop is not None and step < total and should_stop():
                state["stopped"] = True
                pipe._interrupt = True

        generator = torch.Generator(device="cpu").manual_seed(take.seed)
        try:
            frames, audio, rate = fam.call(pipe, take, inputs, embeds, generator, on_step_end)
        finally:
            if bar is not None:
                bar.close()
    except torch.OutOfMemoryError as exc:
        _PIPELINES.pop((spec.model_id, take.mode, preset.name), None)
        _free()
        lighter = LIGHTER.get(preset.name)
        if retry_lighter and lighter is not None:
            warnings.warn(f"{spec.name} ran out of GPU memory under preset '{preset.name}'; "
                          f"retrying under '{lighter}'", ResourceWarning, stacklevel=3)
            return run(spec, fam, take.replace(memory=lighter), inputs, on_step=on_step, should_stop=should_stop,
                       progress=progress, retry_lighter=True)
        advice = suggest(spec, width=take.width, height=take.height, frames=take.frames, steps=take.steps,
                         preset=preset, cfg=cfg)
        raise OutOfMemory(f"{spec.name} ran out of GPU memory at {take.width}x{take.height}, {take.frames} frames "
                          f"under preset '{preset.name}' (estimated peak {est.peak_gb} GB). The memory was freed; "
                          f"try {advice}.") from exc
    return Run(frames, audio, rate, int(state["done"]), bool(state["stopped"]), preset.name)


def pixels(vae: Any, images: np.ndarray) -> Any:
    """uint8 ``[N, H, W, 3]`` pictures as a one-frame video tensor ``[N, 3, 1, H, W]`` in [-1, 1] for ``vae``."""
    torch = _torch()
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)[:, :, None].float() / 127.5 - 1.0
    return x.to(device=vae.device, dtype=vae.dtype)


def encode_mode(vae: Any, images: np.ndarray) -> Any:
    """The VAE's latent mode (no sampling, no gradient) of uint8 ``[N, H, W, 3]`` pictures: ``[N, C, 1, h, w]``."""
    torch = _torch()
    with torch.no_grad():
        return vae.encode(pixels(vae, images)).latent_dist.mode()


def step_callback(on_step_end: Callable[[int, Any], None]) -> Callable[..., dict[str, Any]]:
    """A diffusers ``callback_on_step_end`` that reports the step (from 1) and the latents."""

    def callback(pipe: Any, i: int, t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        on_step_end(i + 1, kwargs.get("latents"))
        return kwargs

    return callback


def to_uint8(video: Any) -> np.ndarray:
    """A pipeline's ``output_type="np"`` frames (float in [0, 1], [1, T, H, W, 3]) as uint8 [T, H, W, 3]."""
    arr = np.asarray(video)
    if arr.ndim == 5:
        arr = arr[0]
    out: np.ndarray = (np.clip(arr, 0.0, 1.0) * 255).round().astype(np.uint8)
    return out
