"""Reminders to recipients who have not identified yet, on the schedule of `REMINDER_DAYS`.

A periodic job looks for notified letters whose next reminder is due, and
claims each reminder with one conditional UPDATE (`reminders_sent` moves from
the value it read to the new one, only if the letter is still notified and
before its deadline).  The database lets one claim win, so several schedulers
or workers running the job at once still send each reminder once; the unique
(letter, channel, reminder number) of outbound messages backs this up.

A reminder carries a new link (the first link's token is not kept), goes by
SMS, and by email too for letters on the email channel, and becomes evidence
(`ConsignmentReminder`) when handed over.  If the scheduler was stopped for a
while, only the latest due reminder goes out: never two at once.  At sending
time the job checks again, so that no reminder leaves after a decision, an
identification or the deadline.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, exists, select, update

from webapp.extensions import DbSession
from webapp.letters.deposit import hash_token, new_link_token
from webapp.letters.notifications import queue_message
from webapp.letters.states import Event, LetterStatus
from webapp.models import AccessLink, Evidence, Letter, MessagePurpose, MessageStatus, OutboundMessage
from webapp.services import Services


@dataclass(frozen=True)
class DueReminder:
    letter_id: str
    seen: int  # reminders already claimed when the letter was read
    number: int  # the reminder to send now


def due_number(schedule: tuple[int, ...], notified_at: datetime, now: datetime) -> int:
    """How many reminders of the schedule are due `now` for a letter notified at `notified_at`."""
    return sum(1 for days in schedule if notified_at + timedelta(days=days) <= now)


def find_due_reminders(session: DbSession, services: Services, *, batch: int = 200) -> list[DueReminder]:
    """Notified letters, not identified, before their deadline, whose next reminder is due."""
    schedule = services.settings.reminder_days
    if not schedule:
        return []
    now = services.clock.now()
    identified = exists().where(Evidence.letter_id == Letter.id, Evidence.event == Event.RECIPIENT_IDENTIFICATION.value)
    rows = session.execute(
        select(Letter.id, Letter.notified_at, Letter.reminders_sent)
        .where(
            Letter.status == LetterStatus.NOTIFIED,
            Letter.deadline_at > now,
            Letter.notified_at <= now - timedelta(days=schedule[0]),
            Letter.reminders_sent < len(schedule),
            Letter.locked_at.is_(None),
            ~identified,
        )
        .order_by(Letter.notified_at)
        .limit(batch)
    ).all()
    due = []
    for letter_id, notified_at, seen in rows:
        number = due_number(schedule, notified_at, now) if notified_at is not None else 0
        if number > seen:
            due.append(DueReminder(letter_id, seen, number))
    return due


def claim_reminder(session: DbSession, services: Services, due: DueReminder) -> Letter | None:
    """Claims reminder `due.number` for its letter in the caller's transaction; None if another
    scheduler claimed a reminder of it first, or the letter was decided or expired meanwhile."""
    now = services.clock.now()
    result = cast(
        CursorResult[Any],
        session.execute(
            update(Letter)
            .where(
                Letter.id == due.letter_id,
                Letter.reminders_sent == due.seen,
                Letter.status == LetterStatus.NOTIFIED,
                Letter.deadline_at > now,
            )
            # The version is left alone: a reminder does not change the letter's state.
            .values(reminders_sent=due.number)
            .execution_options(synchronize_session=False)
        ),
    )
    if result.rowcount != 1:
        return None
    return session.execute(
        select(Letter).where(Letter.id == due.letter_id).execution_options(populate_existing=True)
    ).scalar_one()


def queue_reminder(
    session: DbSession, services: Services, letter: Letter, number: int | None, *, only: Collection[str] | None = None
) -> list[OutboundMessage]:
    """Adds reminder `number` of `letter` (None: one asked for by hand, outside the schedule):
    a fresh link, by SMS and (email channel) by email; `only` narrows the channels (a support agent's choice)."""
    # A channel whose notification failed for good (address refused, number dead) is not tried again.
    dead = set(
        session.execute(
            select(OutboundMessage.channel).where(
                OutboundMessage.letter_id == letter.id,
                OutboundMessage.purpose == MessagePurpose.NOTIFICATION,
                OutboundMessage.status == MessageStatus.FAILED,
            )
        ).scalars()
    )
    channels = [c for c in (("email", "sms") if letter.channel == "email" else ("sms",)) if c not in dead]
    if only is not None:
        channels = [c for c in channels if c in only]
    if not channels:
        return []
    token = new_link_token()
    session.add(AccessLink(letter_id=letter.id, token_hash=hash_token(token), created_at=services.clock.now()))
    return [
        queue_message(
            session, services, letter, MessagePurpose.REMINDER, secret=token, channel=channel, reminder_number=number
        )
        for channel in channels
    ]


def queue_due_reminders(session: DbSession, services: Services, *, batch: int = 200) -> int:
    """Queues every reminder due now, each in its own transaction; returns how many it claimed."""
    due = find_due_reminders(session, services, batch=batch)
    session.rollback()  # end the read: each claim is its own short transaction
    queued = 0
    for reminder in due:
        letter = claim_reminder(session, services, reminder)
        if letter is None:
            session.rollback()
            continue
        queue_reminder(session, services, letter, reminder.number)
        session.commit()
        queued += 1
    return queued
