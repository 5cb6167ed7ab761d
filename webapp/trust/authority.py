"""The service's signing identity, assembled once per process from the settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from pyhanko.sign.signers import SimpleSigner
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko_certvalidator import ValidationContext

from webapp.config import Settings
from webapp.trust.keys import TrustMaterial, TrustSettings, load_trust_material
from webapp.trust.seal import SealCheck, check_seal, make_signer, seal_bytes, validation_context
from webapp.trust.tsa import TimestampAuthority, make_timestamper


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
