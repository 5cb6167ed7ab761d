"""Outbound SMS and email messages, tracked so that none is sent twice, and their delivery receipts."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.types import UTCDateTime, new_id


class MessageStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for a worker
    SUBMITTING = "submitting"  # handed to the provider; outcome not yet committed
    SENT = "sent"  # the provider accepted it
    FAILED = "failed"  # permanent failure (invalid number, attempts exhausted)
    UNCERTAIN = "uncertain"  # a worker died mid-submission and the provider cannot tell
    CANCELLED = "cancelled"  # not sent: the letter was decided or expired before its turn came


class MessagePurpose(enum.StrEnum):
    NOTIFICATION = "notification"
    CODE = "code"
    REMINDER = "reminder"


class OutboundMessage(db.Model):  # type: ignore[name-defined,misc]
    """One message to one recipient, moved `pending → submitting → sent` by the job.

    The text is rendered when the message is sent; the secret it carries (a
    link token or a one-time code) is stored encrypted and erased once the
    provider has it.
    """

    __tablename__ = "outbound_messages"
    # A reminder is claimed once per letter and channel, whatever the number of schedulers.
    # (status, created_at): the support console's recent failed or stuck messages, without a scan.
    __table_args__ = (
        UniqueConstraint("letter_id", "channel", "reminder_number"),
        Index("ix_outbound_messages_status_created_at", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    letter_id: Mapped[str] = mapped_column(ForeignKey("letters.id"), index=True)
    purpose: Mapped[MessagePurpose] = mapped_column(
        db.Enum(
            MessagePurpose,
            native_enum=False,
            length=20,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    channel: Mapped[str] = mapped_column(String(10), default="sms")
    recipient: Mapped[str] = mapped_column(String(254))
    status: Mapped[MessageStatus] = mapped_column(
        db.Enum(
            MessageStatus,
            native_enum=False,
            length=20,
            values_callable=lambda e: [m.value for m in e],
        ),
        index=True,
    )
    secret_key_id: Mapped[str | None] = mapped_column(String(16))
    secret_wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    secret_nonce: Mapped[bytes | None] = mapped_column(LargeBinary(12))
    secret_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    segments: Mapped[int] = mapped_column(Integer, default=1)
    # SHA-256 of the exact notification or reminder text handed to the provider (see
    # `letters.notifications.text_digest`), set with `submitting`, so that the evidence record states
    # it even when a retry or a delivery receipt settles the message.  Never set for codes: six
    # digits are a million guesses away from their hash.
    text_sha256: Mapped[str | None] = mapped_column(String(64))
    provider: Mapped[str | None] = mapped_column(String(20))
    provider_message_id: Mapped[str | None] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Indexed: provider health looks at the last hour's messages (`webapp.support.operations`).
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    reminder_number: Mapped[int | None] = mapped_column(Integer)  # 1, 2, … for reminders only
    # Who asked for a reminder by hand ("send the notification again"); None for scheduled ones.
    requested_by_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    # Or a support agent (shown to the sender as "sent again by our support team").
    requested_by_agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id"))
    # The operator's last word (SMS delivery receipt): "delivered" or "failed", and when it delivered.
    delivery_status: Mapped[str | None] = mapped_column(String(20))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DeliveryReceipt(db.Model):  # type: ignore[name-defined,misc]
    """One operator delivery receipt (DLR), stored once per provider message and status.

    `evidence_id` names the evidence record it produced, if any (intermediate
    statuses and the receipts of code messages produce none).
    """

    __tablename__ = "delivery_receipts"
    __table_args__ = (UniqueConstraint("provider", "provider_message_id", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    message_id: Mapped[str] = mapped_column(ForeignKey("outbound_messages.id"), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    provider_message_id: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    error_code: Mapped[str | None] = mapped_column(String(20))
    operator_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    evidence_id: Mapped[str | None] = mapped_column(ForeignKey("evidence.id"))
    payload: Mapped[str] = mapped_column(Text)  # the receipt's fields as JSON, signature left out
