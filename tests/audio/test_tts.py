"""Text to speech with VITS, on tiny random voices saved and loaded back (no hub)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch  # noqa: E402

from sorakit.audio import tts
from sorakit.tiny import tts as tiny_tts  # noqa: E402
from sorakit.errors import InvalidInput  # noqa: E402
import sorakit  # noqa: E402

LINE = "A ball bounces off the rim."


@pytest.fixture(scope="module")
def solo(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny one-speaker voice (like MMS-TTS)."""
    return str(tiny_tts.build(tmp_path_factory.mktemp("solo")))


@pytest.fixture(scope="module")
def duo(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny two-speaker voice (like VCTK)."""
    return str(tiny_tts.build(tmp_path_factory.mktemp("duo"), speakers=2))


@pytest.mark.parametrize("voice, expected", [
    ("", (tts.DEFAULT_VOICE, None)), ("   ", (tts.DEFAULT_VOICE, None)),
    ("facebook/mms-tts-fra", ("facebook/mms-tts-fra", None)),
    ("kakao-enterprise/vits-vctk#12", ("kakao-enterprise/vits-vctk", 12)),
    (" /tmp/voice # 3 ", ("/tmp/voice", 3)), ("/tmp/a#b/voice#0", ("/tmp/a#b/voice", 0)),
])
def test_parse_voice(voice: str, expected: tuple[str, int | None]) -> None:
    assert tts.parse_voice(voice) == expected


@pytest.mark.parametrize("voice, words", [
    ("#3", "no checkpoint before '#'"), ("vctk#", "whole number"), ("vctk#p225", "whole number"),
    ("vctk#-1", "whole number"), ("vctk#1.5", "whole number"), (3, "a voice is a string"),
])
def test_parse_voice_refuses_bad_forms_with_the_value_and_a_fix(voice: Any, words: str) -> None:
    with pytest.raises(InvalidInput, match=words) as info:
        tts.parse_voice(voice)
    assert repr(voice) in str(info.value) and "e.g." in str(info.value)


def test_build_saves_safetensors_and_loads_through_from_pretrained(duo: str) -> None:
    files = {p.name for p in Path(duo).iterdir()}
    assert {"config.json", "model.safetensors", "vocab.json", "tokenizer_config.json"} <= files
    model, tokenizer = tts.load_model(duo, device="cpu")
    assert type(model).__name__ == "VitsModel" and type(tokenizer).__name__ == "VitsTokenizer"
    assert model.config.num_speakers == 2 and not tokenizer.phonemize
    assert tts.load_model(duo, device="cpu")[0] is model  # cached per (model, device)


def test_speaks_a_plausible_mono_line(solo: str) -> None:
    audio, rate = tts.speak(LINE, voice=solo, seed=0, device="cpu")
    assert rate == 16000
    assert audio.dtype == np.float32 and audio.ndim == 2 and audio.shape[0] == 1
    assert 0.1 * rate < audio.shape[1] < 10 * rate
    assert audio.shape[1] % 256 == 0  # whole frames of the 256-sample hop: nothing trimmed
    assert np.isfinite(audio).all() and audio.std() > 0.01 and np.abs(audio).max() <= 1


def test_seeded(solo: str) -> None:
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    a, _ = tts.speak(LINE, voice=solo, seed=3, device="cpu")
    assert torch.equal(torch.rand(3), expected)  # the global RNG is left as it was
    b, _ = tts.speak(LINE, voice=solo, seed=3, device="cpu")
    c, _ = tts.speak(LINE, voice=solo, seed=4, device="cpu")
    np.testing.assert_array_equal(a, b)
    assert a.shape != c.shape or not np.allclose(a, c)


def test_speakers_differ_and_default_to_speaker_0(duo: str) -> None:
    zero, _ = tts.speak(LINE, voice=duo + "#0", seed=1, device="cpu")
    one, _ = tts.speak(LINE, voice=duo + "#1", seed=1, device="cpu")
    plain, _ = tts.speak(LINE, voice=duo, seed=1, device="cpu")
    assert zero.shape != one.shape or not np.allclose(zero, one)
    np.testing.assert_array_equal(plain, zero)


def test_speaker_out_of_range_names_the_range(solo: str, duo: str) -> None:
    with pytest.raises(InvalidInput, match="speaker 2 is out of range.*speakers 0-1") as info:
        tts.speak(LINE, voice=duo + "#2", device="cpu")
    assert f"'{duo}#0'" in str(info.value)
    with pytest.raises(InvalidInput, match="speakers 0-0"):
        tts.speak(LINE, voice=solo + "#1", device="cpu")
    a, _ = tts.speak(LINE, voice=solo + "#0", seed=2, device="cpu")
    b, _ = tts.speak(LINE, voice=solo, seed=2, device="cpu")
    np.testing.assert_array_equal(a, b)


def test_punctuation_is_dropped_but_unspeakable_text_is_refused(solo: str) -> None:
    plain, _ = tts.speak("hello there", voice=solo, seed=0, device="cpu")
    marked, _ = tts.speak("Hello, there!", voice=solo, seed=0, device="cpu")
    np.testing.assert_array_equal(plain, marked)
    with pytest.raises(InvalidInput, match="cannot speak any of it") as info:
        tts.speak("日本語!", voice=solo, device="cpu")
    message = str(info.value)
    assert "'!日本語'" in message and "abcdefghijklmnopqrstuvwxyz" in message


@pytest.mark.parametrize("text", ["", "   ", None])
def test_empty_text_is_refused_before_loading(text: Any) -> None:
    with pytest.raises(InvalidInput, match="at least one word"):
        tts.speak(text, voice="/no/such/voice")


def test_bad_seed_and_voice_are_refused_before_loading() -> None:
    with pytest.raises(InvalidInput, match="seed"):
        tts.speak(LINE, voice="/no/such/voice", seed="1")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="whole number"):
        tts.speak(LINE, voice="/no/such/voice#x")


def test_phoneme_voices_without_phonemizer_say_what_to_install(solo: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers.utils

    _, tokenizer = tts.load_model(solo, device="cpu")
    monkeypatch.setattr(tokenizer, "phonemize", True)
    monkeypatch.setattr(transformers.utils, "is_phonemizer_available", lambda: False)
    with pytest.raises(sorakit.MissingPackage, match="pip install phonemizer.*espeak-ng"):
        tts.speak(LINE, voice=solo, device="cpu")


def test_missing_transformers_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(sorakit.MissingPackage, match=r"pip install 'sorakit\[audio\]'"):
        tts.load_model(tts.DEFAULT_VOICE)


def test_a_voice_without_safetensors_is_refused_before_anything_loads(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """kakao-enterprise/vits-vctk publishes only pytorch_model.bin: refused by validate(), naming a voice
    that has safetensors; so is a local folder holding only a pickle."""
    import sorakit
    from sorakit.audio import tts

    line = sorakit.DialogueLine("Ana", "Hello there", 0.2, voice="kakao-enterprise/vits-vctk#12")
    take = sorakit.Take(frames=16, sound=sorakit.SoundConfig(dialogue=(line,)))
    with pytest.raises(sorakit.InvalidInput, match="only as a pickle.*use 'facebook/mms-tts-eng'"):
        take.validate()
    pickled = tmp_path / "pickled-voice"
    pickled.mkdir()
    (pickled / "config.json").write_text("{}")
    (pickled / "pytorch_model.bin").write_bytes(b"not loaded")
    monkeypatch.setattr(tts, "_deps", lambda: pytest.fail("nothing may load"))
    with pytest.raises(sorakit.InvalidInput, match="only as a pickle"):
        tts.load_model(str(pickled))
