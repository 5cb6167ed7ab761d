"""What the recipient does: open the link, get a code, prove who they are, decide, download.

A GET never calls anything here that writes: link-preview robots fetch SMS
links, and opening a link must not count as anything.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, exists, select
from sqlalchemy.exc import SQLAlchemyError

from webapp import otp
from webapp.extensions import SINGLE_READ, DbSession
from webapp.letters import lifecycle
from webapp.letters.deposit import REFERENCE_ALPHABET, REFERENCE_LENGTH, hash_token
from webapp.letters.eid import method_of
from webapp.letters.errors import (
    AlreadyDecided,
    ContentNotAvailable,
    IllegalTransition,
    LinkExpired,
    LinkNotFound,
    NotYetNotified,
    RecipientLocked,
    TooManyCodes,
)
from webapp.letters.identification import IDENTIFICATION_METHOD, ClientInfo
from webapp.letters.notifications import queue_message
from webapp.letters.proofs import request_proof
from webapp.letters.states import Event, LetterStatus
from webapp.models import (
    AccessLink,
    Evidence,
    Letter,
    MessagePurpose,
    MessageStatus,
    OneTimeCode,
    OutboundMessage,
    Proof,
    ProofKind,
    ProofStatus,
    StoredDocument,
)
from webapp.services import Services
from webapp.trust.evidence import isoformat_utc


@dataclass(frozen=True)
class ReferenceCheck:
    """What the public reference check may say about a letter: that we notified it, and when.
    Nothing about the sender, the recipient, the document or the answer."""

    reference: str
    notified_at: datetime
    deadline_at: datetime | None


def normalise_reference(raw: str) -> str | None:
    """`abcd efgh`, `ABCD-EFGH`, ` abcd–efgh ` → `ABCD-EFGH`; None if it cannot be one of ours."""
    compact = "".join(ch for ch in raw.upper() if ch.isalnum())
    if len(compact) != REFERENCE_LENGTH or any(ch not in REFERENCE_ALPHABET for ch in compact):
        return None
    return f"{compact[:4]}-{compact[4:]}"


def check_reference(session: DbSession, raw: str) -> ReferenceCheck | None:
    """The answer to "is this SMS really from you?": only letters whose notification went out."""
    reference = normalise_reference(raw)
    if reference is None:
        return None
    row = session.execute(
        select(Letter.reference, Letter.notified_at, Letter.deadline_at).where(
            Letter.reference == reference, Letter.notified_at.is_not(None)
        )
    ).first()
    if row is None or row.notified_at is None:
        return None
    return ReferenceCheck(reference=row.reference, notified_at=row.notified_at, deadline_at=row.deadline_at)


def find_letter_by_token(session: DbSession, token: str, *, for_update: bool = False) -> Letter:
    """The letter a recipient link points to; `for_update` locks it for a decision."""
    if not token or len(token) > 64:
        raise LinkNotFound()
    query = (
        select(Letter)
        .join(AccessLink, AccessLink.letter_id == Letter.id)
        .where(AccessLink.token_hash == hash_token(token))
    )
    if for_update:
        query = query.with_for_update(of=Letter)
    letter = session.execute(query).scalar_one_or_none()
    if letter is None:
        raise LinkNotFound()
    return letter


@dataclass(frozen=True)
class LinkState:
    """What a recipient page depends on, read without the ORM: the letter's version (bumped by
    every change to its row) and whether its deadline has passed (which changes with time alone)."""

    letter_id: str
    version: int
    deadline_passed: bool


_LINK_STATE = (
    select(Letter.id, Letter.version, Letter.deadline_at)
    .join(AccessLink, AccessLink.letter_id == Letter.id)
    .where(AccessLink.token_hash == bindparam("token_hash"))
)


def link_state_reader(engine: Engine) -> Callable[[str, datetime], LinkState | None]:
    """Reads the state of the letter a link points to, in one indexed query on a connection of its
    own, outside any session (the landing page's fast path).  None when no letter has that link,
    or when the database cannot answer: then the caller lets the full request path answer."""

    def read(token: str, now: datetime) -> LinkState | None:
        if not token or len(token) > 64:
            return None
        try:
            with engine.connect() as connection:
                connection.execution_options(**{SINGLE_READ: True})
                row = connection.execute(_LINK_STATE, {"token_hash": hash_token(token)}).first()
        except SQLAlchemyError:
            return None
        if row is None:
            return None
        passed = row.deadline_at is not None and now >= row.deadline_at
        return LinkState(row.id, row.version, passed)

    return read


def ensure_open_for_decision(letter: Letter, services: Services) -> None:
    """Raises unless the recipient may still identify and decide.

    Wrong codes never lock a letter (see `verify_code`): `locked_at` is set only when a
    national digital identity other than the expected one was proven too often (issue 19),
    or was by the old rule of ten wrong codes."""
    if letter.status in {LetterStatus.ACCEPTED, LetterStatus.REFUSED}:
        raise AlreadyDecided()
    if letter.status in {LetterStatus.NEGLECTED, LetterStatus.UNDELIVERABLE}:
        raise LinkExpired()
    if letter.status is LetterStatus.DEPOSITED:
        raise NotYetNotified()
    if letter.deadline_at is not None and services.clock.now() >= letter.deadline_at:
        raise LinkExpired()
    if letter.locked_at is not None:
        raise RecipientLocked()


def ensure_can_identify(letter: Letter, services: Services) -> None:
    """Raises unless the recipient may ask for and check a code: to decide, or to download
    an accepted letter again later."""
    if letter.status is LetterStatus.ACCEPTED:
        if letter.locked_at is not None:
            raise RecipientLocked()
        return
    ensure_open_for_decision(letter, services)


def _codes_in_window(session: DbSession, letter: Letter, services: Services) -> list[datetime]:
    since = services.clock.now() - timedelta(seconds=services.settings.code_window)
    return list(
        session.execute(
            select(OneTimeCode.created_at)
            .where(OneTimeCode.letter_id == letter.id, OneTimeCode.created_at > since)
            .order_by(OneTimeCode.created_at)
        )
        .scalars()
        .all()
    )


def request_code(session: DbSession, services: Services, letter: Letter) -> OneTimeCode:
    """Issues a new code and queues its SMS to the letter's number (never another).

    At most `codes_per_window` codes per `code_window` for a letter, whoever asks: the
    recipient's phone is not to be flooded.  Over it, `TooManyCodes` says when the next
    code can be asked (`retry_at`)."""
    ensure_can_identify(letter, services)
    settings = services.settings
    recent = _codes_in_window(session, letter, services)
    if len(recent) >= settings.codes_per_window:
        oldest = recent[-settings.codes_per_window]
        raise TooManyCodes(retry_at=oldest + timedelta(seconds=settings.code_window))
    now = services.clock.now()
    code = otp.new_code()
    entry = OneTimeCode(
        letter_id=letter.id,
        code_hash="",
        created_at=now,
        expires_at=now + timedelta(seconds=settings.code_ttl),
        attempts=0,
    )
    session.add(entry)
    session.flush()
    entry.code_hash = otp.hash_code(code, pepper=settings.secret_key, salt=entry.id)
    message = queue_message(session, services, letter, MessagePurpose.CODE, secret=code)
    entry.message_id = message.id
    return entry


class CheckOutcome(enum.StrEnum):
    """What checking a typed code came to; evidence records name it too (`outcome`)."""

    IDENTIFIED = "identified"
    WRONG = "wrong"  # wrong, counted against the live code(s), which still have tries left
    DEAD = "dead"  # wrong, and the code has no try left: a new code is needed
    EXPIRED = "expired"  # no live code: the last one expired (nothing counted)
    USED = "used"  # no live code: the last one was already used (nothing counted)
    NO_CODE = "no_code"  # no code was sent yet (nothing counted)
    MALFORMED = "malformed"  # not six digits: it cannot be a code (nothing counted)
    WAITING = "waiting"  # typed during a wait, not checked (nothing counted)


# An SMS counts as sent once the operator took it (or may have: a worker died mid-submission).
SENT_STATUSES = (MessageStatus.SENT, MessageStatus.UNCERTAIN)


@dataclass(frozen=True)
class CodeCheck:
    """The answer to a typed code.  `checked` are the codes it was compared with (the web layer
    remembers them, so that a fresh code's one check during a wait is taken once)."""

    outcome: CheckOutcome
    tries_left: int = 0
    wait_until: datetime | None = None
    checked: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome is CheckOutcome.IDENTIFIED


def waiting_until(letter: Letter, services: Services) -> datetime | None:
    """The end of the current wait after wrong codes, or None when a code may be typed now."""
    until = letter.code_wait_until
    return until if until is not None and services.clock.now() < until else None


def verify_code(
    session: DbSession,
    services: Services,
    letter: Letter,
    raw_code: str,
    *,
    client: ClientInfo,
    asked_here: Collection[str] = (),
    tried_here: Collection[str] = (),
) -> CodeCheck:
    """Checks a typed code, throttled as NIST SP 800-63B-4 §3.2.2 asks, never by a lock.

    - A wrong code counts only against codes whose SMS went out (and each code takes at
      most `code_max_attempts` tries): with no such code, nothing is counted, and the
      answer says why (none sent, expired, used).  A link alone cannot wear anything out.
    - After `code_free_failures` wrong codes in a row, each wrong code makes the next check
      wait, longer each time (`otp.wait_after`); a right code ends the run.
    - During a wait only a fresh code is checked: one asked from this browser (`asked_here`,
      the code ids its session holds) and not yet tried from it (`tried_here`).  A new code
      SMS therefore always gets the recipient back in: whoever else types codes can neither
      check it nor make it wait.
    - Every outcome is recorded as evidence, with the client that typed it.

    The deadline never moves.  A failure is returned, not raised, so that the caller commits it.
    """
    ensure_can_identify(letter, services)
    settings = services.settings
    now = services.clock.now()
    code = otp.normalise_code(raw_code)
    live = (
        session.execute(
            select(OneTimeCode)
            .where(
                OneTimeCode.letter_id == letter.id,
                OneTimeCode.used_at.is_(None),
                OneTimeCode.expires_at > now,
                OneTimeCode.attempts < settings.code_max_attempts,
            )
            .order_by(OneTimeCode.created_at.desc())
            .with_for_update()
        )
        .scalars()
        .all()
    )
    wait = waiting_until(letter, services)
    candidates = list(live)
    if wait is not None:
        candidates = [entry for entry in live if entry.id in asked_here and entry.id not in tried_here]
        if not candidates:
            return _failure(session, services, letter, CheckOutcome.WAITING, client, wait_until=wait)
    if code is None:
        return _failure(session, services, letter, CheckOutcome.MALFORMED, client, wait_until=wait)
    checked = tuple(entry.id for entry in candidates)
    for entry in candidates:
        if otp.code_matches(code, entry.code_hash, pepper=settings.secret_key, salt=entry.id):
            entry.used_at = now
            after = letter.code_failures
            letter.code_failures = 0
            letter.code_wait_until = None
            lifecycle.record(
                session,
                letter,
                Event.RECIPIENT_IDENTIFICATION,
                at=now,
                issuer=services.issuer,
                details={
                    "method": IDENTIFICATION_METHOD,
                    "phone": letter.recipient_phone,
                    # The SMS that carried the code: its RecipientCodeSent record names it too.
                    "code_message_id": entry.message_id,
                    "code_requested_at": isoformat_utc(entry.created_at),
                    # A recovery: the wrong codes before this one, and whether a wait was on.
                    "failures_before": after,
                    "during_wait": wait is not None,
                    "client": client.facts(),
                },
            )
            return CodeCheck(CheckOutcome.IDENTIFIED, checked=checked)
    sent = _sent(session, candidates)
    if not sent:
        return _failure(session, services, letter, _why_no_code(session, letter, now), client, wait_until=wait)
    for entry in sent:
        entry.attempts += 1
    letter.code_failures += 1
    pause = otp.wait_after(
        letter.code_failures,
        free=settings.code_free_failures,
        base=settings.code_wait_base,
        cap=settings.code_wait_max,
    )
    letter.code_wait_until = now + timedelta(seconds=pause) if pause else None
    tries_left = max(settings.code_max_attempts - entry.attempts for entry in sent)
    outcome = CheckOutcome.WRONG if tries_left > 0 else CheckOutcome.DEAD
    return _failure(
        session,
        services,
        letter,
        outcome,
        client,
        wait_until=letter.code_wait_until,
        counted={"failures": letter.code_failures, "tries_left": tries_left, "wait_seconds": pause},
        tries_left=tries_left,
        checked=checked,
    )


def _sent(session: DbSession, codes: list[OneTimeCode]) -> list[OneTimeCode]:
    """The codes among `codes` whose SMS went out: only those can be worn out by wrong codes."""
    message_ids = [entry.message_id for entry in codes if entry.message_id]
    if not message_ids:
        return []
    went_out = set(
        session.execute(
            select(OutboundMessage.id).where(
                OutboundMessage.id.in_(message_ids), OutboundMessage.status.in_(SENT_STATUSES)
            )
        )
        .scalars()
        .all()
    )
    return [entry for entry in codes if entry.message_id in went_out]


def _why_no_code(session: DbSession, letter: Letter, now: datetime) -> CheckOutcome:
    """Why no sent code is there to check: the last one was used, expired or worn out, or none went out."""
    last = session.execute(
        select(OneTimeCode)
        .join(OutboundMessage, OutboundMessage.id == OneTimeCode.message_id)
        .where(OneTimeCode.letter_id == letter.id, OutboundMessage.status.in_(SENT_STATUSES))
        .order_by(OneTimeCode.created_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    if last is None:
        return CheckOutcome.NO_CODE
    if last.used_at is not None:
        return CheckOutcome.USED
    if last.expires_at <= now:
        return CheckOutcome.EXPIRED
    return CheckOutcome.DEAD


def _failure(
    session: DbSession,
    services: Services,
    letter: Letter,
    outcome: CheckOutcome,
    client: ClientInfo,
    *,
    wait_until: datetime | None,
    counted: dict[str, int] | None = None,
    tries_left: int = 0,
    checked: tuple[str, ...] = (),
) -> CodeCheck:
    """Records a failed identification (counted against a code or not) and returns its answer."""
    now = services.clock.now()
    details: dict[str, Any] = {
        "method": IDENTIFICATION_METHOD,
        "outcome": outcome.value,
        "counted": counted is not None,
        "failures": letter.code_failures,
        "wait_until": isoformat_utc(wait_until) if wait_until is not None else None,
        "client": client.facts(),
    }
    if counted is not None:
        details.update(counted)
    lifecycle.record(
        session, letter, Event.RECIPIENT_IDENTIFICATION_FAILURE, at=now, issuer=services.issuer, details=details
    )
    return CodeCheck(outcome, tries_left=tries_left, wait_until=wait_until, checked=checked)


def decide(
    session: DbSession,
    services: Services,
    letter: Letter,
    decision: str,
    *,
    client: ClientInfo,
    reason: str | None = None,
) -> None:
    """Accepts or refuses the letter; the caller has checked the recipient's identification."""
    ensure_open_for_decision(letter, services)
    now = services.clock.now()
    # Issue 19: the identification this letter required (`sms-otp`, `eid` or `sms-otp+eid`).
    details: dict[str, Any] = {"identification": method_of(session, letter).value, "client": client.facts()}
    if decision == "accept":
        target = LetterStatus.ACCEPTED
    elif decision == "refuse":
        target = LetterStatus.REFUSED
        if reason:
            details["reason"] = reason[:500]
    else:
        raise ValueError(f"unknown decision {decision!r}")
    lifecycle.transition(session, letter, target, at=now, issuer=services.issuer, details=details)


def hand_over_document(session: DbSession, services: Services, letter: Letter, *, client: ClientInfo) -> bytes:
    """The document's exact bytes, for an accepted letter only; records ContentHandover.

    The sender must be able to prove that the recipient opened the document.  The
    first download shows in the proof of reception when that proof is still to be
    issued; once it is issued, the first download asks for a proof of handover
    instead.  The reception proof's row is locked first, as its job locks it, so
    that a download and the issuing of that proof never miss each other.
    """
    if letter.status is not LetterStatus.ACCEPTED:
        raise ContentNotAvailable()
    reception = session.execute(
        select(Proof)
        .where(Proof.letter_id == letter.id, Proof.kind == ProofKind.RECEPTION)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    first = not session.execute(
        select(exists().where(Evidence.letter_id == letter.id, Evidence.event == Event.CONTENT_HANDOVER.value))
    ).scalar()
    stored = session.get(StoredDocument, letter.id)
    if stored is None:  # deleted at the end of its retention period
        raise ContentNotAvailable()
    data = services.objects.read(stored, context=f"document:{letter.id}")
    now = services.clock.now()
    evidence = lifecycle.record(
        session,
        letter,
        Event.CONTENT_HANDOVER,
        at=now,
        issuer=services.issuer,
        details={"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "client": client.facts()},
    )
    if first and (reception is None or reception.status is ProofStatus.READY):
        request_proof(session, letter, ProofKind.HANDOVER, evidence, now)
    return data


def expire_overdue_letters(session: DbSession, services: Services, *, batch: int = 200) -> int:
    """Marks notified letters past their deadline as neglected; each exactly once."""
    now = services.clock.now()
    overdue = (
        session.execute(
            select(Letter.id)
            .where(Letter.status == LetterStatus.NOTIFIED, Letter.deadline_at <= now)
            .order_by(Letter.deadline_at)
            .limit(batch)
        )
        .scalars()
        .all()
    )
    expired = 0
    for letter_id in overdue:
        letter = session.execute(select(Letter).where(Letter.id == letter_id).with_for_update()).scalar_one()
        if letter.status is not LetterStatus.NOTIFIED:
            session.rollback()
            continue
        if letter.deadline_at is None:  # notified letters always have one
            raise IllegalTransition(f"letter {letter.id} is notified without a deadline")
        lifecycle.transition(
            session,
            letter,
            LetterStatus.NEGLECTED,
            at=letter.deadline_at,
            issuer=services.issuer,
            details={"deadline": isoformat_utc(letter.deadline_at), "noted_at": isoformat_utc(now)},
        )
        session.commit()
        expired += 1
    return expired
