"""``Clip``: frames, sound, the Take that made them and where they came from; ``load`` reads a saved
one back (the files' format lives in ``sorakit.sidecar``)."""

from __future__ import annotations

from sorakit.errors import InvalidInput, NotFound

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sorakit import _media, _serde, credentials
from sorakit.audio.soundtrack import SoundtrackInfo
from sorakit.physics.simulate import Event
from sorakit.sidecar import (SIDECAR_FORMAT, Provenance, Verification, clip_files, count, file_sha256, is_file, read,
                             take_hash, verify, write)
from sorakit.take import Take

__all__ = ["Clip", "load", "Provenance", "Verification", "verify", "take_hash"]

@dataclass(frozen=True, eq=False)
class Clip:
    """A finished take.

    Attributes:
        frames: uint8 ``[T, H, W, 3]``.
        fps: frames per second.
        audio: float32 ``[channels, samples]``; ``samples == round(T / fps * sample_rate)``.
        sample_rate: audio samples per second.
        take: the Take that made this clip (``sorakit.generate(clip.take)`` renders it again).
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

        Both are written in full to temporary files before either is renamed into place, and a
        failed second rename puts the old mp4 back: a save replaces the pair or neither (a
        process killed between the two renames leaves a pair whose hashes disagree, which
        ``load`` refuses and ``verify`` reports).

        >>> import sorakit, tempfile, os
        >>> clip = sorakit.generate(sorakit.Take(frames=8, width=96, height=64))
        >>> out = clip.save(os.path.join(tempfile.mkdtemp(), "shot.mp4"))
        >>> sorakit.load(out).take == clip.take
        True

        Returns:
            The mp4's path.

        Raises:
            InvalidInput: not an .mp4 name; ``BadPath`` (also an ``OSError``) for a path no file can have:
                a NUL, a name too long for the file system, a folder in the way. Checked before encoding.
        """
        description = (f"model {self.provenance.revision or self.provenance.model_id}; seed {self.take.seed}; "
                       f"take {take_hash(self.take)}"
                       + (f"; visible watermark {self.provenance.watermark!r}" if self.provenance.watermark else ""))
        p = self.provenance
        claims = credentials.manifest(title=os.path.basename(os.fspath(path)), model_id=p.model_id,
                                      revision=p.revision, seed=self.take.seed, guidance=p.guidance, cameo=p.cameo,
                                      label=p.label, backend=p.backend,
                                      signed={key: getattr(p, key) for key in credentials.SIGNED})
        return write(path, self.frames, self.fps, self.audio, self.sample_rate, made_by=p.backend,
                     description=description, sidecar=lambda sha: {**self.sidecar(), "mp4_sha256": sha},
                     claims=claims, crf=crf)

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



def load(path: str | os.PathLike[str], *, strict: bool = True) -> Clip:
    """Loads a saved clip (its mp4 and JSON sidecar) back, with its Take.

    Frames come from the decoded mp4, so they carry the encoder's (small) loss. Every key of the
    sidecar is checked before the mp4 is decoded, and the mp4 must be the one the sidecar
    describes (its SHA-256, as ``verify`` checks it).

    Args:
        path: the .mp4 or its .json sidecar.
        strict: False reads a pair whose hashes disagree anyway (an edited mp4, or one a killed
            save left beside an older sidecar): its Take may not be what made the frames.

    Raises:
        NotFound: the mp4 or its sidecar is missing (a ``FileNotFoundError`` too).
        InvalidInput: a path no file can have, a sidecar that is not the one sorakit wrote, or an mp4 that
            does not decode; the message names the file and the key.
    """
    import av

    mp4, side = clip_files(path, "sorakit.load")
    for f in (mp4, side):
        if not is_file(f):
            raise NotFound(f"{f}: not found; sorakit.load needs the mp4 and its JSON sidecar side by side")
    meta = read(side)
    if meta.get("format") != SIDECAR_FORMAT:
        raise InvalidInput(f"{side}: not a sorakit sidecar (format {meta.get('format')!r}, "
                           f"expected {SIDECAR_FORMAT!r})")
    if strict and meta.get("mp4_sha256") != file_sha256(mp4):
        raise InvalidInput(f"{mp4}: its SHA-256 differs from the one its sidecar recorded (edited, re-encoded, or "
                           "saved over while the old sidecar stayed), so the sidecar's Take may not be what made "
                           "it; sorakit.verify says more, and load(path, strict=False) reads it anyway")
    try:
        take = _serde.from_dict(Take, meta.get("take"), path="take")
        provenance = _serde.from_dict(Provenance, meta.get("provenance"), path="provenance")
        events = _serde.convert(tuple[Event, ...], meta.get("events"), "events")
        sound = meta.get("soundtrack")
        soundtrack = None if sound is None else _serde.from_dict(SoundtrackInfo, sound, path="soundtrack")
        fps = count(meta, "video", "fps", 1, 1000)
        rate = count(meta, "audio", "sample_rate", 1000, 384_000)
        channels = count(meta, "audio", "channels", 1, 2)
        samples = count(meta, "audio", "samples", 0, 2**40)
    except InvalidInput as exc:
        raise InvalidInput(f"{side}: {exc}; the sidecar is not as sorakit saved it: restore it, or save the clip "
                           "again") from exc
    try:  # an absolute path: ffmpeg would read a relative 'pipe:0.mp4' as a protocol
        frames, _, audio, decoded_rate = _media.read_mp4(mp4.absolute())
    except (av.error.FFmpegError, OSError, ValueError, IndexError) as exc:
        raise InvalidInput(f"{mp4}: does not decode as a video ({exc}); it is damaged or not sorakit's: restore it, "
                           "or save the clip again") from exc
    seconds = frames.shape[0] / fps
    if samples > (seconds + 1) * rate:  # never allocate sound a damaged sidecar asks for
        raise InvalidInput(f"{side}: audio.samples={samples}: more than the mp4's {seconds:g} s at {rate} Hz "
                           "hold; restore the sidecar, or save the clip again")
    if audio is None:
        audio = np.zeros((channels, samples), np.float32)
    else:
        rate = decoded_rate
        audio = np.pad(audio, ((0, 0), (0, max(0, samples - audio.shape[1]))))[:, :samples]
    return Clip(frames, fps, np.ascontiguousarray(audio, np.float32), rate, take, provenance, events, soundtrack)


