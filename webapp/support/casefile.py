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
from webapp.letters.read import AgentActor, CodeView, LetterView, MessageView, ProofView, letter_for, summary_of
from webapp.letters.states import LetterStatus
from webapp.models import Agent, Letter, MessagePurpose, MessageStatus, OutboundMessage
from webapp.trust.evidence import EventFacts

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
class TimelineRecord:
    evidence_id: str
    seq: int
    event: str
    at: datetime
    facts: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class LetterCase:
    """The letter as an agent sees it (`letters.read`), its timeline as the facts agents may read."""

    letter: LetterView
    timeline: tuple[TimelineRecord, ...]

    @property
    def messages(self) -> tuple[MessageView, ...]:
        return self.letter.messages

    @property
    def codes(self) -> tuple[CodeView, ...]:
        return self.letter.codes

    @property
    def proofs(self) -> tuple[ProofView, ...]:
        return self.letter.proofs


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _facts(event: EventFacts) -> tuple[tuple[str, str], ...]:
    details = event.details
    notification = event.notification
    receipt = event.section("receipt")
    facts = [(f"notification.{key}", _text(notification[key])) for key in NOTIFICATION_FACTS if notification.get(key)]
    code_message = event.section("message")
    facts += [(f"message.{key}", _text(code_message[key])) for key in CODE_MESSAGE_FACTS if code_message.get(key)]
    facts += [(key, _text(details[key])) for key in DETAIL_FACTS if details.get(key) not in (None, "")]
    facts += [(f"receipt.{key}", _text(receipt[key])) for key in RECEIPT_FACTS if receipt.get(key)]
    return tuple(facts)


def letter_case(session: DbSession, agent: Agent, letter_id: str) -> LetterCase:
    """The case file of a letter; `LetterNotFound` when there is no such letter."""
    view = letter_for(session, AgentActor(agent), letter_id)
    timeline = tuple(TimelineRecord(e.evidence_id, e.seq, e.event, e.at, _facts(e)) for e in view.timeline)
    return LetterCase(letter=view, timeline=timeline)


@dataclass(frozen=True)
class AttentionRow:
    letter: LetterView
    reasons: tuple[str, ...]  # "locked", "code_failures", "message_failed", "message_stuck", "undeliverable"
    retry_message_ids: tuple[str, ...]
    resendable: bool


def attention_queue(session: DbSession, clock: Clock, agent: Agent) -> list[AttentionRow]:
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
            letter=summary_of(letter, AgentActor(agent)),
            reasons=tuple(sorted(reasons[letter.id])),
            retry_message_ids=tuple(retry.get(letter.id, ())),
            resendable=letter.status is LetterStatus.NOTIFIED and letter.locked_at is None,
        )
        for letter in letters
    ]
