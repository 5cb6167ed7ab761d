"""What an agent sees of a letter: its metadata and timeline, never its content.

Everything leaves this module as plain frozen rows holding only what the console may show, so that a
template cannot reach the document, its name when the sender marked it confidential, a key, a token
hash or a code hash, even by mistake.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from webapp.clock import Clock
from webapp.extensions import DbSession
from webapp.letters.states import LetterStatus
from webapp.models import (
    DeliveryReceipt,
    Evidence,
    Letter,
    MessagePurpose,
    MessageStatus,
    OneTimeCode,
    OutboundMessage,
    Proof,
)
from webapp.support.actions import retryable

# Evidence details shown to agents: the notification's facts, reasons, and the code step's counters.
NOTIFICATION_FACTS = (
    "channel",
    "purpose",
    "provider",
    "provider_message_id",
    "reminder",
    "reason",
    "requested_by_agent",
)
# A code's SMS (RecipientCodeSent): which message, through whom, to the masked number.
CODE_MESSAGE_FACTS = ("provider", "provider_message_id", "to")
DETAIL_FACTS = ("reason", "from_status", "to_status", "method", "failures", "locked", "deadline", "unlocked_by_agent")
RECEIPT_FACTS = ("status", "error_code", "operator_at")
REPEATED_CODE_FAILURES = 3  # wrong codes that put a letter in the attention queue before it locks
ATTENTION_WINDOW = timedelta(days=30)  # failed or stuck messages older than this are history
ATTENTION_LIMIT = 100  # rows per reason


@dataclass(frozen=True)
class LetterSummary:
    id: str
    reference: str
    status: LetterStatus
    channel: str
    language: str
    organisation: str
    sender_reference: str | None
    recipient_name: str
    recipient_phone: str
    recipient_email: str | None
    document_name: str | None  # None when the sender marked the letter confidential
    document_confidential: bool
    document_size: int
    deposited_at: datetime
    notified_at: datetime | None
    deadline_at: datetime | None
    decided_at: datetime | None
    locked_at: datetime | None
    code_failures: int


def summarise(letter: Letter) -> LetterSummary:
    return LetterSummary(
        id=letter.id,
        reference=letter.reference,
        status=letter.status,
        channel=letter.channel,
        language=letter.language,
        organisation=letter.organisation.name,
        sender_reference=letter.sender_reference,
        recipient_name=letter.recipient_name,
        recipient_phone=letter.recipient_phone,
        recipient_email=letter.recipient_email,
        document_name=None if letter.document_confidential else letter.document_name,
        document_confidential=letter.document_confidential,
        document_size=letter.document_size,
        deposited_at=letter.deposited_at,
        notified_at=letter.notified_at,
        deadline_at=letter.deadline_at,
        decided_at=letter.decided_at,
        locked_at=letter.locked_at,
        code_failures=letter.code_failures,
    )


@dataclass(frozen=True)
class TimelineRecord:
    evidence_id: str
    seq: int
    event: str
    at: datetime
    facts: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ReceiptRow:
    status: str
    error_code: str | None
    operator_at: datetime | None
    received_at: datetime


@dataclass(frozen=True)
class MessageRow:
    id: str
    purpose: MessagePurpose
    channel: str
    recipient: str
    status: MessageStatus
    provider: str | None
    provider_message_id: str | None
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime | None
    delivery_status: str | None
    delivered_at: datetime | None
    reminder_number: int | None
    requested_by: str | None  # "sender" or "support"
    receipts: tuple[ReceiptRow, ...]
    retryable: bool


@dataclass(frozen=True)
class CodeRow:
    """A one-time code request: when, until when, how many tries, used or not; never the code."""

    created_at: datetime
    expires_at: datetime
    attempts: int
    used_at: datetime | None


@dataclass(frozen=True)
class ProofRow:
    kind: str
    status: str
    evidence_id: str
    created_at: datetime
    issued_at: datetime | None
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class LetterCase:
    letter: LetterSummary
    timeline: tuple[TimelineRecord, ...]
    messages: tuple[MessageRow, ...]
    codes: tuple[CodeRow, ...]
    proofs: tuple[ProofRow, ...]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _section(details: dict[str, Any], key: str) -> dict[str, Any]:
    value = details.get(key)
    return value if isinstance(value, dict) else {}


def _facts(record: Evidence) -> tuple[tuple[str, str], ...]:
    details = record.details
    notification = _section(details, "notification")
    receipt = _section(details, "receipt")
    facts = [(f"notification.{key}", _text(notification[key])) for key in NOTIFICATION_FACTS if notification.get(key)]
    code_message = _section(details, "message")
    facts += [(f"message.{key}", _text(code_message[key])) for key in CODE_MESSAGE_FACTS if code_message.get(key)]
    facts += [(key, _text(details[key])) for key in DETAIL_FACTS if details.get(key) not in (None, "")]
    facts += [(f"receipt.{key}", _text(receipt[key])) for key in RECEIPT_FACTS if receipt.get(key)]
    return tuple(facts)


def _message_row(message: OutboundMessage, letter: Letter, receipts: Iterable[DeliveryReceipt]) -> MessageRow:
    requested_by = "support" if message.requested_by_agent_id else "sender" if message.requested_by_user_id else None
    return MessageRow(
        id=message.id,
        purpose=message.purpose,
        channel=message.channel,
        recipient=message.recipient,
        status=message.status,
        provider=message.provider,
        provider_message_id=message.provider_message_id,
        attempts=message.attempts,
        last_error=message.last_error,
        created_at=message.created_at,
        sent_at=message.sent_at,
        next_attempt_at=message.next_attempt_at,
        delivery_status=message.delivery_status,
        delivered_at=message.delivered_at,
        reminder_number=message.reminder_number,
        requested_by=requested_by,
        receipts=tuple(ReceiptRow(r.status, r.error_code, r.operator_at, r.received_at) for r in receipts),
        retryable=retryable(message, letter),
    )


def letter_case(session: DbSession, letter: Letter) -> LetterCase:
    records = session.execute(select(Evidence).where(Evidence.letter_id == letter.id).order_by(Evidence.seq)).scalars()
    messages = list(
        session.execute(
            select(OutboundMessage)
            .where(OutboundMessage.letter_id == letter.id)
            .order_by(OutboundMessage.created_at, OutboundMessage.channel)
        ).scalars()
    )
    receipts: dict[str, list[DeliveryReceipt]] = {}
    if messages:
        for receipt in session.execute(
            select(DeliveryReceipt)
            .where(DeliveryReceipt.message_id.in_([m.id for m in messages]))
            .order_by(DeliveryReceipt.received_at)
        ).scalars():
            receipts.setdefault(receipt.message_id, []).append(receipt)
    codes = session.execute(
        select(OneTimeCode.created_at, OneTimeCode.expires_at, OneTimeCode.attempts, OneTimeCode.used_at)
        .where(OneTimeCode.letter_id == letter.id)
        .order_by(OneTimeCode.created_at)
    ).all()
    proofs = session.execute(select(Proof).where(Proof.letter_id == letter.id).order_by(Proof.created_at)).scalars()
    return LetterCase(
        letter=summarise(letter),
        timeline=tuple(TimelineRecord(r.id, r.seq, r.record["event"], r.at, _facts(r)) for r in records),
        messages=tuple(_message_row(m, letter, receipts.get(m.id, ())) for m in messages),
        codes=tuple(CodeRow(*row) for row in codes),
        proofs=tuple(
            ProofRow(p.kind.value, p.status.value, p.evidence_id, p.created_at, p.issued_at, p.attempts, p.last_error)
            for p in proofs
        ),
    )


@dataclass(frozen=True)
class AttentionRow:
    letter: LetterSummary
    reasons: tuple[str, ...]  # "locked", "code_failures", "message_failed", "message_stuck", "undeliverable"
    retry_message_ids: tuple[str, ...]
    resendable: bool


def attention_queue(session: DbSession, clock: Clock) -> list[AttentionRow]:
    """Letters needing a person: each reason is its own indexed query, at most ATTENTION_LIMIT rows each."""
    now = clock.now()
    reasons: dict[str, set[str]] = {}
    retry: dict[str, list[str]] = {}

    def note(reason: str, letter_ids: Iterable[str]) -> None:
        for letter_id in letter_ids:
            reasons.setdefault(letter_id, set()).add(reason)

    # Written NOT IN (the other states) on purpose: a condition the status index cannot serve, so that
    # SQLite, without statistics, walks the small locked_at / code_failures indexes instead of every notified letter.
    closed = (LetterStatus.DEPOSITED, LetterStatus.REFUSED, LetterStatus.NEGLECTED, LetterStatus.UNDELIVERABLE)
    note(
        "locked",
        session.execute(
            select(Letter.id)
            .where(Letter.locked_at >= now - ATTENTION_WINDOW, Letter.status.not_in(closed))
            .order_by(Letter.locked_at.desc())
            .limit(ATTENTION_LIMIT)
        ).scalars(),
    )
    note(
        "code_failures",
        session.execute(
            select(Letter.id)
            .where(
                Letter.code_failures >= REPEATED_CODE_FAILURES,
                Letter.status.not_in((*closed, LetterStatus.ACCEPTED)),
            )
            .order_by(Letter.code_failures.desc())
            .limit(ATTENTION_LIMIT)
        ).scalars(),
    )
    note(
        "undeliverable",
        session.execute(
            select(Letter.id)
            .where(Letter.status == LetterStatus.UNDELIVERABLE, Letter.deposited_at >= now - ATTENTION_WINDOW)
            .order_by(Letter.deposited_at.desc())
            .limit(ATTENTION_LIMIT)
        ).scalars(),
    )
    troubled = session.execute(
        select(OutboundMessage.id, OutboundMessage.letter_id, OutboundMessage.status)
        .join(Letter, Letter.id == OutboundMessage.letter_id)
        .where(
            OutboundMessage.status.in_((MessageStatus.FAILED, MessageStatus.UNCERTAIN, MessageStatus.PENDING)),
            OutboundMessage.created_at >= now - ATTENTION_WINDOW,
            OutboundMessage.purpose != MessagePurpose.CODE,
            # pending: only those retrying after a failure; failed: only while the letter is still open
            (OutboundMessage.status != MessageStatus.PENDING) | OutboundMessage.last_error.is_not(None),
            Letter.status.in_((LetterStatus.DEPOSITED, LetterStatus.NOTIFIED)),
        )
        .order_by(OutboundMessage.created_at.desc())
        .limit(ATTENTION_LIMIT)
    ).all()
    for message_id, letter_id, status in troubled:
        note("message_failed" if status is MessageStatus.FAILED else "message_stuck", [letter_id])
        if status is not MessageStatus.FAILED:
            retry.setdefault(letter_id, []).append(message_id)
    if not reasons:
        return []
    letters = session.execute(
        select(Letter).where(Letter.id.in_(list(reasons))).order_by(Letter.deposited_at.desc())
    ).scalars()
    return [
        AttentionRow(
            letter=summarise(letter),
            reasons=tuple(sorted(reasons[letter.id])),
            retry_message_ids=tuple(retry.get(letter.id, ())),
            resendable=letter.status is LetterStatus.NOTIFIED and letter.locked_at is None,
        )
        for letter in letters
    ]
