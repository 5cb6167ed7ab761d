"""Evidence records: canonical JSON (RFC 8785), the DESIGN §4 fields, one global hash chain."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import rfc8785
from flask import Flask
from sqlalchemy import select, text

from tests.conftest import START, Sender
from webapp.clock import FrozenClock
from webapp.extensions import db
from webapp.letters import lifecycle
from webapp.letters.states import Event
from webapp.models import ChainHead, Evidence, Letter
from webapp.trust.evidence import GENESIS_HASH, ChainProblem, append_evidence, check_chain, isoformat_utc

UTC_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def _records() -> list[Evidence]:
    return list(db.session.execute(select(Evidence).order_by(Evidence.seq)).scalars())


def _check(app: Flask) -> list[ChainProblem]:
    with app.app_context():
        db.session.remove()
        return check_chain(_records(), db.session.get(ChainHead, 1))


def _sql(app: Flask, *statements: str, **params: Any) -> None:
    with app.app_context():
        for statement in statements:
            db.session.execute(text(statement), params)
        db.session.commit()
        db.session.remove()


def _delete_evidence(app: Flask, where: str, **params: Any) -> None:
    """Deletes the evidence records matching `where`, and first the proofs rows that reference them."""
    _sql(
        app,
        f"DELETE FROM proofs WHERE evidence_id IN (SELECT id FROM evidence WHERE {where})",  # noqa: S608
        f"DELETE FROM evidence WHERE {where}",  # noqa: S608
        **params,
    )


@pytest.fixture
def two_letters(
    app: Flask,
    deposit: Any,
    make_sender: Callable[..., Sender],
    run_jobs: Any,
    clock: FrozenClock,
    pdf: Callable[..., bytes],
) -> dict[str, Any]:
    """Two letters from two organisations, deposited and notified: four interleaved records."""
    first_document = pdf(pad_to=2000)
    first = deposit(document=first_document, filename="mise-en-demeure.pdf").json
    clock.advance(5)
    other = make_sender(org="Cabinet Bennani")
    second_document = pdf(pages=2)
    second = deposit(
        as_sender=other,
        document=second_document,
        filename="إنذار.pdf",
        recipient_phone="+212 7 00 11 22 33",
        recipient_name="فاطمة الزهراء بناني",
    ).json
    clock.advance(60)
    run_jobs()
    return {
        "first": first,
        "second": second,
        "first_document": first_document,
        "second_document": second_document,
        "other": other,
    }


def test_records_are_rfc8785_canonical_json(app: Flask, two_letters: dict[str, Any]) -> None:
    with app.app_context():
        records = _records()
        assert len(records) == 4
        for record in records:
            body = record.canonical.encode("utf-8")
            assert rfc8785.dumps(json.loads(body)) == body
            assert record.record_hash == hashlib.sha256(body).hexdigest()
            # Canonical form: no insignificant whitespace, keys sorted, UTF-8 kept as is.
            parsed = json.loads(body)
            assert list(parsed) == sorted(parsed)
            assert "\n" not in record.canonical
            assert ": " not in record.canonical
        arabic = [r for r in records if "فاطمة" in r.canonical]
        assert arabic, "non-ASCII text is stored as UTF-8, not escaped"


def test_records_carry_the_design_fields(
    app: Flask, sender: Sender, two_letters: dict[str, Any], clock: FrozenClock
) -> None:
    first = two_letters["first"]
    with app.app_context():
        records = [r for r in _records() if r.letter_id == first["id"]]
        assert [r.event for r in records] == [
            Event.SUBMISSION_ACCEPTANCE.value,
            Event.CONSIGNMENT_NOTIFICATION.value,
        ]
        letter = db.session.get_one(Letter, first["id"])
        for record in records:
            body = json.loads(record.canonical)
            assert body["evidence_id"] == record.id
            assert re.fullmatch(r"[0-9a-f-]{36}", body["evidence_id"])
            assert body["event"] == record.event
            assert UTC_Z.fullmatch(body["at"]), body["at"]
            assert datetime.fromisoformat(body["at"]) == record.occurred_at
            assert body["issuer"] == "Wassit <https://wassit.ma>"
            assert body["letter_id"] == first["id"]
            assert body["reference"] == first["reference"]
            assert body["sender"]["name"] == "Banque Atlas SA"
            assert body["sender"]["legal_name"] == "Banque Atlas SA"
            assert body["sender"]["organisation_id"] == sender.organisation_id
            assert body["sender"]["user_id"] == sender.user_id
            assert body["recipient"] == {
                "name": "Youssef Alami",
                "phone": "+212612345678",
                "email": None,
            }
            assert body["document"] == {
                "name": "mise-en-demeure.pdf",
                "size": len(two_letters["first_document"]),
                "sha256": hashlib.sha256(two_letters["first_document"]).hexdigest(),
            }
            assert re.fullmatch(r"[0-9a-f]{64}", body["previous_hash"])
            assert body["previous_hash"] == record.previous_hash
            assert body["sequence"] == record.seq
        deposit_body, notification_body = (json.loads(r.canonical) for r in records)
        assert deposit_body["at"] == isoformat_utc(START) == "2026-11-23T10:00:00.000000Z"
        assert notification_body["at"] == isoformat_utc(START + timedelta(seconds=65))
        assert notification_body["details"]["notification"]["to"] == "+212612345678"
        assert notification_body["details"]["deadline"] == isoformat_utc(letter.deadline_at)

        second = [r for r in _records() if r.letter_id == two_letters["second"]["id"]]
        body = json.loads(second[0].canonical)
        assert body["sender"]["name"] == "Cabinet Bennani"
        assert body["sender"]["organisation_id"] == two_letters["other"].organisation_id
        assert body["recipient"]["name"] == "فاطمة الزهراء بناني"
        assert body["recipient"]["phone"] == "+212700112233"
        assert body["document"]["name"] == "إنذار.pdf"
        assert body["document"]["sha256"] == hashlib.sha256(two_letters["second_document"]).hexdigest()


def test_negative_events_carry_their_reason(app: Flask, deposit: Any, clock: FrozenClock) -> None:
    letter_id = deposit().json["id"]
    with app.app_context():
        letter = db.session.get_one(Letter, letter_id)
        from webapp.letters.states import LetterStatus

        lifecycle.transition(
            db.session,
            letter,
            LetterStatus.UNDELIVERABLE,
            at=clock.now(),
            issuer="test",
            details={"reason": "vonage status 6"},
        )
        db.session.commit()
        record = _records()[-1]
        body = json.loads(record.canonical)
        assert body["event"] == Event.CONSIGNMENT_NOTIFICATION_FAILURE.value
        assert body["details"]["reason"] == "vonage status 6"


def test_the_chain_is_global_across_letters(app: Flask, two_letters: dict[str, Any]) -> None:
    with app.app_context():
        records = _records()
        assert [r.seq for r in records] == [1, 2, 3, 4]
        # Deposit 1, deposit 2, then the two notifications: the chain interleaves the letters.
        assert len({r.letter_id for r in records}) == 2
        assert records[0].letter_id != records[1].letter_id
        assert records[0].previous_hash == GENESIS_HASH == "0" * 64
        assert json.loads(records[0].canonical)["previous_hash"] == GENESIS_HASH
        for previous, record in itertools.pairwise(records):
            assert record.previous_hash == previous.record_hash
            assert json.loads(record.canonical)["previous_hash"] == previous.record_hash
        head = db.session.get_one(ChainHead, 1)
        assert head.seq == 4
        assert head.record_hash == records[-1].record_hash


def test_times_are_written_in_utc_whatever_the_zone_given(app: Flask, deposit: Any) -> None:
    letter_id = deposit().json["id"]
    casablanca = timezone(timedelta(hours=1))
    local = datetime(2026, 11, 23, 11, 30, tzinfo=casablanca)
    with app.app_context():
        append_evidence(
            db.session,
            letter_id=letter_id,
            event=Event.NOTIFICATION_DELIVERED.value,
            occurred_at=local,
            issuer="test",
            facts={},
        )
        db.session.commit()
        body = json.loads(_records()[-1].canonical)
        assert body["at"] == "2026-11-23T10:30:00.000000Z"
        assert _records()[-1].occurred_at == datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="naive"):
        isoformat_utc(datetime(2026, 11, 23, 10, 30))  # noqa: DTZ001 - the point of the test


# --- check_chain ---------------------------------------------------------------------------------


def test_an_intact_chain_reports_nothing(app: Flask, two_letters: dict[str, Any]) -> None:
    assert _check(app) == []


def test_an_empty_chain_reports_nothing(app: Flask) -> None:
    assert _check(app) == []


def test_an_edited_record_is_reported(app: Flask, two_letters: dict[str, Any]) -> None:
    with app.app_context():
        canonical = _records()[1].canonical
    forged = canonical.replace("فاطمة الزهراء بناني", "Someone Else")
    assert forged != canonical
    _sql(app, "UPDATE evidence SET canonical = :c WHERE seq = 2", c=forged)
    problems = _check(app)
    assert [(p.seq, p.problem) for p in problems] == [(2, "record hash does not match")]


def test_an_edited_and_rehashed_record_breaks_the_next_link(app: Flask, two_letters: dict[str, Any]) -> None:
    with app.app_context():
        record = _records()[1]
        body = json.loads(record.canonical)
    body["recipient"]["phone"] = "+212699999999"
    forged = rfc8785.dumps(body)
    _sql(
        app,
        "UPDATE evidence SET canonical = :c, record_hash = :h WHERE seq = 2",
        c=forged.decode(),
        h=hashlib.sha256(forged).hexdigest(),
    )
    problems = _check(app)
    assert problems
    assert {p.seq for p in problems} == {3}
    assert all(p.problem == "broken link to previous record" for p in problems)


def test_an_edited_row_column_is_reported(app: Flask, two_letters: dict[str, Any]) -> None:
    _sql(app, "UPDATE evidence SET previous_hash = :h WHERE seq = 3", h="f" * 64)
    problems = _check(app)
    assert [(p.seq, p.problem) for p in problems] == [(3, "broken link to previous record")]


def test_a_non_canonical_record_is_reported(app: Flask, two_letters: dict[str, Any]) -> None:
    with app.app_context():
        record = _records()[0]
    pretty = json.dumps(json.loads(record.canonical), indent=2, ensure_ascii=False)
    _sql(
        app,
        "UPDATE evidence SET canonical = :c, record_hash = :h WHERE seq = 1",
        c=pretty,
        h=hashlib.sha256(pretty.encode()).hexdigest(),
    )
    problems = {(p.seq, p.problem) for p in _check(app)}
    assert (1, "record is not canonical") in problems


def test_a_deleted_record_is_reported(app: Flask, two_letters: dict[str, Any]) -> None:
    _delete_evidence(app, "seq = 2")
    problems = _check(app)
    assert problems
    assert {p.seq for p in problems} == {3}
    assert {p.problem for p in problems} == {"expected record 2", "broken link to previous record"}


def test_a_deleted_first_record_is_reported(app: Flask, two_letters: dict[str, Any]) -> None:
    _delete_evidence(app, "seq = 1")
    problems = _check(app)
    assert {(p.seq, p.problem) for p in problems} == {
        (2, "expected record 1"),
        (2, "broken link to previous record"),
    }


def test_a_deleted_last_record_is_reported_by_the_head(app: Flask, two_letters: dict[str, Any]) -> None:
    _delete_evidence(app, "seq = 4")
    problems = _check(app)
    assert [p.problem for p in problems] == ["chain head does not match the last record"]


def test_deleting_every_record_is_reported_by_the_head(app: Flask, two_letters: dict[str, Any]) -> None:
    _delete_evidence(app, "1 = 1")
    problems = _check(app)
    assert [p.problem for p in problems] == ["chain head does not match the last record"]


def test_a_deleted_letter_with_all_its_records_is_reported(app: Flask, two_letters: dict[str, Any]) -> None:
    _delete_evidence(app, "letter_id = :l", l=two_letters["first"]["id"])
    problems = _check(app)
    assert problems
    assert 2 in {p.seq for p in problems}


def test_two_swapped_records_are_reported(app: Flask, two_letters: dict[str, Any]) -> None:
    # Swap the positions of records 2 and 3 (seq is unique: go through a free number).
    _sql(
        app,
        "UPDATE evidence SET seq = 1000 WHERE seq = 2",
        "UPDATE evidence SET seq = 2 WHERE seq = 3",
        "UPDATE evidence SET seq = 3 WHERE seq = 1000",
    )
    problems = _check(app)
    assert {p.seq for p in problems} >= {2, 3}
    assert any(p.problem == "broken link to previous record" for p in problems)
    assert any(p.problem == "record content does not match its row" for p in problems)
