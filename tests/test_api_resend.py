"""POST /api/v1/letters/<id>/resend: the notification again with a fresh link, as reminder
evidence with the reason and the requesting user, limited per letter, only while it can help."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from tests.conftest import START, Sender
from tests.db_helpers import evidence_rows
from tests.test_api import assert_json_error
from tests.trust_helpers import LINK, Letters, record_of
from webapp import create_app, jobs
from webapp.clock import FrozenClock
from webapp.config import Settings
from webapp.extensions import db
from webapp.letters.resend import RESEND_DAILY_LIMIT
from webapp.letters.states import Event
from webapp.models import Letter, MessagePurpose, MessageStatus, OutboundMessage


@pytest.fixture
def letters(app: Flask, client: FlaskClient, sender: Sender, deposit: Any, run_jobs: Any, outbox: Any) -> Letters:
    return Letters(app, client, sender, deposit, run_jobs, outbox)


def resend(client: FlaskClient, sender: Sender, letter_id: str) -> Any:
    return client.post(f"/api/v1/letters/{letter_id}/resend", headers=sender.auth)


def later(clock: FrozenClock, minutes: float) -> None:
    clock.current = clock.current + timedelta(minutes=minutes)


def test_a_resend_sends_a_fresh_link_recorded_as_evidence_with_who_asked(
    app: Flask, client: FlaskClient, sender: Sender, letters: Letters, clock: FrozenClock, run_jobs: Any, outbox: Any
) -> None:
    letter_id, first_link = letters.notified()
    later(clock, 60)
    response = resend(client, sender, letter_id)
    assert response.status_code == 202, response.json
    assert response.json["channels"] == ["sms"]
    assert response.json["status"] == "queued"
    run_jobs()
    message = outbox()[-1]
    link = LINK.search(message["text"])
    assert link
    assert link.group(1) != first_link
    assert client.get(link.group(1)).status_code == 200
    [record] = [e for e in evidence_rows(app, letter_id) if e.event == Event.CONSIGNMENT_REMINDER.value]
    notification = record_of(record)["details"]["notification"]
    assert notification["reason"] == "resend"
    assert notification["requested_by"] == sender.user_id
    assert "reminder" not in notification
    events = letters.api(letter_id)["events"]
    assert events[-1]["type"] == "ConsignmentReminder"
    assert events[-1]["reason"] == "resend"


def test_resends_are_limited_per_letter(
    client: FlaskClient, sender: Sender, letters: Letters, clock: FrozenClock
) -> None:
    letter_id, _ = letters.notified()
    assert resend(client, sender, letter_id).status_code == 202
    later(clock, 3)
    too_soon = resend(client, sender, letter_id)
    assert assert_json_error(too_soon, 429, None)["code"] == "resend_rate_limited"
    assert too_soon.headers["Retry-After"] == str(7 * 60)
    later(clock, 7)
    for _ in range(RESEND_DAILY_LIMIT - 1):
        assert resend(client, sender, letter_id).status_code == 202
        later(clock, 10)
    over = resend(client, sender, letter_id)
    assert_json_error(over, 429, None)
    first_at = START + timedelta(minutes=0)
    assert int(over.headers["Retry-After"]) == int((first_at + timedelta(days=1) - clock.now()).total_seconds())
    clock.current = first_at + timedelta(days=1, seconds=1)
    assert resend(client, sender, letter_id).status_code == 202


def test_an_email_letter_is_resent_by_email_and_sms_as_one_resend(
    app: Flask, client: FlaskClient, sender: Sender, letters: Letters, clock: FrozenClock, run_jobs: Any
) -> None:
    letter_id, _ = letters.notified(channel="email", recipient_email="youssef@example.ma")
    response = resend(client, sender, letter_id)
    assert sorted(response.json["channels"]) == ["email", "sms"]
    run_jobs()
    for _ in range(RESEND_DAILY_LIMIT - 1):
        later(clock, 10)
        assert resend(client, sender, letter_id).status_code == 202
    later(clock, 10)
    assert resend(client, sender, letter_id).status_code == 429
    recorded = [e for e in evidence_rows(app, letter_id) if e.event == Event.CONSIGNMENT_REMINDER.value]
    assert sorted(record_of(e)["details"]["notification"]["channel"] for e in recorded) == ["email", "sms"]


def test_a_resend_leaves_the_reminder_schedule_alone(
    app: Flask, client: FlaskClient, sender: Sender, letters: Letters, clock: FrozenClock, run_jobs: Any
) -> None:
    letter_id, _ = letters.notified()
    clock.current = START + timedelta(days=1)
    assert resend(client, sender, letter_id).status_code == 202
    clock.current = START + timedelta(days=3)
    with app.app_context():
        assert jobs.send_reminders() == 1
        numbers = db.session.execute(
            select(OutboundMessage.reminder_number)
            .where(OutboundMessage.letter_id == letter_id, OutboundMessage.purpose == MessagePurpose.REMINDER)
            .order_by(OutboundMessage.created_at)
        ).scalars()
        assert list(numbers) == [None, 1]
        db.session.remove()


def test_a_letter_not_yet_notified_cannot_be_resent(client: FlaskClient, sender: Sender, deposit: Any) -> None:
    letter_id = deposit().json["id"]
    assert assert_json_error(resend(client, sender, letter_id), 409, None)["code"] == "not_yet_notified"


@pytest.mark.parametrize("decision", ["accept", "refuse"])
def test_a_decided_letter_cannot_be_resent(
    client: FlaskClient, sender: Sender, letters: Letters, decision: str
) -> None:
    letter_id, path = letters.notified()
    letters.decide(path, decision)
    assert assert_json_error(resend(client, sender, letter_id), 409, None)["code"] == "already_decided"


def test_an_identified_recipient_gets_no_resend(client: FlaskClient, sender: Sender, letters: Letters) -> None:
    letter_id, path = letters.notified()
    letters.identify(path)
    assert assert_json_error(resend(client, sender, letter_id), 409, None)["code"] == "already_identified"


def test_a_letter_past_its_deadline_or_locked_cannot_be_resent(
    app: Flask, client: FlaskClient, sender: Sender, letters: Letters, clock: FrozenClock
) -> None:
    expired, _ = letters.notified()
    locked, _ = letters.notified()
    with app.app_context():
        db.session.get_one(Letter, locked).locked_at = clock.now()
        db.session.commit()
        db.session.remove()
    assert assert_json_error(resend(client, sender, locked), 409, None)["code"] == "recipient_locked"
    clock.current = START + timedelta(days=16)  # the expiry job has not run yet
    assert assert_json_error(resend(client, sender, expired), 409, None)["code"] == "already_decided"


def test_a_letter_whose_every_channel_failed_cannot_be_resent(
    app: Flask, client: FlaskClient, sender: Sender, letters: Letters
) -> None:
    letter_id, _ = letters.notified()
    with app.app_context():
        db.session.execute(
            update(OutboundMessage).where(OutboundMessage.letter_id == letter_id).values(status=MessageStatus.FAILED)
        )
        db.session.commit()
        db.session.remove()
    assert assert_json_error(resend(client, sender, letter_id), 409, None)["code"] == "no_channel_left"
    with app.app_context():
        assert db.session.get_one(Letter, letter_id).last_resend_at is None  # the claim was rolled back
        db.session.remove()


def test_another_organisations_letter_is_404(
    client: FlaskClient, letters: Letters, make_sender: Any, run_jobs: Any
) -> None:
    letter_id, _ = letters.notified()
    other: Sender = make_sender(org="Cabinet Benjelloun")
    assert_json_error(resend(client, other, letter_id), 404, None)
    assert_json_error(resend(client, other, "no-such-letter"), 404, None)


def test_two_resends_at_the_same_instant_send_once(
    app: Flask, settings: Settings, clock: FrozenClock, sender: Sender, letters: Letters
) -> None:
    letter_id, _ = letters.notified()
    servers = [create_app(settings, clock=clock) for _ in range(3)]
    barrier = threading.Barrier(len(servers))
    statuses: list[int] = []
    errors: list[BaseException] = []

    def call(server: Flask) -> None:
        try:
            client = server.test_client()
            barrier.wait(timeout=30)
            statuses.append(resend(client, sender, letter_id).status_code)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(server,)) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for server in servers:
        with server.app_context():
            db.session.remove()
            db.engine.dispose()
        server.extensions["wassit.redis"].close()
    assert errors == []
    assert sorted(statuses) == [202, 429, 429]
    with app.app_context():
        resent = db.session.execute(
            select(OutboundMessage.id).where(
                OutboundMessage.letter_id == letter_id, OutboundMessage.purpose == MessagePurpose.REMINDER
            )
        ).all()
        assert len(resent) == 1
        db.session.remove()
