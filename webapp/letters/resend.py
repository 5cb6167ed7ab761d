"""Send the notification again (relance), at a sender's or a support agent's request.

A resend is a reminder asked for by hand: a fresh link by SMS, and by email too
for letters on the email channel, handed over by the same job and recorded as
the same `ConsignmentReminder` evidence, with `reason: resend` and the user who
asked.  It has no number in the reminder schedule, so it neither replaces nor
delays the scheduled reminders.

A support agent may resend too, on the channels they choose, always to the number
and address on record: the evidence then says `reason: support` and names the
agent (their written reason goes to the agents' audit log, see `webapp.support`).

Resends are limited per letter, the sender's and the agents' together (the limit
protects the recipient): one per `RESEND_INTERVAL`, `RESEND_DAILY_LIMIT` a day.
The interval is claimed with one conditional UPDATE of `last_resend_at`, so two
requests at the same instant cannot both pass.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update

from webapp.extensions import DbSession
from webapp.letters.errors import AlreadyDecided, LetterError, NotYetNotified, RecipientLocked
from webapp.letters.notifications import is_identified
from webapp.letters.reminders import queue_reminder
from webapp.letters.states import LetterStatus
from webapp.models import Agent, Letter, MessagePurpose, OutboundMessage, User
from webapp.services import Services

RESEND_INTERVAL = timedelta(minutes=10)
RESEND_DAILY_LIMIT = 3
# A resend asked for by someone (a sender or an agent), as opposed to a scheduled reminder.
_ASKED_FOR = or_(OutboundMessage.requested_by_user_id.is_not(None), OutboundMessage.requested_by_agent_id.is_not(None))


class ResendLimited(LetterError):
    """The letter's notification was sent again too recently; retry after `retry_after` seconds."""

    code = "resend_rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)


class AlreadyIdentified(LetterError):
    """The recipient has already identified: they have the letter, a new link would not help."""

    code = "already_identified"


class NothingToResend(LetterError):
    """Every channel of the letter failed for good: there is no address left to send to."""

    code = "no_channel_left"


def _check_resendable(session: DbSession, services: Services, letter: Letter, now: datetime) -> None:
    if letter.status is LetterStatus.DEPOSITED:
        raise NotYetNotified("The first notification has not gone out yet.")
    if letter.status is not LetterStatus.NOTIFIED or (letter.deadline_at is not None and now >= letter.deadline_at):
        raise AlreadyDecided(f"The letter is {letter.status.value}: there is nothing to send again.")
    if letter.locked_at is not None:
        raise RecipientLocked("The letter is locked after too many wrong codes.")
    if is_identified(session, letter):
        raise AlreadyIdentified("The recipient has already identified for this letter.")


def _resends_since(session: DbSession, letter: Letter, since: datetime) -> list[datetime]:
    """When each resend of the letter since `since` was queued, one time per resend whatever its channels.

    A resend queues one message per channel within the same instant, and two resends are at least
    `RESEND_INTERVAL` apart; so messages less than a minute apart are one resend (whichever channels
    the sender or an agent chose each time)."""
    times = session.execute(
        select(OutboundMessage.created_at)
        .where(
            OutboundMessage.letter_id == letter.id,
            OutboundMessage.purpose == MessagePurpose.REMINDER,
            _ASKED_FOR,
            OutboundMessage.created_at > since,
        )
        .order_by(OutboundMessage.created_at)
    ).scalars()
    resends: list[datetime] = []
    for created_at in times:
        if not resends or created_at - resends[-1] >= timedelta(minutes=1):
            resends.append(created_at)
    return resends


def resend_notification(
    session: DbSession,
    services: Services,
    letter: Letter,
    requested_by: User | Agent,
    *,
    channels: Collection[str] | None = None,
) -> list[OutboundMessage]:
    """Queues the notification again with a fresh link; the caller commits, the job sends and records it.

    `channels` ("sms", "email") narrows where it goes; the number and address are always the letter's own.
    """
    now = services.clock.now()
    _check_resendable(session, services, letter, now)
    earlier = _resends_since(session, letter, now - timedelta(days=1))
    if len(earlier) >= RESEND_DAILY_LIMIT:
        wait = earlier[0] + timedelta(days=1) - now
        raise ResendLimited(
            f"The notification was already sent again {RESEND_DAILY_LIMIT} times in 24 hours.",
            math.ceil(wait.total_seconds()),
        )
    result = cast(
        CursorResult[Any],
        session.execute(
            update(Letter)
            .where(
                Letter.id == letter.id,
                Letter.status == LetterStatus.NOTIFIED,
                or_(Letter.last_resend_at.is_(None), Letter.last_resend_at <= now - RESEND_INTERVAL),
            )
            # The version is left alone: a resend does not change the letter's state.
            .values(last_resend_at=now)
            .execution_options(synchronize_session=False)
        ),
    )
    if result.rowcount != 1:
        session.refresh(letter)
        last = letter.last_resend_at or now
        raise ResendLimited(
            f"The notification was sent again less than {RESEND_INTERVAL.seconds // 60} minutes ago.",
            math.ceil((last + RESEND_INTERVAL - now).total_seconds()),
        )
    session.refresh(letter)
    messages = queue_reminder(session, services, letter, None, only=channels)
    if not messages:
        raise NothingToResend("No channel of this letter is left to send to: failed for good, or not chosen.")
    for message in messages:
        if isinstance(requested_by, Agent):
            message.requested_by_agent_id = requested_by.id
        else:
            message.requested_by_user_id = requested_by.id
    return messages
