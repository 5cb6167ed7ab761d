"""Proofs: signed PDF documents attesting one outcome of a letter."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.types import UTCDateTime, new_id


class ProofKind(enum.StrEnum):
    DEPOSIT = "deposit"
    RECEPTION = "reception"
    REFUSAL = "refusal"
    NEGLIGENCE = "negligence"
    NON_DELIVERY = "non_delivery"
    # The recipient downloaded the document after the proof of reception was issued (once per letter).
    HANDOVER = "handover"


class ProofStatus(enum.StrEnum):
    PENDING = "pending"
    READY = "ready"


class Proof(db.Model):  # type: ignore[name-defined,misc]
    """One proof of one letter, produced by a job after the event it attests commits.

    The signed PDF is stored encrypted (see `webapp.vault`), as an object (`webapp.storage`), until `retain_until`.
    `archive_expires_at` is when its last archive (document) timestamp's TSA
    certificate expires: the archive renewal job gives it a new one before then
    (see `webapp.trust.ltv`), and finds the proofs due through its index.
    """

    __tablename__ = "proofs"
    __table_args__ = (UniqueConstraint("letter_id", "kind"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    letter_id: Mapped[str] = mapped_column(ForeignKey("letters.id"), index=True)
    kind: Mapped[ProofKind] = mapped_column(
        db.Enum(ProofKind, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
    )
    evidence_id: Mapped[str] = mapped_column(ForeignKey("evidence.id"))
    status: Mapped[ProofStatus] = mapped_column(
        db.Enum(ProofStatus, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]),
        index=True,
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    key_id: Mapped[str | None] = mapped_column(String(16))
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    nonce: Mapped[bytes | None] = mapped_column(LargeBinary(12))
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)  # before object storage only
    # The signed PDF, encrypted, as an object in the store (`webapp.storage`), and its ciphertext's SHA-256.
    object_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    object_sha256: Mapped[str | None] = mapped_column(String(64))
    archive_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
