"""C2PA Content Credentials: a signed manifest in every mp4 sorakit writes, that anyone can check.

Each clip, shot and film carries a C2PA manifest (through ``c2pa-python``, the Content
Authenticity Initiative's own bindings): a ``c2pa.created`` action with the IPTC digital source
type for AI-generated media (``trainedAlgorithmicMedia``), the generator (sorakit and its
version), the model and its exact revision, the seed, the guidance used and, for a cameo, that
consent was given (never the photo). A film lists its shots as ingredients.

Who signs: the user's own certificate chain and key when ``SORAKIT_C2PA_CERT`` and
``SORAKIT_C2PA_KEY`` name PEM files; otherwise a key and a local certificate authority made on
first use and kept in the user's config folder (``SORAKIT_CONFIG_DIR``, else
``$XDG_CONFIG_HOME/sorakit``, else ``~/.config/sorakit``). That local authority is self-issued:
it proves the file is unchanged since sorakit on this machine signed it, not who ran it, and a
reader trusts it only when told to (``verify(path, trust_local=True)``).
"""

from __future__ import annotations

from sorakit.errors import InvalidInput, MissingPackage

import datetime as _dt
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Mapping
from typing import Any

from sorakit._version import __version__

# IPTC's digital source type for media made by a trained model (what C2PA readers show as "AI-generated").
AI_SOURCE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
# The label of sorakit's own assertion: the provenance a sidecar also records, signed.
ASSERTION = "org.sorakit.provenance"
ISSUER = "sorakit (self-issued)"


def _c2pa() -> Any:
    try:
        import c2pa
    except ImportError as exc:
        raise MissingPackage("C2PA Content Credentials need c2pa-python: pip install c2pa-python") from exc
    return c2pa


def config_dir() -> Path:
    """Where sorakit keeps its local signing key and certificate authority."""
    if os.environ.get("SORAKIT_CONFIG_DIR"):
        return Path(os.environ["SORAKIT_CONFIG_DIR"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "sorakit"


@dataclass(frozen=True)
class Identity:
    """A signing identity: the certificate chain (leaf first) and key, as PEM.

    ``self_issued`` is True for the local authority sorakit made; ``anchor`` is that authority's
    certificate (what a reader must trust for the signature to count as trusted).
    """

    chain: bytes
    key: bytes
    self_issued: bool
    anchor: bytes | None


def identity() -> Identity:
    """The user's own certificate and key when configured, else the local self-issued one (made once)."""
    cert, key = os.environ.get("SORAKIT_C2PA_CERT"), os.environ.get("SORAKIT_C2PA_KEY")
    if cert or key:
        if not (cert and key and os.path.isfile(cert) and os.path.isfile(key)):
            raise InvalidInput(f"SORAKIT_C2PA_CERT={cert!r}, SORAKIT_C2PA_KEY={key!r}: both must name PEM files (the "
                               "certificate chain, leaf first, and its private key); unset both to sign with the "
                               "local self-issued key")
        return Identity(Path(cert).read_bytes(), Path(key).read_bytes(), False, None)
    folder = config_dir() / "c2pa"
    files = {n: folder / n for n in ("ca.pem", "signer.pem", "signer.key")}
    if not all(f.is_file() for f in files.values()):
        _make_local_authority(folder)
    ca = files["ca.pem"].read_bytes()
    return Identity(files["signer.pem"].read_bytes() + ca, files["signer.key"].read_bytes(), True, ca)


def _make_local_authority(folder: Path) -> None:
    """A P-256 certificate authority and a signing leaf under it (C2PA refuses a self-signed leaf): the
    leaf has digitalSignature, the emailProtection extended key usage, subject and authority key
    identifiers, an organisation and a country. The keys are written readable by the user only."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(common: str) -> Any:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, ISSUER),
                          x509.NameAttribute(NameOID.COUNTRY_NAME, "US")])

    def usage(**on: bool) -> Any:
        names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
                 "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
        return x509.KeyUsage(**{n: on.get(n, False) for n in names})

    now = _dt.datetime.now(_dt.timezone.utc)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("sorakit local authority")).issuer_name(name(
        "sorakit local authority")).public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1)).not_valid_after(now + _dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage(digital_signature=True, key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(name("sorakit signer")).issuer_name(ca.subject)
            .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(days=1)).not_valid_after(now + _dt.timedelta(days=825))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    key_pem = leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    for file, data, mode in (("ca.pem", ca.public_bytes(pem), 0o644), ("signer.pem", leaf.public_bytes(pem), 0o644),
                             ("signer.key", key_pem, 0o600)):
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{file}.")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, folder / file)


# Provenance fields signed as they are (absent ones as ""), beside those manifest() takes by name; verify
# compares the same ones.
SIGNED = ("loras", "variant", "dialogue", "guardrail")


def manifest(*, title: str, model_id: str, revision: str, seed: int | None, guidance: str, cameo: str,
             label: str, backend: str, signed: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The manifest of one clip: created by a trained model, with sorakit's provenance signed (``signed``
    holds the ``SIGNED`` fields: the LoRAs and distilled variant that changed the model, how its
    dialogue was made, and whether the model's safety checker ran)."""
    created: dict[str, Any] = {"action": "c2pa.created", "digitalSourceType": AI_SOURCE,
                               "softwareAgent": {"name": "sorakit", "version": __version__}}
    provenance = {"label": label, "backend": backend, "model_id": model_id, "revision": revision, "seed": seed,
                  "guidance": guidance, "cameo_consent": _consent(cameo),
                  **{key: (signed or {}).get(key, "") for key in SIGNED}}
    return {"claim_generator_info": [{"name": "sorakit", "version": __version__}], "title": title,
            "format": "video/mp4",
            "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [created]}},
                           {"label": ASSERTION, "data": provenance}]}


def _consent(cameo: str) -> str:
    """What a manifest says of a cameo: the person and that they consented, never the photo or its hash."""
    return cameo.split("; photo sha256")[0] if cameo else ""


def _plain_json(data: Any) -> str:
    """JSON that C2PA's parser takes: a lone surrogate (a file name the OS could not decode) becomes U+FFFD."""
    def clean(x: Any) -> Any:
        if isinstance(x, str):
            return x.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        if isinstance(x, dict):
            return {clean(k): clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    return json.dumps(clean(data), ensure_ascii=False)


def sign(path: Path, claims: dict[str, Any], ingredients: tuple[Path, ...] = ()) -> None:
    """Embeds a signed C2PA manifest in the mp4 at ``path`` (rewritten in place; a film's shots as ingredients)."""
    c2pa = _c2pa()
    me = identity()
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", me.chain, me.key, None))
    builder = c2pa.Builder(_plain_json(claims))
    try:
        for shot in ingredients:
            with open(shot, "rb") as f:
                builder.add_ingredient(_plain_json({"title": shot.name, "relationship": "componentOf"}), "video/mp4",
                                       f)
        signed = io.BytesIO()
        with open(path, "rb") as source:
            builder.sign(signer, "video/mp4", source, signed)
    finally:
        builder.close()
        signer.close()
    path.write_bytes(signed.getvalue())


@dataclass(frozen=True)
class Credentials:
    """What a file's C2PA manifest says, as ``c2pa.Reader`` read and validated it.

    Attributes:
        signed: the file carries a manifest.
        signer: who signed it (organisation and name from the certificate).
        self_issued: signed by a sorakit local authority (it proves integrity, not identity).
        trusted: the signing certificate chains to a trusted authority (a local one only when asked).
        problems: validation failures (a tampered file reports a hash mismatch here), by code.
        ai_generated: its ``c2pa.created`` action names the AI-generated digital source type.
        provenance: sorakit's signed assertion (label, model, revision, seed, guidance, cameo consent).
        ingredients: the titles of its ingredients (a film's shots).
    """

    signed: bool
    signer: str = ""
    self_issued: bool = False
    trusted: bool = False
    problems: tuple[str, ...] = ()
    ai_generated: bool = False
    provenance: dict[str, Any] | None = None
    ingredients: tuple[str, ...] = ()


def read(path: str | os.PathLike[str], *, trust_local: bool = False) -> Credentials:
    """Reads and validates the C2PA manifest of ``path`` with the library's own Reader."""
    c2pa = _c2pa()
    context = None
    if trust_local:
        anchor = config_dir() / "c2pa" / "ca.pem"
        if anchor.is_file():
            context = c2pa.Context.from_dict({"verify": {"verify_trust": True},
                                              "trust": {"trust_anchors": anchor.read_text()}})
    try:
        reader = c2pa.Reader(str(path), context=context) if context is not None else c2pa.Reader(str(path))
    except c2pa.C2paError:  # no manifest at all (or not a file C2PA reads)
        return Credentials(False)
    try:
        active = reader.get_active_manifest() or {}
        results = reader.get_validation_results() or {}
        state = reader.get_validation_state() or ""
    finally:
        reader.close()
    failures = (results.get("activeManifest") or {}).get("failure") or []
    codes = tuple(f"{f.get('code')}: {f.get('explanation', '')}" for f in failures
                  if f.get("code") != "signingCredential.untrusted")
    info = active.get("signature_info") or {}
    assertions = {a.get("label"): a.get("data") for a in active.get("assertions") or []}
    actions = (assertions.get("c2pa.actions.v2") or assertions.get("c2pa.actions") or {}).get("actions") or []
    created = [a for a in actions if a.get("action") == "c2pa.created"]
    return Credentials(
        signed=bool(active), signer=" / ".join(v for v in (info.get("issuer"), info.get("common_name")) if v),
        self_issued=info.get("issuer") == ISSUER, trusted=state == "Trusted", problems=codes,
        ai_generated=any(a.get("digitalSourceType") == AI_SOURCE for a in created),
        provenance=assertions.get(ASSERTION),
        ingredients=tuple(i.get("title", "") for i in active.get("ingredients") or []))
