"""The audiocraft backend on tiny random MusicGen and AudioGen exports: loading, length, seeds,
continuation, progress, stopping, MAGNeT, unsafe checkpoints, the xformers stand-in and installing."""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import importlib.util
import os
import re
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sorakit

from sorakit.audio import audiocraft_gen as ag
from sorakit.tiny import audiocraft as tiny_audiocraft
from sorakit.errors import InvalidInput, SorakitError, UnsafeCheckpoint

if importlib.util.find_spec("audiocraft") is None:
    pytest.skip("audiocraft is not installed (see tests/setup.sh)", allow_module_level=True)
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
KINDS = ("musicgen", "audiogen")


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One tiny export per kind (MusicGen: 8 kHz, 20 s window; AudioGen: 16 kHz, 3 s window)."""
    return {kind: str(tiny_audiocraft.build(tmp_path_factory.mktemp(kind), kind)) for kind in KINDS}


def _copy(src: str, dst: Path, **cfg_changes: Any) -> str:
    """A copy of an export with keys of its LM config changed (dotted names)."""
    from omegaconf import OmegaConf

    shutil.copytree(src, dst)
    file = dst / "state_dict.bin"
    pkg = torch.load(file, weights_only=True)
    cfg = OmegaConf.create(pkg["xp.cfg"])
    for key, value in cfg_changes.items():
        OmegaConf.update(cfg, key, value)
    pkg["xp.cfg"] = OmegaConf.to_yaml(cfg)
    torch.save(pkg, file)
    return str(dst)


# -- loading ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, cls, rate, window", [("musicgen", "MusicGen", 8000, 20.0),
                                                     ("audiogen", "AudioGen", 16000, 3.0)])
def test_tiny_exports_load_through_get_pretrained(folders: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                                  kind: str, cls: str, rate: int, window: float) -> None:
    models = ag.import_audiocraft()
    klass = getattr(models, cls)
    calls: list[tuple[str, Any]] = []
    real = klass.get_pretrained

    def spy(name: str, device: Any = None) -> Any:
        calls.append((name, device))
        return real(name, device=device)

    monkeypatch.setattr(klass, "get_pretrained", staticmethod(spy))
    ag.clear_cache()
    gen = ag.load_model(folders[kind], device="cpu")
    assert type(gen) is klass and calls == [(str(Path(folders[kind]).resolve()), "cpu")]
    assert (gen.sample_rate, gen.max_duration, gen.audio_channels) == (rate, window, 1)
    assert ag.load_model(folders[kind], device="cpu") is gen and len(calls) == 1  # cached per (model, device)


def test_default_device_is_cuda_when_there_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert ag.pick(None) == "cuda" and ag.pick("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert ag.pick(None) == "cpu"
    with pytest.raises(InvalidInput, match="no CUDA GPU was found"):
        ag.pick("cuda")


def test_bad_names_and_folders_are_refused(tmp_path: Path, folders: dict[str, str]) -> None:
    with pytest.raises(InvalidInput, match="no such folder"):
        ag.load_model(str(tmp_path / "nope"), device="cpu")
    (tmp_path / "half").mkdir()
    shutil.copy(Path(folders["musicgen"]) / "state_dict.bin", tmp_path / "half")
    with pytest.raises(InvalidInput, match="lacks compression_state_dict.bin"):
        ag.load_model(str(tmp_path / "half"), device="cpu")
    short = _copy(folders["musicgen"], tmp_path / "short", **{"dataset.segment_duration": 1.0})
    with pytest.raises(InvalidInput, match="extend_stride of 18 s"):
        ag.load_model(short, device="cpu")
    other = _copy(folders["musicgen"], tmp_path / "other", solver="jasco")
    with pytest.raises(InvalidInput, match="'jasco'"):
        ag.load_model(other, device="cpu")
    with pytest.raises(InvalidInput, match="longer than audiocraft's extend_stride of 2 s"):
        tiny_audiocraft.build(tmp_path / "t", "audiogen", max_duration=1.0)


def test_class_comes_from_the_exported_solver_not_the_folder_name(tmp_path: Path, folders: dict[str, str]) -> None:
    swapped = _copy(folders["audiogen"], tmp_path / "musicgen-looking-name")
    assert type(ag.load_model(swapped, device="cpu")).__name__ == "AudioGen"


# -- generating -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, rate", [("musicgen", 8000), ("audiogen", 16000)])
@pytest.mark.parametrize("duration", [0.33, 1.0, 2.55])
def test_length_is_exactly_duration_times_rate(folders: dict[str, str], kind: str, rate: int,
                                               duration: float) -> None:
    audio, got = ag.generate(folders[kind], "a dog barks", duration, seed=0, device="cpu")
    assert got == rate and audio.dtype == np.float32
    assert audio.shape == (1, round(duration * rate))
    assert np.abs(audio[:, -rate // 20:]).mean() > 1e-4  # the end is made, not padded with silence


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_audio_other_seed_other_audio(folders: dict[str, str], kind: str) -> None:
    a, _ = ag.generate(folders[kind], "rain", 1.2, seed=7, device="cpu")
    b, _ = ag.generate(folders[kind], "rain", 1.2, seed=7, device="cpu")
    c, _ = ag.generate(folders[kind], "rain", 1.2, seed=8, device="cpu")
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("kind, duration", [("audiogen", 7.5), ("musicgen", 20.6)])
def test_continuation_past_the_window(folders: dict[str, str], monkeypatch: pytest.MonkeyPatch, kind: str,
                                      duration: float) -> None:
    gen = ag.load_model(folders[kind], device="cpu")
    prompts: list[int] = []
    real = gen.lm.generate

    def spy(prompt: Any, *args: Any, **kwargs: Any) -> Any:
        prompts.append(0 if prompt is None else prompt.shape[-1])
        return real(prompt, *args, **kwargs)

    monkeypatch.setattr(gen.lm, "generate", spy)
    progress: list[tuple[int, int]] = []
    audio, rate = ag.generate(folders[kind], "waves", duration, seed=3, device="cpu",
                              on_progress=lambda done, total: progress.append((done, total)))
    assert audio.shape == (1, round(duration * rate))
    assert len(prompts) >= 2 and prompts[0] == 0 and all(p > 0 for p in prompts[1:])  # audiocraft's continuation
    window = int(gen.max_duration * rate)
    tail = audio[:, window:]
    assert np.sqrt((tail ** 2).mean()) > 1e-3 and tail.std() > 1e-4
    assert [d for d, _ in progress] == list(range(1, progress[-1][1] + 1))


def test_progress_counts_up_to_the_total(folders: dict[str, str]) -> None:
    calls: list[tuple[int, int]] = []
    ag.generate(folders["audiogen"], "steps on gravel", 1.0, seed=0, device="cpu",
                on_progress=lambda done, total: calls.append((done, total)))
    total = calls[-1][1]
    assert total >= 20  # 20 frames at 20 frames/s, plus the delay pattern's tail
    assert calls == [(i, total) for i in range(1, total + 1)]


def test_should_stop_ends_the_run_and_leaves_the_model_usable(folders: dict[str, str]) -> None:
    calls: list[int] = []
    with pytest.raises(sorakit.Stopped) as info:
        ag.generate(folders["audiogen"], "thunder", 1.0, seed=5, device="cpu",
                    on_progress=lambda done, total: calls.append(done), should_stop=lambda: len(calls) >= 4)
    assert isinstance(info.value, SorakitError)
    assert (info.value.done, calls) == (4, [1, 2, 3, 4])
    after, _ = ag.generate(folders["audiogen"], "thunder", 1.0, seed=5, device="cpu")
    ag.clear_cache()
    fresh, _ = ag.generate(folders["audiogen"], "thunder", 1.0, seed=5, device="cpu")
    assert np.array_equal(after, fresh)


@pytest.mark.parametrize("kwargs, match", [({"duration": 0.0}, "duration"), ({"duration": float("nan")}, "duration"),
                                           ({"seed": -1}, "seed"), ({"prompt": None}, "prompt")])
def test_bad_arguments_fail_before_loading(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"prompt": "rain", "duration": 1.0, "seed": 0, **kwargs}
    with pytest.raises(InvalidInput, match=match):
        ag.generate("facebook/musicgen-small", args.pop("prompt"), args.pop("duration"), **args)


# -- refusing -----------------------------------------------------------------------------------------
def test_magnet_is_refused(tmp_path: Path, folders: dict[str, str]) -> None:
    for model in ("facebook/magnet-small-10secs", "facebook/audio-magnet-medium"):
        with pytest.raises(InvalidInput, match="MAGNeT needs xformers.*facebook/musicgen-small.*audiogen-medium"):
            ag.load_model(model)
    local = _copy(folders["audiogen"], tmp_path / "magnet", solver="audio_magnet",
                  lm_model="transformer_lm_magnet")
    with pytest.raises(InvalidInput, match="MAGNeT checkpoint"):
        ag.load_model(local, device="cpu")


class _Payload:
    """Unpickling this creates ``path``: the stand-in for code a malicious checkpoint would run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> Any:
        return (open, (str(self.path), "w"))


@pytest.mark.parametrize("file", ["state_dict.bin", "compression_state_dict.bin"])
def test_checkpoint_with_code_is_refused_unrun(tmp_path: Path, folders: dict[str, str],
                                               monkeypatch: pytest.MonkeyPatch, file: str) -> None:
    folder = tmp_path / "evil"
    shutil.copytree(folders["musicgen"], folder)
    pkg = torch.load(folder / file, weights_only=True)
    marker = tmp_path / "pwned"
    pkg["extra"] = _Payload(marker)
    torch.save(pkg, folder / file)
    # The payload is live: an unsafe load runs it.
    torch.load(folder / file, weights_only=False)["extra"].close()
    assert marker.exists()
    marker.unlink()
    # Asking torch to load unsafely by default does not get past sorakit.
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    ag.clear_cache()
    with pytest.raises(UnsafeCheckpoint, match="more than weights"):
        ag.load_model(str(folder), device="cpu")
    assert not marker.exists()
    assert os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] == "1" and "TORCH_FORCE_WEIGHTS_ONLY_LOAD" not in os.environ
    assert all(name.split(".")[0] in ("omegaconf", "typing", "builtins", "collections") for name in ag.TRUSTED_GLOBALS)


def test_a_config_pickled_as_omegaconf_loads_weights_only(tmp_path: Path, folders: dict[str, str]) -> None:
    """AudioGen's published checkpoint is reported to fail weights-only loading (audiocraft PR #534):
    an ``xp.cfg`` pickled as an OmegaConf DictConfig needs exactly the reviewed TRUSTED_GLOBALS."""
    from omegaconf import OmegaConf

    folder = tmp_path / "dictconfig"
    shutil.copytree(folders["audiogen"], folder)
    pkg = torch.load(folder / "state_dict.bin", weights_only=True)
    pkg["xp.cfg"] = OmegaConf.create(pkg["xp.cfg"])
    torch.save(pkg, folder / "state_dict.bin")
    needed = set(torch.serialization.get_unsafe_globals_in_checkpoint(folder / "state_dict.bin"))
    assert needed and needed <= set(ag.TRUSTED_GLOBALS)
    ag.clear_cache()
    audio, rate = ag.generate(str(folder), "rain", 0.5, seed=0, device="cpu")
    expected, _ = ag.generate(folders["audiogen"], "rain", 0.5, seed=0, device="cpu")
    np.testing.assert_array_equal(audio, expected)


# -- xformers stand-in ------------------------------------------------------------------------------
def _fake_find_spec(monkeypatch: pytest.MonkeyPatch, name: str, installed: bool) -> None:
    real = importlib.util.find_spec

    def find_spec(module: str, package: str | None = None) -> Any:
        if module == name:
            return importlib.machinery.ModuleSpec(name, None) if installed else None
        return real(module, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_audiocraft_runs_on_the_stand_in_with_torch_attention(folders: dict[str, str]) -> None:
    if not ag._stand_in_active():
        pytest.skip("a real xformers is installed")
    from audiocraft.modules import transformer

    ag.load_model(folders["musicgen"], device="cpu")
    assert transformer.ops is sys.modules["xformers.ops"] and transformer.ops.unbind is torch.unbind
    assert transformer._efficient_attention_backend == "torch"
    with pytest.raises(ag.MissingPackage, match="stand-in"):
        transformer.ops.memory_efficient_attention(None, None, None)


def test_stand_in_only_when_xformers_is_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("xformers", "xformers.ops"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    _fake_find_spec(monkeypatch, "xformers", installed=True)
    assert ag._xformers_stand_in() is False
    assert "xformers" not in sys.modules
    _fake_find_spec(monkeypatch, "xformers", installed=False)
    assert ag._xformers_stand_in() is True
    ops = sys.modules["xformers.ops"]
    assert sys.modules["xformers"].ops is ops and ops.unbind is torch.unbind  # type: ignore[attr-defined]
    assert ops.LowerTriangularMask() is not None  # type: ignore[attr-defined]
    assert ag._xformers_stand_in() is True  # registered once, recognised after


# -- installing -----------------------------------------------------------------------------------
def test_missing_audiocraft_names_the_install_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_find_spec(monkeypatch, "audiocraft", installed=False)
    with pytest.raises(ImportError) as info:
        ag.load_model("facebook/musicgen-small")
    message = str(info.value)
    assert "pip install 'sorakit[audiocraft]'" in message
    assert "pip install --no-deps audiocraft==1.3.0" in message
    assert "sorakit.audio.install_audiocraft()" in message


def test_deps_match_pyproject_extra() -> None:
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["audiocraft"]
    names = [re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower() for r in extra]
    kept = tuple(r for r, name in zip(extra, names) if name not in ("torch", "torchaudio", "xformers"))
    assert kept == ag.AUDIOCRAFT_DEPS


def test_install_pins_torch_and_checks_it(monkeypatch: pytest.MonkeyPatch) -> None:
    version = importlib.metadata.version("torch")
    ran: list[list[str]] = []
    monkeypatch.setattr(ag.subprocess, "run", lambda command, check: ran.append(command))
    text = ag.install_audiocraft()
    assert ran[-1] == ag.install_command() == [sys.executable, "-m", "pip", "install", "--no-deps",
                                              "audiocraft==1.3.0"]
    assert f"torch=={version}" in ran[0] and "einops>=0.7" in ran[0]
    assert not any("xformers" in part for command in ran for part in command)
    assert text.count("\n") == 1 and "--no-deps audiocraft==1.3.0" in text
    versions = iter([version, "2.1.0"])
    monkeypatch.setattr(ag, "_torch_version", lambda: next(versions))
    with pytest.raises(ag.MissingPackage, match=f"changed torch from {version}"):
        ag.install_audiocraft()


def test_broken_torchaudio_names_the_matching_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchaudio", None)  # `import torchaudio` now fails
    base = importlib.metadata.version("torch").split("+")[0]
    with pytest.raises(ag.MissingPackage, match=f"pip install torchaudio=={base}"):
        ag.install_audiocraft(run=False)
    assert issubclass(ag.MissingPackage, ImportError) and issubclass(ag.MissingPackage, SorakitError)
