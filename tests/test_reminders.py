"""Reminders: on the REMINDER_DAYS schedule, to recipients who have not identified, each an evidence
record, none after a decision, an identification or the deadline, and never two at once, even with
several schedulers and workers.  Time is moved, never waited for."""

from __future__ import annotations

import secrets
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tests.conftest import START, Sender
from tests.db_helpers import evidence_rows, letter_row
from tests.trust_helpers import LINK, Letters, pdf_text, record_of
from webapp import create_app, jobs
from webapp.clock import FrozenClock
from webapp.config import ConfigError, Settings, parse_reminder_days
from webapp.extensions import db
from webapp.letters import lifecycle
from webapp.letters.reminders import claim_reminder, due_number, find_due_reminders
from webapp.letters.states import Event, LetterStatus
from webapp.models import Letter, MessagePurpose, MessageStatus, OutboundMessage
from webapp.notify.texts import GSM7_BUDGET, UCS2_BUDGET, reminder_sms, sms_length
from webapp.queue import every_queue
from webapp.services import Services, current_services

DAY = 24 * 3600


@pytest.fixture
def letters(app: Flask, client: FlaskClient, sender: Sender, deposit: Any, run_jobs: Any, outbox: Any) -> Letters:
    return Letters(app, client, sender, deposit, run_jobs, outbox)


def _services(app: Flask) -> Services:
    services: Services = app.extensions["wassit"]
    return services


def _send_reminders(app: Flask) -> int:
    """Runs the periodic job once, as a worker does (its own app context and session)."""
    with app.app_context():
        try:
            return jobs.send_reminders()
        finally:
            db.session.remove()


def _reminders(app: Flask, letter_id: str | None = None) -> list[OutboundMessage]:
    with app.app_context():
        query = select(OutboundMessage).where(OutboundMessage.purpose == MessagePurpose.REMINDER)
        if letter_id is not None:
            query = query.where(OutboundMessage.letter_id == letter_id)
        rows = list(db.session.execute(query.order_by(OutboundMessage.created_at, OutboundMessage.channel)).scalars())
        for row in rows:
            db.session.expunge(row)
        db.session.remove()
        return rows


def _at_day(clock: FrozenClock, days: float) -> None:
    """Moves the clock to `days` after the notification (sent at START by the fixtures)."""
    clock.current = START + timedelta(seconds=days * DAY)


# --- the schedule ------------------------------------------------------------------------------


def test_an_unanswered_letter_gets_its_reminders_then_its_proof_of_negligence(
    app: Flask, client: FlaskClient, letters: Letters, clock: FrozenClock, run_jobs: Any, outbox: Any
) -> None:
    letter_id, _ = letters.notified()
    reference = letters.api(letter_id)["reference"]
    assert letter_row(app, letter_id).notified_at == START
    sent = len(outbox())
    for day, expected in [(1, 0), (2.99, 0), (3, 1), (3.5, 0), (6.9, 0), (7, 1), (11, 0), (12, 1), (14.9, 0)]:
        _at_day(clock, day)
        assert _send_reminders(app) == expected, day
        run_jobs()
        if expected:
            sms = outbox()[sent:]
            assert len(sms) == 1, day
            sent += 1
            assert reference in sms[0]["text"]
            link = LINK.search(sms[0]["text"])
            assert link, sms[0]
            # Each reminder carries a working link of its own.
            assert client.get(link.group(1)).status_code == 200
        assert len(outbox()) == sent

    reminders = _reminders(app, letter_id)
    assert [(m.reminder_number, m.channel, m.status) for m in reminders] == [
        (1, "sms", MessageStatus.SENT),
        (2, "sms", MessageStatus.SENT),
        (3, "sms", MessageStatus.SENT),
    ]
    recorded = [e for e in evidence_rows(app, letter_id) if e.event == Event.CONSIGNMENT_REMINDER.value]
    assert [record_of(e)["details"]["notification"]["reminder"] for e in recorded] == [1, 2, 3]
    assert [e.occurred_at for e in recorded] == [START + timedelta(days=d) for d in (3, 7, 12)]
    assert letter_row(app, letter_id).reminders_sent == 3

    # The deadline passes: negligence, its proof, and no reminder ever after.
    _at_day(clock, 15)
    with app.app_context():
        assert jobs.expire_letters() == 1
        db.session.remove()
    run_jobs()
    assert letter_row(app, letter_id).status is LetterStatus.NEGLECTED
    text = pdf_text(letters.proof(letter_id, "negligence"))
    assert text.count("Rappel envoyé au destinataire") == 3
    _at_day(clock, 40)
    assert _send_reminders(app) == 0
    assert len(outbox()) == sent
    body = letters.api(letter_id)
    assert [n["reminder"] for n in body["notifications"]] == [None, 1, 2, 3]
    assert [e["type"] for e in body["events"]].count("ConsignmentReminder") == 3


def test_the_schedule_follows_reminder_days(app: Flask, letters: Letters, clock: FrozenClock) -> None:
    services = _services(app)
    services.settings = services.settings.replace(reminder_days=(1, 10))
    letter_id, _ = letters.notified()
    _at_day(clock, 1)
    assert _send_reminders(app) == 1
    _at_day(clock, 7)
    assert _send_reminders(app) == 0
    _at_day(clock, 10)
    assert _send_reminders(app) == 1
    _at_day(clock, 14)
    assert _send_reminders(app) == 0
    assert [m.reminder_number for m in _reminders(app, letter_id)] == [1, 2]
    services.settings = services.settings.replace(reminder_days=())
    assert _send_reminders(app) == 0


def test_a_scheduler_that_was_stopped_sends_only_the_latest_due_reminder(
    app: Flask, letters: Letters, clock: FrozenClock, run_jobs: Any, outbox: Any
) -> None:
    letter_id, _ = letters.notified()
    _at_day(clock, 8)  # days 3 and 7 have both passed
    assert _send_reminders(app) == 1
    run_jobs()
    assert [m.reminder_number for m in _reminders(app, letter_id)] == [2]
    assert letter_row(app, letter_id).reminders_sent == 2
    assert len(outbox()) == 2  # the notification and one reminder
    _at_day(clock, 12)
    assert _send_reminders(app) == 1
    assert [m.reminder_number for m in _reminders(app, letter_id)] == [2, 3]


def test_due_number_counts_the_days_passed() -> None:
    assert [due_number((3, 7, 12), START, START + timedelta(days=d)) for d in (0, 3, 6, 7, 12, 30)] == [
        0,
        1,
        1,
        2,
        3,
        3,
    ]


# --- none after a decision, an identification or the deadline ----------------------------------


def test_no_reminder_once_the_recipient_has_identified(app: Flask, letters: Letters, clock: FrozenClock) -> None:
    letter_id, path = letters.notified()
    letters.identify(path)
    _at_day(clock, 3)
    assert _send_reminders(app) == 0
    assert _reminders(app, letter_id) == []


@pytest.mark.parametrize("decision", ["accept", "refuse"])
def test_no_reminder_after_a_decision(app: Flask, letters: Letters, clock: FrozenClock, decision: str) -> None:
    letter_id, path = letters.notified()
    letters.decide(path, decision)
    for day in (3, 7, 12):
        _at_day(clock, day)
        assert _send_reminders(app) == 0
    assert _reminders(app, letter_id) == []


def test_no_reminder_after_the_deadline_even_before_the_expiry_job(
    app: Flask, letters: Letters, clock: FrozenClock
) -> None:
    services = _services(app)
    services.settings = services.settings.replace(acceptance_period=2 * DAY)
    letter_id, _ = letters.notified()
    _at_day(clock, 3)
    assert letter_row(app, letter_id).status is LetterStatus.NOTIFIED  # the expiry job has not run
    assert _send_reminders(app) == 0
    assert _reminders(app, letter_id) == []


def test_no_reminder_to_a_locked_letter(app: Flask, letters: Letters, clock: FrozenClock) -> None:
    letter_id, _ = letters.notified()
    with app.app_context():
        db.session.get_one(Letter, letter_id).locked_at = clock.now()
        db.session.commit()
        db.session.remove()
    _at_day(clock, 3)
    assert _send_reminders(app) == 0


def test_a_reminder_queued_just_before_a_decision_is_not_sent(
    app: Flask, letters: Letters, clock: FrozenClock, run_jobs: Any, outbox: Any
) -> None:
    letter_id, _ = letters.notified()
    _at_day(clock, 3)
    assert _send_reminders(app) == 1  # claimed and queued, not sent yet
    with app.app_context():
        letter = db.session.get_one(Letter, letter_id)
        lifecycle.transition(db.session, letter, LetterStatus.ACCEPTED, at=clock.now(), issuer="test")
        db.session.commit()
        db.session.remove()
    run_jobs()
    [reminder] = _reminders(app, letter_id)
    assert reminder.status is MessageStatus.CANCELLED
    assert reminder.last_error == "letter is already accepted"
    assert reminder.secret_ciphertext is None
    assert len(outbox()) == 1
    assert Event.CONSIGNMENT_REMINDER.value not in [e.event for e in evidence_rows(app, letter_id)]


def test_a_reminder_queued_just_before_the_deadline_is_not_sent(
    app: Flask, letters: Letters, clock: FrozenClock, run_jobs: Any, outbox: Any
) -> None:
    services = _services(app)
    services.settings = services.settings.replace(acceptance_period=3 * DAY + 60)
    letter_id, _ = letters.notified()
    _at_day(clock, 3)
    assert _send_reminders(app) == 1
    clock.advance(61)  # the worker was slow: the deadline passed meanwhile
    run_jobs()
    [reminder] = _reminders(app, letter_id)
    assert (reminder.status, reminder.last_error) == (MessageStatus.CANCELLED, "the deadline has passed")
    assert len(outbox()) == 1


# --- never two at once -------------------------------------------------------------------------


def test_a_claim_made_on_a_stale_read_loses(app: Flask, letters: Letters, clock: FrozenClock) -> None:
    """Scheduler A reads the letters due, scheduler B claims and queues meanwhile, then A claims:
    the conditional UPDATE finds the count changed and A queues nothing."""
    letter_id, _ = letters.notified()
    _at_day(clock, 3)
    with app.app_context():
        services = current_services()
        [due] = find_due_reminders(db.session, services)
        db.session.rollback()
        with app.app_context():  # scheduler B: its own context and session
            assert jobs.send_reminders() == 1
            db.session.remove()
        assert claim_reminder(db.session, services, due) is None
        db.session.rollback()
        db.session.remove()
    assert len(_reminders(app, letter_id)) == 1


def test_the_database_refuses_a_second_reminder_of_the_same_number(
    app: Flask, letters: Letters, clock: FrozenClock
) -> None:
    letter_id, _ = letters.notified()
    _at_day(clock, 3)
    assert _send_reminders(app) == 1
    [first] = _reminders(app, letter_id)
    with app.app_context():
        db.session.add(
            OutboundMessage(
                letter_id=letter_id,
                purpose=MessagePurpose.REMINDER,
                channel="sms",
                reminder_number=first.reminder_number,
                recipient=first.recipient,
                status=MessageStatus.PENDING,
                created_at=clock.now(),
            )
        )
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        db.session.remove()


def test_two_schedulers_enqueueing_the_job_send_each_reminder_once(
    app: Flask, letters: Letters, clock: FrozenClock, run_jobs: Any, outbox: Any
) -> None:
    ids = [letters.notified()[0] for _ in range(3)]
    _at_day(clock, 3)
    with app.app_context():
        for _ in range(2):  # the same periodic job, enqueued by two schedulers
            every_queue().enqueue("webapp.jobs.send_reminders")
    run_jobs()
    for letter_id in ids:
        assert [m.reminder_number for m in _reminders(app, letter_id)] == [1]
    assert len(outbox()) == 3 + 3


def test_concurrent_workers_claim_each_reminder_once(
    app: Flask, settings: Settings, letters: Letters, clock: FrozenClock, run_jobs: Any, outbox: Any
) -> None:
    """Four workers, each with its own app, engine and connections, run the reminder job at the same
    moment (on PostgreSQL, truly in parallel): each due reminder is claimed exactly once."""
    ids = [letters.notified()[0] for _ in range(4)]
    _at_day(clock, 3)
    workers = [create_app(settings, clock=clock) for _ in range(4)]
    barrier = threading.Barrier(len(workers))
    claimed: list[int] = []
    errors: list[BaseException] = []

    def work(worker: Flask) -> None:
        try:
            with worker.app_context():
                barrier.wait(timeout=30)
                claimed.append(jobs.send_reminders())
                db.session.remove()
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for worker in workers:
        with worker.app_context():
            db.engine.dispose()
        worker.extensions["wassit.redis"].close()
    assert errors == []
    assert sum(claimed) == len(ids)
    run_jobs()
    for letter_id in ids:
        assert [m.reminder_number for m in _reminders(app, letter_id)] == [1]
        assert letter_row(app, letter_id).reminders_sent == 1
    assert len(outbox()) == 2 * len(ids)
    with app.app_context():
        assert db.session.execute(select(func.count(OutboundMessage.id))).scalar_one() == 2 * len(ids)
        db.session.remove()


# --- configuration -----------------------------------------------------------------------------


def test_reminder_days_are_read_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_reminder_days("3,7,12") == (3, 7, 12)
    assert parse_reminder_days(" 2, 9 ") == (2, 9)
    assert parse_reminder_days("none") == ()
    with pytest.raises(ConfigError):
        parse_reminder_days("three")
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("REMINDER_DAYS", raising=False)
    assert Settings.from_env().reminder_days == (3, 7, 12)
    monkeypatch.setenv("REMINDER_DAYS", "5,10")
    assert Settings.from_env().reminder_days == (5, 10)
    for bad in ("7,3", "0,3", "3,3"):
        monkeypatch.setenv("REMINDER_DAYS", bad)
        with pytest.raises(ConfigError):
            Settings.from_env()


# --- the reminder SMS fits the same budget as the notification ----------------------------------


@pytest.mark.parametrize("language", ["fr", "en", "ar"])
@pytest.mark.parametrize("public_url", ["https://wassit.ma", "https://lre.wassit.ma"])
def test_the_reminder_sms_fits_one_gsm7_part_or_two_ucs2_parts(app: Flask, language: str, public_url: str) -> None:
    with app.app_context():
        for token in ("Zz_-09AaBbCcDdEeFfGg_-", secrets.token_urlsafe(16)):
            text = reminder_sms(
                language=language,
                service_name="Wassit",
                reference="K7PM-4XQ2",
                link=f"{public_url}/l/{token}",
                deadline=START + timedelta(days=15),
            )
            assert "K7PM-4XQ2" in text
            assert f"{public_url}/l/{token}" in text
            length = sms_length(text)
            if length.encoding == "GSM-7":
                assert length.units <= GSM7_BUDGET, (language, text)
            else:
                assert language == "ar", f"{language} reminder is not GSM-7: {text!r}"
                assert length.units <= UCS2_BUDGET, text
