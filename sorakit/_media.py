"""mp4 in and out through PyAV: H.264 yuv420p + AAC, written atomically."""

from __future__ import annotations

from sorakit.errors import InvalidInput

import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

AAC_FRAME = 1024
AUDIO_CODECS = {"aac": "aac", "opus": "libopus"}


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yields a temporary path beside ``path``; renames it over ``path`` only if the block succeeds.

    A crash or an exception leaves the final name untouched (the old file, or nothing).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        _fsync_mode(Path(tmp), final)
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_pair(first: str | os.PathLike[str], second: str | os.PathLike[str]) -> Iterator[tuple[Path, Path]]:
    """Yields two temporary paths beside ``first`` and ``second``; when the block succeeds both are
    synced and renamed into place, else neither final name changes.

    Every write happens before the first rename. Should the second rename fail, the old
    ``first`` (kept by a hard link, or a copy) is put back; a process killed between the two
    renames leaves a new ``first`` beside the old ``second``, which their hashes tell apart.
    """
    finals = [Path(first), Path(second)]
    temps: list[Path] = []
    backup: Path | None = None
    try:
        for final in finals:
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent)
            os.close(fd)
            temps.append(Path(tmp))
        yield temps[0], temps[1]
        for tmp_path, final in zip(temps, finals):
            _fsync_mode(tmp_path, final)
        if finals[0].exists():
            fd, name = tempfile.mkstemp(prefix=f".{finals[0].name}.", suffix=".old.part", dir=finals[0].parent)
            os.close(fd)
            backup = Path(name)
            backup.unlink()
            try:
                os.link(finals[0], backup)
            except OSError:
                shutil.copy2(finals[0], backup)
        os.replace(temps[0], finals[0])
        try:
            os.replace(temps[1], finals[1])
        except BaseException:
            if backup is not None:
                os.replace(backup, finals[0])
            else:
                finals[0].unlink(missing_ok=True)
            raise
    finally:
        for leftover in [*temps, *([backup] if backup is not None else [])]:
            leftover.unlink(missing_ok=True)


def _fsync_mode(path: Path, final: Path) -> None:
    """Flushes ``path`` to disk and gives it ``final``'s mode when it replaces a file, else the mode a
    new file gets here (0666 less the umask): ``mkstemp`` makes 0600 files, which would hide a
    saved clip from the user's other programs."""
    try:
        mode = final.stat().st_mode & 0o777
    except OSError:
        mode = 0o666 & ~_umask()
    os.chmod(path, mode)
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _umask() -> int:
    """The process's umask, read without changing it where the system says it (Linux), else set and restored."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_mp4(path: str | os.PathLike[str], frames: np.ndarray, fps: int, audio: np.ndarray | None = None,
              sample_rate: int = 48_000, *, crf: int = 18, preset: str = "medium",
              audio_codec: str = "aac", audio_bitrate: int = 192_000,
              metadata: dict[str, str] | None = None) -> None:
    """Encodes ``frames`` (uint8 [T, H, W, 3], even H and W) and ``audio`` (float32 [C, N]) to ``path``.

    ``audio_codec`` is ``"aac"`` (plays everywhere but VS Code) or ``"opus"`` (48 kHz only;
    plays in Chromium-based players, VS Code included).

    The file is written in place: callers wanting atomicity wrap it in ``atomic_path``.
    The moov atom is put first (``+faststart``) so browsers start playing at once.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise InvalidInput(f"frames must be uint8 [T, H, W, 3], got {frames.dtype} {list(frames.shape)}")
    t, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise InvalidInput(f"frame size {w}x{h}: H.264 yuv420p needs even width and height; crop or pad one pixel")
    layout = "" if audio is None else _audio_layout(audio, sample_rate, audio_codec, "audio_codec")
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        for k, v in (metadata or {}).items():
            out.metadata[k] = v
        # A fixed thread count: x264 left to choose one from the machine's cores encodes differently on
        # machines (or Ray workers) with other core counts, so the same take would decode differently
        video = out.add_stream("libx264", rate=fps, options={"crf": str(crf), "preset": preset, "threads": "4"})
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        video.codec_context.thread_type = "AUTO"  # frame threads: ~1.5x faster than PyAV's default
        sound: av.audio.stream.AudioStream | None = None
        if audio is not None:
            stream = out.add_stream(AUDIO_CODECS[audio_codec], rate=sample_rate, layout=layout)
            assert isinstance(stream, av.audio.stream.AudioStream)
            sound = stream
            sound.bit_rate = audio_bitrate
        for i in range(t):
            frame = av.VideoFrame.from_ndarray(frames[i], format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode())
        if audio is not None and sound is not None:
            _mux_audio(out, sound, audio, sample_rate, layout)


def read_mp4(path: str | os.PathLike[str]) -> tuple[np.ndarray, float, np.ndarray | None, int]:
    """Decodes ``path`` into ``(frames [T, H, W, 3] uint8, fps, audio [C, N] float32 or None, sample_rate)``.

    Audio is placed on the timeline by each decoded frame's timestamp, so the encoder's
    priming delay (removed through the mp4 edit list) never shifts it.
    """
    with av.open(str(path)) as inp:
        vstream = inp.streams.video[0]
        fps = float(vstream.average_rate or vstream.guessed_rate or 0)
        frames = np.stack([f.to_ndarray(format="rgb24") for f in inp.decode(video=0)])
    audio, rate = None, 0
    with av.open(str(path)) as inp:
        if inp.streams.audio:
            astream = inp.streams.audio[0]
            rate = astream.rate
            pieces: list[tuple[int, np.ndarray]] = []
            for f in inp.decode(audio=0):
                data = f.to_ndarray()
                if f.format.is_packed:
                    data = data.reshape(-1, len(f.layout.channels)).T
                if f.pts is not None and f.time_base is not None:
                    start = int(round(float(f.pts * f.time_base) * rate))
                else:  # no timestamp: it follows the previous frame
                    start = pieces[-1][0] + pieces[-1][1].shape[1] if pieces else 0
                pieces.append((start, data))
            if pieces:
                end = max(s + p.shape[1] for s, p in pieces)
                audio = np.zeros((pieces[0][1].shape[0], end), np.float32)
                for s, p in pieces:
                    if s < 0:
                        p, s = p[:, -s:], 0
                    audio[:, s:s + p.shape[1]] = p
    return frames, fps, audio, rate


def encode_audio(audio: np.ndarray, sample_rate: int, *, codec: str = "aac", bitrate: int = 128_000) -> tuple[bytes, str]:
    """Encodes ``audio`` (float32 [C, N]) alone: ``(bytes, mime)``, AAC in an .m4a or Opus in a .webm.

    >>> data, mime = encode_audio(np.zeros((2, 4800), np.float32), 48_000)
    >>> mime, data[4:8]
    ('audio/mp4', b'ftyp')
    """
    layout = _audio_layout(audio, sample_rate, codec, "codec")
    fmt, mime = ("mp4", "audio/mp4") if codec == "aac" else ("webm", "audio/webm")
    with tempfile.TemporaryDirectory() as tmp:  # +faststart rewrites the file, which a memory buffer can't
        path = os.path.join(tmp, f"sound.{fmt}")
        _write_audio(path, fmt, audio, sample_rate, layout, codec, bitrate)
        return Path(path).read_bytes(), mime


def _write_audio(path: str, fmt: str, audio: np.ndarray, sample_rate: int, layout: str, codec: str,
                 bitrate: int) -> None:
    with av.open(path, "w", format=fmt, options={"movflags": "+faststart"} if fmt == "mp4" else {}) as out:
        stream = out.add_stream(AUDIO_CODECS[codec], rate=sample_rate, layout=layout)
        assert isinstance(stream, av.audio.stream.AudioStream)
        stream.bit_rate = bitrate
        _mux_audio(out, stream, audio, sample_rate, layout)


def _audio_layout(audio: np.ndarray, sample_rate: int, codec: str, key: str) -> str:
    """``mono`` or ``stereo`` for ``audio`` (float32 [C, N]), after checking it and the codec."""
    audio = np.asarray(audio)
    layout = {1: "mono", 2: "stereo"}.get(audio.shape[0], "") if audio.ndim == 2 else ""
    if not layout:
        raise InvalidInput(f"audio must be float32 [1 or 2 channels, samples], got {list(audio.shape)}")
    if codec not in AUDIO_CODECS:
        raise InvalidInput(f"{key}={codec!r}: use one of {', '.join(AUDIO_CODECS)}")
    if codec == "opus" and sample_rate != 48_000:
        raise InvalidInput(f"sample_rate={sample_rate}: Opus runs at 48000 Hz; resample or use {key}='aac'")
    return layout


def _mux_audio(out: av.container.OutputContainer, stream: av.audio.stream.AudioStream, audio: np.ndarray,
               sample_rate: int, layout: str) -> None:
    """Encodes ``audio`` (clipped to [-1, 1]) into ``stream`` in AAC-sized frames, timestamped by sample."""
    audio = np.clip(np.asarray(audio, np.float32), -1.0, 1.0)
    for start in range(0, audio.shape[1], AAC_FRAME):
        chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio[:, start:start + AAC_FRAME]),
                                           format="fltp", layout=layout)
        chunk.sample_rate, chunk.pts = sample_rate, start
        out.mux(stream.encode(chunk))
    out.mux(stream.encode())


def decoded_audio(path: str | os.PathLike[str]) -> tuple[np.ndarray, int] | None:
    """The decoded sound of ``path`` as float32 ``[channels, samples]`` with its rate, or None without sound."""
    chunks: list[np.ndarray] = []
    rate = 0
    with av.open(str(path)) as inp:
        if not inp.streams.audio:
            return None
        for f in inp.decode(audio=0):
            data = f.to_ndarray()
            rate = f.sample_rate
            if data.ndim == 2 and data.shape[0] == 1 and len(f.layout.channels) > 1:  # packed: interleaved
                data = data.reshape(-1, len(f.layout.channels)).T
            chunks.append(data.astype(np.float32))
    return (np.concatenate(chunks, axis=1), rate) if chunks else None


@dataclass(frozen=True)
class Delivered:
    """What the encoded file plays: the scale applied before encoding, and the decoded sound's
    true peak (dBTP) and integrated loudness (LUFS), measured on the decoded samples."""

    scale: float
    true_peak: float
    loudness: float


def write_mp4_unclipped(path: str | os.PathLike[str], frames: np.ndarray, fps: int, audio: np.ndarray,
                        sample_rate: int, *, ceiling_db: float = -1.0, tries: int = 4,
                        **options: object) -> Delivered:
    """``write_mp4``, then decodes the sound and encodes again, scaled down, while its true peak is
    above ``ceiling_db`` dBTP (AAC adds to sharp transients: a mix limited to -1 dBTP decodes above
    it). What the file delivers is measured on its decoded samples."""
    from sorakit.audio.loudness import integrated_loudness, true_peak

    scale, peak, loudness = 1.0, -math.inf, -math.inf
    for attempt in range(tries):
        write_mp4(path, frames, fps, audio * scale, sample_rate, **options)  # type: ignore[arg-type]
        decoded = decoded_audio(path)
        if decoded is None or not decoded[0].size:
            break
        peak = true_peak(decoded[0], decoded[1])
        loudness = integrated_loudness(decoded[0], decoded[1])
        if peak <= ceiling_db or attempt == tries - 1:
            break
        scale *= 10 ** ((ceiling_db - 0.1 - peak) / 20)  # 0.1 dB under, for what the codec adds again
    return Delivered(scale, round(peak, 2) if math.isfinite(peak) else peak,
                     round(loudness, 2) if math.isfinite(loudness) else loudness)
