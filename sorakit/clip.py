"""``Clip``: frames, sound, the Take that made them and where they came from."""

from __future__ import annotations

from sorakit.errors import BadPath, InvalidInput, NotFound

import datetime as _dt
import errno
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

        Raises:
            InvalidInput: not an .mp4 name; ``BadPath`` (also an ``OSError``) for a path no file can have:
                a NUL, a name too long for the file system, a folder in the way. Checked before encoding.
        """
        mp4 = _as_path(path, "Clip.save")
        if mp4.suffix.lower() != ".mp4":
            raise InvalidInput(f"path={str(path)!r}: a clip is saved as .mp4; use a name like 'shot.mp4'")
        _check_writable(path, mp4, mp4.with_suffix(".json"))
        meta = {"comment": f"{AI_LABEL} with sorakit {__version__}",
                "encoder": f"sorakit {__version__} ({self.provenance.backend})",
                "description": f"model {self.provenance.revision or self.provenance.model_id}; seed {self.take.seed}; "
                               f"take {take_hash(self.take)}"
                               + (f"; visible watermark {self.provenance.watermark!r}" if self.provenance.watermark
                                  else "")}
        try:  # absolute paths: ffmpeg reads a relative 'pipe:1.mp4' or 'file:x.mp4' as a protocol, not a file
            with _media.atomic_path(mp4.absolute()) as tmp:  # AAC must not push a transient over full scale
                scale = _media.write_mp4_unclipped(tmp, self.frames, self.fps, self.audio, self.sample_rate,
                                                   level=CLIP_LEVEL, crf=crf, metadata=meta)
                digest = _sha256(tmp)
            side = {**self.sidecar(), "mp4_sha256": digest}
            gain_db = round(20 * math.log10(scale), 3)
            side["audio"] = {**side["audio"], "encoded_gain_db": gain_db}  # type: ignore[dict-item]
            with _media.atomic_path(mp4.with_suffix(".json").absolute()) as tmp:
                tmp.write_text(json.dumps(side, indent=2, ensure_ascii=False), encoding="utf-8")
        except OSError as exc:
            if isinstance(exc, BadPath) or exc.errno not in _PATH_ERRNOS:
                raise
            raise BadPath(f"Clip.save: path={str(path)!r}: the file system refuses it ({exc.strerror}); "
                          "use a short plain name such as 'shot.mp4' in a folder that exists or can be made") from exc
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

    try:
        mp4, side = _clip_files(path, "sorakit.verify")
    except InvalidInput as exc:
        return Verification(False, (str(exc),), "", "", None)
    if not _is_file(mp4):
        return Verification(False, (f"{mp4}: no such file",), "", "", None)
    problems: list[str] = []
    meta: dict[str, object] | None = None
    if not _is_file(side):
        problems.append(f"{side.name}: the sidecar is missing, so the mp4 cannot be checked against it")
    else:
        try:
            meta = _read_sidecar(side)
        except InvalidInput as exc:
            problems.append(str(exc))
    film = False
    if meta is not None:  # an empty object is checked too: it records no hash, so nothing matches it
        film = meta.get("format") == "sorakit.film/1"  # a storyboard's film: no single Take to check
        if meta.get("format") != SIDECAR_FORMAT and not film:
            problems.append(f"{side.name}: not a sorakit sidecar")
        if meta.get("mp4_sha256") != _sha256(mp4):
            problems.append(f"{mp4.name}: its SHA-256 differs from the one recorded at save time "
                            "(edited or re-encoded)")
        take_data = meta.get("take")
        if not film and take_data is None:
            problems.append(f"{side.name}: it has no Take")
        if take_data is not None:
            try:
                if take_hash(Take.from_dict(take_data)) != meta.get("take_sha256"):
                    problems.append(f"{side.name}: the Take was changed after the clip was saved")
            except ValueError as exc:
                problems.append(f"{side.name}: its Take does not load ({exc})")
    try:  # an absolute path: ffmpeg would read a relative 'pipe:0.mp4' as a protocol
        with av.open(str(mp4.absolute())) as f:
            comment = str(f.metadata.get("comment", ""))
    except (av.error.FFmpegError, OSError, ValueError, IndexError) as exc:
        problems.append(f"{mp4.name}: does not open as a video ({exc})")
        comment = ""
    if AI_LABEL not in comment:
        problems.append(f"{mp4.name}: its metadata does not say {AI_LABEL!r}")
    meta = meta or {}
    prov = meta.get("provenance") if isinstance(meta.get("provenance"), dict) else {}
    if film:
        prov = {"label": meta.get("label", ""), "model_id": "storyboard"}
    assert isinstance(prov, dict)
    seed = prov.get("seed")
    return Verification(not problems, tuple(problems), str(prov.get("label", "")), str(prov.get("model_id", "")),
                        seed if isinstance(seed, int) and not isinstance(seed, bool) else None)


def load(path: str | os.PathLike[str]) -> Clip:
    """Loads a saved clip (its mp4 and JSON sidecar) back, with its Take.

    Frames come from the decoded mp4, so they carry the encoder's (small) loss. Every key of the
    sidecar is checked before the mp4 is decoded.

    Args:
        path: the .mp4 or its .json sidecar.

    Raises:
        NotFound: the mp4 or its sidecar is missing (a ``FileNotFoundError`` too).
        InvalidInput: a path no file can have, a sidecar that is not the one sorakit wrote, or an mp4 that
            does not decode; the message names the file and the key.
    """
    import av

    mp4, side = _clip_files(path, "sorakit.load")
    for f in (mp4, side):
        if not _is_file(f):
            raise NotFound(f"{f}: not found; sorakit.load needs the mp4 and its JSON sidecar side by side")
    meta = _read_sidecar(side)
    if meta.get("format") != SIDECAR_FORMAT:
        raise InvalidInput(f"{side}: not a sorakit sidecar (format {meta.get('format')!r}, "
                           f"expected {SIDECAR_FORMAT!r})")
    try:
        take = _serde.from_dict(Take, meta.get("take"), path="take")
        provenance = _serde.from_dict(Provenance, meta.get("provenance"), path="provenance")
        events = _serde.convert(tuple[Event, ...], meta.get("events"), "events")
        sound = meta.get("soundtrack")
        soundtrack = None if sound is None else _serde.from_dict(SoundtrackInfo, sound, path="soundtrack")
        fps = _count(meta, "video", "fps", 1, 1000)
        rate = _count(meta, "audio", "sample_rate", 1000, 384_000)
        channels = _count(meta, "audio", "channels", 1, 2)
        samples = _count(meta, "audio", "samples", 0, 2**40)
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


_NAME_MAX = 255  # bytes in one file name on ext4, APFS, btrfs and most other file systems
_PATH_MAX = 4096
_PATH_ERRNOS = frozenset({errno.ENAMETOOLONG, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.EINVAL, errno.ELOOP})


def _as_path(path: object, who: str) -> Path:
    """``path`` as a ``Path``; ``BadPath`` when no file could have that name."""
    text = os.fspath(path) if isinstance(path, (str, os.PathLike)) else None
    if not isinstance(text, str):
        raise BadPath(f"{who}: path={path!r}: must be a file name or path (a str or os.PathLike); "
                      "pass one like 'shot.mp4'")
    if "\0" in text:
        raise BadPath(f"{who}: path={text!r}: holds a NUL character, which no file name may; remove it")
    try:
        os.fsencode(text)
    except UnicodeEncodeError as exc:
        raise BadPath(f"{who}: path={text!r}: holds characters the file system cannot store ({exc.reason}); "
                      "type the name plainly") from exc
    p = Path(text)
    if p.name in ("", ".", ".."):
        raise BadPath(f"{who}: path={text!r}: names a folder, not a file; give a file name such as 'shot.mp4'")
    return p


def _clip_files(path: object, who: str) -> tuple[Path, Path]:
    p = _as_path(path, who)
    return p.with_suffix(".mp4"), p.with_suffix(".json")


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long to exist, a loop of links: not there
        return False


def _check_writable(path: object, *files: Path) -> None:
    """Refuses, before anything is encoded, a path the file system would refuse half-way through a save."""
    def bad(rule: str, fix: str) -> BadPath:
        return BadPath(f"Clip.save: path={str(path)!r}: {rule}; {fix}")

    for f in files:
        full = f.absolute()
        if len(os.fsencode(str(full))) > _PATH_MAX - 32:
            raise bad(f"is {len(os.fsencode(str(full)))} bytes as an absolute path, over the file system's "
                      f"{_PATH_MAX}", "save it in a shallower folder")
        for part in full.parts[1:]:
            if len(os.fsencode(part)) > _NAME_MAX:
                raise bad(f"the name {part[:24]!r}... is {len(os.fsencode(part))} bytes, over the {_NAME_MAX} a "
                          "file system allows", "use a shorter name")
        if len(os.fsencode(f.name)) > _NAME_MAX - 15:  # its temporary '.NAME.XXXXXXXX.part' must fit too
            raise bad(f"{f.name!r} is {len(os.fsencode(f.name))} bytes; a clip's file name may have "
                      f"{_NAME_MAX - 15}", "use a shorter name")
        if f.is_dir():
            raise bad(f"{f} is a folder", "pick a file name no folder has")
    for parent in files[0].absolute().parents:
        if os.path.lexists(parent):
            if not os.path.isdir(parent):
                raise bad(f"{parent} is a file, not a folder", "save into a folder, or pick another name")
            break


def _count(meta: dict[str, object], section: str, key: str, lo: int, hi: int) -> int:
    part = meta.get(section)
    value = part.get(key) if isinstance(part, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidInput(f"{section}.{key}={value!r}: must be an integer in [{lo}, {hi}]")
    return value


def _read_sidecar(side: Path) -> dict[str, object]:
    """The sidecar's JSON object; ``InvalidInput`` says why the file is not one."""
    fix = "restore it, or save the clip again (the sidecar is the JSON sorakit writes beside the mp4)"
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, or nested past Python's limit
        raise InvalidInput(f"{side.name}: not JSON ({exc}); {fix}") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{side.name}: holds a JSON {type(data).__name__}, not an object; {fix}")
    return data
