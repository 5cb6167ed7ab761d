"""The read side: a letter as an actor may see it, read once, rendered by every adapter.

`letter_for` gives a sender (portal user or API token), a support agent or an
identified recipient one `LetterView`: the letter's facts, its timeline parsed
once from the sealed records (`EventFacts`), its notifications with what the
provider and the operator said of them, its proofs, and for agents the code
requests.  The API, the portal, the support console and the dispute bundle all
render that record; none of them queries tables itself.

Who may see which letter is decided here, in `visible_letter`, and nowhere else:
a sender sees their organisation's letters, an agent every letter (never its
content, nor a confidential document's name), a recipient the one letter their
session was bound to when they proved their identity.  The same "not found"
answers anything else, so that a letter's existence is not revealed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select

from webapp.extensions import DbSession
from webapp.letters.errors import LetterNotFound
from webapp.letters.states import FINAL_STATES, LetterStatus
from webapp.models import (
    Agent,
    DeliveryReceipt,
    Evidence,
    Letter,
    MessagePurpose,
    MessageStatus,
    OneTimeCode,
    OutboundMessage,
    Proof,
    ProofKind,
    ProofStatus,
    User,
)
from webapp.trust.evidence import EventFacts

# Letters whose notifications may still be sent (a stuck one retried).
OPEN_STATES = frozenset({LetterStatus.DEPOSITED, LetterStatus.NOTIFIED})


@dataclass(frozen=True)
class SenderActor:
    """A user of the sender's organisation: in the portal, or through an API token."""

    user: User


@dataclass(frozen=True)
class AgentActor:
    """A support agent: every letter's metadata and timeline, never its content."""

    agent: Agent


@dataclass(frozen=True)
class RecipientActor:
    """The recipient, once identified: their session is bound to this one letter."""

    letter_id: str


Actor = SenderActor | AgentActor | RecipientActor


def visible_letter(session: DbSession, actor: Actor, letter_id: str, *, for_update: bool = False) -> Letter:
    """The letter, if `actor` may see it; `LetterNotFound` otherwise (the one rule of who sees what)."""
    if not letter_id or len(letter_id) > 64:
        raise LetterNotFound()
    query = select(Letter).where(Letter.id == letter_id)
    if isinstance(actor, SenderActor):
        query = query.where(Letter.organisation_id == actor.user.organisation_id)
    elif isinstance(actor, RecipientActor) and actor.letter_id != letter_id:
        raise LetterNotFound()
    if for_update:
        query = query.with_for_update()
    letter = session.execute(query).scalar_one_or_none()
    if letter is None:
        raise LetterNotFound()
    return letter


@dataclass(frozen=True)
class ReceiptView:
    status: str
    error_code: str | None
    operator_at: datetime | None
    received_at: datetime


@dataclass(frozen=True)
class MessageView:
    """One SMS or email of the letter, with what the provider and the operator said of it."""

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
    requested_by: str | None  # "sender" or "support" for a notification sent again by hand
    receipts: tuple[ReceiptView, ...]
    retryable: bool  # stuck on a letter still open: support may send it now


def message_retryable(
    purpose: MessagePurpose, status: MessageStatus, last_error: str | None, letter: LetterStatus
) -> bool:
    """A notification or reminder whose sending is stuck, on a letter still open.

    `uncertain`: the worker stopped while handing it over and the provider cannot say whether it left
    (a retry may reach the recipient twice: the agent decides); `pending` with an error: waiting for
    its next attempt after a temporary failure.  `failed` is final: its failure is already evidence.
    """
    if purpose is MessagePurpose.CODE or letter not in OPEN_STATES:
        return False
    if status is MessageStatus.UNCERTAIN:
        return True
    return status is MessageStatus.PENDING and last_error is not None


@dataclass(frozen=True)
class ProofView:
    kind: ProofKind
    status: ProofStatus
    evidence_id: str
    created_at: datetime
    issued_at: datetime | None
    sha256: str | None
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class CodeView:
    """A one-time code request: when, until when, how many tries, used or not; never the code."""

    created_at: datetime
    expires_at: datetime
    attempts: int
    used_at: datetime | None


@dataclass(frozen=True)
class LetterView:
    """A letter as one actor may see it: plain frozen values, nothing that reaches the document."""

    id: str
    reference: str
    sender_reference: str | None
    status: LetterStatus
    channel: str
    language: str
    organisation_id: str
    organisation: str  # the sender organisation's name
    recipient_name: str
    recipient_phone: str
    recipient_email: str | None
    document_name: str | None  # None for an agent when the sender marked the document confidential
    document_size: int
    document_sha256: str
    document_confidential: bool
    deposited_at: datetime
    notified_at: datetime | None
    deadline_at: datetime | None
    decided_at: datetime | None
    locked_at: datetime | None
    code_failures: int
    # The kinds of active content the document holds (an organisation allowed them), comma-separated codes.
    document_active_content: str | None = None
    timeline: tuple[EventFacts, ...] = ()
    messages: tuple[MessageView, ...] = ()  # codes' SMS only for agents
    proofs: tuple[ProofView, ...] = ()
    codes: tuple[CodeView, ...] = ()  # agents only

    def recipient_facts(self) -> dict[str, str | None]:
        return {"name": self.recipient_name, "phone": self.recipient_phone, "email": self.recipient_email}

    def document_facts(self) -> dict[str, str | int | None]:
        return {"name": self.document_name, "size": self.document_size, "sha256": self.document_sha256}

    @property
    def notifications(self) -> tuple[MessageView, ...]:
        """The notifications and reminders (a code's SMS is the recipient's business)."""
        return tuple(m for m in self.messages if m.purpose is not MessagePurpose.CODE)

    @property
    def live(self) -> bool:
        """Still changing: not final yet, or a proof still being produced (pages poll while so)."""
        return self.status not in FINAL_STATES or any(p.status is not ProofStatus.READY for p in self.proofs)


def summary_of(letter: Letter, actor: Actor) -> LetterView:
    """The letter's facts without its timeline, messages or proofs (lists)."""
    hidden = isinstance(actor, AgentActor) and letter.document_confidential
    return LetterView(
        id=letter.id,
        reference=letter.reference,
        sender_reference=letter.sender_reference,
        status=letter.status,
        channel=letter.channel,
        language=letter.language,
        organisation_id=letter.organisation_id,
        organisation=letter.organisation.name,
        recipient_name=letter.recipient_name,
        recipient_phone=letter.recipient_phone,
        recipient_email=letter.recipient_email,
        document_name=None if hidden else letter.document_name,
        document_size=letter.document_size,
        document_sha256=letter.document_sha256,
        document_confidential=letter.document_confidential,
        deposited_at=letter.deposited_at,
        notified_at=letter.notified_at,
        deadline_at=letter.deadline_at,
        decided_at=letter.decided_at,
        locked_at=letter.locked_at,
        code_failures=letter.code_failures,
        document_active_content=letter.document_active_content,
    )


def letter_for(session: DbSession, actor: Actor, letter_id: str) -> LetterView:
    """The whole letter as `actor` may see it; `LetterNotFound` if they may not."""
    letter = visible_letter(session, actor, letter_id)
    return view_of(session, letter, actor)


def view_of(session: DbSession, letter: Letter, actor: Actor) -> LetterView:
    """The whole view of a letter already checked visible to `actor` (see `visible_letter`)."""
    summary = summary_of(letter, actor)
    records = session.execute(select(Evidence).where(Evidence.letter_id == letter.id).order_by(Evidence.seq)).scalars()
    query = select(OutboundMessage).where(OutboundMessage.letter_id == letter.id)
    if not isinstance(actor, AgentActor):
        query = query.where(OutboundMessage.purpose != MessagePurpose.CODE)
    messages = list(session.execute(query.order_by(OutboundMessage.created_at, OutboundMessage.channel)).scalars())
    proofs = session.execute(select(Proof).where(Proof.letter_id == letter.id).order_by(Proof.created_at)).scalars()
    codes: tuple[CodeView, ...] = ()
    if isinstance(actor, AgentActor):
        rows = session.execute(
            select(OneTimeCode.created_at, OneTimeCode.expires_at, OneTimeCode.attempts, OneTimeCode.used_at)
            .where(OneTimeCode.letter_id == letter.id)
            .order_by(OneTimeCode.created_at)
        ).all()
        codes = tuple(CodeView(*row) for row in rows)
    return replace(
        summary,
        timeline=tuple(EventFacts.of(record) for record in records),
        messages=tuple(_message_views(session, messages, letter.status)),
        proofs=tuple(_proof_view(proof) for proof in proofs),
        codes=codes,
    )


def _message_views(
    session: DbSession, messages: list[OutboundMessage], letter_status: LetterStatus
) -> Iterable[MessageView]:
    receipts: dict[str, list[ReceiptView]] = {}
    if messages:
        for receipt in session.execute(
            select(DeliveryReceipt)
            .where(DeliveryReceipt.message_id.in_([m.id for m in messages]))
            .order_by(DeliveryReceipt.received_at)
        ).scalars():
            receipts.setdefault(receipt.message_id, []).append(
                ReceiptView(receipt.status, receipt.error_code, receipt.operator_at, receipt.received_at)
            )
    for message in messages:
        requested_by = (
            "support" if message.requested_by_agent_id else "sender" if message.requested_by_user_id else None
        )
        yield MessageView(
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
            receipts=tuple(receipts.get(message.id, ())),
            retryable=message_retryable(message.purpose, message.status, message.last_error, letter_status),
        )


def _proof_view(proof: Proof) -> ProofView:
    return ProofView(
        kind=proof.kind,
        status=proof.status,
        evidence_id=proof.evidence_id,
        created_at=proof.created_at,
        issued_at=proof.issued_at,
        sha256=proof.sha256,
        attempts=proof.attempts,
        last_error=proof.last_error,
    )
