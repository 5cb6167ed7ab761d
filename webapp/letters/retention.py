"""How long a letter's document is kept, legal holds, and the deletion at the end of the period.

A letter's document is kept `DOCUMENT_RETENTION_YEARS` (default 10) after the letter reached its final
state (`Letter.final_at`); then the scheduler's job deletes it: the object in the store and its row go,
the letter keeps its evidence records and its proofs (the proofs name the document's SHA-256), and the
deletion itself is recorded as `DocumentDeletion` evidence.  While a legal hold is active (placed by an
operator's agent or by the sender's admin, with a reason; lifted the same way) the document is not
deleted, whatever its date.  Each placement and lifting is recorded as evidence of the letter (naming
who, not their words) and the hold keeps the reasons; an agent's action also goes to the audit log
(`support.actions`).
"""

from __future__ import annotations

import logging

from sqlalchemy import exists, select

from webapp.extensions import DbSession
from webapp.letters import lifecycle
from webapp.letters.errors import HoldForbidden, HoldRefused
from webapp.letters.read import SenderActor, visible_letter
from webapp.letters.states import FINAL_STATES, Event
from webapp.models import LegalHold, Letter, StoredDocument, User
from webapp.services import Services
from webapp.trust.evidence import isoformat_utc
from webapp.trust.proofs import add_years

log = logging.getLogger(__name__)

MIN_REASON = 5
MAX_REASON = 500


def _reason(reason: str) -> str:
    reason = " ".join((reason or "").split())
    if len(reason) < MIN_REASON:
        raise HoldRefused(f"a reason of at least {MIN_REASON} characters is required")
    return reason[:MAX_REASON]


def _active(session: DbSession, letter_id: str) -> LegalHold | None:
    return session.execute(
        select(LegalHold).where(LegalHold.letter_id == letter_id, LegalHold.lifted_at.is_(None)).with_for_update()
    ).scalar_one_or_none()


def place_hold(session: DbSession, services: Services, letter: Letter, *, by: str, reason: str) -> LegalHold:
    """Places a legal hold on the letter's document (`by`: "agent:<id>" or "user:<id>").  The caller
    has checked the actor's right and commits."""
    reason = _reason(reason)
    if letter.document_deleted_at is not None:
        raise HoldRefused("the document was already deleted at the end of its retention period")
    if _active(session, letter.id) is not None:
        raise HoldRefused("the letter is already under a legal hold")
    now = services.clock.now()
    hold = LegalHold(letter_id=letter.id, reason=reason, placed_at=now, placed_by=by)
    session.add(hold)
    session.flush()
    lifecycle.record(
        session,
        letter,
        Event.LEGAL_HOLD_PLACED,
        at=now,
        issuer=services.issuer,
        details={"hold_id": hold.id, "placed_by": by},
    )
    return hold


def lift_hold(session: DbSession, services: Services, letter: Letter, *, by: str, reason: str) -> LegalHold:
    """Lifts the letter's active hold; the document is then deleted once its retention date has passed."""
    reason = _reason(reason)
    hold = _active(session, letter.id)
    if hold is None:
        raise HoldRefused("the letter is not under a legal hold")
    now = services.clock.now()
    hold.lifted_at, hold.lifted_by, hold.lift_reason = now, by, reason
    lifecycle.record(
        session,
        letter,
        Event.LEGAL_HOLD_LIFTED,
        at=now,
        issuer=services.issuer,
        details={"hold_id": hold.id, "lifted_by": by, "placed_at": isoformat_utc(hold.placed_at)},
    )
    return hold


def delete_expired_documents(session: DbSession, services: Services, *, batch: int = 100, most: int = 20_000) -> int:
    """Deletes the documents whose retention period has ended, one letter per transaction, `batch` letters
    found at a time and at most `most` a run (the hourly job catches up on a backlog); returns how many.

    The row and the evidence go in one commit, then the object is deleted (the orphan sweep deletes it
    if that fails).  A letter under a legal hold is skipped; its hold is checked again under the lock.
    """
    deleted = 0
    while deleted < most:
        done = _delete_expired_batch(session, services, batch=min(batch, most - deleted))
        if done == 0:
            break
        deleted += done
    return deleted


def _delete_expired_batch(session: DbSession, services: Services, *, batch: int) -> int:
    now = services.clock.now()
    years = services.settings.document_retention_years
    cutoff = add_years(now, -years)
    held = exists().where(LegalHold.letter_id == Letter.id, LegalHold.lifted_at.is_(None))
    due = list(
        session.execute(
            select(Letter.id)
            .where(
                Letter.status.in_(FINAL_STATES),
                Letter.final_at <= cutoff,
                Letter.document_deleted_at.is_(None),
                ~held,
            )
            .order_by(Letter.final_at)
            .limit(batch)
        ).scalars()
    )
    session.commit()
    deleted = 0
    for letter_id in due:
        letter = session.execute(select(Letter).where(Letter.id == letter_id).with_for_update()).scalar_one()
        if letter.document_deleted_at is not None or _active(session, letter_id) is not None:
            session.commit()
            continue
        document = session.get(StoredDocument, letter_id)
        key = document.object_key if document is not None else None
        if document is not None:
            session.delete(document)
        letter.document_deleted_at = now
        lifecycle.record(
            session,
            letter,
            Event.DOCUMENT_DELETION,
            at=now,
            issuer=services.issuer,
            details={
                "reason": "retention_period_ended",
                "retention_years": years,
                "final_at": isoformat_utc(letter.final_at) if letter.final_at else None,
                "document": {"sha256": letter.document_sha256, "size": letter.document_size},
            },
        )
        session.commit()
        services.objects.discard([key])
        deleted += 1
        log.info("letter %s: document deleted at the end of its retention period", letter_id)
    return deleted


def change_hold_as_sender(
    session: DbSession, services: Services, user: User, letter_id: str, *, place: bool, reason: str
) -> LegalHold:
    """The sender's admin places (or lifts) a hold on one of the organisation's letters.  Commits."""
    letter = visible_letter(session, SenderActor(user), letter_id, for_update=True)
    if not user.is_admin:
        raise HoldForbidden()
    change = place_hold if place else lift_hold
    hold = change(session, services, letter, by=f"user:{user.id}", reason=reason)
    session.commit()
    return hold
