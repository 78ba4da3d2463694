"""The runtime's own rules, each pinned at its numbers and edges: the preset a GPU gets, the estimate's
arithmetic, what it advises, a local folder's fingerprint, a derived pipeline's config, how a preset
places a pipeline, the pixels a VAE is given, the step callback, the warped noise at the family's
working size. Fast: one tiny Wan at most (``test_runtime.py`` runs whole generations)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sorakit import models  # noqa: E402
from sorakit.backends import _runtime  # noqa: E402
from sorakit.backends.contract import Conditioning  # noqa: E402
from sorakit.models import Arch, ModelSpec  # noqa: E402
from tests.backends.conftest import said_here  # noqa: E402

P = _runtime.PRESETS


# -- the preset a GPU gets ---------------------------------------------------------------------------
@pytest.mark.parametrize(("gib", "name"), [(19.9, "t4"), (20.0, "l4"), (31.9, "l4"), (32.0, "a100"),
                                           (79.35, "a100")])
def test_auto_takes_the_preset_by_the_first_gpu_s_size_at_20_and_32_gb(monkeypatch: pytest.MonkeyPatch, gib: float,
                                                                       name: str) -> None:
    asked: list[object] = []

    def properties(device: object) -> SimpleNamespace:
        asked.append(device)
        return SimpleNamespace(total_memory=gib * 2**30)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties", properties)
    preset = _runtime.choose_preset()
    assert preset.name == name and asked == [0]
    assert preset.budget_gb == {"t4": 15.0, "l4": 22.0, "a100": round(gib, 1)}[name]  # a100: the GPU's own size
    assert _runtime.choose_preset("cpu") == P["cpu"]  # asked for by name: as it is


# -- the estimate ----------------------------------------------------------------------------------
# Round numbers: a 2 B transformer 1000 wide and 20 deep, a 4 B text encoder, a 0.5 B VAE, 2x2x2 patches.
ARCH = Arch(transformer=2.0, text_encoder=4.0, vae=0.5, hidden=1000, layers=20, patch=(2, 2, 2))


def spec_of(arch: Arch | None = ARCH, **kw: Any) -> ModelSpec:
    kw.setdefault("model_id", "owner/sums")
    return ModelSpec(name="sums", backend="diffusers", family="wan", modes=("t2v",),
                     frame_rule=kw.pop("frame_rule", (4, 1)), arch=arch, **kw)


def estimate(preset: _runtime.Preset, spec: ModelSpec | None = None, frames: int = 17, width: int = 328,
             height: int = 200, passes: int = 2) -> _runtime.Estimate:
    return _runtime.estimate(spec or spec_of(), width=width, height=height, frames=frames, steps=7, preset=preset,
                             passes=passes)


# 17 frames -> 5 latent frames -> 3 patches deep; 200/8/2 -> 13 rows; 328/8/2 -> 21 columns: 819 tokens.
# FLOPs a pass: 2 * 2e9 * 819 + 4 * 819² * 1000 * 20 = 3.32966088e12; two passes a step.
FLOPS = 2 * 2.0e9 * 819 + 4 * 819**2 * 1000 * 20


def test_the_estimate_on_the_cpu_counts_float32_weights_and_the_whole_decode() -> None:
    e = estimate(P["cpu"])
    assert e.tokens == 819
    # weights (2 + 4 + 0.5) B * 4 bytes = 26 GB; decode 17 * 200 * 328 px * 128 * 4 bytes * 3 = 1.713 GB
    assert e.peak_gb == round(26 + 17 * 200 * 328 * 128 * 4 * 3 / 1e9 + 0.8, 1) == 28.5
    assert e.seconds_per_step == round(2 * FLOPS / 0.15e12, 2) == 44.4  # 0.15 TFLOP/s
    assert e.seconds == round(7 * 2 * FLOPS / 0.15e12 + 10, 1) == 320.8
    assert e.fits and e.advice == ""  # the CPU has no budget to break
    assert estimate(P["cpu"], passes=3).seconds_per_step == round(3 * FLOPS / 0.15e12, 2)


def test_the_estimate_on_a_gpu_counts_what_each_offload_keeps_resident() -> None:
    a100 = estimate(P["a100"])  # all resident in bf16: 4 + 8 + 1 GB; tiled decode 2.5 GB
    assert (a100.peak_gb, a100.seconds_per_step, a100.seconds) == (16.3, 0.03, 10.2)
    assert a100.fits
    l4 = estimate(P["l4"])  # one model at a time: the text encoder's 8 GB over the transformer's 4, + the VAE
    assert (l4.peak_gb, l4.seconds_per_step, l4.seconds) == (12.3, 0.11, 10.8)
    t4 = estimate(P["t4"])  # the text encoder apart (8 GB + context first); float8 transformer streamed
    assert t4.peak_gb == 8.8
    assert t4.seconds_per_step == round(2 * FLOPS / 22e12 + 2.0 / 12, 2) == 0.47  # + 2 GB over PCIe a step
    assert t4.seconds == 13.3
    light = estimate(P["t4"], spec_of(dataclasses.replace(ARCH, text_encoder=0.5)))
    assert light.peak_gb == round(2.0 * 4 / 20 + 1.0 + 2.5 + 0.8, 1) == 4.7  # 4 of 20 layers resident
    apart = dataclasses.replace(P["a100"], text_encoder_apart=True)  # nothing offloaded, the encoder freed first
    assert estimate(apart).peak_gb == max(4 + 1 + 2.5 + 0.8, 8 + 0.8) == 8.8  # its 8 GB alone, before
    assert estimate(apart, spec_of(dataclasses.replace(ARCH, text_encoder=0.5))).peak_gb == 4 + 1 + 2.5 + 0.8 == 8.3
    fp8 = estimate(P["a100"], spec_of(revision="fp8"))  # a checkpoint that ships float8 weights
    assert fp8.peak_gb == 14.3
    wide = estimate(P["a100"], spec_of(dataclasses.replace(ARCH, hidden=200_000)))  # activations over the decode
    assert wide.peak_gb == round(13 + 819 * 200_000 * 24 * 2 / 1e9 + 0.8, 1) == 21.7
    plain = _runtime.Preset("x", "cuda", "float16", None, False, False, 10.0)  # untiled decode, unknown GPU
    e = estimate(plain)
    assert e.peak_gb == round(13 + 17 * 200 * 328 * 128 * 2 * 3 / 1e9 + 0.8, 1) == 14.7
    assert e.seconds_per_step == round(2 * FLOPS / 200e12, 2) and not e.fits and e.advice
    assert estimate(dataclasses.replace(plain, budget_gb=14.7)).fits  # up to the budget itself
    assert _runtime.estimate(spec_of(None), width=64, height=64, frames=9, steps=4,
                             preset=P["a100"]) == _runtime.Estimate(0.0, 0.0, 0.0, 0, True, "")


def test_advice_names_the_lightest_preset_that_fits_under_the_one_asked_for() -> None:
    big = spec_of(dataclasses.replace(ARCH, transformer=20.0))  # 40 GB of bf16 weights, 8 GB of text encoder
    tight = _runtime.Preset("a100", "cuda", "bfloat16", None, False, True, 30.0)
    assert _runtime.suggest(big, width=328, height=200, frames=17, steps=7, preset=tight) == \
        "memory='t4' (its offloading) should fit in 30 GB"  # l4 keeps the 40 GB transformer whole
    roomy = dataclasses.replace(tight, budget_gb=45.0)  # l4's 44.3 GB fits
    assert _runtime.suggest(big, width=328, height=200, frames=17, steps=7, preset=roomy) == \
        "memory='l4' (its offloading) should fit in 45 GB"
    wide = dataclasses.replace(tight, dtype="float32", budget_gb=45.0)  # the preset's own dtype: 80 GB in float32
    assert _runtime.suggest(big, width=328, height=200, frames=17, steps=7, preset=wide).startswith("memory='t4'")
    l4 = dataclasses.replace(P["l4"], budget_gb=30.0)  # none lighter than t4 is tried, nor l4 itself
    assert _runtime.suggest(big, width=328, height=200, frames=17, steps=7, preset=l4).startswith("memory='t4'")
    t4 = dataclasses.replace(P["t4"], budget_gb=4.0)
    assert not _runtime.suggest(big, width=328, height=200, frames=17, steps=7, preset=t4).startswith("memory=")


def test_advice_skips_a_preset_the_family_refuses() -> None:
    nano = models.get("cosmos3-nano")
    a100 = P["a100"]
    assert _runtime.refused(nano, P["t4"]) and _runtime.refused(nano, P["l4"]) and not _runtime.refused(nano, a100)
    assert not _runtime.refused(spec_of(), P["t4"])  # a family without a preflight refuses nothing
    advice = _runtime.suggest(nano, width=1280, height=704, frames=121, steps=35, preset=a100)
    assert not advice.startswith("memory=")


def test_advice_halves_the_frames_on_the_frame_rule_then_names_a_smaller_size() -> None:
    dense = _runtime.Preset("dense", "cuda", "bfloat16", None, False, False, 16.0)  # no lighter preset to name
    # 16 GB: 13 GB of weights, 0.8 of context, so a decode under 2.2 GB (frames * 328 * 200 * 768 bytes): 43 frames
    for frames, advice in ((81, "frames=41"), (161, "frames=41"), (45, "frames=21")):
        assert _runtime.suggest(spec_of(), width=328, height=200, frames=frames, steps=7, preset=dense) == \
            f"{advice} should fit in 16 GB", frames
    one = spec_of(frame_rule=(1, 0))
    assert _runtime.suggest(one, width=328, height=200, frames=86, steps=7, preset=dense) == "frames=43 should fit in 16 GB"
    eight = spec_of(frame_rule=(8, 1))
    assert _runtime.suggest(eight, width=328, height=200, frames=89, steps=7, preset=dense) == \
        "frames=41 should fit in 16 GB"
    three = spec_of(frame_rule=(4, 3))  # 47 = 4 * 11 + 3: n = 11 halves to 5, so 23 (not 27)
    assert _runtime.suggest(three, width=328, height=200, frames=47, steps=7, preset=dense) == \
        "frames=23 should fit in 16 GB"
    small = dataclasses.replace(dense, budget_gb=14.0)  # down to 5 frames (4k+1 at its least) and still not
    assert _runtime.suggest(spec_of(), width=328, height=200, frames=81, steps=7, preset=small) == \
        "a smaller size such as 208x128 with fewer frames"  # two thirds of each side, on the 16 px grid
    assert _runtime.suggest(spec_of(size_multiple=32), width=40, height=30, frames=5, steps=7, preset=small) == \
        "a smaller size such as 32x32 with fewer frames"  # never under one multiple


def test_the_frames_a_family_denoises_are_its_own_or_the_clip_s() -> None:
    take = SimpleNamespace(n_frames=17)
    assert _runtime.work_frames(SimpleNamespace(), take) == 17
    assert _runtime.work_frames(SimpleNamespace(work_frames=lambda t: 93.0), take) == 93


# -- provenance: what was loaded --------------------------------------------------------------------
def test_a_local_folder_s_fingerprint_reads_its_configs_and_its_weights_names_and_sizes(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    (folder / "transformer").mkdir(parents=True)
    config = folder / "transformer" / "config.json"
    weights = folder / "transformer" / "model.safetensors"
    config.write_text('{"layers": 2}')
    weights.write_bytes(b"\x00" * 64)

    def fingerprint() -> str:
        _runtime._REVISIONS.clear()
        return _runtime.revision(spec_of(model_id=str(folder)))

    first = fingerprint()
    assert first.startswith("local sha256:") and len(first) == len("local sha256:") + 16
    int(first.split(":")[1], 16)
    weights.write_bytes(b"\x01" * 64)  # same name and size: not read (hashing 30 GB would take minutes)
    assert fingerprint() == first
    config.write_text('{"layers": 3}')  # same size, another config
    changed = fingerprint()
    assert changed != first
    weights.write_bytes(b"\x01" * 65)
    assert fingerprint() not in (first, changed)
    again = fingerprint()
    weights.rename(folder / "transformer" / "other.safetensors")
    assert fingerprint() != again
    _runtime._REVISIONS.clear()


def test_a_hub_id_not_in_the_cache_is_recorded_as_asked_for() -> None:
    _runtime._REVISIONS.clear()
    try:
        assert _runtime.revision(spec_of(model_id="nobody/not-a-model", revision="v2")) == "nobody/not-a-model@v2"
    finally:
        _runtime._REVISIONS.clear()


def test_a_hub_id_in_the_cache_is_recorded_at_the_commit_its_revision_resolves_to(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub
    from huggingface_hub import constants

    commits = {"main": "a" * 40, "v2": "b" * 40}
    repo = tmp_path / "models--owner--cached"  # the hub cache's own layout: refs name commits, snapshots hold them
    for ref, commit in commits.items():
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / ref).write_text(commit)
        (repo / "snapshots" / commit).mkdir(parents=True)
        (repo / "snapshots" / commit / "model_index.json").write_text("{}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    online: list[object] = []  # the cache alone is read: nothing asks the hub, even where it is reachable
    monkeypatch.setattr(huggingface_hub.HfApi, "repo_info", lambda *a, **k: online.append(a) or 1 / 0)
    _runtime._REVISIONS.clear()
    try:
        assert _runtime.revision(spec_of(model_id="owner/cached", revision="v2")) == f"owner/cached@{'b' * 40}"
        assert _runtime.revision(spec_of(model_id="owner/cached", revision="main")) == f"owner/cached@{'b' * 40}"
        _runtime._REVISIONS.clear()  # once per model id: cleared, main is read
        assert _runtime.revision(spec_of(model_id="owner/cached", revision="main")) == f"owner/cached@{'a' * 40}"
        assert online == []
    finally:
        _runtime._REVISIONS.clear()


def test_a_derived_pipeline_shares_the_base_s_components_and_keeps_its_name_or_path(tmp_path: Path) -> None:
    import diffusers

    from sorakit.tiny import wan as tiny_wan

    folder = tiny_wan.build(tmp_path / "wan")
    base = diffusers.WanPipeline.from_pretrained(str(folder))
    derived = _runtime.derive(diffusers.WanVideoToVideoPipeline, base)
    assert derived.transformer is base.transformer and derived.vae is base.vae
    assert derived.config["_name_or_path"] == base.config["_name_or_path"] == str(folder)
    unnamed = diffusers.WanPipeline(**base.components)
    assert "_name_or_path" not in _runtime.derive(diffusers.WanVideoToVideoPipeline, unnamed).config


# -- placing a pipeline -------------------------------------------------------------------------------
class Placed:
    """Records what a preset asks of a pipeline (the GPU branches cannot run on this machine)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.transformer = SimpleNamespace(enable_layerwise_casting=lambda **kw: self.calls.append(("fp8", kw)))
        self.transformer_2 = SimpleNamespace(enable_layerwise_casting=lambda **kw: self.calls.append(("fp8 2", kw)))
        self.vae = SimpleNamespace(enable_tiling=lambda: self.calls.append(("tiling", None)))

    def to(self, device: str) -> None:
        self.calls.append(("to", device))

    def enable_model_cpu_offload(self) -> None:
        self.calls.append(("model", None))

    def enable_group_offload(self, **kw: Any) -> None:
        self.calls.append(("group", kw))


def test_each_preset_places_the_pipeline_its_own_way() -> None:
    for name, calls in (("cpu", [("to", "cpu")]), ("a100", [("to", "cuda"), ("tiling", None)]),
                        ("l4", [("model", None), ("tiling", None)])):
        pipe = Placed()
        _runtime._place(pipe, P[name])
        assert pipe.calls == calls, name
    pipe = Placed()
    _runtime._place(pipe, P["t4"])
    fp8 = {"storage_dtype": torch.float8_e4m3fn, "compute_dtype": torch.float16}
    assert pipe.calls == [  # both of Wan 2.2 A14B's denoisers
        ("fp8", fp8), ("fp8 2", fp8),
        ("group", {"onload_device": torch.device("cuda"), "offload_device": torch.device("cpu"),
                   "offload_type": "leaf_level", "use_stream": False}),
        ("tiling", None)]
    untiled = Placed()
    _runtime._place(untiled, dataclasses.replace(P["a100"], vae_tiling=False))
    assert untiled.calls == [("to", "cuda")]
    bare = Placed()  # a pipeline with one denoiser and no VAE attribute at all
    del bare.transformer_2, bare.vae
    _runtime._place(bare, P["t4"])
    assert [c[0] for c in bare.calls] == ["fp8", "group"]


# -- what reaches the model ---------------------------------------------------------------------------
class Vae(torch.nn.Linear):
    """A module with a dtype, as a diffusers VAE has."""

    def __init__(self) -> None:
        super().__init__(1, 1)

    @property
    def dtype(self) -> Any:
        return self.weight.dtype


def test_pixels_reach_the_vae_as_n_c_t_h_w_in_minus_one_to_one_in_its_dtype() -> None:
    video = np.zeros((1, 2, 3, 4, 3), np.uint8)
    video[0, 1, 2, 3] = (255, 0, 51)
    vae = Vae().to(torch.bfloat16)
    x = _runtime.pixels(vae, video)
    assert x.shape == (1, 3, 2, 3, 4) and x.dtype == torch.bfloat16 and x.device.type == "cpu"
    assert x[0, :, 1, 2, 3].float().tolist() == pytest.approx([1.0, -1.0, 51 / 127.5 - 1], abs=4e-3)
    assert float(x[0, 0, 0, 0, 0]) == -1.0
    assert _runtime.pixels(Vae(), video.astype(np.float64) * 0 + 127.5).flatten()[0] == \
        pytest.approx(127 / 127.5 - 1)  # read as uint8, as a video is


def test_the_step_callback_counts_from_one_and_hands_back_replaced_latents() -> None:
    seen: list[tuple[int, Any]] = []
    mine = torch.ones(2)

    def on_step_end(step: int, latents: Any) -> Any:
        seen.append((step, latents))
        return mine if step == 2 else None

    callback = _runtime.step_callback(on_step_end)
    first = torch.zeros(2)
    out = callback(None, 0, 999, {"latents": first, "prompt_embeds": 1})
    assert out == {"latents": first, "prompt_embeds": 1} and seen == [(1, first)]
    assert callback(None, 1, 998, {"latents": first})["latents"] is mine
    assert [s for s, _ in seen] == [1, 2]


def test_frames_come_back_as_float32_t_h_w_3_and_as_rounded_uint8() -> None:
    batch = np.full((1, 2, 3, 4, 3), 0.5, np.float64)
    assert _runtime.float_frames(batch).shape == (2, 3, 4, 3) and _runtime.float_frames(batch).dtype == np.float32
    assert _runtime.float_frames(batch[0]).shape == (2, 3, 4, 3)
    f = np.array([[[[-0.5, 0.5, 1.5], [0.2, 0.999, 0.001]]]], np.float32)
    assert _runtime.to_uint8(f).tolist() == [[[[0, 128, 255], [51, 255, 0]]]]
    assert _runtime.to_uint8(f).dtype == np.uint8


def test_a_latent_frame_is_projected_to_rgb_and_enlarged_to_the_side_asked() -> None:
    latent = np.zeros((2, 3, 4), np.float32)
    latent[0, 1, 2] = 1.0
    latent[1, 0, 0] = -2.0  # out of range both ways: clipped to black and white
    latent[1, 2, 3] = 3.0
    weights = (np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.0]], np.float32), np.array([0.0, 0.25, 0.0], np.float32))
    rgb = _runtime.project(latent, weights, max_side=8)
    assert rgb.shape == (6, 8, 3) and rgb.dtype == np.uint8  # 8 // 4 = twice as large
    assert rgb[2, 4].tolist() == [255, 64, 128] and rgb[3, 5].tolist() == [255, 64, 128]
    assert rgb[0, 0].tolist() == [0, 0, 0] and rgb[5, 7].tolist() == [0, 255, 0] and rgb[0, 2].tolist() == [0, 64, 0]
    assert _runtime.project(latent, weights, max_side=3).shape == (3, 4, 3)  # never smaller


def test_the_warped_noise_is_made_at_the_family_s_working_size_from_the_simulation() -> None:
    from sorakit import preset, simulate
    from sorakit.guidance.warp import warp_noise
    from sorakit.previz import render

    sim = simulate(preset("bouncing_balls"), frames=9, fps=16)
    take = SimpleNamespace(size=(64, 48), seed=5)
    cond = Conditioning(motion=render(sim, 64, 48, trail=False), sim=sim, strength=0.7)

    def fam(size: tuple[int, int]) -> SimpleNamespace:
        return SimpleNamespace(working_size=lambda pipe, t: size, latent_grid=lambda pipe, t: (4, 5, size[1] // 8,
                                                                                              size[0] // 8, 2))

    def expected(w: int, h: int, temporal: int = 2) -> np.ndarray:  # 2 frames a latent frame: not the default
        previz = render(sim, w, h, trail=False)
        return warp_noise(previz.flow, previz.body_ids, latent_frames=5, latent_height=h // 8, latent_width=w // 8,
                          channels=4, temporal=temporal, seed=5, strength=0.7)

    same = _runtime.warped_noise(fam((64, 48)), None, take, cond)
    assert np.array_equal(same, expected(64, 48))
    assert not np.array_equal(same, expected(64, 48, temporal=4))
    bigger = _runtime.warped_noise(fam((96, 64)), None, take, cond)  # another size: the simulation drawn again there
    assert bigger.shape == (4, 5, 8, 12) and np.array_equal(bigger, expected(96, 64))
    previz_only = dataclasses.replace(cond, sim=None)  # no simulation: the previz as it is
    assert np.array_equal(_runtime.warped_noise(fam((64, 48)), None, take, previz_only), same)


def test_prompt_embeddings_are_encoded_once_per_prompt_negative_and_guidance(monkeypatch: pytest.MonkeyPatch) -> None:
    encoded: list[tuple[Any, str, str, bool]] = []

    def encode_prompt(encoder: Any, prompt: str, negative: str, cfg: bool) -> dict[str, Any]:
        encoded.append((encoder, prompt, negative, cfg))
        return {"prompt_embeds": len(encoded)}

    fam = SimpleNamespace(encode_prompt=encode_prompt)
    pipe = SimpleNamespace()
    spec = spec_of()
    _runtime._EMBEDS.clear()
    try:
        first = _runtime.prompt_embeddings(spec, fam, pipe, "a ball", "blurry", True, P["cpu"])
        assert first == {"prompt_embeds": 1} and encoded == [(pipe, "a ball", "blurry", True)]
        assert _runtime.prompt_embeddings(spec, fam, pipe, "a ball", "blurry", True, P["cpu"]) is first
        for prompt, negative, cfg in (("a cube", "blurry", True), ("a ball", "dark", True), ("a ball", "blurry", False)):
            _runtime.prompt_embeddings(spec, fam, pipe, prompt, negative, cfg, P["cpu"])
            assert encoded[-1] == (pipe, prompt, negative, cfg)
        assert len(encoded) == 4
        other = dataclasses.replace(spec, model_id="owner/other")  # another model: its own encoding
        _runtime.prompt_embeddings(other, fam, pipe, "a ball", "blurry", True, P["cpu"])
        assert len(encoded) == 5
        # t4: the text encoder alone, loaded for the prompt and freed before the denoiser runs
        alone, freed = SimpleNamespace(), []
        monkeypatch.setattr(_runtime, "_text_encoder", lambda s, f, p, preset: alone)
        monkeypatch.setattr(_runtime, "_free", lambda: freed.append(True))
        _runtime.prompt_embeddings(spec, fam, pipe, "a kite", "", True, P["t4"])
        assert encoded[-1] == (alone, "a kite", "", True) and freed == [True]
        _runtime.prompt_embeddings(spec, fam, pipe, "a boat", "", True, P["cpu"])
        assert encoded[-1][0] is pipe and freed == [True]  # the pipeline's own encoder: nothing to free
    finally:
        _runtime._EMBEDS.clear()


# -- a run ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tiny_wan: ModelSpec) -> Any:
    """The tiny Wan (conftest's ``tiny_wan``) and its Take (2 steps, 9 frames at 16x16, on the CPU)."""
    import sorakit

    take = sorakit.Take(prompt="a red ball", model=tiny_wan.name, steps=2, frames=9, width=16, height=16,
                        memory="cpu").resolved()
    return tiny_wan, take


def wan_like(**changes: Any) -> SimpleNamespace:
    """The Wan family as a namespace, with some of its parts replaced."""
    from sorakit.backends import family

    return SimpleNamespace(**{**vars(family("wan")), **changes})


def test_a_run_reports_each_step_with_its_time_and_what_is_left(tiny: Any) -> None:
    from sorakit.backends import family

    spec, take = tiny
    steps: list[Any] = []
    run = _runtime.run(spec, family("wan"), take, Conditioning(), on_step=steps.append)
    assert (run.steps_done, run.stopped, run.preset) == (2, False, "cpu")
    assert [(s.step, s.total) for s in steps] == [(1, 2), (2, 2)]
    assert all(s.seconds_per_step > 0 for s in steps) and steps[1].eta == 0.0
    assert steps[0].eta == pytest.approx(steps[0].seconds_per_step)  # one step left at the first one's pace
    assert steps[1].seconds_per_step < 60  # time since the start, per step: not an absolute clock
    assert all(s.preview is not None and s.preview.dtype == np.uint8 for s in steps)


def test_a_stop_asked_at_the_last_step_cuts_nothing_short(tiny: Any) -> None:
    from sorakit.backends import family

    spec, take = tiny
    asked: list[int] = []
    last = _runtime.run(spec, family("wan"), take, Conditioning(), on_step=lambda s: asked.append(s.step),
                        should_stop=lambda: len(asked) == 2)
    assert (last.steps_done, last.stopped) == (2, False)
    first = _runtime.run(spec, family("wan"), take, Conditioning(), on_step=lambda s: None, should_stop=lambda: True)
    assert (first.steps_done, first.stopped) == (1, True)


def test_a_run_shows_a_bar_only_when_asked_and_nobody_else_reports_the_steps(tiny: Any,
                                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from sorakit.backends import family

    spec, take = tiny
    _runtime.run(spec, family("wan"), take, Conditioning())  # progress by default
    err = capsys.readouterr().err
    assert f"{spec.name}: 100%" in err and re.search(r"2/2 \[[^]]*(step/s|s/step)\]", err)  # counted in steps
    _runtime.run(spec, family("wan"), take, Conditioning(), progress=False)
    _runtime.run(spec, family("wan"), take, Conditioning(), on_step=lambda s: None)
    assert spec.name not in capsys.readouterr().err


def test_a_family_s_preflight_sees_the_take_and_preset_before_anything_loads(tiny: Any,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import sorakit

    spec, take = tiny
    seen: list[tuple[Any, Any]] = []

    def preflight(s: ModelSpec, t: Any, preset: _runtime.Preset) -> None:
        seen.append((t, preset))
        raise sorakit.InvalidInput("refused")

    loaded: list[object] = []
    monkeypatch.setattr(_runtime, "pipeline", lambda *a: loaded.append(a))
    with pytest.raises(sorakit.InvalidInput, match="refused"):
        _runtime.run(spec, wan_like(preflight=preflight), take, Conditioning())
    assert seen == [(take, P["cpu"])] and loaded == []


def test_the_warning_before_a_run_counts_the_frames_the_family_denoises_and_names_the_caller(
        tiny: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Warned from the line that called generate (the first outside sorakit), with the estimate for
    the frames the family denoises (Transfer's whole chunk), not the clip's."""
    import warnings

    import sorakit

    spec, take = tiny
    gpu = _runtime.Preset("small", "cuda", "float32", None, False, False, 4.0)
    monkeypatch.setattr(_runtime, "pipeline", lambda *a: (_ for _ in ()).throw(RuntimeError("stopped at the load")))
    monkeypatch.setattr(_runtime, "choose_preset", lambda requested: gpu)
    fam = wan_like(work_frames=lambda t: 93, passes_per_step=lambda t: 3)
    monkeypatch.setattr(sorakit.backends, "family", lambda name: fam)
    with warnings.catch_warnings(record=True) as caught, pytest.raises(RuntimeError, match="stopped at the load"):
        warnings.simplefilter("always")
        sorakit.generate(take.replace(width=832, height=480, frames=33), progress=False)
    warned = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert len(warned) == 1 and said_here([warned[0].filename], __file__)
    expected = _runtime.estimate(spec, width=832, height=480, frames=93, steps=2, preset=gpu, passes=3)
    assert f"needs about {expected.peak_gb} GB under preset 'small' (4 GB): {expected.advice}" in str(warned[0].message)
    assert expected.peak_gb != _runtime.estimate(spec, width=832, height=480, frames=33, steps=2, preset=gpu).peak_gb


def test_out_of_memory_is_not_retried_unless_asked(tiny: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a preset that has a lighter one (a100, here placed on the CPU) a run is not retried by default."""
    import warnings

    spec, take = tiny
    fake = {name: _runtime.Preset(name, "cpu", "float32", None, False, False, 80.0) for name in ("a100", "l4", "t4")}
    monkeypatch.setattr(_runtime, "choose_preset", lambda requested: fake[requested])
    tried: list[str] = []

    def out_of_memory(pipe: Any, t: Any, *args: object) -> None:
        tried.append(t.memory)
        if len(tried) > 8:  # a retry that never gets lighter would go on until Python's recursion limit
            raise RuntimeError(f"retried {tried}")
        raise torch.OutOfMemoryError("CUDA out of memory")

    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)  # no "retrying under" warning either
        with pytest.raises(_runtime.OutOfMemory, match="under preset 'a100'"):
            _runtime.run(spec, wan_like(call=out_of_memory), take.replace(memory="a100"), Conditioning(),
                         progress=False)
    assert tried == ["a100"]
    with pytest.warns(ResourceWarning, match="retrying under") as warned, \
            pytest.raises(_runtime.OutOfMemory, match="under preset 't4'"):  # asked: down to the lightest, then said
        _runtime.run(spec, wan_like(call=out_of_memory), take.replace(memory="a100"), Conditioning(), progress=False,
                     retry_lighter=True)
    assert tried == ["a100", "a100", "l4", "t4"]
    assert [str(w.message).rsplit(" ", 1)[-1] for w in warned if "retrying" in str(w.message)] == ["'l4'", "'t4'"]

    def loading_out_of_memory(*args: object) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(_runtime, "pipeline", loading_out_of_memory)  # while loading: nothing in the cache to drop
    with pytest.raises(_runtime.OutOfMemory, match="under preset 'a100'"):
        _runtime.run(spec, wan_like(), take.replace(memory="a100"), Conditioning(), progress=False)


def test_a_run_hands_the_family_the_take_s_embeddings_seed_and_warped_noise(tiny: Any) -> None:
    """What reaches the family's call: the prompt embeddings the family's own encoder gives for the Take's
    prompt and negative, a generator seeded with the Take's seed, and the previz-warped noise for that
    scene and seed, packed by the family with the Take and its conditioning."""
    from sorakit import preset, simulate
    from sorakit.backends import family
    from sorakit.previz import render

    spec, take = tiny
    take = take.replace(seed=11, negative_prompt="blurry")
    wan = family("wan")
    sim = simulate(preset("bouncing_balls"), frames=9, fps=16)
    cond = Conditioning(motion=render(sim, 16, 16, trail=False), sim=sim, strength=0.7)
    packed: list[tuple[Any, ...]] = []
    called: list[tuple[Any, ...]] = []

    def pack_noise(pipe: Any, noise: np.ndarray, t: Any, c: Conditioning) -> Any:
        packed.append((pipe, noise, t, c))
        return wan.pack_noise(pipe, noise, t, c)

    def call(pipe: Any, t: Any, c: Conditioning, embeds: dict[str, Any], generator: Any, on_step_end: Any,
             latents: Any) -> Any:
        called.append((pipe, t, c, embeds, generator.initial_seed(), latents))
        return wan.call(pipe, t, c, embeds, generator, on_step_end, latents)

    _runtime._EMBEDS.clear()
    _runtime.run(spec, wan_like(pack_noise=pack_noise, call=call), take, cond, progress=False)
    (pipe, noise, t, c), = packed
    assert t is take and c is cond
    assert np.array_equal(noise, _runtime.warped_noise(wan, pipe, take, cond))
    (pipe_called, t, c, embeds, seed, latents), = called
    assert pipe_called is pipe and t is take and c is cond and seed == 11
    assert torch.equal(latents, wan.pack_noise(pipe, noise, take, cond))
    with torch.no_grad():
        own = wan.encode_prompt(pipe, "a red ball", "blurry", wan.uses_cfg(take))
    assert set(embeds) == set(own)
    for k in own:  # to float rounding: the run's encoding and this one differ by about 1e-6
        torch.testing.assert_close(embeds[k], own[k], atol=1e-5, rtol=0)
    assert not torch.equal(own["prompt_embeds"], own["negative_prompt_embeds"])  # the two strings differ here
    called.clear()
    _runtime.run(spec, wan_like(pack_noise=pack_noise, call=call), take, Conditioning(), progress=False)
    assert called[0][-1] is None and len(packed) == 1  # no motion: the pipeline draws its own noise


def test_the_text_encoder_apart_loads_the_pipeline_with_only_its_text_parts_at_the_preset_s_dtype(tiny: Any) -> None:
    """Under t4 the prompt is encoded by the pipeline's own class loaded with its text encoder and
    tokenizer alone (no denoiser, no VAE), in the preset's dtype: the same embeddings as the whole pipeline's."""
    from sorakit.backends import family

    spec, _ = tiny
    wan = family("wan")
    pipe = _runtime.pipeline(spec, wan, "t2v", P["cpu"])
    apart = dataclasses.replace(P["cpu"], text_encoder_apart=True)
    encoder = _runtime._text_encoder(spec, wan, pipe, apart)
    assert type(encoder) is type(pipe) and encoder is not pipe
    assert {name for name, part in encoder.components.items() if part is not None} == {"text_encoder", "tokenizer",
                                                                                        "scheduler"}
    assert encoder.text_encoder is not pipe.text_encoder
    assert encoder.text_encoder.dtype == torch.float32
    with torch.no_grad():
        same, own = wan.encode_prompt(encoder, "a kite", "dark", True), wan.encode_prompt(pipe, "a kite", "dark", True)
    for k in own:
        torch.testing.assert_close(same[k], own[k], atol=1e-5, rtol=0)
    half = _runtime._text_encoder(spec, wan, pipe, dataclasses.replace(apart, dtype="bfloat16"))
    assert half.text_encoder.dtype == torch.bfloat16


def test_a_hub_id_is_loaded_at_its_revision_and_a_local_folder_as_it_is(tiny: Any,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from sorakit.backends import family

    spec, _ = tiny
    wan = family("wan")
    pipe = _runtime.pipeline(spec, wan, "t2v", P["cpu"])
    asked: list[tuple[str, dict[str, Any]]] = []

    def from_pretrained(model_id: str, **kwargs: Any) -> Any:
        asked.append((model_id, kwargs))
        return pipe

    monkeypatch.setattr(type(pipe), "from_pretrained", from_pretrained)
    hub = dataclasses.replace(spec, model_id="owner/tiny-wan", revision="0123abc")
    apart = dataclasses.replace(P["cpu"], text_encoder_apart=True)
    try:
        _runtime.pipeline(hub, wan, "t2v", P["cpu"])
        _runtime._text_encoder(hub, wan, pipe, apart)
        _runtime._text_encoder(spec, wan, pipe, apart)
    finally:
        _runtime._PIPELINES.pop(("owner/tiny-wan", "t2v", "cpu"), None)
    assert [(m, k.get("revision", "none")) for m, k in asked] == [("owner/tiny-wan", "0123abc")] * 2 + [
        (spec.model_id, "none")]
    assert all(k["use_safetensors"] is True for _, k in asked)


def test_a_pipeline_loads_in_the_preset_s_dtype_but_the_family_s_float32_parts(tiny: Any) -> None:
    """Wan keeps its VAE in float32 (``wan.FLOAT32``, after diffusers' Wan docs) under a bfloat16 preset."""
    from sorakit.backends import family

    spec, _ = tiny
    half = dataclasses.replace(P["cpu"], name="cpu-bf16", dtype="bfloat16")
    try:
        pipe = _runtime.pipeline(spec, family("wan"), "t2v", half)
        assert pipe.transformer.dtype == torch.bfloat16 and pipe.text_encoder.dtype == torch.bfloat16
        assert pipe.vae.dtype == torch.float32
        assert pipe._progress_bar_config == {"disable": True}  # sorakit's bar counts the steps, not diffusers'
    finally:
        _runtime._PIPELINES.pop((spec.model_id, "t2v", "cpu-bf16"), None)


def test_the_shift_goes_to_the_scheduler_s_flow_shift_or_shift_and_back_and_nowhere_else() -> None:
    """UniPC (Wan) calls it ``flow_shift``, flow-matching Euler ``shift``; a scheduler with neither is left
    as it is; a Take without a shift gets back the one the scheduler was loaded with."""
    import diffusers

    unipc = SimpleNamespace(scheduler=diffusers.UniPCMultistepScheduler(prediction_type="flow_prediction",
                                                                        use_flow_sigmas=True, flow_shift=3.0))
    _runtime._set_scheduler(unipc, 5.0)
    assert unipc.scheduler.config.flow_shift == 5.0 and "shift" not in unipc.scheduler.config
    _runtime._set_scheduler(unipc, None)
    assert unipc.scheduler.config.flow_shift == 3.0
    euler = SimpleNamespace(scheduler=diffusers.FlowMatchEulerDiscreteScheduler(shift=1.0))
    _runtime._set_scheduler(euler, 5.0)
    assert euler.scheduler.config.shift == 5.0 and "flow_shift" not in euler.scheduler.config
    ddim = SimpleNamespace(scheduler=diffusers.DDIMScheduler())
    before = ddim.scheduler
    _runtime._set_scheduler(ddim, 5.0)
    assert ddim.scheduler is before  # not rebuilt with a shift it has no use for


def test_a_run_returns_the_family_s_own_sound_and_counts_only_the_steps_reported(tiny: Any) -> None:
    """A family that makes its own sound (LTX-2) hands it back with its rate; a call that reported no
    step (stopped before the first) has done none."""
    from sorakit.backends.contract import Output

    spec, take = tiny
    frames = np.zeros((9, 16, 16, 3), np.float32)
    tone = np.sin(np.linspace(0, 200, 4000, dtype=np.float32))[None]

    def call(*args: Any) -> Output:
        return Output(frames, tone, 16000)

    run = _runtime.run(spec, wan_like(call=call), take, Conditioning(), progress=False)
    assert run.frames is frames and run.audio is tone and run.sample_rate == 16000
    assert (run.steps_done, run.stopped) == (0, False)


def test_a_run_with_the_text_encoder_apart_loads_the_pipeline_without_it_and_makes_the_same_clip(
        tiny: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from sorakit.backends import family

    spec, take = tiny
    whole = _runtime.run(spec, family("wan"), take, Conditioning(), progress=False)
    apart = dataclasses.replace(P["cpu"], name="cpu-apart", text_encoder_apart=True)
    monkeypatch.setattr(_runtime, "choose_preset", lambda requested: apart)
    _runtime._EMBEDS.clear()  # encoded anew, by the encoder loaded alone
    try:
        alone = _runtime.run(spec, family("wan"), take, Conditioning(), progress=False)
        assert _runtime._PIPELINES[(spec.model_id, "t2v", "cpu-apart")].text_encoder is None
    finally:
        _runtime._PIPELINES.pop((spec.model_id, "t2v", "cpu-apart"), None)
    assert alone.preset == "cpu-apart"
    np.testing.assert_allclose(alone.frames, whole.frames, atol=1e-4)


def test_an_empty_negative_prompt_is_encoded_as_it_is(tiny: Any) -> None:
    from sorakit.backends import family

    spec, take = tiny
    _runtime._EMBEDS.clear()
    _runtime.run(spec, family("wan"), take.replace(negative_prompt=""), Conditioning(), progress=False)
    assert [k[3] for k in _runtime._EMBEDS] == [""]


# -- the live preview's latent-to-RGB fit ------------------------------------------------------------
class LinearVAE:
    """A VAE whose last latent frame is exactly ``A · colour + c`` of each latent pixel's mean colour (the
    fit's model, so the fit must recover it); its first latent frame, the causal one, is noise."""

    def __init__(self, spatial: int, channels: int = 6, scale: float = 1.0) -> None:
        rng = np.random.default_rng(7)
        self.spatial = spatial
        self.a = scale * rng.normal(0, 1, (channels, 3))
        self.c = scale * rng.normal(0, 1, channels)
        self.noise = np.random.default_rng(8)
        self.clips: list[np.ndarray] = []

    def latent(self, rgb: np.ndarray) -> np.ndarray:  # [..., 3] in 0..1 -> [..., C]
        out: np.ndarray = rgb @ self.a.T + self.c
        return out

    def encode_video(self, pipe: Any, clip: np.ndarray) -> np.ndarray:
        self.clips.append(clip)
        _, _, h, w, _ = clip.shape
        s = self.spatial
        pooled = clip[0, -1].reshape(h // s, s, w // s, s, 3).mean(axis=(1, 3)) / 255.0
        last = self.latent(pooled).transpose(2, 0, 1)
        return np.stack([self.noise.normal(0, 1, last.shape), last], axis=1)[None]  # [1, C, 2, h, w]


@pytest.mark.parametrize("names", ["scale_factor", "compression_ratio"])
def test_the_preview_fit_recovers_a_linear_vae_from_still_clips_one_a_call(monkeypatch: pytest.MonkeyPatch,
                                                                          names: str) -> None:
    monkeypatch.setattr(_runtime, "_PREVIEW", {})
    vae = LinearVAE(spatial=2)  # the clips' length comes from the pipeline's temporal factor, 3
    pipe = (SimpleNamespace(vae_scale_factor_spatial=2, vae_scale_factor_temporal=3) if names == "scale_factor" else
            SimpleNamespace(vae_spatial_compression_ratio=2, vae_temporal_compression_ratio=3))
    w, b = _runtime.fit_preview("owner/linear", vae, pipe)  # type: ignore[arg-type]
    assert w.shape == (6, 3) and b.shape == (3,) and w.dtype == b.dtype == np.float32
    # still clips of 1 + temporal frames, 8 latent pixels a side, one a call, in 8-bit colour
    assert len(vae.clips) >= 4 and all(c.shape == (1, 4, 16, 16, 3) and c.dtype == np.uint8 for c in vae.clips)
    assert all(np.array_equal(c, np.repeat(c[:, :1], 4, axis=1)) for c in vae.clips)
    pictures = np.stack([c[0, 0] for c in vae.clips]).astype(int)
    assert pictures.min() < 40 and pictures.max() > 215  # colours from near black to near white
    # smooth gradients across the picture, and some with a checker of colours, one latent pixel each
    cells = pictures.reshape(len(pictures), 8, 2, 8, 2, 3)
    assert (cells.max(axis=(2, 4)) - cells.min(axis=(2, 4))).max() <= 30  # within a latent pixel: the gradient
    steps = np.abs(np.diff(pictures, axis=2)).max(axis=(1, 2, 3))  # 255 / 15 a pixel at most, but at a block's edge
    assert sum(steps <= 20) >= len(pictures) // 2 and sum(steps > 60) >= len(pictures) // 3  # every third
    # fresh colours, never seen by the fit, come back through project's weights
    colours = np.random.default_rng(1).uniform(0, 1, (200, 3))
    back = vae.latent(colours) @ w + b
    error = np.abs(back - colours)  # the ridge costs some: 0.038 at most and 0.012 on average
    assert error.max() < 0.05 and error.mean() < 0.015  # a shrunk bias: 0.060; ten times the ridge: 0.23
    small = LinearVAE(spatial=2, scale=0.01)  # latents a hundredth the size: the ridge shrinks with them
    ws, bs = _runtime.fit_preview("owner/small", small, pipe)  # type: ignore[arg-type]
    assert np.abs(small.latent(colours) @ ws + bs - colours).max() == pytest.approx(error.max(), rel=1e-3)
    # done once per model: the same weights without encoding again; another model is fitted anew
    count = len(vae.clips)
    assert _runtime.fit_preview("owner/linear", vae, pipe)[0] is w and len(vae.clips) == count  # type: ignore[arg-type]
    _runtime.fit_preview("owner/other", vae, pipe)  # type: ignore[arg-type]
    assert len(vae.clips) == 2 * count


@pytest.mark.parametrize(("attrs", "expected"), [
    ({"vae_scale_factor_spatial": 16, "vae_scale_factor_temporal": 4}, (16, 4)),  # Wan 2.2 5B's names
    ({"vae_spatial_compression_ratio": 32, "vae_temporal_compression_ratio": 8}, (32, 8)),  # LTX's names
    ({"vae_scale_factor_spatial": None, "vae_scale_factor_temporal": None, "vae_spatial_compression_ratio": 32,
      "vae_temporal_compression_ratio": 8}, (32, 8)),
    ({"vae_scale_factor_spatial": 16.0, "vae_temporal_compression_ratio": 2}, (16, 2)),
    ({}, (8, 4)),  # neither name: the usual 8 x 4
    ({"vae_spatial_compression_ratio": None, "vae_temporal_compression_ratio": None}, (8, 4)),
])
def test_the_vae_compression_is_read_under_either_name(attrs: dict[str, Any], expected: tuple[int, int]) -> None:
    got = _runtime._compression(SimpleNamespace(**attrs))
    assert got == expected and all(type(v) is int for v in got)
