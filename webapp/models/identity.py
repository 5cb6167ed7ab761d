"""What identification a letter asks of its recipient, and each trip to an identity provider.

Issue 19: a sender may require the recipient's national digital identity (OpenID Connect), on top
of or instead of the one-time code, and name the identity expected.  A letter without a row here
asks for the one-time code only, as every letter did before.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.types import UTCDateTime, new_id


class IdentificationMethod(enum.StrEnum):
    """How the recipient must prove who they are, as senders ask for it and evidence records name it."""

    SMS_OTP = "sms-otp"  # a one-time code sent by SMS to the letter's number (possession of the phone)
    EID = "eid"  # national digital identity through an OpenID Connect provider (who holds the phone)
    SMS_OTP_EID = "sms-otp+eid"  # the code, then the national identity

    @property
    def factors(self) -> frozenset[str]:
        """The steps this method takes: `sms-otp`, `eid` or both."""
        return frozenset(self.value.split("+"))


class LetterIdentity(db.Model):  # type: ignore[name-defined,misc]
    """The identification a letter requires, and the identity its sender expects, minimised.

    The expected CIN is kept only as a keyed hash (to compare with the proven one) and masked (to
    show the sender what they typed); names and birth date as the sender wrote them.
    """

    __tablename__ = "letter_identities"

    letter_id: Mapped[str] = mapped_column(ForeignKey("letters.id"), primary_key=True)
    method: Mapped[IdentificationMethod] = mapped_column(
        db.Enum(IdentificationMethod, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])
    )
    expected_cin_hmac: Mapped[str | None] = mapped_column(String(64))
    expected_cin_masked: Mapped[str | None] = mapped_column(String(32))
    expected_name: Mapped[str | None] = mapped_column(String(200))
    expected_birth_date: Mapped[date | None] = mapped_column(Date)
    # Failed identifications at a provider since the letter was last locked or unlocked.
    eid_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class EidAttemptStatus(enum.StrEnum):
    PENDING = "pending"  # the recipient was sent to the provider
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class EidAttempt(db.Model):  # type: ignore[name-defined,misc]
    """One trip of a recipient to an identity provider: the `state` (hashed), `nonce` and PKCE verifier
    it was sent with, used once.  A callback whose state is unknown, already used or too old is refused."""

    __tablename__ = "eid_attempts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    letter_id: Mapped[str] = mapped_column(ForeignKey("letters.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[EidAttemptStatus] = mapped_column(
        db.Enum(EidAttemptStatus, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])
    )
    outcome: Mapped[str | None] = mapped_column(String(40))  # why it failed (`identity_mismatch`, …)
