"""The service's signing identity, assembled once per process from the settings."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from asn1crypto import cms
from cryptography import x509
from pyhanko.sign.general import extract_certificate_info
from pyhanko.sign.signers import Signer
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko.sign.validation.policy_decl import PdfSignatureValidationSpec
from pyhanko.sign.validation.status import TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext

from webapp.config import Settings
from webapp.trust.aio import run_sync
from webapp.trust.crl import Crl, crls_in_force, current_crl, partition_crl
from webapp.trust.keys import (
    Pkcs11Key,
    TrustMaterial,
    TrustSettings,
    certificate_generation,
    display_name,
    load_trust_material,
    local_generation,
    to_asn1_cert,
)
from webapp.trust.ltv import failure_reason, revocation_sources, signing_context, validation_spec
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
from webapp.trust.tsa import TimestampAuthority, make_timestamper, timestamp_response, token_time

T = TypeVar("T")

# How often a process looks whether another one replaced the local leaf certificates.
RELOAD_CHECK_SECONDS = 10.0


@dataclass(frozen=True)
class TrustDisclosure:
    """Where our seal and timestamps come from, as proofs and public pages must say it (no false claim).

    `trial` is true on the embedded default: the seal certificate comes from the
    local CA generated under `TRUST_DIR`, a trial setup, not a qualified
    service, not for court.  Otherwise the names are those of the configured
    seal certificate's issuer and of the timestamp authority's certificate.
    """

    trial: bool
    seal_name: str
    seal_issuer: str
    tsa_name: str
    tsa_issuer: str | None  # None when an external TSA has not been asked yet (named by its URL's host)
    tsa_external: bool


@dataclass
class Trust:
    """Seal key, timestamp authority and trust anchor; keys are loaded on first use."""

    settings: Settings
    now: Callable[[], datetime]
    _material: TrustMaterial | None = field(default=None, repr=False)
    _derived: dict[str, Any] = field(default_factory=dict, repr=False)
    _checked_at: float = field(default=0.0, repr=False)

    def _trust_settings(self) -> TrustSettings:
        s = self.settings
        return TrustSettings(
            directory=s.trust_directory,
            seal_cert=s.seal_cert,
            seal_key=s.seal_key,
            seal_pkcs12=s.seal_pkcs12,
            seal_passphrase=s.seal_key_passphrase,
            seal_pkcs11=Pkcs11Key(s.seal_pkcs11_module, s.seal_pkcs11_token, s.seal_pkcs11_key, s.seal_pkcs11_pin)
            if s.seal_pkcs11_module
            else None,
            tsa_pkcs11=Pkcs11Key(s.seal_pkcs11_module, s.seal_pkcs11_token, s.tsa_pkcs11_key, s.seal_pkcs11_pin)
            if s.seal_pkcs11_module and s.tsa_pkcs11_key
            else None,
            root_cert=s.trust_root_cert,
            tsa_cert=s.tsa_cert,
            tsa_key=s.tsa_key,
            tsa_passphrase=s.tsa_key_passphrase,
            tsa_url=s.tsa_url,
            tsa_root_cert=s.tsa_root_cert,
            organisation=s.service_name,
            public_url=s.public_url,
            # Local certificates are replaced a month before proofs would need their archive timestamps renewed.
            renew_within=timedelta(days=s.archive_renewal_margin_days + 30),
        )

    @property
    def material(self) -> TrustMaterial:
        if self._material is None or self._replaced_elsewhere():
            return self.reload()
        return self._material

    def reload(self) -> TrustMaterial:
        """Loads the keys again (renewing local certificates that are due) and forgets what was built on them."""
        self._material = load_trust_material(self._trust_settings(), now=self.now())
        self._derived.clear()
        self._checked_at = time.monotonic()
        return self._material

    def rotate(self) -> int:
        """A new generation of the local seal and TSA keys now (old certificates and CRLs stay published);
        returns its number.  Other processes pick it up within `RELOAD_CHECK_SECONDS`."""
        self._material = load_trust_material(self._trust_settings(), now=self.now(), rotate=True)
        self._derived.clear()
        self._checked_at = time.monotonic()
        generation = certificate_generation(self._material.seal.cert)
        return generation or 0

    def _replaced_elsewhere(self) -> bool:
        """True when another process replaced the local leaf certificates (looked at every few seconds)."""
        material = self._material
        if material is None or material.local is None:
            return False
        if time.monotonic() - self._checked_at < RELOAD_CHECK_SECONDS:
            return False
        self._checked_at = time.monotonic()
        return local_generation(material.local.directory) != material.generation

    def _built(self, name: str, build: Callable[[], T]) -> T:
        """`build()`, once per loaded material (a reload clears what was built on the old keys)."""
        self.material  # noqa: B018 - reloads first if another process replaced the certificates
        if name not in self._derived:
            self._derived[name] = build()
        value: T = self._derived[name]
        return value

    @property
    def authority(self) -> TimestampAuthority | None:
        """The built-in RFC 3161 authority (None when TSA_URL names an external one)."""

        def build() -> TimestampAuthority | None:
            tsa = self.material.tsa
            if tsa is None:
                return None
            return TimestampAuthority(tsa, now=self.now, policy_oid=self.settings.tsa_policy_oid)

        return self._built("authority", build)

    @property
    def signer(self) -> Signer:
        return self._built("signer", lambda: make_signer(self.material))

    @property
    def timestamper(self) -> TimeStamper:
        return self._built(
            "timestamper", lambda: make_timestamper(self.authority, self.settings.tsa_url, self.settings.tsa_timeout)
        )

    def validation_context(self) -> ValidationContext:
        # A new context per validation: pyHanko contexts cache what they have checked.
        return validation_context(self.material)

    def seal(self, data: bytes) -> bytes:
        return seal_bytes(data, self.signer, self.timestamper)

    def check(self, data: bytes, seal: bytes) -> SealCheck:
        return check_seal(data, seal, self.material)

    @property
    def journal_signer(self) -> NoteSigner:
        """The Ed25519 key that signs the journal's checkpoints (C2SP signed notes)."""
        s = self.settings
        if s.seal_pkcs11_module and s.journal_pkcs11_key:
            from webapp.trust.hsm import Pkcs11Ed25519Key

            key = Pkcs11Key(s.seal_pkcs11_module, s.seal_pkcs11_token, s.journal_pkcs11_key, s.seal_pkcs11_pin)
            return self._built("journal_signer", lambda: NoteSigner(s.journal_name, Pkcs11Ed25519Key(key)))
        return self._built(
            "journal_signer", lambda: load_or_create_signer(s.journal_name, s.journal_key, s.trust_directory)
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

    # --- long-term validation: our CRL, and what validators are given ------------------------------

    def crl(self, generation: int | None = None) -> Crl | None:
        """The local root's CRL of the current certificates (or of a past `generation`), issued if due.

        None when the seal is configured (its CA publishes the revocation information) or for a
        generation we never had."""
        local = self.material.local
        if local is None:
            return None
        if generation is None:
            return current_crl(local, self.now())
        return partition_crl(local, generation, self.now())

    def maintain(self) -> Crl | None:
        """The scheduler's care: renew local certificates that are due, and issue the next CRL of every
        generation still alive when due; returns the current CRL (None when the seal is configured)."""
        local = self.reload().local
        if local is None:
            return None
        crls_in_force(local, self.now())
        return current_crl(local, self.now())

    def revocation_lists(self) -> list[bytes]:
        """Our CRLs (DER) a validator needs now; none when the seal is configured (its CA publishes them)."""
        return self._crls()

    def _crls(self) -> list[bytes]:
        """Our CRLs a validator needs now: every generation of local certificates still alive."""
        local = self.material.local
        return [crl.der for crl in crls_in_force(local, self.now())] if local is not None else []

    def ltv_context(self) -> ValidationContext:
        """For signing and archive timestamps: validates our seal and TSA, and is what the DSS receives."""
        return signing_context(self.material, self.now(), self._crls())

    def lta_spec(self, extra_crls: tuple[bytes, ...] = ()) -> PdfSignatureValidationSpec:
        """For checking a proof at PAdES B-LTA with revocation information required.

        Embedded default: our current CRL and nothing fetched.  Configured:
        what the certificates name is fetched."""
        return validation_spec(self.material, [*self._crls(), *extra_crls], fetch=self.material.local is None)

    def explain_failure(self, exc: BaseException) -> str:
        """Why signing or timestamping failed, and where the revocation information it needed lives."""
        material = self.material
        certs = [material.seal.cert, *material.seal.chain]
        tsa = material.tsa.cert if material.tsa is not None else self._derived.get("external_tsa_certificate")
        if tsa is not None:
            certs.append(tsa)
        if material.tsa is not None:
            certs += material.tsa.chain
        sources = revocation_sources(certs)
        where = f" (revocation information: {'; '.join(sources)})" if sources else ""
        return failure_reason(exc) + where

    # --- what we say about ourselves -----------------------------------------------------------------

    def tsa_certificate(self) -> x509.Certificate:
        """The certificate timestamps come from: the built-in TSA's, or the external one's (asked once).

        Raises SealError when the external TSA does not answer."""
        tsa = self.material.tsa
        if tsa is not None:
            return tsa.cert

        def ask() -> x509.Certificate:
            try:
                token = run_sync(self.timestamper.async_dummy_response("sha256"))
            except OSError as exc:  # TimestampRequestError is an OSError
                raise SealError(f"the timestamp authority at {self.settings.tsa_url} did not answer: {exc}") from exc
            signer_cert = extract_certificate_info(token["content"]).signer_cert
            return x509.load_der_x509_certificate(signer_cert.dump())

        return self._built("external_tsa_certificate", ask)

    @property
    def disclosure(self) -> TrustDisclosure:
        """Trial (embedded local CA) or production, and the names to show; never asks the network."""
        material = self.material
        seal = material.seal.cert
        tsa_cert: x509.Certificate | None = (
            material.tsa.cert if material.tsa is not None else self._derived.get("external_tsa_certificate")
        )
        if tsa_cert is not None:
            tsa_name, tsa_issuer = display_name(tsa_cert.subject), display_name(tsa_cert.issuer)
        else:
            tsa_name, tsa_issuer = urlsplit(self.settings.tsa_url or "").hostname or "?", None
        return TrustDisclosure(
            trial=material.local is not None,
            seal_name=display_name(seal.subject),
            seal_issuer=display_name(seal.issuer),
            tsa_name=tsa_name,
            tsa_issuer=tsa_issuer,
            tsa_external=material.tsa is None,
        )


__all__ = ["Trust", "TrustDisclosure", "display_name", "to_asn1_cert"]
