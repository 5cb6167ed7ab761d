"""The letter state machine: one table of moves, one gatekeeper, evidence in the same transaction."""

from __future__ import annotations

import itertools
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from tests.conftest import Sender, make_pdf_bytes
from webapp.clock import FrozenClock
from webapp.extensions import db
from webapp.letters import lifecycle
from webapp.letters.deposit import DepositRequest, deposit_letter
from webapp.letters.errors import IllegalTransition
from webapp.letters.states import FINAL_STATES, TRANSITIONS, Event, LetterStatus, allowed_targets
from webapp.models import ChainHead, Evidence, Letter, Proof, User
from webapp.services import current_services
from webapp.trust.evidence import check_chain

S = LetterStatus
ALL_PAIRS = list(itertools.product(LetterStatus, LetterStatus))
ALLOWED = {
    (S.DEPOSITED, S.NOTIFIED): Event.CONSIGNMENT_NOTIFICATION,
    (S.DEPOSITED, S.UNDELIVERABLE): Event.CONSIGNMENT_NOTIFICATION_FAILURE,
    (S.NOTIFIED, S.UNDELIVERABLE): Event.CONSIGNMENT_NOTIFICATION_FAILURE,
    (S.NOTIFIED, S.ACCEPTED): Event.CONSIGNMENT_ACCEPTANCE,
    (S.NOTIFIED, S.REFUSED): Event.CONSIGNMENT_REJECTION,
    (S.NOTIFIED, S.NEGLECTED): Event.ACCEPTANCE_REJECTION_EXPIRY,
}
ILLEGAL = [pair for pair in ALL_PAIRS if pair not in ALLOWED]


def _pair_id(pair: tuple[LetterStatus, LetterStatus]) -> str:
    return f"{pair[0].value}->{pair[1].value}"


def _new_letter(app: Flask, sender: Sender, status: LetterStatus) -> str:
    """A deposited letter, then put in `status` directly (test set-up only bypasses the gatekeeper)."""
    with app.app_context():
        user = db.session.get_one(User, sender.user_id)
        letter = deposit_letter(
            db.session,
            current_services(),
            user,
            DepositRequest(
                document=make_pdf_bytes(),
                document_name="lettre.pdf",
                recipient_phone="0612345678",
                recipient_name="Youssef Alami",
            ),
        )
        if status is not S.DEPOSITED:
            letter.status = status
            letter.deadline_at = letter.deposited_at + timedelta(days=15)
        db.session.commit()
        letter_id: str = letter.id
        db.session.remove()
        return letter_id


def _evidence_count() -> int:
    return db.session.execute(select(func.count(Evidence.id))).scalar_one()


def _proof_count() -> int:
    return db.session.execute(select(func.count(Proof.id))).scalar_one()


# --- the table itself ----------------------------------------------------------------------------


def test_the_transition_table_is_exactly_the_designed_one() -> None:
    assert TRANSITIONS == ALLOWED


def test_final_states_have_no_way_out() -> None:
    assert {S.ACCEPTED, S.REFUSED, S.NEGLECTED, S.UNDELIVERABLE} == FINAL_STATES
    for state in FINAL_STATES:
        assert allowed_targets(state) == frozenset()
        assert not any(frm is state for frm, _ in TRANSITIONS)


def test_every_state_is_reachable_and_every_open_state_can_end() -> None:
    reachable = {S.DEPOSITED}
    frontier = [S.DEPOSITED]
    while frontier:
        state = frontier.pop()
        for target in allowed_targets(state):
            if target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable == set(LetterStatus)
    for state in set(LetterStatus) - FINAL_STATES:
        assert allowed_targets(state), state
    assert allowed_targets(S.DEPOSITED) == {S.NOTIFIED, S.UNDELIVERABLE}
    assert allowed_targets(S.NOTIFIED) == {S.ACCEPTED, S.REFUSED, S.NEGLECTED, S.UNDELIVERABLE}


def test_only_the_gatekeeper_assigns_a_letter_status() -> None:
    webapp = Path(__file__).resolve().parent.parent / "webapp"
    assignment = re.compile(r"\bletter\.status\s*=(?!=)")
    offenders = [
        str(path.relative_to(webapp))
        for path in webapp.rglob("*.py")
        if path.name != "lifecycle.py" and assignment.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


# --- every move through lifecycle.transition -----------------------------------------------------


@pytest.mark.parametrize("pair", list(ALLOWED), ids=_pair_id)
def test_allowed_move_appends_one_evidence_record_in_the_same_transaction(
    app: Flask, sender: Sender, clock: FrozenClock, pair: tuple[LetterStatus, LetterStatus]
) -> None:
    source, target = pair
    letter_id = _new_letter(app, sender, source)
    clock.advance(3600)
    with app.app_context():
        letter = db.session.get_one(Letter, letter_id)
        before = _evidence_count()
        proofs_before = _proof_count()
        version = letter.version

        evidence = lifecycle.transition(db.session, letter, target, at=clock.now(), issuer="test issuer")
        assert letter.status is target
        # Added to this session, not committed: still pending, or flushed (an outcome flushes
        # the record with the proof it requests) inside the open transaction.
        state = inspect(evidence)
        assert state.pending or (state.persistent and db.session().in_transaction())
        assert evidence.event == ALLOWED[pair].value
        assert _evidence_count() == before + 1  # flushed in this same transaction
        proofs = _proof_count()
        assert proofs == proofs_before + (1 if target in lifecycle.PROOF_FOR_OUTCOME else 0)

        # Rolled back, the move, its evidence and its proof request go together.
        db.session.rollback()
        letter = db.session.get_one(Letter, letter_id)
        assert letter.status is source
        assert _evidence_count() == before
        assert _proof_count() == proofs_before

        evidence = lifecycle.transition(db.session, letter, target, at=clock.now(), issuer="test issuer")
        db.session.commit()
        evidence_id = evidence.id
        db.session.remove()

        letter = db.session.get_one(Letter, letter_id)
        assert letter.status is target
        assert letter.version == version + 1
        assert _evidence_count() == before + 1
        last = db.session.execute(select(Evidence).order_by(Evidence.seq.desc()).limit(1)).scalar_one()
        assert last.id == evidence_id
        assert last.letter_id == letter_id
        assert last.event == ALLOWED[pair].value
        assert last.occurred_at == clock.now()
        body = json.loads(last.canonical)
        assert body["event"] == ALLOWED[pair].value
        assert body["details"]["from_status"] == source.value
        assert body["details"]["to_status"] == target.value
        if target is S.NOTIFIED:
            assert letter.notified_at == clock.now()
            assert letter.decided_at is None
        elif target in {S.ACCEPTED, S.REFUSED, S.NEGLECTED}:
            assert letter.decided_at == clock.now()
        else:
            assert letter.decided_at is None


@pytest.mark.parametrize("pair", ILLEGAL, ids=_pair_id)
def test_illegal_move_raises_and_changes_nothing(
    app: Flask, sender: Sender, clock: FrozenClock, pair: tuple[LetterStatus, LetterStatus]
) -> None:
    source, target = pair
    letter_id = _new_letter(app, sender, source)
    with app.app_context():
        letter = db.session.get_one(Letter, letter_id)
        before = _evidence_count()
        head = db.session.get_one(ChainHead, 1)
        head_state = (head.seq, head.record_hash, head.version)
        snapshot = (letter.status, letter.version, letter.notified_at, letter.decided_at, letter.deadline_at)

        with pytest.raises(IllegalTransition):
            lifecycle.transition(db.session, letter, target, at=clock.now(), issuer="test issuer")

        assert letter.status is source
        assert not db.session.new
        assert not db.session.dirty
        db.session.commit()
        db.session.remove()

        letter = db.session.get_one(Letter, letter_id)
        assert (
            letter.status,
            letter.version,
            letter.notified_at,
            letter.decided_at,
            letter.deadline_at,
        ) == snapshot
        assert _evidence_count() == before
        head = db.session.get_one(ChainHead, 1)
        assert (head.seq, head.record_hash, head.version) == head_state


@pytest.mark.parametrize("final", sorted(FINAL_STATES))
def test_a_final_letter_refuses_every_move(app: Flask, sender: Sender, clock: FrozenClock, final: LetterStatus) -> None:
    letter_id = _new_letter(app, sender, final)
    with app.app_context():
        letter = db.session.get_one(Letter, letter_id)
        for target in LetterStatus:
            with pytest.raises(IllegalTransition, match=final.value):
                lifecycle.transition(db.session, letter, target, at=clock.now(), issuer="test issuer")
        assert letter.status is final
        assert not db.session.new


def test_record_does_not_change_the_state(app: Flask, sender: Sender, clock: FrozenClock) -> None:
    letter_id = _new_letter(app, sender, S.NOTIFIED)
    with app.app_context():
        letter = db.session.get_one(Letter, letter_id)
        version = letter.version
        lifecycle.record(db.session, letter, Event.CONTENT_HANDOVER, at=clock.now(), issuer="test issuer")
        db.session.commit()
        db.session.remove()
        letter = db.session.get_one(Letter, letter_id)
        assert letter.status is S.NOTIFIED
        assert letter.version == version


# --- concurrent transitions ----------------------------------------------------------------------


def test_each_transition_bumps_the_version(app: Flask, sender: Sender, clock: FrozenClock) -> None:
    letter_id = _new_letter(app, sender, S.DEPOSITED)
    with app.app_context():
        letter = db.session.get_one(Letter, letter_id)
        first = letter.version
        lifecycle.transition(db.session, letter, S.NOTIFIED, at=clock.now(), issuer="test issuer")
        db.session.commit()
        assert letter.version == first + 1
        lifecycle.transition(db.session, letter, S.ACCEPTED, at=clock.now(), issuer="test issuer")
        db.session.commit()
        assert letter.version == first + 2


def test_two_sessions_cannot_both_move_the_same_letter(app: Flask, sender: Sender, clock: FrozenClock) -> None:
    """Two workers load the same notified letter; the second commit must collide, not win.

    On SQLite every transaction starts with BEGIN IMMEDIATE, so two open write
    transactions cannot overlap: each session loads the letter in its own
    transaction and keeps the object (expire_on_commit=False), which is the
    same race as a web request and a job reading before either writes.
    """
    letter_id = _new_letter(app, sender, S.NOTIFIED)
    with app.app_context():
        first = Session(db.engine, expire_on_commit=False)
        second = Session(db.engine, expire_on_commit=False)
        try:
            mine = first.get_one(Letter, letter_id)
            _ = mine.organisation  # everything the transition reads, loaded now
            first.commit()
            theirs = second.get_one(Letter, letter_id)
            _ = theirs.organisation
            second.commit()
            assert mine.version == theirs.version
            assert theirs.status is S.NOTIFIED

            lifecycle.transition(first, mine, S.ACCEPTED, at=clock.now(), issuer="web")
            first.commit()

            # The stale UPDATE (WHERE version = the old one) matches no row: the flush fails, at
            # the latest when the transition reads the chain head, before anything is committed.
            with pytest.raises(StaleDataError):  # noqa: PT012 - the flush may happen in either call
                lifecycle.transition(second, theirs, S.NEGLECTED, at=clock.now(), issuer="worker")
                second.commit()
            second.rollback()
        finally:
            first.close()
            second.close()

        letter = db.session.get_one(Letter, letter_id)
        assert letter.status is S.ACCEPTED
        events = db.session.execute(
            select(Evidence.event).where(Evidence.letter_id == letter_id).order_by(Evidence.seq)
        ).scalars()
        assert list(events) == [Event.SUBMISSION_ACCEPTANCE.value, Event.CONSIGNMENT_ACCEPTANCE.value]
        records = db.session.execute(select(Evidence).order_by(Evidence.seq)).scalars()
        assert check_chain(records, db.session.get(ChainHead, 1)) == []
