"""AudioGen (ambience and effects) and MusicGen (music) through audiocraft 1.3.0.

>>> import tempfile
>>> from sorakit.tiny import audiocraft as tiny_audiocraft
>>> folder = tiny_audiocraft.build(tempfile.mkdtemp(), "audiogen")  # random weights, no download
>>> audio, rate = generate(str(folder), "rain on a tin roof", 1.5, seed=0, device="cpu")
>>> audio.shape, audio.dtype, rate
((1, 24000), dtype('float32'), 16000)

``model`` is a hub id (``facebook/audiogen-medium``, ``facebook/musicgen-small``) or a local
folder in audiocraft's export format (``state_dict.bin`` and ``compression_state_dict.bin``).
Loading goes through audiocraft's own ``MusicGen.get_pretrained`` / ``AudioGen.get_pretrained``.

Which class: a hub id is read by its name (``musicgen`` or ``audiogen`` in it). A local folder
(or a hub id naming neither) is read by the config saved in its ``state_dict.bin``: the exported
``xp.cfg`` is the full training config, and its ``solver`` key names the audiocraft solver that
trained the model (``musicgen`` or ``audiogen``; the MAGNeT solvers are ``magnet`` and
``audio_magnet``, with ``lm_model: transformer_lm_magnet``). MAGNeT is refused: audiocraft 1.3.0
runs it only on xformers' attention, which sorakit does not install.

Three things this module does around audiocraft, each on purpose:

* **xformers stand-in.** audiocraft 1.3.0's ``audiocraft/modules/transformer.py`` runs
  ``from xformers import ops`` at import time, although with its ``torch`` attention backend it
  only needs ``ops.unbind`` (which is ``torch.unbind``) and ``LowerTriangularMask`` as a marker
  that a causal mask is wanted. When xformers is not installed, ``import_audiocraft`` registers a
  small module of our own as ``xformers`` / ``xformers.ops`` with exactly those two names, plus a
  ``memory_efficient_attention`` that raises, and keeps audiocraft on the ``torch`` backend.
  An installed xformers is left alone.
* **Weights-only loading.** audiocraft calls ``torch.load(file, map_location=...)`` without
  ``weights_only``. While ``load`` runs, ``TORCH_FORCE_WEIGHTS_ONLY_LOAD=1`` is set (and
  ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` removed), torch's own switch that makes every
  ``torch.load`` weights-only whatever its caller passes; both are restored afterwards. A
  checkpoint that pickles anything but tensors and plain containers (for example an object whose
  ``__reduce__`` would run code) is refused with ``UnsafeCheckpoint`` before any of it runs. The
  globals trusted beyond torch's defaults are named in ``TRUSTED_GLOBALS``: the ten an OmegaConf
  config pickled into a checkpoint needs (reviewed there), nothing that can run code. torch >= 2.6
  is required: before 2.6, ``weights_only=True`` could still be made to run code (CVE-2025-32434).
* **One window or many.** ``generate`` sets every generation parameter on each call (the model is
  cached and shared, so no call inherits another's settings), asks audiocraft for a whole number
  of codec frames covering ``duration``, and trims to exactly ``round(duration * rate)`` samples.
  Longer than the model's window (30 s for MusicGen, 10 s for AudioGen), audiocraft continues on
  its own, each new window prompted by the end of the last, advancing by the class's default
  ``extend_stride`` (18 s and 2 s). One lock serialises loads and generations, since the cached
  model holds its generation parameters.

Stopping: audiocraft cannot hand back part of a generation, so when ``should_stop`` returns True
the run ends within one step and ``Stopped`` is raised (a ``SorakitError``, saying how far it got);
no audio comes back. The video side, by contrast, returns the frames made so far.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.metadata
import importlib.util
import inspect
import math
import os
import pickle
import re
import shlex
import subprocess
import sys
import threading
import types
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sorakit._device import pick
from sorakit.errors import InvalidInput, MissingPackage, Stopped, UnsafeCheckpoint

__all__ = ["generate", "load_model", "install_audiocraft", "install_command", "import_audiocraft", "clear_cache",
           "Stopped", "MissingPackage", "TRUSTED_GLOBALS", "AUDIOCRAFT_VERSION"]

AUDIOCRAFT_VERSION = "1.3.0"

# What audiocraft really imports, as pyproject's `audiocraft` extra lists it, without torch,
# torchaudio and xformers (tests/audio/test_audiocraft.py checks the two agree).
AUDIOCRAFT_DEPS = ("einops>=0.7", "julius>=0.2", "omegaconf>=2.3", "num2words>=0.5", "spacy>=3.7", "librosa>=0.10",
                   "flashy>=0.0.2", "torchmetrics>=1.0", "soundfile>=0.12", "sentencepiece>=0.2",
                   "huggingface_hub>=0.20", "transformers>=4.56")

# Globals a checkpoint may pickle besides what torch's weights-only unpickler allows (tensors,
# dicts, lists, strings, numbers), by their import names. Reviewed: an audiocraft checkpoint
# holds `best_state` (tensors), `xp.cfg`, `version` and `exported`; audiocraft's own export
# (audiocraft/utils/export.py, every version to 1.3.0) writes `xp.cfg` as a YAML string, which
# needs nothing here, and MusicGen's published state_dict.bin loads weights-only in outside code
# (ml-explore/mlx-examples' musicgen). AudioGen's published checkpoint is reported to fail
# weights-only (audiocraft PR #534, without the global's name); the only non-tensor object an
# audiocraft checkpoint can hold is that config, so the one way it fails is `xp.cfg` pickled as an
# OmegaConf DictConfig, and unpickling one needs exactly these ten (found by pickling a Hydra-style
# config and asking torch.serialization.get_unsafe_globals_in_checkpoint). Each restores plain data:
# OmegaConf's containers and nodes rebuild through __setstate__ from dicts of values, `typing.Any`
# is a marker, and dict/list/int/defaultdict only build containers (a defaultdict's factory must
# itself be allowed). Not yet checked against the real AudioGen file (no hub here): a refusal
# still names any other global it meets.
TRUSTED_GLOBALS: tuple[str, ...] = (
    "omegaconf.dictconfig.DictConfig", "omegaconf.listconfig.ListConfig", "omegaconf.base.ContainerMetadata",
    "omegaconf.base.Metadata", "omegaconf.nodes.AnyNode", "typing.Any", "builtins.dict", "builtins.list",
    "builtins.int", "collections.defaultdict")


def _trusted() -> list[Any]:
    """``TRUSTED_GLOBALS`` as the objects torch's ``safe_globals`` takes (imported on use)."""
    out = []
    for name in TRUSTED_GLOBALS:
        module, _, attr = name.rpartition(".")
        out.append(getattr(importlib.import_module(module), attr))
    return out

# The generation parameters set on every call, besides duration and extend_stride: audiocraft's
# defaults for both MusicGen and AudioGen (top_k is capped at the model's codebook size).
SAMPLING = {"use_sampling": True, "top_k": 250, "top_p": 0.0, "temperature": 1.0, "cfg_coef": 3.0,
            "two_step_cfg": False}

MAGNET_ADVICE = ("MAGNeT needs xformers (audiocraft 1.3.0 runs MAGNeT only on xformers' attention), which "
                 "sorakit does not install; use facebook/musicgen-small, facebook/musicgen-medium or "
                 "facebook/musicgen-large for music, or facebook/audiogen-medium for sound effects")

_FORCE, _FORCE_NO = "TORCH_FORCE_WEIGHTS_ONLY_LOAD", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"
_FILES = ("state_dict.bin", "compression_state_dict.bin")
_MODELS: dict[tuple[str, str], Any] = {}
_LOCK = threading.RLock()


class _Stop(Exception):
    """Raised inside audiocraft's progress callback to leave its sampling loop."""


# -- installing -----------------------------------------------------------------------------------
def install_command() -> list[str]:
    """The pip command that installs audiocraft alone, without its pins (it asks for torch 2.1.0).

    >>> install_command()[-3:]
    ['install', '--no-deps', 'audiocraft==1.3.0']
    """
    return [sys.executable, "-m", "pip", "install", "--no-deps", f"audiocraft=={AUDIOCRAFT_VERSION}"]


def _missing_audiocraft() -> str:
    return ("AudioGen and MusicGen need audiocraft. Install its real imports, then audiocraft alone without its "
            "pins (they would replace your torch):\n"
            "    pip install 'sorakit[audiocraft]'\n"
            f"    {shlex.join(install_command()[2:])}\n"
            "or, in a notebook: sorakit.audio.install_audiocraft()")


def _torchaudio_fix() -> str:
    version = _torch_version()
    base = version.split("+")[0] if version else "<your torch version>"
    return (f"audiocraft needs a torchaudio built for your torch ({version or 'torch is not installed'}); "
            f"install the matching one: pip install torchaudio=={base}")


def _torch_version() -> str | None:
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


def _check_torchaudio() -> None:
    try:
        import torchaudio  # noqa: F401
    except Exception as exc:  # a torchaudio built for another torch fails with OSError or RuntimeError
        raise MissingPackage(_torchaudio_fix()) from exc


def install_audiocraft(*, run: bool = True) -> str:
    """Installs audiocraft without letting pip touch torch; returns the commands, one a line.

    First audiocraft's real imports (``AUDIOCRAFT_DEPS``, pyproject's ``audiocraft`` extra), with
    torch and torchaudio pinned on the same command line to the versions installed now, so pip
    keeps them or fails instead of replacing them; then ``install_command()``, audiocraft itself
    with ``--no-deps``. After running, torch's version is checked again.

    >>> print(install_audiocraft(run=False).splitlines()[-1])  # doctest: +ELLIPSIS
    /... -m pip install --no-deps audiocraft==1.3.0

    Args:
        run: run the commands (True) or only return them (False).

    Raises:
        MissingPackage: torch is missing, or torchaudio is missing or does not import (the
            message gives ``pip install torchaudio==<torch version>``); or torch changed anyway.
    """
    version = _torch_version()
    if version is None:
        raise MissingPackage("audiocraft needs torch; install it first (on Colab it is already there): "
                             "pip install torch torchaudio")
    _check_torchaudio()
    pins = [f"torch=={version}", f"torchaudio=={importlib.metadata.version('torchaudio')}"]
    commands = [[sys.executable, "-m", "pip", "install", *AUDIOCRAFT_DEPS, *pins], install_command()]
    if run:
        for command in commands:
            subprocess.run(command, check=True)
        now = _torch_version()
        if now != version:
            raise MissingPackage(f"installing audiocraft changed torch from {version} to {now}; "
                                 f"reinstall yours: pip install torch=={version} torchaudio=={version.split('+')[0]}")
    return "\n".join(shlex.join(command) for command in commands)


# -- importing --------------------------------------------------------------------------------------
def _stand_in_attention(*args: Any, **kwargs: Any) -> Any:
    raise MissingPackage("xformers is not installed: sorakit's stand-in for it only serves audiocraft's 'torch' "
                         "attention backend. " + MAGNET_ADVICE)


class _LowerTriangularMask:
    """A marker meaning "causal mask" (audiocraft's torch backend only checks that it is not None)."""


def _xformers_stand_in() -> bool:
    """Registers sorakit's xformers stand-in when xformers is not installed; True when the stand-in is in use.

    The stand-in is our own code, not xformers: ``xformers.ops`` with ``unbind`` (``torch.unbind``),
    a ``LowerTriangularMask`` marker class and a ``memory_efficient_attention`` that raises.
    """
    present = sys.modules.get("xformers")
    if present is not None:
        return bool(getattr(present, "SORAKIT_STAND_IN", False))
    if importlib.util.find_spec("xformers") is not None:
        return False
    import torch

    package = types.ModuleType("xformers", "sorakit's stand-in for xformers (not installed): see "
                                           "sorakit.audio.audiocraft_gen")
    ops = types.ModuleType("xformers.ops", "sorakit's stand-in for xformers.ops: unbind, LowerTriangularMask, "
                                           "and a memory_efficient_attention that raises")
    package.__spec__ = importlib.machinery.ModuleSpec("xformers", None)
    ops.__spec__ = importlib.machinery.ModuleSpec("xformers.ops", None)
    package.SORAKIT_STAND_IN = True  # type: ignore[attr-defined]
    ops.unbind = torch.unbind  # type: ignore[attr-defined]
    ops.LowerTriangularMask = _LowerTriangularMask  # type: ignore[attr-defined]
    ops.memory_efficient_attention = _stand_in_attention  # type: ignore[attr-defined]
    package.ops = ops  # type: ignore[attr-defined]
    sys.modules["xformers"] = package
    sys.modules["xformers.ops"] = ops
    return True


def import_audiocraft() -> Any:
    """``audiocraft.models``, imported with the xformers stand-in where xformers is missing.

    Raises:
        MissingPackage: (an ``ImportError``) audiocraft is not installed (the message gives the
            install commands), or torchaudio is missing or built for another torch.
    """
    if importlib.util.find_spec("audiocraft") is None:
        raise MissingPackage(_missing_audiocraft())
    _check_torchaudio()
    stand_in = _xformers_stand_in()
    import audiocraft.models
    from audiocraft.modules import transformer

    if stand_in:
        transformer.set_efficient_attention_backend("torch")
    return audiocraft.models


# -- loading --------------------------------------------------------------------------------------
def _where(model: str) -> Path | None:
    """The local folder ``model`` names, or None for a hub id; a bad name raises ``InvalidInput``."""
    if not isinstance(model, str) or not model:
        raise InvalidInput(f"model={model!r}: give a hub id such as 'facebook/musicgen-small' or a local folder")
    path = Path(model).expanduser()
    if path.is_dir():
        missing = [name for name in _FILES if not (path / name).is_file()]
        if missing:
            raise InvalidInput(f"model={model!r}: the folder lacks {', '.join(missing)}; an audiocraft export holds "
                               "state_dict.bin and compression_state_dict.bin (audiocraft.utils.export)")
        return path.resolve()
    if path.exists():
        raise InvalidInput(f"model={model!r} is a file; give the folder that holds state_dict.bin and "
                           "compression_state_dict.bin, or a hub id such as 'facebook/musicgen-small'")
    if model.count("/") != 1 or model.startswith((".", "/", "~")) or "\\" in model:
        raise InvalidInput(f"model={model!r}: no such folder, and not a hub id; hub ids look like "
                           "'facebook/musicgen-small' or 'facebook/audiogen-medium'")
    return None


def _read(file: Path | str, model: str) -> dict[str, Any]:
    """A checkpoint read weights-only (memory-mapped where it can be, so only what is touched is read)."""
    import torch

    try:
        with torch.serialization.safe_globals(_trusted()):
            try:
                pkg = torch.load(file, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as exc:
                if "mmap" not in str(exc):
                    raise
                pkg = torch.load(file, map_location="cpu", weights_only=True)  # the old, non-zip format
    except pickle.UnpicklingError as exc:
        raise _unsafe(model, exc) from None
    except RuntimeError as exc:
        if "weights_only" in str(exc):
            raise _unsafe(model, exc) from None
        raise
    if not isinstance(pkg, dict):
        raise InvalidInput(f"model={model!r}: {Path(file).name} holds a {type(pkg).__name__}, not an audiocraft "
                           "export (a dict with 'best_state' and 'xp.cfg')")
    return pkg


def _unsafe(model: str, exc: BaseException) -> UnsafeCheckpoint:
    found = re.search(r"GLOBAL (\S+)", str(exc))
    reason = f"it pickles {found.group(1)}" if found else (str(exc).splitlines() or [type(exc).__name__])[0]
    return UnsafeCheckpoint(f"model={model!r}: refused, its checkpoint holds more than weights ({reason}). sorakit "
                            "loads audiocraft checkpoints weights-only so that a checkpoint cannot run code; use an "
                            "export that holds tensors and its config as YAML (audiocraft.utils.export), such as "
                            "facebook/musicgen-small")


def _config(model: str, folder: Path | None) -> Any:
    """The ``xp.cfg`` saved in the model's ``state_dict.bin`` (downloaded and cached for a hub id)."""
    from omegaconf import OmegaConf

    if folder is None:
        from huggingface_hub import hf_hub_download

        file: Path | str = hf_hub_download(repo_id=model, filename=_FILES[0],
                                           cache_dir=os.environ.get("AUDIOCRAFT_CACHE_DIR"))
    else:
        file = folder / _FILES[0]
    cfg = _read(file, model).get("xp.cfg")
    if OmegaConf.is_config(cfg):  # pickled as a DictConfig rather than YAML (see TRUSTED_GLOBALS)
        cfg = OmegaConf.to_yaml(cfg)
    if not isinstance(cfg, str):
        raise InvalidInput(f"model={model!r}: its state_dict.bin has no 'xp.cfg' YAML string; export the model with "
                           "audiocraft.utils.export.export_lm")
    return OmegaConf.create(cfg)


def _kind(model: str, folder: Path | None) -> tuple[str, Any]:
    """``("MusicGen" | "AudioGen", cfg or None)``; MAGNeT and unknown solvers raise ``InvalidInput``."""
    name = model.lower()
    if folder is None and "musicgen" in name:
        return "MusicGen", None
    if folder is None and "audiogen" in name:
        return "AudioGen", None
    cfg = _config(model, folder)
    solver = str(cfg.get("solver", ""))
    if "magnet" in solver or "magnet" in str(cfg.get("lm_model", "")):
        raise InvalidInput(f"model={model!r} is a MAGNeT checkpoint (solver {solver!r}): {MAGNET_ADVICE}")
    if solver == "musicgen":
        return "MusicGen", cfg
    if solver == "audiogen":
        return "AudioGen", cfg
    raise InvalidInput(f"model={model!r}: its config's solver is {solver!r}; sorakit runs checkpoints trained by "
                       "audiocraft's 'musicgen' or 'audiogen' solver (xp.cfg's 'solver' key)")


def _stride(cls: Any) -> float:
    """audiocraft's default ``extend_stride`` for the class (MusicGen 18 s, AudioGen 2 s)."""
    return float(inspect.signature(cls.set_generation_params).parameters["extend_stride"].default)


@contextlib.contextmanager
def _weights_only() -> Iterator[None]:
    """Every ``torch.load`` inside is weights-only, through torch's own ``TORCH_FORCE_WEIGHTS_ONLY_LOAD``."""
    import torch

    saved = {key: os.environ.get(key) for key in (_FORCE, _FORCE_NO)}
    os.environ[_FORCE] = "1"
    os.environ.pop(_FORCE_NO, None)
    try:
        with torch.serialization.safe_globals(_trusted()):
            yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def clear_cache() -> None:
    """Drops every loaded model (the next ``load`` reads it again)."""
    with _LOCK:
        _MODELS.clear()


def load_model(model: str, *, device: str | None = None) -> Any:
    """An audiocraft ``MusicGen`` or ``AudioGen``, loaded once per (model, device) and cached.

    >>> import tempfile
    >>> from sorakit.tiny import audiocraft as tiny_audiocraft
    >>> folder = tiny_audiocraft.build(tempfile.mkdtemp(), "musicgen")
    >>> gen = load_model(str(folder), device="cpu")
    >>> type(gen).__name__, gen.sample_rate, gen.max_duration
    ('MusicGen', 8000, 20.0)

    Args:
        model: a hub id (``facebook/musicgen-small``, ``facebook/audiogen-medium``) or a local
            folder in audiocraft's export format. MAGNeT is refused (it needs xformers).
        device: ``cuda``, ``cpu`` or a specific device; None picks ``cuda`` when there is a GPU.

    Raises:
        InvalidInput: a MAGNeT model, a bad name or folder, or a checkpoint audiocraft cannot build.
        UnsafeCheckpoint: a checkpoint that pickles more than weights; none of its code ran.
        MissingPackage: audiocraft or torchaudio is missing, or torch is older than 2.6.
    """
    folder = _where(model)
    if folder is None and "magnet" in model.lower():
        raise InvalidInput(f"model={model!r}: {MAGNET_ADVICE}")
    models = import_audiocraft()
    import torch

    if tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2]) < (2, 6):
        raise MissingPackage(f"torch {torch.__version__} is too old to load checkpoints safely: before 2.6, "
                             "torch.load(weights_only=True) could still run code (CVE-2025-32434); "
                             "pip install -U torch torchaudio")
    dev = pick(device)
    key = (str(folder) if folder is not None else model, dev)
    with _LOCK:
        if key in _MODELS:
            return _MODELS[key]
        kind, cfg = _kind(model, folder)
        cls = getattr(models, kind)
        if cfg is not None:
            window = float(cfg.dataset.segment_duration)
            if window <= _stride(cls):
                raise InvalidInput(f"model={model!r}: its window (dataset.segment_duration) is {window:g} s; audiocraft "
                                   f"1.3.0 builds a {kind} only with a window longer than its extend_stride of "
                                   f"{_stride(cls):g} s; export it with a longer segment_duration")
        if _stand_in_active():
            from audiocraft.modules import transformer

            transformer.set_efficient_attention_backend("torch")
        try:
            with _weights_only(), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=r".*weight_norm` is deprecated", category=FutureWarning)
                gen = cls.get_pretrained(str(folder) if folder is not None else model, device=dev)
        except pickle.UnpicklingError as exc:
            raise _unsafe(model, exc) from None
        except RuntimeError as exc:  # torch refuses a TorchScript archive under weights_only this way
            if "weights_only" in str(exc):
                raise _unsafe(model, exc) from None
            raise
        _MODELS[key] = gen
        return gen


def _stand_in_active() -> bool:
    return bool(getattr(sys.modules.get("xformers"), "SORAKIT_STAND_IN", False))


# -- generating -------------------------------------------------------------------------------------
def _frames_duration(duration: float, frame_rate: float, window: float) -> float:
    """The duration to ask audiocraft for: a whole number of frames covering ``duration``.

    audiocraft makes ``int(d * frame_rate)`` frames, which can fall short of ``duration``; asking
    for half a frame more than the frames needed gives exactly ``ceil(duration * frame_rate)``.
    Within one window it stays within the window, so no continuation starts for half a frame.
    """
    frames = math.ceil(duration * frame_rate - 1e-6)
    asked = (frames + 0.5) / frame_rate
    return min(asked, window) if duration <= window else asked


def _planned_steps(gen: Any) -> int:
    """How many sampling steps audiocraft will take for the current generation parameters.

    Each window of ``n`` frames, prompted with ``p`` frames from the window before, takes one
    step per step of the LM's codebook pattern from the first step holding frame ``p`` on; the
    windows advance by ``extend_stride``.
    """
    rate = gen.frame_rate
    total = int(gen.duration * rate)
    windows = [(0, total)]
    if gen.duration > gen.max_duration:
        stride = int(rate * gen.extend_stride)
        windows, offset, prompt = [], 0, 0
        while offset + prompt < total:
            length = int(min(gen.duration - offset / rate, gen.max_duration) * rate)
            windows.append((prompt, length))
            prompt, offset = length - stride, offset + stride
    steps = 0
    for prompt, length in windows:
        pattern = gen.lm.pattern_provider.get_pattern(length)
        steps += len(pattern.layout) - pattern.get_first_step_with_timesteps(prompt)
    return steps


def generate(model: str, prompt: str, duration: float, *, seed: int, device: str | None = None,
             on_progress: Callable[[int, int], None] | None = None,
             should_stop: Callable[[], bool] | None = None) -> tuple[np.ndarray, int]:
    """Sound (AudioGen) or music (MusicGen) for ``prompt``, exactly ``duration`` seconds long.

    >>> import tempfile
    >>> from sorakit.tiny import audiocraft as tiny_audiocraft
    >>> folder = str(tiny_audiocraft.build(tempfile.mkdtemp(), "musicgen"))
    >>> a, rate = generate(folder, "calm piano", 0.75, seed=1, device="cpu")
    >>> b, _ = generate(folder, "calm piano", 0.75, seed=1, device="cpu")
    >>> a.shape, rate, bool((a == b).all())
    ((1, 6000), 8000, True)

    Args:
        model: a hub id or a local export folder (see ``load``).
        prompt: what to hear, e.g. ``"glass shatters on a stone floor"``.
        duration: seconds; past the model's window audiocraft continues window by window.
        seed: the same seed (on the same device) gives the same audio.
        device: ``cuda``, ``cpu`` or None for ``cuda`` when there is a GPU.
        on_progress: called after each sampling step with ``(done, total)``; ``done`` rises by
            one per step and ends at ``total``, the steps planned over all windows.
        should_stop: polled after each step but the last; when it returns True the run ends and
            ``Stopped`` is raised (audiocraft cannot return part of a generation).

    Returns:
        float32 audio ``[channels, round(duration * rate)]`` and the model's sample rate. Only when
        ``duration`` ends within one codec frame (20 ms for the released models) of the window's end
        is that last part of a frame silence, so as not to run a second window for it.

    Raises:
        InvalidInput: a bad prompt, duration or seed (before any model loads), or see ``load``.
        Stopped: ``should_stop`` returned True.
    """
    if not isinstance(prompt, str):
        raise InvalidInput(f"prompt={prompt!r} is not text; describe the sound, e.g. 'rain on a tin roof'")
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not math.isfinite(duration) \
            or duration <= 0:
        raise InvalidInput(f"duration={duration!r}: it must be a number of seconds above 0, e.g. 4.0")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise InvalidInput(f"seed={seed!r}: it must be a whole number from 0 to 2**63 - 1, e.g. 0")
    gen = load_model(model, device=device)
    import torch

    rate = int(gen.sample_rate)
    wanted = int(round(duration * rate))
    with _LOCK:
        gen.set_generation_params(duration=_frames_duration(float(duration), gen.frame_rate, gen.max_duration),
                                  extend_stride=_stride(type(gen)),
                                  **{**SAMPLING, "top_k": min(int(SAMPLING["top_k"]), int(gen.lm.card))})
        total = _planned_steps(gen)
        done = 0

        def step(_generated: int, _to_generate: int) -> None:
            nonlocal done
            done += 1
            if on_progress is not None:
                on_progress(min(done, total), total)
            if should_stop is not None and done < total and should_stop():
                raise _Stop

        gen.set_custom_progress_callback(step)
        try:
            torch.manual_seed(seed)
            wav = gen.generate([prompt], progress=True)
        except _Stop:
            raise Stopped("audiocraft", done, total) from None
        finally:
            gen.set_custom_progress_callback(None)
    if on_progress is not None and done != total:  # only if audiocraft's steps ever differ from the plan
        on_progress(total, total)
    audio = wav[0].detach().float().cpu().numpy()
    if audio.shape[1] < wanted:
        audio = np.pad(audio, ((0, 0), (0, wanted - audio.shape[1])))
    return np.ascontiguousarray(audio[:, :wanted], dtype=np.float32), rate
