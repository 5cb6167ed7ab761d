"""What an agent may do to a letter, each with a written reason, each recorded as evidence and in the audit log.

Resend the notification (to the number and address on record), unlock a recipient locked out by wrong
codes, retry a message whose sending is stuck.  Nothing here reads a document or a key.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta

from webapp.extensions import DbSession
from webapp.letters import lifecycle
from webapp.letters.errors import LetterError
from webapp.letters.notifications import message_job_id, send_message_job
from webapp.letters.read import message_retryable
from webapp.letters.resend import resend_notification
from webapp.letters.retention import lift_hold, place_hold
from webapp.letters.states import Event, LetterStatus
from webapp.models import Agent, Letter, MessageStatus, OutboundMessage
from webapp.queue import Priority, enqueue_after_commit
from webapp.services import Services
from webapp.support.agents import AgentError
from webapp.support.audit import AuditAction, record_action
from webapp.trust.evidence import isoformat_utc

MIN_REASON_LENGTH = 10
MAX_REASON_LENGTH = 500
CHANNELS = frozenset({"sms", "email"})


class ReasonRequired(AgentError):
    """Every agent action needs a written reason of at least MIN_REASON_LENGTH characters."""


class NoChannelChosen(AgentError):
    """A resend needs at least one channel: SMS, email, or both."""


class NotLocked(LetterError):
    """The recipient is not locked out: there is nothing to unlock."""

    code = "not_locked"


class MessageNotFound(LetterError):
    """No such message on this letter."""

    code = "not_found"


class NotRetryable(LetterError):
    """The message cannot be retried: sent, failed for good, cancelled, or its letter is closed."""

    code = "not_retryable"


def checked_reason(reason: str) -> str:
    reason = " ".join(reason.split())
    if len(reason) < MIN_REASON_LENGTH:
        raise ReasonRequired(f"a reason of at least {MIN_REASON_LENGTH} characters is required")
    return reason[:MAX_REASON_LENGTH]


def resend_for_agent(
    session: DbSession, services: Services, agent: Agent, letter: Letter, *, channels: Collection[str], reason: str
) -> list[OutboundMessage]:
    """The notification again, on the chosen channels, to the number/address on record; limited like a
    sender's resend (`RESEND_INTERVAL`, `RESEND_DAILY_LIMIT`).  The caller commits."""
    reason = checked_reason(reason)
    chosen = sorted(CHANNELS & set(channels))
    if not chosen:
        raise NoChannelChosen("choose SMS, email or both")
    messages = resend_notification(session, services, letter, agent, channels=chosen)
    record_action(
        session,
        services.clock,
        agent,
        AuditAction.RESEND,
        letter_id=letter.id,
        reason=reason,
        details={"channels": [m.channel for m in messages], "message_ids": [m.id for m in messages]},
    )
    return messages


def unlock_recipient(session: DbSession, services: Services, agent: Agent, letter: Letter, *, reason: str) -> None:
    """Lifts the lock that too many wrong codes put on the letter, and clears its failure counter.

    Recorded as `RecipientUnlock` evidence (naming the agent, not their words: evidence is kept for ten
    years and shown to the sender; the reason goes to the audit log).  The caller commits.
    """
    reason = checked_reason(reason)
    if letter.locked_at is None:
        raise NotLocked("the recipient is not locked out")
    if letter.status not in {LetterStatus.NOTIFIED, LetterStatus.ACCEPTED}:
        raise NotLocked(f"the letter is {letter.status.value}: unlocking would not let anyone in")
    now = services.clock.now()
    facts = {
        "unlocked_by_agent": agent.id,
        "locked_at": isoformat_utc(letter.locked_at),
        "failures": letter.code_failures,
    }
    letter.locked_at = None
    letter.code_failures = 0
    lifecycle.record(session, letter, Event.RECIPIENT_UNLOCK, at=now, issuer=services.issuer, details=facts)
    record_action(session, services.clock, agent, AuditAction.UNLOCK, letter_id=letter.id, reason=reason, details=facts)


def retryable(message: OutboundMessage, letter: Letter) -> bool:
    """A notification or reminder whose sending is stuck, on a letter still open (`letters.read`)."""
    return message_retryable(message.purpose, message.status, message.last_error, letter.status)


def retry_message(
    session: DbSession, services: Services, agent: Agent, letter: Letter, message_id: str, *, reason: str
) -> None:
    """Sends a stuck message now, through the usual job (which checks again that it is still needed)."""
    reason = checked_reason(reason)
    message = session.get(OutboundMessage, message_id) if len(message_id) <= 36 else None
    if message is None or message.letter_id != letter.id:
        raise MessageNotFound()
    if not retryable(message, letter):
        raise NotRetryable("this message cannot be retried")
    previous = message.status
    message.status = MessageStatus.PENDING
    message.next_attempt_at = services.clock.now() - timedelta(seconds=1)
    enqueue_after_commit(
        session, send_message_job, message.id, job_id=message_job_id(message.id), priority=Priority.URGENT
    )
    record_action(
        session,
        services.clock,
        agent,
        AuditAction.RETRY,
        letter_id=letter.id,
        reason=reason,
        details={"message_id": message.id, "channel": message.channel, "previous_status": previous.value},
    )


def change_hold_as_agent(
    session: DbSession, services: Services, agent: Agent, letter: Letter, *, place: bool, reason: str
) -> None:
    """Our operator places (or lifts) a legal hold on a letter's document: evidence of the letter names the
    agent, the audit log keeps the reason.  The caller commits."""
    reason = checked_reason(reason)
    change = place_hold if place else lift_hold
    hold = change(session, services, letter, by=f"agent:{agent.id}", reason=reason)
    action = AuditAction.PLACE_LEGAL_HOLD if place else AuditAction.LIFT_LEGAL_HOLD
    record_action(
        session, services.clock, agent, action, letter_id=letter.id, reason=reason, details={"hold_id": hold.id}
    )


def change_hold_by_reference(
    session: DbSession, services: Services, agent_email: str, letter_ref: str, *, place: bool, reason: str
) -> Letter:
    """`flask letters hold/unhold`: an agent, named by email, acts on a letter named by id or reference."""
    from sqlalchemy import or_, select

    from webapp.support.agents import agent_by_email

    agent = agent_by_email(session, agent_email)
    if agent is None or not agent.is_active:
        raise AgentError(f"no active agent {agent_email}")
    letter = session.execute(
        select(Letter).where(or_(Letter.id == letter_ref, Letter.reference == letter_ref.upper())).with_for_update()
    ).scalar_one_or_none()
    if letter is None:
        raise LetterError(f"no letter {letter_ref}")
    change_hold_as_agent(session, services, agent, letter, place=place, reason=reason)
    session.commit()
    return letter
