"""Memory presets, the pre-run estimate and out-of-memory recovery (CPU; no GPU needed)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import sorakit  # noqa: E402
from sorakit import models  # noqa: E402
from sorakit.backends import _runtime, family  # noqa: E402
from tests.backends.conftest import said_here  # noqa: E402


def test_auto_preset_follows_the_gpu_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """No GPU: cpu, and a GPU preset is refused; 15 GB (a T4): t4 in float16; 24 GB: l4; 80 GB: a100 with
    the GPU's own size as its budget; no bf16 (a T4, a V100): float16 whatever the size."""
    from types import SimpleNamespace

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _runtime.choose_preset("auto").name == "cpu"
    with pytest.raises(ValueError, match="memory='t4': this preset needs a CUDA GPU and none was found"):
        _runtime.choose_preset("t4")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for gib, bf16, name, dtype in ((15, False, "t4", "float16"), (24, True, "l4", "bfloat16"),
                                   (24, False, "l4", "float16"), (80, True, "a100", "bfloat16")):
        monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i, g=gib: SimpleNamespace(
            total_memory=g * 2**30))
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda b=bf16: b)
        preset = _runtime.choose_preset("auto")
        assert (preset.name, preset.dtype) == (name, dtype), gib
        if name == "a100":
            assert preset.budget_gb == 80.0 and preset.offload is None
        if name == "t4":
            assert preset.text_encoder_apart and preset.offload == "group"


def test_estimate_grows_with_the_work_and_presets_trade_memory_for_time() -> None:
    spec = models.get("wan2.1-t2v-1.3b")
    p = _runtime.PRESETS

    def est(preset: str, frames: int = 33, width: int = 832, height: int = 480) -> _runtime.Estimate:
        return _runtime.estimate(spec, width=width, height=height, frames=frames, steps=30, preset=p[preset])

    assert est("a100", 81).peak_gb >= est("a100", 33).peak_gb
    assert est("a100", 33, 1280, 720).peak_gb >= est("a100", 33).peak_gb
    assert est("a100", 81).seconds > est("a100", 33).seconds
    assert est("a100").tokens == 9 * 30 * 52  # (33-1)/4+1 latent frames, 480/16 x 832/16 patches
    assert est("t4").peak_gb < est("l4").peak_gb < est("a100").peak_gb
    assert est("t4").seconds_per_step > est("a100").seconds_per_step
    assert est("t4").fits and est("a100").fits


def test_a_run_that_will_not_fit_is_named_with_what_would() -> None:
    big = models.get("wan2.1-t2v-14b")
    a100_40 = _runtime.PRESETS["a100"]
    e = _runtime.estimate(big, width=1280, height=720, frames=81, steps=30, preset=a100_40)
    assert not e.fits and e.peak_gb > a100_40.budget_gb
    assert "memory='l4'" in e.advice or "memory='t4'" in e.advice
    t4 = _runtime.PRESETS["t4"]
    worst = _runtime.estimate(big, width=1280, height=720, frames=81, steps=30,
                              preset=_runtime.Preset("t4", "cuda", "float16", None, False, False, 15.0))
    assert not worst.fits and worst.advice
    shorter = _runtime.estimate(big, width=1280, height=720, frames=81, steps=30, preset=t4)
    assert not shorter.fits and shorter.advice == "frames=41 should fit in 15 GB"
    assert _runtime.estimate(big, width=1280, height=720, frames=41, steps=30, preset=t4).fits


@pytest.fixture()
def tiny(tiny_wan: models.ModelSpec) -> str:
    """The tiny Wan's model name (conftest's ``tiny_wan``)."""
    return str(tiny_wan.name)


def test_out_of_memory_is_caught_freed_and_explained(tiny: str, monkeypatch: pytest.MonkeyPatch) -> None:
    take = sorakit.Take(prompt="a red ball", model=tiny, steps=2, frames=9, width=16, height=16, memory="cpu")
    first = sorakit.generate(take, progress=False)
    wan = family("wan")
    real_call = wan.call

    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(wan, "call", out_of_memory)
    with pytest.raises(_runtime.OutOfMemory) as err:
        sorakit.generate(take, progress=False)
    message = str(err.value)
    assert "tiny-wan-runtime ran out of GPU memory at 16x16, 9 frames under preset 'cpu'" in message
    assert "The memory was freed; try" in message
    assert not any(k[0].endswith(str(models.get(tiny).model_id)) for k in _runtime._PIPELINES)
    monkeypatch.setattr(wan, "call", real_call)
    again = sorakit.generate(take, progress=False)  # the session goes on: reloads and runs
    np.testing.assert_array_equal(again.frames, first.frames)


def test_generate_warns_before_a_run_that_will_not_fit(tiny: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real estimate for the real 1.3B architecture on a 4 GB GPU preset: the warning names its peak and
    what would fit, and it comes before anything loads."""
    import warnings

    small = _runtime.Preset("small", "cuda", "float16", None, False, False, 4.0)
    monkeypatch.setattr(_runtime, "choose_preset", lambda requested: small)
    warned_at_load: list[int] = []

    def pipeline(*args: object, **kwargs: object) -> object:
        warned_at_load.append(len(caught))
        raise RuntimeError("stopped at the load")

    monkeypatch.setattr(_runtime, "pipeline", pipeline)
    take = sorakit.Take(prompt="a red ball", model=tiny, steps=3, frames=33, width=832, height=480, memory="cpu")
    expected = _runtime.estimate(models.get(tiny), width=832, height=480, frames=33, steps=3, preset=small)
    assert not expected.fits and expected.peak_gb > 4.0 and expected.advice
    with warnings.catch_warnings(record=True) as caught, pytest.raises(RuntimeError, match="stopped at the load"):
        warnings.simplefilter("always")
        sorakit.generate(take, progress=False)
    warned = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert len(warned) == 1 and warned_at_load == [len(caught)]  # warned once, before the load
    text = str(warned[0].message)
    assert f"needs about {expected.peak_gb} GB under preset 'small' (4 GB): {expected.advice}" in text


def test_importing_sorakit_does_not_import_torch_even_with_backends_registered() -> None:
    import subprocess
    import sys

    code = "import sys, sorakit; sorakit.Take(model='wan2.1-t2v-1.3b', prompt='x').validate(); " \
           "print('torch' in sys.modules, 'diffusers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_out_of_memory_retries_under_a_lighter_preset_when_allowed(tiny: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The retry path, on a CPU: presets named like the GPU ones but placed on the CPU, and an injected OOM."""
    fake = {name: _runtime.Preset(name, "cpu", "float32", None, False, False, 80.0) for name in ("a100", "l4", "t4")}
    monkeypatch.setattr(_runtime, "choose_preset", lambda requested: fake[requested])
    monkeypatch.setitem(_runtime.PRESETS, "a100", fake["a100"])
    wan = family("wan")
    real_call = wan.call
    presets_tried: list[str] = []

    def first_run_out_of_memory(pipe: object, take: sorakit.Take, *args: object, **kwargs: object) -> object:
        presets_tried.append(take.memory)
        if take.memory == "a100":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return real_call(pipe, take, *args, **kwargs)

    monkeypatch.setattr(wan, "call", first_run_out_of_memory)
    take = sorakit.Take(prompt="a red ball", model=tiny, steps=2, frames=9, width=16, height=16, memory="a100")
    with pytest.raises(_runtime.OutOfMemory, match="under preset 'a100'"):
        sorakit.generate(take, progress=False)
    steps: list[int] = []
    with pytest.warns(ResourceWarning, match="retrying under 'l4'") as warned:
        clip = sorakit.generate(take, progress=False, retry_lighter=True, on_step=lambda s: steps.append(s.step))
    assert steps == [1, 2]  # the retry reports its steps as the first run would have
    retrying = [w.filename for w in warned if "retrying" in str(w.message)]
    assert len(retrying) == 1 and said_here(retrying, __file__)  # the line that called generate
    assert presets_tried == ["a100", "a100", "l4"]
    assert clip.take.memory == "l4" and clip.frames.shape == (9, 16, 16, 3)
    assert not any(k[2] == "a100" for k in _runtime._PIPELINES)  # the failed pipeline left the cache
