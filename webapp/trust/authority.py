"""The service's signing identity, assembled once per process from the settings."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from asn1crypto import cms
from pyhanko.sign.signers import SimpleSigner
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko.sign.validation.status import TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext

from webapp.config import Settings
from webapp.trust.aio import run_sync
from webapp.trust.keys import TrustMaterial, TrustSettings, load_trust_material
from webapp.trust.seal import (
    SealCheck,
    SealError,
    check_seal,
    content_info_der,
    make_signer,
    seal_bytes,
    validation_context,
)
from webapp.trust.signed_note import NoteSigner, load_or_create_signer
from webapp.trust.tsa import TimestampAuthority, make_timestamper, token_time


@dataclass
class Trust:
    """Seal key, timestamp authority and trust anchor; keys are loaded on first use."""

    settings: Settings
    now: Callable[[], datetime]
    _material: TrustMaterial | None = field(default=None, repr=False)

    @property
    def material(self) -> TrustMaterial:
        if self._material is None:
            s = self.settings
            self._material = load_trust_material(
                TrustSettings(
                    directory=s.trust_directory,
                    seal_cert=s.seal_cert,
                    seal_key=s.seal_key,
                    seal_pkcs12=s.seal_pkcs12,
                    seal_passphrase=s.seal_key_passphrase,
                    root_cert=s.trust_root_cert,
                    tsa_cert=s.tsa_cert,
                    tsa_key=s.tsa_key,
                    tsa_passphrase=s.tsa_key_passphrase,
                    tsa_url=s.tsa_url,
                    organisation=s.service_name,
                )
            )
        return self._material

    @cached_property
    def authority(self) -> TimestampAuthority | None:
        """The built-in RFC 3161 authority (None when TSA_URL names an external one)."""
        tsa = self.material.tsa
        return TimestampAuthority(tsa, now=self.now) if tsa is not None else None

    @cached_property
    def signer(self) -> SimpleSigner:
        return make_signer(self.material)

    @cached_property
    def timestamper(self) -> TimeStamper:
        return make_timestamper(self.authority, self.settings.tsa_url, self.settings.tsa_timeout)

    def validation_context(self) -> ValidationContext:
        # A new context per validation: pyHanko contexts cache what they have checked.
        return validation_context(self.material)

    def seal(self, data: bytes) -> bytes:
        return seal_bytes(data, self.signer, self.timestamper)

    def check(self, data: bytes, seal: bytes) -> SealCheck:
        return check_seal(data, seal, self.material)

    @cached_property
    def journal_signer(self) -> NoteSigner:
        """The Ed25519 key that signs the journal's checkpoints (C2SP signed notes)."""
        return load_or_create_signer(
            self.settings.journal_name, self.settings.journal_key, self.settings.trust_directory
        )

    def timestamp_token(self, data: bytes) -> bytes:
        """An RFC 3161 timestamp token (DER CMS) over SHA-256(data), from our TSA or the configured one."""
        digest = hashlib.sha256(data).digest()
        try:
            token = run_sync(self.timestamper.async_timestamp(digest, "sha256"))
        except (OSError, ValueError) as exc:  # TimestampRequestError is an OSError
            raise SealError(f"timestamping failed: {exc}") from exc
        return content_info_der(token)

    def timestamp_response(self, data: bytes) -> bytes:
        """The same token as a granted TimeStampResp (the `.tsr` files `openssl ts -reply` reads)."""
        from webapp.trust.journal import timestamp_response

        return timestamp_response(self.timestamp_token(data))

    @staticmethod
    def token_time(token: bytes) -> datetime:
        return token_time(cms.ContentInfo.load(token))

    def check_timestamp(self, data: bytes, token: bytes) -> datetime | None:
        """The time a token states, if it is a valid token of a trusted TSA over exactly `data`."""
        try:
            signed_data = cms.ContentInfo.load(token)["content"]
            status = TimestampSignatureStatus(
                **run_sync(
                    validate_tst_signed_data(
                        signed_data,
                        self.validation_context(),
                        lambda algorithm: hashlib.new(algorithm, data).digest(),
                    )
                )
            )
        except (ValueError, TypeError, KeyError, SignatureValidationError):
            return None
        if not (status.intact and status.valid and status.trusted):
            return None
        return status.timestamp
