"""Electronic seals: detached CAdES signatures with a signature timestamp (CAdES-T-like).

`seal_bytes` signs data (an evidence record's canonical JSON, a checkpoint)
with the service's seal key and asks the timestamp authority to timestamp the
signature.  The result is DER CMS that `openssl cms -verify -binary -inform
DER -content record.json -in seal.p7s -CAfile root.pem -purpose any` accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from asn1crypto import cms, core
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers import Signer, SimpleSigner
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.validation.generic_cms import async_validate_detached_cms
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from webapp.trust.aio import run_sync
from webapp.trust.keys import Pkcs11Key, TrustMaterial, to_asn1_cert


class SealError(Exception):
    """The seal could not be produced (key or timestamp authority problem)."""


@dataclass(frozen=True)
class SealCheck:
    intact: bool  # the signature matches the data
    trusted: bool  # the seal certificate chains to our trust anchor
    timestamped_at: datetime | None  # time of a valid signature timestamp, if any
    signer: str

    @property
    def ok(self) -> bool:
        return self.intact and self.trusted and self.timestamped_at is not None


def make_signer(material: TrustMaterial) -> Signer:
    """The seal's signer: its key in memory, or in a PKCS#11 token (pyHanko's PKCS#11 signer)."""
    certs = [to_asn1_cert(c) for c in (*material.seal.chain, material.root)]
    if isinstance(material.seal.key, Pkcs11Key):
        from webapp.trust.hsm import pkcs11_signer

        return pkcs11_signer(material.seal.key, material.seal.asn1_cert, certs)
    return SimpleSigner(
        signing_cert=material.seal.asn1_cert,
        signing_key=material.seal.asn1_key,
        cert_registry=SimpleCertificateStore.from_certs(certs),
    )


def seal_bytes(data: bytes, signer: Signer, timestamper: TimeStamper) -> bytes:
    """A detached, timestamped CAdES signature of `data`, as DER."""
    try:
        content = run_sync(
            signer.async_sign_general_data(data, "sha256", detached=True, use_cades=True, timestamper=timestamper)
        )
    except (SigningError, OSError, ValueError) as exc:  # TimestampRequestError is an OSError
        raise SealError(f"sealing failed: {exc}") from exc
    return content_info_der(content)


def content_info_der(content: cms.ContentInfo) -> bytes:
    """DER of a SignedData ContentInfo, assembled from its parts.

    asn1crypto's own `ContentInfo.dump()` on a freshly built signature sometimes
    takes tens of seconds (it re-serialises the nested structure over and
    over); the parts dump at once, and the result is byte-for-byte the same.
    """
    body = core.ObjectIdentifier("1.2.840.113549.1.7.2").dump() + content["content"].dump()
    return bytes(_der_header(0x30, len(body)) + body)


def _der_header(tag: int, length: int) -> bytes:
    if length < 0x80:
        return bytes([tag, length])
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size


def validation_context(material: TrustMaterial) -> ValidationContext:
    roots = [to_asn1_cert(c) for c in material.trust_roots]
    extra = [to_asn1_cert(c) for c in material.seal.chain]
    if material.tsa is not None:
        extra += [material.tsa.asn1_cert, *(to_asn1_cert(c) for c in material.tsa.chain)]
    return ValidationContext(trust_roots=roots, other_certs=extra, allow_fetching=False)


def check_seal(data: bytes, seal_der: bytes, material: TrustMaterial) -> SealCheck:
    """Verifies a seal of `data` against our trust anchor."""
    try:
        content = cms.ContentInfo.load(seal_der)
        signed_data = content["content"]
        status = run_sync(
            async_validate_detached_cms(data, signed_data, signer_validation_context=validation_context(material))
        )
    except (ValueError, TypeError, KeyError) as exc:
        return SealCheck(False, False, None, f"unreadable seal: {exc}")
    timestamp = status.timestamp_validity
    ts_ok = timestamp is not None and timestamp.intact and timestamp.valid and timestamp.trusted
    return SealCheck(
        intact=bool(status.intact and status.valid),
        trusted=bool(status.trusted),
        timestamped_at=timestamp.timestamp if ts_ok and timestamp is not None else None,
        signer=status.signing_cert.subject.human_friendly,
    )
