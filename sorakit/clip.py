"""``Clip``: frames, sound, the Take that made them and where they came from."""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sorakit import _media, _serde
from sorakit._version import __version__
from sorakit.physics.simulate import Event
from sorakit.take import Take

SIDECAR_FORMAT = "sorakit.clip/1"
AI_LABEL = "AI-generated"


@dataclass(frozen=True)
class Provenance:
    """Where a clip came from; written to the sidecar and the mp4's metadata.

    ``status`` is ``complete``, or says where a stopped generation ended ("stopped after step 3 of 30").
    ``guidance`` says how the physics scene steered the model ("warped noise (strength 0.6)"), if it did.
    """

    sorakit_version: str
    backend: str
    model_id: str
    seed: int
    created: str
    label: str = AI_LABEL
    status: str = "complete"
    guidance: str = ""

    @classmethod
    def now(cls, backend: str, model_id: str, seed: int, status: str = "complete", guidance: str = "") -> Provenance:
        created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        return cls(__version__, backend, model_id, seed, created, status=status, guidance=guidance)


@dataclass(frozen=True, eq=False)
class Clip:
    """A finished take.

    Attributes:
        frames: uint8 ``[T, H, W, 3]``.
        fps: frames per second.
        audio: float32 ``[channels, samples]``; ``samples == round(T / fps * sample_rate)``.
        sample_rate: audio samples per second.
        take: the Take that made this clip (``clip.rerun()`` renders it again).
        provenance: version, backend, model, seed, time, and the "AI-generated" label.
        events: the collision events of the physics scene (times in seconds).
    """

    frames: np.ndarray
    fps: int
    audio: np.ndarray
    sample_rate: int
    take: Take
    provenance: Provenance
    events: tuple[Event, ...] = field(default=())

    def __post_init__(self) -> None:
        f, a = self.frames, self.audio
        if f.dtype != np.uint8 or f.ndim != 4 or f.shape[-1] != 3:
            raise ValueError(f"Clip.frames must be uint8 [T, H, W, 3], got {f.dtype} {list(f.shape)}")
        if a.dtype != np.float32 or a.ndim != 2:
            raise ValueError(f"Clip.audio must be float32 [channels, samples], got {a.dtype} {list(a.shape)}")

    @property
    def duration(self) -> float:
        return float(self.frames.shape[0] / self.fps)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return self.frames.shape[2], self.frames.shape[1]

    def save(self, path: str | os.PathLike[str], *, crf: int = 18) -> Path:
        """Writes ``path`` (an .mp4: H.264 yuv420p + AAC) and its sidecar ``path.with_suffix('.json')``.

        Both are written to temporary files and renamed into place, so an interrupted save
        never leaves a half-written file under either name.

        >>> import sorakit, tempfile, os
        >>> clip = sorakit.generate(sorakit.Take(frames=8, width=96, height=64))
        >>> out = clip.save(os.path.join(tempfile.mkdtemp(), "shot.mp4"))
        >>> sorakit.load(out).take == clip.take
        True

        Returns:
            The mp4's path.
        """
        mp4 = Path(path)
        if mp4.suffix.lower() != ".mp4":
            raise ValueError(f"path={str(path)!r}: a clip is saved as .mp4; use a name like 'shot.mp4'")
        with _media.atomic_path(mp4) as tmp:
            _media.write_mp4(tmp, self.frames, self.fps, self.audio, self.sample_rate, crf=crf,
                             metadata={"comment": f"{AI_LABEL} with sorakit {__version__}",
                                       "encoder": f"sorakit {__version__} ({self.provenance.backend})"})
        with _media.atomic_path(mp4.with_suffix(".json")) as tmp:
            tmp.write_text(json.dumps(self.sidecar(), indent=2, ensure_ascii=False), encoding="utf-8")
        return mp4

    def sidecar(self) -> dict[str, object]:
        """The JSON sidecar: the Take, provenance, media facts and events."""
        return {
            "format": SIDECAR_FORMAT,
            "take": self.take.to_dict(),
            "provenance": _serde.to_dict(self.provenance),
            "video": {"frames": int(self.frames.shape[0]), "fps": self.fps,
                      "width": self.size[0], "height": self.size[1]},
            "audio": {"sample_rate": self.sample_rate, "channels": int(self.audio.shape[0]),
                      "samples": int(self.audio.shape[1])},
            "events": [_serde.to_dict(e) for e in self.events],
        }

    def rerun(self) -> Clip:
        """Renders this clip's Take again (identical frames and audio for the previz backend)."""
        from sorakit.generate import generate

        return generate(self.take)

    def _repr_html_(self) -> str:
        from sorakit.display import clip_html

        return clip_html(self)


def load(path: str | os.PathLike[str]) -> Clip:
    """Loads a saved clip (its mp4 and JSON sidecar) back, with its Take.

    Frames come from the decoded mp4, so they carry the encoder's (small) loss.

    Args:
        path: the .mp4 or its .json sidecar.
    """
    p = Path(path)
    mp4, side = p.with_suffix(".mp4"), p.with_suffix(".json")
    for f in (mp4, side):
        if not f.is_file():
            raise FileNotFoundError(f"{f}: not found; sorakit.load needs the mp4 and its JSON sidecar side by side")
    meta = json.loads(side.read_text(encoding="utf-8"))
    if not isinstance(meta, dict) or meta.get("format") != SIDECAR_FORMAT:
        raise ValueError(f"{side}: not a sorakit sidecar (format {meta.get('format')!r}, "
                         f"expected {SIDECAR_FORMAT!r})")
    take = Take.from_dict(meta["take"])
    provenance = _serde.from_dict(Provenance, meta["provenance"], path="provenance")
    events = tuple(_serde.from_dict(Event, e, path=f"events[{i}]") for i, e in enumerate(meta["events"]))
    frames, _, audio, rate = _media.read_mp4(mp4)
    info = meta["audio"]
    samples, channels = int(info["samples"]), int(info["channels"])
    if audio is None:
        audio, rate = np.zeros((channels, samples), np.float32), int(info["sample_rate"])
    else:
        audio = np.pad(audio, ((0, 0), (0, max(0, samples - audio.shape[1]))))[:, :samples]
    return Clip(frames, int(meta["video"]["fps"]), np.ascontiguousarray(audio, np.float32), rate,
                take, provenance, events)
