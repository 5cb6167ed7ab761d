"""Bulk sending: a batch of letters from one CSV, its rows, and its uploaded PDFs until they are deposited."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.organisation import User
from webapp.models.types import UTCDateTime, new_id


class BatchStatus(enum.StrEnum):
    # Validation runs in the upload request: a batch exists only once every row is valid.
    READY = "ready"  # stored, its job queued
    DEPOSITING = "depositing"  # the job is depositing its rows, a chunk per transaction
    DONE = "done"  # every row is a letter; the uploaded PDFs are deleted
    FAILED = "failed"  # the deposit stopped (e.g. the organisation lost its verification); `error` says why


class Batch(db.Model):  # type: ignore[name-defined,misc]
    """One bulk upload: every row validated, then deposited by the `deposit_batch` job."""

    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    status: Mapped[BatchStatus] = mapped_column(
        db.Enum(BatchStatus, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
    )
    csv_name: Mapped[str] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(5))
    # Every letter of the batch hides its document's name from our support agents.
    document_confidential: Mapped[bool] = mapped_column(default=False, server_default=false())
    total_rows: Mapped[int] = mapped_column(Integer)
    deposited_rows: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    @property
    def progress(self) -> float:
        """Share of the rows deposited, from 0 to 1."""
        return self.deposited_rows / self.total_rows if self.total_rows else 1.0


class BatchDocument(db.Model):  # type: ignore[name-defined,misc]
    """One uploaded PDF of a batch (rows name it), encrypted like a letter's document until the batch is done.

    Vault context `batch-document:<id>`.
    """

    __tablename__ = "batch_documents"
    __table_args__ = (UniqueConstraint("batch_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    key_id: Mapped[str] = mapped_column(String(16))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary(12))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)


class BatchRow(db.Model):  # type: ignore[name-defined,misc]
    """A validated CSV row, and the letter it became (set in the transaction that deposits it)."""

    __tablename__ = "batch_rows"
    __table_args__ = (UniqueConstraint("batch_id", "row_number"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id"), index=True)
    row_number: Mapped[int] = mapped_column(Integer)  # the CSV line, the header being line 1
    recipient_name: Mapped[str] = mapped_column(String(200))
    recipient_phone: Mapped[str] = mapped_column(String(20))
    recipient_email: Mapped[str | None] = mapped_column(String(254))
    sender_reference: Mapped[str | None] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(5))
    document_name: Mapped[str] = mapped_column(String(255))  # a BatchDocument's name
    # The identification the row asks for, checked and minimised (`letters.eid.IdentityRequirement.to_json`).
    identity: Mapped[str | None] = mapped_column(Text)
    letter_id: Mapped[str | None] = mapped_column(ForeignKey("letters.id"), unique=True)
