"""MusicGen through transformers, on a tiny random checkpoint saved and loaded back (no hub)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sorakit

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch  # noqa: E402

from sorakit.audio import musicgen_hf
from sorakit.tiny import musicgen as tiny_musicgen_hf  # noqa: E402
from sorakit.errors import InvalidInput, SorakitError  # noqa: E402

RATE, HOP = tiny_musicgen_hf.SAMPLING_RATE, tiny_musicgen_hf.HOP


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny MusicGen with a 1 s window (25 frames), saved with save_pretrained."""
    return str(tiny_musicgen_hf.build(tmp_path_factory.mktemp("musicgen"), max_duration=1.0))


def test_build_saves_hub_layout_and_loads_through_from_pretrained(folder: str) -> None:
    files = {p.name for p in Path(folder).iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors", "preprocessor_config.json",
            "tokenizer.json"} <= files
    assert not any(name.endswith((".bin", ".pt")) for name in files)
    model, processor = musicgen_hf.load_model(folder, device="cpu")
    assert type(model).__name__ == "MusicgenForConditionalGeneration"
    assert type(processor).__name__ == "MusicgenProcessor"
    assert musicgen_hf.load_model(folder, device="cpu")[0] is model  # cached per (model, device)
    assert model.config.audio_encoder.sampling_rate == RATE
    assert model.generation_config.max_length == 25 + 2  # the 1 s window plus the 2-codebook delay
    assert musicgen_hf._window_frames(model) == 25
    # the random codebooks were saved: codes decode to different sounds
    assert model.audio_encoder.quantizer.layers[0].codebook.embed.std() > 1


@pytest.mark.parametrize("duration", [0.01, 0.5, 1.0, 1.013, 2.5])
def test_length_is_exact_and_rate_is_the_codec_rate(folder: str, duration: float) -> None:
    audio, rate = musicgen_hf.generate(folder, "slow strings", duration, seed=0, device="cpu")
    assert rate == RATE
    assert audio.dtype == np.float32 and audio.shape == (1, round(duration * RATE))
    assert np.isfinite(audio).all()


def test_same_seed_same_audio_and_global_rng_restored(folder: str) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a, _ = musicgen_hf.generate(folder, "a ball bounces", 1.5, seed=7, device="cpu")
    assert torch.equal(torch.rand(3), expected)
    b, _ = musicgen_hf.generate(folder, "a ball bounces", 1.5, seed=7, device="cpu")
    c, _ = musicgen_hf.generate(folder, "a ball bounces", 1.5, seed=8, device="cpu")
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_continuation_prompts_each_window_with_the_audio_so_far(folder: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    model, _ = musicgen_hf.load_model(folder, device="cpu")
    calls: list[dict[str, Any]] = []
    real = model.generate

    def spy(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(model, "generate", spy)
    audio, rate = musicgen_hf.generate(folder, "a ball bounces", 2.5, seed=1, device="cpu")
    assert audio.shape == (1, 5000)
    # 63 frames: a full 25-frame window, then windows of 15 new frames after a 10-frame (0.4 s) prompt
    assert [c["max_new_tokens"] for c in calls] == [26, 16, 16, 9]
    assert "input_values" not in calls[0]
    prompt = 10 * HOP
    for call in calls[1:]:
        assert tuple(call["input_values"].shape) == (1, 1, prompt)
    # the second window's prompt is the first window's end; the output keeps it up to the crossfade
    fade = round(musicgen_hf.CROSSFADE * rate)
    first = calls[1]["input_values"][0].numpy()
    np.testing.assert_allclose(audio[:, 2000 - prompt:2000 - fade], first[:, :prompt - fade], rtol=0, atol=1e-6)
    # sound after the first window, and it is new music (another seed makes other music there)
    later = audio[:, 2000:]
    assert later.std() > 0.02 and np.abs(np.diff(later)).mean() > 0.01
    other, _ = musicgen_hf.generate(folder, "a ball bounces", 2.5, seed=2, device="cpu")
    assert np.abs(other[:, 2000:] - later).mean() > 0.01


def test_progress_counts_every_step_over_all_windows(folder: str) -> None:
    seen: list[tuple[int, int]] = []
    musicgen_hf.generate(folder, "drums", 2.5, seed=0, device="cpu", on_progress=lambda i, n: seen.append((i, n)))
    total = seen[0][1]
    assert total == 26 + 16 + 16 + 9
    assert seen == [(i, total) for i in range(total + 1)]


def test_should_stop_raises_stopped_early(folder: str) -> None:
    seen: list[int] = []
    polls = iter(range(10**6))
    with pytest.raises(sorakit.Stopped) as info:
        musicgen_hf.generate(folder, "drums", 2.5, seed=0, device="cpu", on_progress=lambda i, n: seen.append(i),
                             should_stop=lambda: next(polls) >= 30)
    assert isinstance(info.value, SorakitError) and isinstance(info.value, RuntimeError)
    assert "should_stop" in str(info.value)
    assert 0 < seen[-1] < 40  # stopped in the second window, long before the 67 steps
    # a stop requested before the start makes nothing
    seen.clear()
    with pytest.raises(sorakit.Stopped):
        musicgen_hf.generate(folder, "drums", 2.5, seed=0, device="cpu", on_progress=lambda i, n: seen.append(i),
                             should_stop=lambda: True)
    assert seen == [0]
    # the model still works after a stop
    audio, _ = musicgen_hf.generate(folder, "drums", 0.2, seed=0, device="cpu")
    assert audio.shape == (1, 400)


@pytest.mark.parametrize("kwargs, word", [
    (dict(duration=0.0), "duration"), (dict(duration=-1.0), "duration"), (dict(duration=float("nan")), "duration"),
    (dict(duration="2"), "duration"), (dict(duration=True), "duration"), (dict(seed="0"), "seed"),
    (dict(seed=1.5), "seed"), (dict(prompt=None), "prompt"),
])
def test_bad_inputs_are_refused_before_loading(kwargs: dict[str, Any], word: str) -> None:
    args: dict[str, Any] = dict(model="/no/such/musicgen", prompt="x", duration=1.0, seed=0) | kwargs
    with pytest.raises(InvalidInput, match=word):
        musicgen_hf.generate(args.pop("model"), args.pop("prompt"), args.pop("duration"), **args)


def test_too_short_for_one_sample(folder: str) -> None:
    with pytest.raises(InvalidInput, match="one sample"):
        musicgen_hf.generate(folder, "x", 0.0001, seed=0, device="cpu")


def test_folder_without_feature_extractor_falls_back_to_the_tokenizer(tmp_path: Path) -> None:
    folder = tiny_musicgen_hf.build(tmp_path, max_duration=0.4)
    (folder / "preprocessor_config.json").unlink()
    _, processor = musicgen_hf.load_model(str(folder), device="cpu")
    assert not hasattr(processor, "feature_extractor")
    audio, rate = musicgen_hf.generate(str(folder), "a ball", 0.9, seed=0, device="cpu")
    assert audio.shape == (1, 1800) and rate == RATE


def test_missing_transformers_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(sorakit.MissingPackage, match=r"pip install 'sorakit\[audio\]'"):
        musicgen_hf.load_model("facebook/musicgen-small")


def test_importing_the_audio_modules_imports_no_torch() -> None:
    code = ("import sys, sorakit.audio, sorakit.audio.musicgen_hf, sorakit.audio.tts, sorakit.tiny.tts, "
            "sorakit.tiny.musicgen; print(sorted({'torch', 'transformers'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
