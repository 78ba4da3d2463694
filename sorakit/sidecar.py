"""The sidecar format: what a saved clip or film says about itself, and the one writer of a
labelled mp4 with its sidecar.

A saved clip is ``name.mp4`` (H.264 + AAC, labelled AI-generated in its metadata) beside
``name.json`` (``sorakit.clip/1``: the Take, the provenance, media facts, events, the
soundtrack, and the hashes that tie the pair together); a storyboard's film is the same with
``sorakit.film/1``. ``write`` replaces such a pair whole or not at all; ``verify`` and ``read``
check and read it back. ``Clip`` and ``Film`` (the data) and ``load`` build on this module.
"""

from __future__ import annotations

from sorakit.errors import BadPath, InvalidInput

import datetime as _dt
import errno
import hashlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sorakit import _media, credentials
from sorakit._version import __version__
from sorakit.take import Take

FILM_FORMAT = "sorakit.film/1"
SIDECAR_FORMAT = "sorakit.clip/1"
CEILING_DB = -1.0  # the true peak a saved file's decoded sound may reach (dBTP), as the mix's own ceiling


def delivered(out: _media.Delivered) -> dict[str, float | None]:
    """The sidecar's account of the encoded sound: the scale applied for the codec, and the decoded
    file's true peak and loudness (what a player plays, not the mix before encoding)."""
    return {"encoded_gain_db": round(20 * math.log10(out.scale), 3),
            "delivered_true_peak_dbtp": out.true_peak if math.isfinite(out.true_peak) else None,
            "delivered_loudness_lufs": out.loudness if math.isfinite(out.loudness) else None}
AI_LABEL = "AI-generated"


@dataclass(frozen=True)
class Provenance:
    """Where a clip came from; written to the sidecar and the mp4's metadata.

    ``status`` is ``complete``, or says where a stopped generation ended ("stopped after step 3 of 30").
    ``guidance`` says how the physics scene steered the model ("warped noise (strength 0.6)"), if it did.
    ``cameo`` names the person a cameo put in the clip, that they consented, and their photo's hash.
    ``revision`` says exactly which weights made it (``owner/name@<commit>``, or a local folder's
    fingerprint); ``watermark`` is the visible label burnt into the frames, if any. ``dialogue``
    says how the spoken lines reached the clip: lip-synced by the model, laid over the picture,
    or spoken by the model itself. ``variant`` names the distilled variant a ``speed="fast"``
    Take ran, and ``loras`` every LoRA with its exact revision and weight. ``guardrail`` says
    whether a model's own safety checker (NVIDIA's Cosmos guardrail) ran or was turned off.
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
    dialogue: str = ""
    variant: str = ""
    loras: str = ""
    guardrail: str = ""

    @classmethod
    def now(cls, backend: str, model_id: str, seed: int, status: str = "complete", guidance: str = "",
            cameo: str = "", revision: str = "") -> Provenance:
        created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        return cls(__version__, backend, model_id, seed, created, status=status, guidance=guidance, cameo=cameo,
                   revision=revision)


def take_hash(take: Take) -> str:
    """SHA-256 of the Take's canonical JSON (sorted keys): the same knobs give the same hash."""
    return hashlib.sha256(json.dumps(take.to_dict(), sort_keys=True).encode("utf-8")).hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Verification:
    """What ``verify`` found: ``ok`` when the mp4 still matches its sidecar, its C2PA Content
    Credentials validate and agree with the sidecar, and it says it is AI-generated.

    ``signed`` says the mp4 carries a C2PA manifest, ``signer`` who signed it, ``self_issued``
    that it was sorakit's local authority (integrity, not identity), ``trusted`` that the
    signature chains to an authority the reader trusts (a local one only when asked).
    """

    ok: bool
    problems: tuple[str, ...]
    label: str
    model_id: str
    seed: int | None
    signed: bool = False
    signer: str = ""
    self_issued: bool = False
    trusted: bool = False


def verify(path: str | os.PathLike[str], *, trust_local: bool = False) -> Verification:
    """Reads a saved clip's (or storyboard film's) provenance back and checks the mp4 against its sidecar.

    Checked: the sidecar exists and is sorakit's; the mp4's SHA-256 is the one recorded when it
    was saved (any re-encode or edit changes it); the Take in the sidecar still hashes to the
    recorded value (a film has no single Take); the mp4's own metadata says it is AI-generated;
    and its C2PA manifest, read by c2pa's own Reader: signed, untampered (one changed byte is a
    hash mismatch), AI-generated by its digital source type, and saying the same label, model,
    revision, seed and cameo consent as the sidecar (a rewritten sidecar is caught here).

    Args:
        trust_local: count a signature by this machine's sorakit authority as trusted.

    >>> import sorakit, tempfile, os
    >>> out = sorakit.generate(sorakit.Take(frames=4, width=64, height=48)).save(
    ...     os.path.join(tempfile.mkdtemp(), "shot.mp4"))
    >>> sorakit.verify(out).ok
    True
    """
    import av

    try:
        mp4, side = clip_files(path, "sorakit.verify")
    except InvalidInput as exc:
        return Verification(False, (str(exc),), "", "", None)
    if not is_file(mp4):
        return Verification(False, (f"{mp4}: no such file",), "", "", None)
    problems: list[str] = []
    meta: dict[str, object] | None = None
    if not is_file(side):
        problems.append(f"{side.name}: the sidecar is missing, so the mp4 cannot be checked against it")
    else:
        try:
            meta = read(side)
        except InvalidInput as exc:
            problems.append(str(exc))
    film = False
    if meta is not None:  # an empty object is checked too: it records no hash, so nothing matches it
        film = meta.get("format") == "sorakit.film/1"  # a storyboard's film: no single Take to check
        if meta.get("format") != SIDECAR_FORMAT and not film:
            problems.append(f"{side.name}: not a sorakit sidecar")
        if meta.get("mp4_sha256") != file_sha256(mp4):
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
    if film:  # the film's manifest names its shots' cameos (each "name; consent given")
        listed = meta.get("shots")
        shots: list[object] = listed if isinstance(listed, list) else []
        cameos = [str(s.get("cameo", "")) for s in shots if isinstance(s, dict) and s.get("cameo")]
        prov = {"label": meta.get("label", ""), "model_id": "storyboard", "backend": "storyboard", "guidance": "",
                "cameo": "; ".join(dict.fromkeys(credentials._consent(c) for c in cameos))}
    assert isinstance(prov, dict)
    cred = credentials.read(mp4, trust_local=trust_local)
    problems += _credential_problems(mp4.name, cred, prov)
    seed = prov.get("seed")
    return Verification(not problems, tuple(problems), str(prov.get("label", "")), str(prov.get("model_id", "")),
                        seed if isinstance(seed, int) and not isinstance(seed, bool) else None, cred.signed,
                        cred.signer, cred.self_issued, cred.trusted)


def _credential_problems(name: str, cred: credentials.Credentials, prov: dict[str, object]) -> list[str]:
    """What the C2PA manifest says against what the sidecar says."""
    if not cred.signed:
        return [f"{name}: it carries no C2PA Content Credentials"]
    problems = [f"{name}: C2PA says {p}" for p in cred.problems]
    if not cred.ai_generated:
        problems.append(f"{name}: its C2PA manifest does not say it was made by a trained model (AI-generated)")
    signed = cred.provenance or {}
    said = {"label": prov.get("label", ""), "backend": prov.get("backend", ""), "model_id": prov.get("model_id", ""),
            "revision": prov.get("revision", ""), "seed": prov.get("seed"), "guidance": prov.get("guidance", ""),
            "cameo_consent": credentials._consent(str(prov.get("cameo", ""))),
            **{key: prov.get(key, "") for key in credentials.SIGNED}}
    for key, value in said.items():
        if key in signed and signed.get(key) != value and not (key == "seed" and prov.get("seed") is None):
            problems.append(f"{name}: the sidecar's provenance {key}={value!r} differs from the signed manifest's "
                            f"{signed.get(key)!r} (the sidecar was rewritten)")
    return problems


_NAME_MAX = 255  # bytes in one file name on ext4, APFS, btrfs and most other file systems
_PATH_MAX = 4096
_PATH_ERRNOS = frozenset({errno.ENAMETOOLONG, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.EINVAL, errno.ELOOP})


def as_path(path: object, who: str) -> Path:
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


def clip_files(path: object, who: str) -> tuple[Path, Path]:
    p = as_path(path, who)
    return p.with_suffix(".mp4"), p.with_suffix(".json")


def is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long to exist, a loop of links: not there
        return False


def check_writable(path: object, *files: Path, who: str = "Clip.save") -> None:
    """Refuses, before anything is encoded, a path the file system would refuse half-way through a save;
    ``who`` is the call the message names (``Clip.save``, ``Storyboard.render``)."""
    def bad(rule: str, fix: str) -> BadPath:
        return BadPath(f"{who}: path={str(path)!r}: {rule}; {fix}")

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


def count(meta: dict[str, object], section: str, key: str, lo: int, hi: int) -> int:
    part = meta.get(section)
    value = part.get(key) if isinstance(part, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidInput(f"{section}.{key}={value!r}: must be an integer in [{lo}, {hi}]")
    return value


def read(side: Path) -> dict[str, object]:
    """The sidecar's JSON object; ``InvalidInput`` says why the file is not one."""
    fix = "restore it, or save the clip again (the sidecar is the JSON sorakit writes beside the mp4)"
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, or nested past Python's limit
        raise InvalidInput(f"{side.name}: not JSON ({exc}); {fix}") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{side.name}: holds a JSON {type(data).__name__}, not an object; {fix}")
    return data


def write(path: str | os.PathLike[str], frames: np.ndarray, fps: int, audio: np.ndarray, sample_rate: int, *,
          made_by: str, description: str, sidecar: Callable[[str], dict[str, object]], claims: dict[str, Any],
          ingredients: tuple[Path, ...] = (), who: str = "Clip.save", crf: int = 18) -> Path:
    """The one writer of a labelled mp4 and its sidecar (``Clip.save`` and a storyboard's film).

    The mp4's comment says it is AI-generated and ``made_by`` what (the muxer writes its own
    ``encoder`` tag); ``description`` names the model, seed and Take. ``sidecar(mp4_sha256)``
    gives the JSON object; its ``audio`` section gains what the encoded file delivers (the
    scale applied so the decoded sound holds the -1 dBTP ceiling, its true peak and loudness).
    ``claims`` is the C2PA manifest (``credentials.manifest``) signed into the mp4, with
    ``ingredients`` (a film's shots) listed in it. Both files are replaced together or not at
    all (``_media.atomic_pair``).

    Raises:
        InvalidInput: not an .mp4 name. BadPath (also an ``OSError``): a path no file can have,
            checked before encoding, or one the file system refuses.
    """
    mp4 = as_path(path, who)
    if mp4.suffix.lower() != ".mp4":
        raise InvalidInput(f"path={str(path)!r}: a clip is saved as .mp4; use a name like 'shot.mp4'")
    check_writable(path, mp4, mp4.with_suffix(".json"), who=who)
    meta = {"comment": f"{AI_LABEL} with sorakit {__version__} ({made_by})", "description": description}
    try:  # absolute paths: ffmpeg reads a relative 'pipe:1.mp4' or 'file:x.mp4' as a protocol, not a file
        with _media.atomic_pair(mp4.absolute(), mp4.with_suffix(".json").absolute()) as (tmp, tmp_side):
            out = _media.write_mp4_unclipped(tmp, frames, fps, audio, sample_rate, ceiling_db=CEILING_DB, crf=crf,
                                             metadata=meta)
            credentials.sign(tmp, claims, ingredients)  # C2PA Content Credentials, before the file is hashed
            side = sidecar(file_sha256(tmp))
            sound = side.get("audio")
            side["audio"] = {**(sound if isinstance(sound, dict) else {}), **delivered(out)}
            tmp_side.write_text(json.dumps(side, indent=2, ensure_ascii=False), encoding="utf-8")
    except OSError as exc:
        if isinstance(exc, BadPath) or exc.errno not in _PATH_ERRNOS:
            raise
        raise BadPath(f"{who}: path={str(path)!r}: the file system refuses it ({exc.strerror}); use a short plain "
                      "name such as 'shot.mp4' in a folder that exists or can be made") from exc
    return mp4
