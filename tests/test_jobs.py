"""Notification jobs: enqueued after commit, idempotent, safe across crashes, retries and Redis outages."""

from __future__ import annotations

import itertools
import json
import re
from datetime import timedelta
from typing import Any

import pytest
import redis
from flask import Flask
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import func, select

from tests.conftest import START, Sender, make_pdf_bytes
from tests.db_helpers import letter_row, only_message
from webapp import jobs
from webapp.clock import FrozenClock
from webapp.extensions import db
from webapp.letters import lifecycle, notifications
from webapp.letters.deposit import DepositRequest, deposit_letter
from webapp.letters.notifications import dispatch_message, message_job_id
from webapp.letters.recipient import request_code
from webapp.letters.states import Event, LetterStatus
from webapp.models import Evidence, Letter, MessagePurpose, MessageStatus, OutboundMessage, User
from webapp.notify.sms import PermanentSmsError, SmsReceipt, TransientSmsError
from webapp.notify.sms.console import ConsoleSmsProvider
from webapp.queue import every_queue
from webapp.services import Services, current_services
from webapp.sweepers import requeue_stalled_messages

LINK = re.compile(r"https://wassit\.ma/l/([A-Za-z0-9_-]+)")
SEND_JOB = "webapp.letters.notifications.send_message_job"
PROOF_JOB = "webapp.letters.proofs.issue_proof_job"
CHECKPOINT_JOB = "webapp.trust.journal.checkpoint_journal_job"


class SimulatedCrash(Exception):
    """Stands for the worker dying (OOM kill, power cut) at a chosen point."""


class FakeProvider:
    """An SMS provider whose every answer the test chooses; it records each call."""

    name = "fake"

    def __init__(
        self,
        *,
        errors: list[Exception] | None = None,
        always: Exception | None = None,
        found: SmsReceipt | bool | None = None,
    ) -> None:
        self.errors = list(errors or [])
        self.always = always
        self.found = found
        self.sent: list[dict[str, str]] = []
        self.lookups: list[str] = []

    def send(self, *, to: str, text: str, client_ref: str) -> SmsReceipt:
        if self.always is not None:
            raise self.always
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append({"to": to, "text": text, "client_ref": client_ref})
        return SmsReceipt(provider=self.name, message_id=f"fake-{len(self.sent)}")

    def find_sent(self, client_ref: str) -> SmsReceipt | bool | None:
        self.lookups.append(client_ref)
        return self.found


class CrashingProvider:
    """Wraps a real provider; the first send crashes before or after the provider has the message."""

    def __init__(self, inner: ConsoleSmsProvider, *, crash: str, can_tell: bool = True) -> None:
        self.inner = inner
        self.name = inner.name
        self.crash = crash
        self.can_tell = can_tell
        self.sends = 0

    def send(self, *, to: str, text: str, client_ref: str) -> SmsReceipt:
        self.sends += 1
        if self.sends == 1 and self.crash == "before":
            raise SimulatedCrash("died before the provider call")
        receipt = self.inner.send(to=to, text=text, client_ref=client_ref)
        if self.sends == 1 and self.crash == "after":
            raise SimulatedCrash("died after the provider call, before the commit")
        return receipt

    def find_sent(self, client_ref: str) -> SmsReceipt | bool | None:
        return self.inner.find_sent(client_ref) if self.can_tell else False


# --- helpers -------------------------------------------------------------------------------------


def _services(app: Flask) -> Services:
    services: Services = app.extensions["wassit"]
    return services


def _install(app: Flask, provider: Any) -> None:
    _services(app).sms = provider


def _events(app: Flask, letter_id: str) -> list[str]:
    with app.app_context():
        return list(
            db.session.execute(
                select(Evidence.event).where(Evidence.letter_id == letter_id).order_by(Evidence.seq)
            ).scalars()
        )


def _queued(app: Flask, func_name: str | None = SEND_JOB) -> list[str]:
    """Ids of the queued jobs of `func_name` (the notification job by default; None: every job)."""
    with app.app_context():
        return [job.id for job in every_queue().jobs if func_name is None or job.func_name == func_name]


def _run_job_again(app: Flask, message_id: str) -> str | None:
    """Runs the send job in a fresh app context, as a worker does for a retry."""
    with app.app_context():
        try:
            return jobs.send_message(message_id)
        finally:
            db.session.remove()


def _release_scheduled_retries(app: Flask) -> int:
    """Moves RQ's scheduled retries to the queue, as its scheduler does once their delay is over."""
    with app.app_context():
        return every_queue().requeue_scheduled()


def _dead_redis() -> redis.Redis:
    """A client of a Redis that is not there (a closed port), failing at once without retries."""
    return redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))


def _deposit(app: Flask, sender: Sender) -> Letter:
    user = db.session.get_one(User, sender.user_id)
    return deposit_letter(
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


# --- (1) enqueued after commit -------------------------------------------------------------------


def test_a_deposit_enqueues_one_job_only_after_commit(app: Flask, sender: Sender) -> None:
    with app.app_context():
        queue = every_queue()
        letter = _deposit(app, sender)
        db.session.flush()
        assert queue.count == 0, "nothing may be enqueued before the commit"
        message = db.session.execute(select(OutboundMessage).where(OutboundMessage.letter_id == letter.id)).scalar_one()
        db.session.commit()
        # Exactly one notification job (beside them: the deposit proof and the journal's checkpoint).
        assert [job.id for job in queue.jobs if job.func_name == SEND_JOB] == [message_job_id(message.id)]
        assert sorted(job.func_name for job in queue.jobs) == [SEND_JOB, PROOF_JOB, CHECKPOINT_JOB]
        job = queue.fetch_job(message_job_id(message.id))
        assert job is not None
        assert job.func_name == "webapp.letters.notifications.send_message_job"
        assert job.args == (message.id,)  # ids only
        assert job.retries_left  # transient failures are retried


def test_a_rolled_back_deposit_enqueues_nothing(app: Flask, sender: Sender) -> None:
    with app.app_context():
        queue = every_queue()
        _deposit(app, sender)
        db.session.rollback()
        assert queue.count == 0
        # A later commit of the same session does not push the forgotten job either.
        db.session.commit()
        assert queue.count == 0
        assert db.session.execute(select(func.count(Letter.id))).scalar_one() == 0
        assert db.session.execute(select(func.count(OutboundMessage.id))).scalar_one() == 0


def test_an_api_deposit_enqueues_exactly_one_job(app: Flask, deposit: Any) -> None:
    letter_id = deposit().json["id"]
    message = only_message(app, letter_id)
    assert _queued(app) == [message_job_id(message.id)]
    assert len(_queued(app, PROOF_JOB)) == 1  # the deposit proof
    assert _queued(app, CHECKPOINT_JOB) == ["journal-checkpoint"]


def test_a_refused_api_deposit_enqueues_nothing(app: Flask, deposit: Any) -> None:
    response = deposit(recipient_phone="0522123456")
    assert response.status_code == 422
    response = deposit(document=b"not a pdf")
    assert response.status_code == 422
    assert _queued(app, None) == []


# --- (2) idempotent send -------------------------------------------------------------------------


def test_running_the_send_job_twice_sends_one_sms(
    app: Flask, deposit: Any, run_jobs: Any, outbox: Any, clock: FrozenClock
) -> None:
    letter_id = deposit().json["id"]
    message = only_message(app, letter_id)
    notified_at = clock.advance(42)

    run_jobs()
    # The same job again, through the queue and directly.
    with app.app_context():
        every_queue().enqueue("webapp.jobs.send_message", message.id)
    run_jobs()
    assert _run_job_again(app, message.id) == MessageStatus.SENT.value

    [sms] = outbox()
    assert sms["to"] == "+212612345678"
    sent = only_message(app, letter_id)
    assert sent.status is MessageStatus.SENT
    assert sent.attempts == 1
    assert sent.sent_at == notified_at
    letter = letter_row(app, letter_id)
    assert letter.status is LetterStatus.NOTIFIED
    assert letter.notified_at == notified_at
    acceptance_period = _services(app).settings.acceptance_period
    assert acceptance_period == 15 * 24 * 3600
    assert letter.deadline_at == notified_at + timedelta(seconds=acceptance_period)
    assert letter.deadline_at == START + timedelta(days=15, seconds=42)
    assert _events(app, letter_id) == [
        Event.SUBMISSION_ACCEPTANCE.value,
        Event.CONSIGNMENT_NOTIFICATION.value,
    ]


def test_the_deadline_follows_acceptance_period(app: Flask, deposit: Any, run_jobs: Any, clock: FrozenClock) -> None:
    services = _services(app)
    services.settings = services.settings.replace(acceptance_period=5)
    letter_id = deposit().json["id"]
    run_jobs()
    letter = letter_row(app, letter_id)
    assert letter.deadline_at == clock.now() + timedelta(seconds=5)


# --- (3), (4), (5) crashes -----------------------------------------------------------------------


def test_crash_after_the_provider_call_is_finished_without_a_second_sms(
    app: Flask, deposit: Any, run_jobs: Any, outbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_mark_sent = notifications._mark_sent
    calls = {"n": 0}

    def crash_once(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise SimulatedCrash("worker died between the provider call and the commit")
        real_mark_sent(*args, **kwargs)

    monkeypatch.setattr(notifications, "_mark_sent", crash_once)
    letter_id = deposit().json["id"]
    run_jobs()

    assert len(outbox()) == 1
    stuck = only_message(app, letter_id)
    assert stuck.status is MessageStatus.SUBMITTING
    assert letter_row(app, letter_id).status is LetterStatus.DEPOSITED

    # RQ retries the job after its delay; the retry asks the provider instead of resending.
    assert _release_scheduled_retries(app) == 1
    run_jobs()

    assert len(outbox()) == 1
    done = only_message(app, letter_id)
    assert done.status is MessageStatus.SENT
    assert done.provider == "console"
    assert done.provider_message_id == done.id  # found in the outbox by its client reference
    assert done.attempts == 1
    assert done.secret_ciphertext is None
    letter = letter_row(app, letter_id)
    assert letter.status is LetterStatus.NOTIFIED
    assert _events(app, letter_id).count(Event.CONSIGNMENT_NOTIFICATION.value) == 1


def test_crash_after_the_provider_call_with_a_provider_that_cannot_tell(
    app: Flask, deposit: Any, run_jobs: Any, outbox: Any
) -> None:
    provider = CrashingProvider(_services(app).sms, crash="after", can_tell=False)  # type: ignore[arg-type]
    _install(app, provider)
    letter_id = deposit().json["id"]
    run_jobs()
    assert len(outbox()) == 1
    message = only_message(app, letter_id)
    assert message.status is MessageStatus.SUBMITTING

    assert _run_job_again(app, message.id) == MessageStatus.UNCERTAIN.value
    assert _run_job_again(app, message.id) == MessageStatus.UNCERTAIN.value

    assert provider.sends == 1
    assert len(outbox()) == 1
    message = only_message(app, letter_id)
    assert message.status is MessageStatus.UNCERTAIN
    assert message.last_error
    assert letter_row(app, letter_id).status is LetterStatus.DEPOSITED
    assert _events(app, letter_id) == [Event.SUBMISSION_ACCEPTANCE.value]
    # The sweeper leaves an uncertain message alone.
    with app.app_context():
        assert requeue_stalled_messages(db.session, current_services(), older_than=0) == 0


def test_crash_before_the_provider_call_sends_exactly_once_on_retry(
    app: Flask, deposit: Any, run_jobs: Any, outbox: Any
) -> None:
    provider = CrashingProvider(_services(app).sms, crash="before")  # type: ignore[arg-type]
    _install(app, provider)
    letter_id = deposit().json["id"]
    run_jobs()
    assert outbox() == []
    message = only_message(app, letter_id)
    assert message.status is MessageStatus.SUBMITTING

    assert _release_scheduled_retries(app) == 1
    run_jobs()
    assert _run_job_again(app, message.id) == MessageStatus.SENT.value

    [sms] = outbox()
    assert sms["id"] == message.id
    assert provider.sends == 2
    assert only_message(app, letter_id).status is MessageStatus.SENT
    assert letter_row(app, letter_id).status is LetterStatus.NOTIFIED


# --- (6) Redis down at deposit -------------------------------------------------------------------


def test_redis_down_at_deposit_still_stores_and_sends_later(
    app: Flask, deposit: Any, run_jobs: Any, outbox: Any
) -> None:
    real_redis = app.extensions["wassit.redis"]
    dead = _dead_redis()
    app.extensions["wassit.redis"] = dead
    try:
        response = deposit()
    finally:
        app.extensions["wassit.redis"] = real_redis
        dead.close()
    assert response.status_code == 201, response.json
    letter_id = response.json["id"]
    assert response.json["status"] == "deposited"
    assert only_message(app, letter_id).status is MessageStatus.PENDING
    assert _queued(app, None) == []
    run_jobs()
    assert outbox() == []

    with app.app_context():
        services = current_services()
        # Too recent for the default sweep, which leaves fresh messages to their own job.
        assert requeue_stalled_messages(db.session, services) == 0
        assert requeue_stalled_messages(db.session, services, older_than=0) == 1
        # Sweeping again before the worker runs does not queue it twice.
        assert requeue_stalled_messages(db.session, services, older_than=0) == 1
        assert every_queue().count == 1
    run_jobs()

    [sms] = outbox()
    assert sms["to"] == "+212612345678"
    assert letter_row(app, letter_id).status is LetterStatus.NOTIFIED
    with app.app_context():
        assert requeue_stalled_messages(db.session, current_services(), older_than=0) == 0
    run_jobs()
    assert len(outbox()) == 1


def test_the_requeue_job_sweeps_stalled_messages(
    app: Flask, deposit: Any, run_jobs: Any, outbox: Any, clock: FrozenClock
) -> None:
    real_redis = app.extensions["wassit.redis"]
    dead = _dead_redis()
    app.extensions["wassit.redis"] = dead
    try:
        assert deposit().status_code == 201
    finally:
        app.extensions["wassit.redis"] = real_redis
        dead.close()
    clock.advance(31)
    with app.app_context():
        assert jobs.requeue_messages() == 1
        db.session.remove()
    run_jobs()
    assert len(outbox()) == 1


# --- (7), (8) provider failures ------------------------------------------------------------------


def test_transient_errors_back_off_then_give_up(
    app: Flask, deposit: Any, run_jobs: Any, outbox: Any, clock: FrozenClock
) -> None:
    provider = FakeProvider(always=TransientSmsError("vonage status 1"))
    _install(app, provider)
    services = _services(app)
    max_attempts = services.settings.sms_max_attempts
    assert max_attempts == 8
    letter_id = deposit().json["id"]

    delays = []
    for attempt in range(1, max_attempts):
        run_jobs()
        message = only_message(app, letter_id)
        assert message.status is MessageStatus.PENDING
        assert message.attempts == attempt
        assert message.last_error == "vonage status 1"
        assert message.next_attempt_at is not None
        delays.append((message.next_attempt_at - clock.now()).total_seconds())
        assert message.secret_ciphertext is not None  # kept for the next attempt
        assert letter_row(app, letter_id).status is LetterStatus.DEPOSITED
        clock.advance(delays[-1])
        # RQ retries the job a few times; after that the sweeper re-enqueues the pending message.
        if not _release_scheduled_retries(app):
            with app.app_context():
                assert requeue_stalled_messages(db.session, current_services(), older_than=0) == 1

    assert delays[0] > 0
    assert all(later >= earlier for earlier, later in itertools.pairwise(delays))
    assert delays[-1] > delays[0]
    assert max(delays) <= 15 * 60

    run_jobs()  # the last attempt
    message = only_message(app, letter_id)
    assert message.status is MessageStatus.FAILED
    assert message.attempts == max_attempts
    assert message.next_attempt_at is None
    assert message.secret_ciphertext is None
    assert f"gave up after {max_attempts} attempts" in (message.last_error or "")
    letter = letter_row(app, letter_id)
    assert letter.status is LetterStatus.UNDELIVERABLE
    assert letter.deadline_at is None
    assert _events(app, letter_id) == [
        Event.SUBMISSION_ACCEPTANCE.value,
        Event.CONSIGNMENT_NOTIFICATION_FAILURE.value,
    ]
    with app.app_context():
        record = db.session.execute(select(Evidence).order_by(Evidence.seq.desc()).limit(1)).scalar_one()
        details = json.loads(record.canonical)["details"]
        assert "gave up" in details["reason"]
        assert details["notification"]["message_id"] == message.id

    # Whatever retries RQ still holds change nothing.
    _release_scheduled_retries(app)
    run_jobs()
    assert only_message(app, letter_id).attempts == max_attempts
    assert provider.sent == []
    assert outbox() == []


def test_a_transient_error_then_success_sends_once(app: Flask, deposit: Any, run_jobs: Any, clock: FrozenClock) -> None:
    provider = FakeProvider(errors=[TransientSmsError("timeout"), TransientSmsError("vonage status 5")])
    _install(app, provider)
    letter_id = deposit().json["id"]
    for _ in range(2):
        run_jobs()
        assert only_message(app, letter_id).status is MessageStatus.PENDING
        clock.advance(600)
        assert _release_scheduled_retries(app) == 1
    run_jobs()
    message = only_message(app, letter_id)
    assert message.status is MessageStatus.SENT
    assert message.attempts == 3
    assert message.provider == "fake"
    assert message.provider_message_id == "fake-1"
    assert len(provider.sent) == 1
    letter = letter_row(app, letter_id)
    assert letter.status is LetterStatus.NOTIFIED
    assert letter.notified_at == clock.now()


def test_a_permanent_error_makes_the_letter_undeliverable_at_once(
    app: Flask, deposit: Any, run_jobs: Any, outbox: Any
) -> None:
    provider = FakeProvider(always=PermanentSmsError("vonage status 6"))
    _install(app, provider)
    letter_id = deposit().json["id"]
    run_jobs()

    message = only_message(app, letter_id)
    assert message.status is MessageStatus.FAILED
    assert message.attempts == 1
    assert message.last_error == "vonage status 6"
    assert message.secret_ciphertext is None
    assert letter_row(app, letter_id).status is LetterStatus.UNDELIVERABLE
    assert _events(app, letter_id) == [
        Event.SUBMISSION_ACCEPTANCE.value,
        Event.CONSIGNMENT_NOTIFICATION_FAILURE.value,
    ]
    with app.app_context():
        record = db.session.execute(select(Evidence).order_by(Evidence.seq.desc()).limit(1)).scalar_one()
        assert json.loads(record.canonical)["details"]["reason"] == "vonage status 6"
    # No retry is scheduled, and running the job again does nothing.
    assert _release_scheduled_retries(app) == 0
    assert _run_job_again(app, message.id) == MessageStatus.FAILED.value
    assert outbox() == []


# --- (9) secrets ---------------------------------------------------------------------------------


def test_the_secret_is_erased_once_sent_and_only_in_the_link(
    app: Flask, deposit: Any, run_jobs: Any, outbox: Any, settings: Any
) -> None:
    letter_id = deposit().json["id"]
    pending = only_message(app, letter_id)
    assert pending.secret_ciphertext is not None
    run_jobs()

    sent = only_message(app, letter_id)
    assert sent.status is MessageStatus.SENT
    assert (sent.secret_key_id, sent.secret_wrapped_key, sent.secret_nonce, sent.secret_ciphertext) == (
        None,
        None,
        None,
        None,
    )
    [line] = settings.sms_outbox.read_text(encoding="utf-8").splitlines()
    match = LINK.search(json.loads(line)["text"])
    assert match
    token = match.group(1)
    assert line.count(token) == 1, "the token appears only inside the link"
    assert f"https://wassit.ma/l/{token}" in line
    record = json.loads(line)
    assert token not in record["id"]
    assert token not in record["to"]
    with app.app_context():
        for canonical in db.session.execute(select(Evidence.canonical)).scalars():
            assert token not in canonical
    # With the secret gone, a forced resend cannot happen.
    assert _run_job_again(app, sent.id) == MessageStatus.SENT.value
    assert len(outbox()) == 1


# --- (10) code messages --------------------------------------------------------------------------


def _request_code(app: Flask, letter_id: str) -> None:
    with app.app_context():
        request_code(db.session, current_services(), db.session.get_one(Letter, letter_id))
        db.session.commit()
        db.session.remove()


@pytest.mark.parametrize("status", [LetterStatus.NOTIFIED, LetterStatus.ACCEPTED])
def test_code_messages_do_not_change_the_letter(
    app: Flask,
    deposit: Any,
    run_jobs: Any,
    outbox: Any,
    clock: FrozenClock,
    status: LetterStatus,
) -> None:
    letter_id = deposit().json["id"]
    run_jobs()
    if status is LetterStatus.ACCEPTED:
        with app.app_context():
            letter = db.session.get_one(Letter, letter_id)
            lifecycle.transition(db.session, letter, status, at=clock.now(), issuer="test")
            db.session.commit()
            db.session.remove()
    before = letter_row(app, letter_id)
    events = _events(app, letter_id)
    clock.advance(120)

    _request_code(app, letter_id)
    run_jobs()

    assert len(outbox()) == 2
    assert re.search(r"\b\d{6}\b", outbox()[-1]["text"])
    code = only_message(app, letter_id, MessagePurpose.CODE)
    assert code.status is MessageStatus.SENT
    assert code.secret_ciphertext is None
    after = letter_row(app, letter_id)
    assert after.status is status
    assert (after.version, after.notified_at, after.deadline_at, after.decided_at) == (
        before.version,
        before.notified_at,
        before.deadline_at,
        before.decided_at,
    )
    # The code's SMS is evidence of its own (issue 13), and nothing else.
    assert _events(app, letter_id) == [*events, Event.RECIPIENT_CODE_SENT.value]


def test_a_failed_code_message_does_not_change_the_letter(app: Flask, deposit: Any, run_jobs: Any) -> None:
    letter_id = deposit().json["id"]
    run_jobs()
    _install(app, FakeProvider(always=PermanentSmsError("vonage status 7")))
    _request_code(app, letter_id)
    run_jobs()
    assert only_message(app, letter_id, MessagePurpose.CODE).status is MessageStatus.FAILED
    assert letter_row(app, letter_id).status is LetterStatus.NOTIFIED
    assert Event.CONSIGNMENT_NOTIFICATION_FAILURE.value not in _events(app, letter_id)
    assert Event.RECIPIENT_CODE_SENT.value not in _events(app, letter_id)


def test_dispatching_an_unknown_message_is_harmless(app: Flask) -> None:
    with app.app_context():
        assert dispatch_message(db.session, current_services(), "no-such-message") is None


def test_every_periodic_job_is_a_job_function_and_every_sweeper_is_scheduled() -> None:
    from worker.app_worker import PERIODIC_JOBS, _import

    functions = {name for name, _seconds in PERIODIC_JOBS}
    for name in functions:
        assert callable(_import(name)), name
    # Each kind of work a lost Redis job could strand has its sweeper on the schedule.
    sweepers = {
        f"webapp.jobs.{name}"
        for name in dir(jobs)
        if name.startswith("requeue_") and getattr(jobs, name).__module__ == "webapp.jobs"
    }
    assert sweepers == {
        "webapp.jobs.requeue_messages",
        "webapp.jobs.requeue_proofs",
        "webapp.jobs.requeue_webhooks",
        "webapp.jobs.requeue_batches",
        "webapp.jobs.requeue_account_emails",
    }
    assert sweepers <= functions
