"""``Clip``: frames, sound, the Take that made them and where they came from."""

from __future__ import annotations

from sorakit.errors import InvalidInput

import datetime as _dt
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sorakit import _media, _serde
from sorakit._version import __version__
from sorakit.audio.soundtrack import SoundtrackInfo
from sorakit.physics.simulate import Event
from sorakit.take import Take

SIDECAR_FORMAT = "sorakit.clip/1"
CLIP_LEVEL = 0.999  # decoded audio above this would clip in a player
AI_LABEL = "AI-generated"


@dataclass(frozen=True)
class Provenance:
    """Where a clip came from; written to the sidecar and the mp4's metadata.

    ``status`` is ``complete``, or says where a stopped generation ended ("stopped after step 3 of 30").
    ``guidance`` says how the physics scene steered the model ("warped noise (strength 0.6)"), if it did.
    ``cameo`` names the person a cameo put in the clip, that they consented, and their photo's hash.
    ``revision`` says exactly which weights made it (``owner/name@<commit>``, or a local folder's
    fingerprint); ``watermark`` is the visible label burnt into the frames, if any.
    """

    sorakit_version: str
    backend: str
    model_id: str
    seed: int
    created: str
    label: str = AI_LABEL
    status: str = "complete"
    guidance: str = ""
    cameo: str = ""
    revision: str = ""
    watermark: str = ""

    @classmethod
    def now(cls, backend: str, model_id: str, seed: int, status: str = "complete", guidance: str = "",
            cameo: str = "", revision: str = "") -> Provenance:
        created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        return cls(__version__, backend, model_id, seed, created, status=status, guidance=guidance, cameo=cameo,
                   revision=revision)


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
        soundtrack: what the sound is made of: the mix's tracks, loudness and true peak, and the
            dialogue lines with their start and end times (saved in the sidecar).
        stems: each track alone as it went into the mix, float32 ``[2, samples]`` at ``sample_rate``
            (kept in memory only; ``sorakit.show_soundtrack`` plays them one by one).
    """

    frames: np.ndarray
    fps: int
    audio: np.ndarray
    sample_rate: int
    take: Take
    provenance: Provenance
    events: tuple[Event, ...] = field(default=())
    soundtrack: SoundtrackInfo | None = None
    stems: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        f, a = self.frames, self.audio
        if f.dtype != np.uint8 or f.ndim != 4 or f.shape[-1] != 3:
            raise InvalidInput(f"Clip.frames must be uint8 [T, H, W, 3], got {f.dtype} {list(f.shape)}")
        if a.dtype != np.float32 or a.ndim != 2:
            raise InvalidInput(f"Clip.audio must be float32 [channels, samples], got {a.dtype} {list(a.shape)}")

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
            raise InvalidInput(f"path={str(path)!r}: a clip is saved as .mp4; use a name like 'shot.mp4'")
        meta = {"comment": f"{AI_LABEL} with sorakit {__version__}",
                "encoder": f"sorakit {__version__} ({self.provenance.backend})",
                "description": f"model {self.provenance.revision or self.provenance.model_id}; seed {self.take.seed}; "
                               f"take {take_hash(self.take)}"
                               + (f"; visible watermark {self.provenance.watermark!r}" if self.provenance.watermark
                                  else "")}
        scale = 1.0
        with _media.atomic_path(mp4) as tmp:
            for _ in range(4):  # AAC can push a sharp transient over full scale: scale down until none clips
                _media.write_mp4(tmp, self.frames, self.fps, self.audio * scale, self.sample_rate, crf=crf,
                                 metadata=meta)
                peak = _media.audio_peak(tmp)
                if peak <= CLIP_LEVEL:
                    break
                scale *= 0.98 * CLIP_LEVEL / peak
            digest = _sha256(tmp)
        side = {**self.sidecar(), "mp4_sha256": digest}
        side["audio"] = {**side["audio"], "encoded_gain_db": round(20 * math.log10(scale), 3)}  # type: ignore[dict-item]
        with _media.atomic_path(mp4.with_suffix(".json")) as tmp:
            tmp.write_text(json.dumps(side, indent=2, ensure_ascii=False), encoding="utf-8")
        return mp4

    def sidecar(self) -> dict[str, object]:
        """The JSON sidecar: the Take, provenance, media facts and events."""
        return {
            "format": SIDECAR_FORMAT,
            "take": self.take.to_dict(),
            "take_sha256": take_hash(self.take),
            "provenance": _serde.to_dict(self.provenance),
            "video": {"frames": int(self.frames.shape[0]), "fps": self.fps,
                      "width": self.size[0], "height": self.size[1]},
            "audio": {"sample_rate": self.sample_rate, "channels": int(self.audio.shape[0]),
                      "samples": int(self.audio.shape[1])},
            "events": [_serde.to_dict(e) for e in self.events],
            "soundtrack": _serde.to_dict(self.soundtrack),
        }

    def rerun(self) -> Clip:
        """Renders this clip's Take again (identical frames and audio for the previz backend)."""
        from sorakit.generate import generate

        return generate(self.take)

    def _repr_html_(self) -> str:
        from sorakit.display import clip_html

        return clip_html(self)


def take_hash(take: Take) -> str:
    """SHA-256 of the Take's canonical JSON (sorted keys): the same knobs give the same hash."""
    return hashlib.sha256(json.dumps(take.to_dict(), sort_keys=True).encode("utf-8")).hexdigest()


def _sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Verification:
    """What ``verify`` found: ``ok`` when the mp4 still matches its sidecar and says it is AI-generated."""

    ok: bool
    problems: tuple[str, ...]
    label: str
    model_id: str
    seed: int | None


def verify(path: str | os.PathLike[str]) -> Verification:
    """Reads a saved clip's (or storyboard film's) provenance back and checks the mp4 against its sidecar.

    Checked: the sidecar exists and is sorakit's; the mp4's SHA-256 is the one recorded when it
    was saved (any re-encode or edit changes it); the Take in the sidecar still hashes to the
    recorded value (a film has no single Take); the mp4's own metadata says it is AI-generated.

    >>> import sorakit, tempfile, os
    >>> out = sorakit.generate(sorakit.Take(frames=4, width=64, height=48)).save(
    ...     os.path.join(tempfile.mkdtemp(), "shot.mp4"))
    >>> sorakit.verify(out).ok
    True
    """
    import av

    p = Path(path)
    mp4, side = p.with_suffix(".mp4"), p.with_suffix(".json")
    problems: list[str] = []
    if not mp4.is_file():
        return Verification(False, (f"{mp4}: no such file",), "", "", None)
    meta: dict[str, object] = {}
    if not side.is_file():
        problems.append(f"{side.name}: the sidecar is missing, so the mp4 cannot be checked against it")
    else:
        try:
            loaded = json.loads(side.read_text(encoding="utf-8"))
            meta = loaded if isinstance(loaded, dict) else {}
        except json.JSONDecodeError as exc:
            problems.append(f"{side.name}: not JSON ({exc})")
    film = meta.get("format") == "sorakit.film/1"  # a storyboard's film: no single Take to check
    if meta and meta.get("format") != SIDECAR_FORMAT and not film:
        problems.append(f"{side.name}: not a sorakit sidecar")
    if meta and meta.get("mp4_sha256") != _sha256(mp4):
        problems.append(f"{mp4.name}: its SHA-256 differs from the one recorded at save time (edited or re-encoded)")
    take_data = meta.get("take")
    if meta and not film and take_data is None:
        problems.append(f"{side.name}: it has no Take")
    if meta and take_data is not None:
        try:
            if take_hash(Take.from_dict(take_data)) != meta.get("take_sha256"):
                problems.append(f"{side.name}: the Take was changed after the clip was saved")
        except ValueError as exc:
            problems.append(f"{side.name}: its Take does not load ({exc})")
    try:
        with av.open(str(mp4)) as f:
            comment = f.metadata.get("comment", "")
    except av.error.FFmpegError as exc:
        problems.append(f"{mp4.name}: does not open as a video ({exc})")
        comment = ""
    if AI_LABEL not in comment:
        problems.append(f"{mp4.name}: its metadata does not say {AI_LABEL!r}")
    prov = meta.get("provenance") if isinstance(meta.get("provenance"), dict) else {}
    if film:
        prov = {"label": meta.get("label", ""), "model_id": "storyboard"}
    assert isinstance(prov, dict)
    seed = prov.get("seed")
    return Verification(not problems, tuple(problems), str(prov.get("label", "")), str(prov.get("model_id", "")),
                        seed if isinstance(seed, int) else None)


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
        raise InvalidInput(f"{side}: not a sorakit sidecar (format {meta.get('format')!r}, "
                         f"expected {SIDECAR_FORMAT!r})")
    take = Take.from_dict(meta["take"])
    provenance = _serde.from_dict(Provenance, meta["provenance"], path="provenance")
    events = tuple(_serde.from_dict(Event, e, path=f"events[{i}]") for i, e in enumerate(meta["events"]))
    sound = meta.get("soundtrack")
    soundtrack = None if sound is None else _serde.from_dict(SoundtrackInfo, sound, path="soundtrack")
    frames, _, audio, rate = _media.read_mp4(mp4)
    info = meta["audio"]
    samples, channels = int(info["samples"]), int(info["channels"])
    if audio is None:
        audio, rate = np.zeros((channels, samples), np.float32), int(info["sample_rate"])
    else:
        audio = np.pad(audio, ((0, 0), (0, max(0, samples - audio.shape[1]))))[:, :samples]
    return Clip(frames, int(meta["video"]["fps"]), np.ascontiguousarray(audio, np.float32), rate,
                take, provenance, events, soundtrack)
