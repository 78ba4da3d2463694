"""Fast takes and LoRAs on the tiny Wan, through sorakit.generate (issue: fast takes).

A LoRA built from the tiny transformer's keys, in the layout Wan LoRAs are published in, changes
each layer's output by its weight and is gone when the next Take drops it; ``speed="fast"`` runs the
variant's step count with one forward pass a step (guidance-distilled), at its shift, and the
provenance names the variant and every LoRA.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("diffusers")
pytest.importorskip("peft")
torch = pytest.importorskip("torch")

import sorakit  # noqa: E402
from sorakit import models  # noqa: E402
from sorakit.backends import _loras, _runtime, wan  # noqa: E402
from sorakit.models import Fast, Lora  # noqa: E402

from .conftest import watch_passes  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from sorakit.tiny import wan as tiny_wan

    folder = tiny_wan.build(tmp_path_factory.mktemp("wan"), "t2v")
    lora = tiny_wan.build_lora(tmp_path_factory.mktemp("lora"))
    other = tiny_wan.build_lora(tmp_path_factory.mktemp("other"), seed=1, name="other.safetensors")
    fast = Fast(steps=2, guidance_scale=1.0, shift=3.0, loras=(Lora(str(lora)),), source="a tiny test variant")
    spec = models.register(models.ModelSpec(
        name="speed-tiny-wan", backend="diffusers", family="wan", model_id=str(folder), modes=("t2v",),
        size_multiple=16, frame_rule=(4, 1), max_frames=33, min_size=16,
        card=models.Card(width=16, height=16, frames=5, fps=16, steps=3, guidance_scale=5.0, fast=fast)))
    yield {"name": spec.name, "lora": str(lora), "other": str(other)}
    models.MODELS.pop(spec.name, None)
    _runtime.clear_cache()


def take(tiny: dict[str, Any], **kw: Any) -> sorakit.Take:
    return sorakit.Take(prompt="a red ball", negative_prompt="", seed=2, model=tiny["name"], memory="cpu",
                        physics=sorakit.PhysicsConfig(scene=None), sound=sorakit.SoundConfig(foley=False), **kw)


class Passes:
    """Counts the transformer's forward passes in each pipeline call, and keeps the float frames."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[int] = []
        self.frames: list[np.ndarray] = []
        self.shifts: list[float] = []

        def after(pipe: Any, out: Any, passes: list[Any]) -> None:
            self.calls.append(len(passes))
            self.frames.append(out.frames)
            self.shifts.append(float(pipe.scheduler.config.get("shift", pipe.scheduler.config.get("flow_shift"))))

        watch_passes(monkeypatch, wan, after)


def test_fast_runs_the_distilled_schedule_with_one_pass_a_step(tiny: dict[str, Any],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    passes = Passes(monkeypatch)
    quality = sorakit.generate(take(tiny), progress=False)
    fast = sorakit.generate(take(tiny, speed="fast"), progress=False)
    again = sorakit.generate(take(tiny), progress=False)  # quality after fast: the variant's LoRA and shift are gone
    assert passes.calls == [3 * 2, 2 * 1, 3 * 2]  # steps x passes: CFG's two, then the distilled variant's one
    assert passes.shifts == [7.0, 3.0, 7.0]  # the checkpoint's shift, the variant's, the checkpoint's again
    assert (fast.take.steps, fast.take.guidance_scale, fast.take.speed) == (2, 1.0, "fast")
    np.testing.assert_array_equal(passes.frames[2], passes.frames[0])
    np.testing.assert_array_equal(again.frames, quality.frames)
    assert fast.provenance.variant == "fast: 2 steps, guidance 1, shift 3 (a tiny test variant)"
    assert fast.provenance.loras.startswith("tiny_wan_lora.safetensors (local sha256:") and fast.provenance.loras.endswith(" x1")
    assert quality.provenance.variant == "" and quality.provenance.loras == ""
    # a step count you set is kept; the variant fills only what you leave unset
    assert take(tiny, speed="fast", steps=4).resolved().steps == 4


def test_a_lora_changes_each_layer_by_its_weight_and_goes_away(tiny: dict[str, Any],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    pipe = _runtime.pipeline(models.get(tiny["name"]), wan, "t2v", _runtime.choose_preset("cpu"))
    x = torch.randn(3, 24, generator=torch.Generator().manual_seed(0))

    def out(*loras: Lora) -> Any:
        _loras.apply(pipe, loras)
        with torch.no_grad():  # the layer as it is now (peft wraps it while a LoRA is on)
            return pipe.transformer.get_submodule("blocks.0.attn1.to_q")(x)

    base = out()
    one, half = out(Lora(tiny["lora"], 1.0)), out(Lora(tiny["lora"], 0.5))
    assert (one - base).abs().max() > 1e-3
    torch.testing.assert_close(half - base, 0.5 * (one - base), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(out(Lora(tiny["lora"], 0.0)), base, rtol=0, atol=1e-7)
    both = out(Lora(tiny["lora"], 1.0), Lora(tiny["other"], 1.0))  # two at once add up
    other = out(Lora(tiny["other"], 1.0))
    torch.testing.assert_close(both - base, (one - base) + (other - base), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(out(), base, rtol=0, atol=0)  # taken off: the base weights exactly
    assert not any("lora" in name for name, _ in pipe.transformer.named_modules())


def test_a_take_s_loras_reach_the_clip_and_its_provenance(tiny: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    passes = Passes(monkeypatch)
    plain = sorakit.generate(take(tiny), progress=False)
    styled = sorakit.generate(take(tiny, loras=(Lora(tiny["lora"], 0.8),)), progress=False)
    assert np.abs(passes.frames[1] - passes.frames[0]).max() > 1e-4
    assert styled.provenance.loras.endswith(" x0.8") and plain.provenance.loras == ""
    assert sorakit.Take.from_json(styled.take.to_json()) == styled.take  # the LoRAs are in the saved Take


def test_a_lora_that_would_load_half_is_refused_and_nothing_stays(tiny: dict[str, Any], tmp_path: Path) -> None:
    from sorakit.tiny import wan as tiny_wan

    pipe = _runtime.pipeline(models.get(tiny["name"]), wan, "t2v", _runtime.choose_preset("cpu"))
    half = tiny_wan.build_lora(tmp_path, diff=True, name="with_diff.safetensors")
    with pytest.raises(sorakit.InvalidInput, match="full-weight differences .*diffusion_model.blocks.0.ffn.0.diff"):
        _loras.apply(pipe, (Lora(str(half)),))
    wrong = tmp_path / "wrong.safetensors"
    from safetensors.torch import save_file

    save_file({"diffusion_model.blocks.0.self_attn.q.lora_down.weight": torch.zeros(2, 7),  # not this model's size
               "diffusion_model.blocks.0.self_attn.q.lora_up.weight": torch.zeros(24, 2)}, str(wrong))
    with pytest.raises(sorakit.InvalidInput, match="(?s)'.*wrong.safetensors' \\(wrong.safetensors\\) does not load on "
                       "WanTransformer3DModel: RuntimeError: .*Nothing of it was applied; check that it was made "
                       "for this model$"):
        _loras.apply(pipe, (Lora(tiny["lora"]), Lora(str(wrong))))
    assert not any("lora" in name for name, _ in pipe.transformer.named_modules())
    assert getattr(pipe.transformer, "_sorakit_loras", ()) == ()


@pytest.mark.parametrize("change, message", [
    (dict(speed="Fast"), "speed='Fast': must be one of quality, fast; did you mean 'fast'?"),
    (dict(loras=(Lora("no/such/../x"),)), "loras[0].ref='no/such/../x': must be a hub id"),
    (dict(loras=(Lora("owner/name", file="x.bin"),)), "loras[0].file='x.bin': must be a .safetensors file name"),
    (dict(loras=(Lora("owner/name", 5.0),)), "loras[0].weight=5.0: must be in [-4, 4]"),
    (dict(loras=(Lora("owner/name"), Lora("owner/name"))), "loras[1].ref='owner/name': is already in the list"),
    (dict(loras=tuple(Lora(f"owner/n{i}") for i in range(5))), "loras=5: at most 4 LoRAs run at once"),
])
def test_bad_speeds_and_loras_are_refused_before_anything_loads(tiny: dict[str, Any], change: dict[str, Any],
                                                                message: str) -> None:
    with pytest.raises(sorakit.InvalidInput) as err:
        take(tiny, **change).validate()
    assert message in str(err.value)


def test_a_pickled_lora_and_a_model_without_a_variant_are_refused(tiny: dict[str, Any], tmp_path: Path) -> None:
    pickle = tmp_path / "lora.pt"
    pickle.write_bytes(b"\x80\x04")
    with pytest.raises(sorakit.InvalidInput, match="LoRAs load only from .safetensors"):
        take(tiny, loras=(Lora(str(pickle)),)).validate()
    with pytest.raises(sorakit.InvalidInput, match="has no step-distilled variant registered; use speed='quality'"):
        sorakit.Take(model="previz", speed="fast").validate()
    with pytest.raises(sorakit.InvalidInput, match="the previz has no transformer to apply a LoRA to"):
        sorakit.Take(model="previz", loras=(Lora(tiny["lora"]),)).validate()


def test_ltx2_fast_runs_its_distilled_checkpoint_at_its_sigmas_in_one_pass_a_step(
        tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from sorakit.backends import ltx2
    from sorakit.tiny import ltx2 as tiny_ltx2

    base = tiny_ltx2.build(tmp_path_factory.mktemp("ltx2"))
    distilled = tiny_ltx2.build(tmp_path_factory.mktemp("ltx2-distilled"))
    config = distilled / "scheduler" / "scheduler_config.json"  # as a real checkpoint ships it: dynamic shifting on
    config.write_text(json.dumps({**json.loads(config.read_text()), "use_dynamic_shifting": True}))
    sigmas = (1.0, 0.8, 0.5)
    fast = Fast(steps=3, guidance_scale=1.0, model_id=str(distilled), knobs=tuple(dict(ltx2.FAST.knobs, sigmas=sigmas).items()),
                scheduler=ltx2.FAST.scheduler, source="tiny")
    spec = models.register(models.ModelSpec(
        name="speed-tiny-ltx2", backend="diffusers", family="ltx2", model_id=str(base), modes=("t2v",),
        size_multiple=32, frame_rule=(8, 1), max_frames=33, min_size=16, joint_audio=True, lip_sync=True,
        card=models.Card(width=32, height=32, frames=9, fps=24, steps=2, guidance_scale=3.0,
                         knobs=models.get("ltx-2").card.knobs, fast=fast)))
    seen: list[tuple[str, int, list[float]]] = []
    watch_passes(monkeypatch, ltx2, lambda pipe, out, passes: seen.append(
        (pipe.config._name_or_path, len(passes), [round(float(s), 6) for s in pipe.scheduler.sigmas])))
    try:
        t = sorakit.Take(prompt="a red ball", negative_prompt="", seed=2, model=spec.name, memory="cpu",
                         physics=sorakit.PhysicsConfig(scene=None), sound=sorakit.SoundConfig(foley=False))
        quick = sorakit.generate(t.replace(speed="fast"), progress=False)
        slow = sorakit.generate(t, progress=False)
        with pytest.raises(sorakit.InvalidInput, match="runs its distilled schedule of 3 steps; leave steps unset"):
            t.replace(speed="fast", steps=5).validate()
    finally:
        models.MODELS.pop(spec.name, None)
        _runtime.clear_cache()
    (where_fast, passes_fast, sigmas_fast), (where_slow, passes_slow, _) = seen
    assert where_fast == str(distilled) and where_slow == str(base)
    assert passes_fast == 3  # the distilled sigmas, one forward pass each: no CFG, STG or modality pass
    assert passes_slow == 2 * 3  # the card: CFG (one doubled batch), STG, modality isolation, for 2 steps
    assert sigmas_fast == [1.0, 0.8, 0.5, 0.0]  # as given: the variant turns the scheduler's dynamic shifting off
    assert quick.provenance.model_id == str(distilled) and quick.provenance.revision.startswith("local sha256:")
    assert slow.provenance.model_id == str(base) and quick.take.steps == 3


def test_ltx2_s_fast_variant_is_diffusers_distilled_schedule() -> None:
    from diffusers.pipelines.ltx2.utils import DISTILLED_SIGMA_VALUES

    from sorakit.backends import ltx2

    fast = models.get("ltx-2").card.fast
    assert fast is ltx2.FAST and list(dict(fast.knobs)["sigmas"]) == DISTILLED_SIGMA_VALUES
    assert fast.steps == len(DISTILLED_SIGMA_VALUES) and fast.guidance_scale == 1.0
    take = sorakit.Take(model="ltx-2", prompt="x", speed="fast", physics=sorakit.PhysicsConfig(scene=None)).resolved()
    assert ltx2.passes_per_step(take) == 1 and ltx2.passes_per_step(take.replace(speed="quality", steps=40,
                                                                                 guidance_scale=3.0)) == 4


def test_loras_are_named_by_their_exact_bytes_and_found_in_a_folder(tiny: dict[str, Any], tmp_path: Path) -> None:
    import hashlib
    import shutil

    from safetensors.torch import load_file, save_file

    digest = hashlib.sha256(Path(tiny["lora"]).read_bytes()).hexdigest()[:16]
    two = (Lora(tiny["lora"], 0.5), Lora(tiny["other"], -1.0))
    other = hashlib.sha256(Path(tiny["other"]).read_bytes()).hexdigest()[:16]
    assert _loras.describe(two) == (f"tiny_wan_lora.safetensors (local sha256:{digest}) x0.5; "
                                    f"other.safetensors (local sha256:{other}) x-1")
    # a folder with two files: the one named is the one loaded
    folder = tmp_path / "loras"
    folder.mkdir()
    shutil.copy(tiny["lora"], folder / "a.safetensors")
    shutil.copy(tiny["other"], folder / "b.safetensors")
    pipe = _runtime.pipeline(models.get(tiny["name"]), wan, "t2v", _runtime.choose_preset("cpu"))
    x = torch.randn(3, 24, generator=torch.Generator().manual_seed(0))

    def out(*loras: Lora) -> Any:
        _loras.apply(pipe, loras)
        with torch.no_grad():
            return pipe.transformer.get_submodule("blocks.0.attn1.to_q")(x)

    torch.testing.assert_close(out(Lora(str(folder), file="b.safetensors")), out(Lora(tiny["other"])), rtol=0, atol=0)
    with pytest.raises(sorakit.InvalidInput, match="holds 2 .safetensors files; name the one to use"):
        out(Lora(str(folder)))
    # zeroed norm differences, which diffusers drops on purpose, do not make a LoRA half applied
    tensors = load_file(tiny["lora"])
    tensors["diffusion_model.blocks.0.norm3.diff"] = torch.zeros(24)
    save_file(tensors, str(tmp_path / "with_norm.safetensors"))
    torch.testing.assert_close(out(Lora(str(tmp_path / "with_norm.safetensors"))), out(Lora(tiny["lora"])), rtol=0,
                               atol=0)
    out()


def test_what_failed_to_load_is_named(tiny: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pipe = _runtime.pipeline(models.get(tiny["name"]), wan, "t2v", _runtime.choose_preset("cpu"))
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00not json")  # a header that is not a safetensors header
    with pytest.raises(sorakit.InvalidInput, match=f"^loras: {str(broken)!r} does not load on WanTransformer3DModel: "):
        _loras.apply(pipe, (Lora(str(broken)),))

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("adapters clash")

    monkeypatch.setattr(pipe, "set_adapters", refuse)
    with pytest.raises(sorakit.InvalidInput, match="^loras: the LoRAs together does not load on WanTransformer3DModel: "
                                                   "RuntimeError: adapters clash. Nothing of it was applied"):
        _loras.apply(pipe, (Lora(tiny["lora"]), Lora(tiny["other"])))
    assert not any("lora" in name for name, _ in pipe.transformer.named_modules())
    monkeypatch.undo()
    _loras.apply(pipe, (Lora(tiny["lora"]),))  # and the next try loads
    assert any("lora" in name for name, _ in pipe.transformer.named_modules())
    _loras.apply(pipe, ())
