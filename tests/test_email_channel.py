"""LRE by email with SMS notification: both outboxes, each notification its own evidence, the same
recipient flow, and SMTP against a real server (STARTTLS, implicit TLS, authentication, a refused
address, a server that is down then back).  When every channel fails, a proof of non-delivery."""

from __future__ import annotations

import io
import json
import re
import socket
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.conftest import START, Sender
from tests.db_helpers import evidence_rows, letter_row
from tests.portal_helpers import csrf_token, log_in
from tests.smtp_server import SmtpServer
from tests.trust_helpers import LINK, FailingSms, Letters, pdf_text, record_of
from tests.vonage_helpers import SECRET, FakeVonage, receipt_fields, sign
from webapp import jobs
from webapp.clock import FrozenClock
from webapp.config import ConfigError, Settings
from webapp.extensions import db
from webapp.letters.states import Event, LetterStatus
from webapp.models import Evidence, Letter, MessagePurpose, MessageStatus, OutboundMessage
from webapp.notify.email import OutgoingEmail, PermanentEmailError, TransientEmailError, make_email_provider
from webapp.notify.email.smtp import SmtpEmailProvider, parse_smtp_url
from webapp.notify.sms.console import ConsoleSmsProvider
from webapp.queue import every_queue
from webapp.services import Services

RECIPIENT_EMAIL = "youssef.alami@example.ma"
EMAIL = {"channel": "email", "recipient_email": RECIPIENT_EMAIL}
SENDER_FROM = "Wassit <no-reply@wassit.ma>"
MESSAGE = OutgoingEmail(
    to=RECIPIENT_EMAIL, subject="Lettre recommandée K7PM-4XQ2", text="Bonjour,\n", html="<p>Bonjour,</p>\n"
)


def _services(app: Flask) -> Services:
    services: Services = app.extensions["wassit"]
    return services


@pytest.fixture
def email_outbox(settings: Settings) -> Callable[[], list[dict[str, Any]]]:
    def read() -> list[dict[str, Any]]:
        path = settings.email_outbox_path
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]

    return read


@pytest.fixture
def letters(app: Flask, client: FlaskClient, sender: Sender, deposit: Any, run_jobs: Any, outbox: Any) -> Letters:
    return Letters(app, client, sender, deposit, run_jobs, outbox)


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[Callable[..., SmtpServer]]:
    servers: list[SmtpServer] = []

    def make(**kwargs: Any) -> SmtpServer:
        server = SmtpServer(tmp_path, **kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def _messages(app: Flask, letter_id: str, purpose: MessagePurpose = MessagePurpose.NOTIFICATION) -> dict[str, Any]:
    """The letter's messages of `purpose` by channel, detached."""
    with app.app_context():
        rows = list(
            db.session.execute(
                select(OutboundMessage).where(
                    OutboundMessage.letter_id == letter_id, OutboundMessage.purpose == purpose
                )
            ).scalars()
        )
        for row in rows:
            db.session.expunge(row)
        db.session.remove()
    return {row.channel: row for row in rows}


def _channel_of(record: Evidence) -> str:
    channel: str = record_of(record)["details"]["notification"]["channel"]
    return channel


def _release_scheduled_retries(app: Flask) -> int:
    """Moves RQ's scheduled retries to the queue, as its scheduler does once their delay is over."""
    with app.app_context():
        return every_queue().requeue_scheduled()


def _use_smtp(app: Flask, server: SmtpServer, **url: Any) -> None:
    _services(app).email = SmtpEmailProvider(server.url(**url), sender=SENDER_FROM, timeout=5, ca_file=server.ca_file)


# --- the email channel, console providers -----------------------------------------------------


def test_an_email_letter_reaches_both_outboxes_and_is_accepted_as_for_sms(
    app: Flask, letters: Letters, outbox: Any, email_outbox: Any, run_jobs: Any
) -> None:
    letter_id, path = letters.notified(**EMAIL)
    body = letters.api(letter_id)
    assert (body["status"], body["channel"]) == ("notified", "email")
    assert body["recipient"]["email"] == RECIPIENT_EMAIL

    [sms] = outbox()
    [email] = email_outbox()
    assert sms["to"] == "+212612345678"
    assert {"to", "subject", "text", "at"} <= email.keys()
    assert email["to"] == RECIPIENT_EMAIL
    reference = body["reference"]
    assert reference in email["subject"]
    assert reference in email["text"]
    # Our own domain's link, the same link as the SMS, in both alternatives.
    email_link = LINK.search(email["text"])
    assert email_link
    assert email_link.group(1) == path
    # The link carries the letter's language (French by default), in the SMS and the email alike.
    assert f"https://wassit.ma{path}/fr" in sms["text"]
    assert f"https://wassit.ma{path}/fr" in email["text"]
    assert f'href="https://wassit.ma{path}/fr"' in email["html"]
    assert "78" in email["text"]  # the mobile number's last digits, where the code will go
    # No sender identity before acceptance.
    for part in (email["subject"], email["text"], email["html"]):
        assert "Atlas" not in part

    notifications = [e for e in evidence_rows(app, letter_id) if e.event == Event.CONSIGNMENT_NOTIFICATION.value]
    assert sorted(_channel_of(e) for e in notifications) == ["email", "sms"]
    assert record_of(notifications[0])["details"]["to_status"] == "notified"  # the first one notified
    messages = _messages(app, letter_id)
    assert {c: m.status for c, m in messages.items()} == {"email": MessageStatus.SENT, "sms": MessageStatus.SENT}
    assert messages["email"].recipient == RECIPIENT_EMAIL

    # The same recipient flow: the code goes by SMS to the mobile, then acceptance.
    letters.decide(path, "accept")
    assert outbox()[-1]["to"] == "+212612345678"
    assert len(email_outbox()) == 1
    assert letters.api(letter_id)["status"] == "accepted"
    run_jobs()
    text = pdf_text(letters.proof(letter_id, "reception"))
    assert RECIPIENT_EMAIL in text
    assert text.count("Notification envoyée au destinataire") == 2


def test_the_email_is_written_in_the_letter_s_language(letters: Letters, email_outbox: Any) -> None:
    letters.notified(language="en", **EMAIL)
    letters.notified(language="ar", **EMAIL)
    english, arabic = email_outbox()
    assert english["subject"].startswith("Electronic registered letter ")
    assert english["text"].startswith("Hello Youssef Alami,")
    assert "Open the letter" in english["html"]
    assert '<html lang="en" dir="ltr">' in english["html"]
    assert '<html lang="ar" dir="rtl">' in arabic["html"]
    assert arabic["language"] == "ar"


def test_the_email_names_the_sender_only_when_configured(app: Flask, letters: Letters, email_outbox: Any) -> None:
    services = _services(app)
    services.settings = services.settings.replace(show_sender_in_sms=True)
    letters.notified(language="en", **EMAIL)
    [email] = email_outbox()
    assert "from Banque Atlas SA" in email["text"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"channel": "email"}, "recipient_email"),
        ({"channel": "email", "recipient_email": "not-an-email"}, "recipient_email"),
        ({"channel": "email", "recipient_email": RECIPIENT_EMAIL, "recipient_phone": "0522123456"}, "recipient_phone"),
        ({"channel": "fax", "recipient_email": RECIPIENT_EMAIL}, "channel"),
    ],
)
def test_an_email_letter_needs_an_email_address_and_a_mobile(
    app: Flask, deposit: Any, fields: dict[str, str], field: str
) -> None:
    response = deposit(**fields)
    assert response.status_code == 422
    assert response.json["error"]["field"] == field
    with app.app_context():
        assert db.session.execute(select(func.count(Letter.id))).scalar_one() == 0


def test_the_console_outbox_is_configurable(tmp_path: Path, settings: Settings) -> None:
    provider = make_email_provider(settings.replace(email_outbox=tmp_path / "mail" / "out.jsonl"))
    receipt = provider.send(email=MESSAGE, client_ref="message-1")
    assert receipt.message_id == "message-1"
    [line] = (tmp_path / "mail" / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["subject"] == MESSAGE.subject
    assert provider.find_sent("message-1") == receipt
    assert provider.find_sent("message-2") is None


# --- SMTP against a real server ------------------------------------------------------------------


def test_smtp_sends_a_multipart_email_after_starttls_and_authentication(smtp_server: Any) -> None:
    server = smtp_server(tls="starttls", credentials=("wassit", "p@ss word")).start()
    provider = SmtpEmailProvider(
        server.url(user="wassit", password="p%40ss%20word"), sender=SENDER_FROM, timeout=5, ca_file=server.ca_file
    )
    receipt = provider.send(email=MESSAGE, client_ref="message-42")
    [received] = server.received
    assert received.authenticated_as == "wassit"
    assert received.mail_from == "no-reply@wassit.ma"
    assert received.rcpt_tos == [RECIPIENT_EMAIL]
    message = received.message
    assert message["Subject"] == MESSAGE.subject
    assert message["From"] == SENDER_FROM
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert "message-42" in message["Message-ID"]
    assert receipt.provider == "smtp"
    assert receipt.message_id == message["Message-ID"].strip("<>")


def test_smtp_with_implicit_tls(smtp_server: Any) -> None:
    server = smtp_server(tls="implicit", credentials=("wassit", "secret")).start()
    provider = SmtpEmailProvider(
        server.url(user="wassit", password="secret"), sender=SENDER_FROM, timeout=5, ca_file=server.ca_file
    )
    provider.send(email=MESSAGE, client_ref="message-1")
    assert server.received[0].authenticated_as == "wassit"


def test_smtp_refuses_a_server_whose_certificate_it_cannot_verify(smtp_server: Any) -> None:
    server = smtp_server(tls="starttls", credentials=("wassit", "secret")).start()
    provider = SmtpEmailProvider(server.url(user="wassit", password="secret"), sender=SENDER_FROM, timeout=5)
    with pytest.raises(TransientEmailError, match="SSL"):
        provider.send(email=MESSAGE, client_ref="message-1")
    assert server.received == []


def test_smtp_wrong_credentials_are_a_configuration_problem_not_the_recipient_s(smtp_server: Any) -> None:
    server = smtp_server(tls="starttls", credentials=("wassit", "secret")).start()
    provider = SmtpEmailProvider(
        server.url(user="wassit", password="wrong"), sender=SENDER_FROM, timeout=5, ca_file=server.ca_file
    )
    with pytest.raises(TransientEmailError, match="authentication"):
        provider.send(email=MESSAGE, client_ref="message-1")
    assert server.received == []


def test_smtp_requires_starttls_unless_told_otherwise(smtp_server: Any) -> None:
    server = smtp_server().start()  # a plain relay that offers no STARTTLS
    with pytest.raises(TransientEmailError):
        SmtpEmailProvider(server.url(), sender=SENDER_FROM, timeout=5).send(email=MESSAGE, client_ref="m-1")
    assert server.received == []
    relay = SmtpEmailProvider(server.url(query="?starttls=false"), sender=SENDER_FROM, timeout=5)
    relay.send(email=MESSAGE, client_ref="m-2")
    assert len(server.received) == 1


def test_smtp_urls_are_checked_at_start_up() -> None:
    assert parse_smtp_url("smtp://u:p@mail.example.ma").port == 587
    assert parse_smtp_url("smtps://u:p@mail.example.ma").port == 465
    target = parse_smtp_url("smtp://user%40example.ma:p%3Aw@mail.example.ma:2525")
    assert (target.username, target.password, target.port, target.starttls) == ("user@example.ma", "p:w", 2525, True)
    for bad in ("http://mail.example.ma", "smtp://", "smtp://u:p@mail.example.ma:25?starttls=false"):
        with pytest.raises(ConfigError):
            parse_smtp_url(bad)
    with pytest.raises(ConfigError, match="SMTP_URL"):
        Settings(master_key=b"k" * 32, email_provider="smtp").validate()


@pytest.mark.parametrize(
    ("reply", "error"),
    [("550 5.1.1 No such user here", PermanentEmailError), ("451 4.7.1 Greylisted, try later", TransientEmailError)],
)
def test_smtp_sorts_refusals_into_permanent_and_temporary(smtp_server: Any, reply: str, error: type) -> None:
    server = smtp_server().start()
    server.mailbox.refuse[RECIPIENT_EMAIL] = reply
    provider = SmtpEmailProvider(server.url(query="?starttls=false"), sender=SENDER_FROM, timeout=5)
    with pytest.raises(error, match=reply.split()[0]) as info:
        provider.send(email=MESSAGE, client_ref="m-1")
    assert reply.split(" ", 1)[1] in str(info.value)


def test_smtp_server_down_or_silent_is_temporary(smtp_server: Any) -> None:
    server = smtp_server()  # never started: the connection is refused
    provider = SmtpEmailProvider(server.url(query="?starttls=false"), sender=SENDER_FROM, timeout=1)
    with pytest.raises(TransientEmailError, match="ConnectionRefusedError"):
        provider.send(email=MESSAGE, client_ref="m-1")
    # A server that takes the connection and never answers: the timeout.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        provider = SmtpEmailProvider(f"smtp://127.0.0.1:{port}?starttls=false", sender=SENDER_FROM, timeout=1)
        with pytest.raises(TransientEmailError, match="timed out"):
            provider.send(email=MESSAGE, client_ref="m-2")


# --- the email channel through the jobs, with a real SMTP server -----------------------------------


def test_an_email_letter_through_a_real_smtp_server(
    app: Flask, letters: Letters, smtp_server: Any, outbox: Any
) -> None:
    server = smtp_server(tls="starttls", credentials=("wassit", "secret")).start()
    _use_smtp(app, server, user="wassit", password="secret")
    letter_id, path = letters.notified(**EMAIL)
    [received] = server.received
    assert received.rcpt_tos == [RECIPIENT_EMAIL]
    text = received.message.get_body(("plain",))
    assert text is not None
    assert f"https://wassit.ma{path}" in text.get_content()
    email = _messages(app, letter_id)["email"]
    assert (email.status, email.provider) == (MessageStatus.SENT, "smtp")
    assert email.id in (email.provider_message_id or "")
    [notified] = [
        e
        for e in evidence_rows(app, letter_id)
        if e.event == Event.CONSIGNMENT_NOTIFICATION.value and _channel_of(e) == "email"
    ]
    assert record_of(notified)["details"]["notification"]["provider_message_id"] == email.provider_message_id


def test_a_refused_address_is_evidence_and_the_sms_still_notifies(
    app: Flask, letters: Letters, smtp_server: Any, client: FlaskClient
) -> None:
    server = smtp_server().start()
    server.mailbox.refuse[RECIPIENT_EMAIL] = "550 5.1.1 <youssef.alami@example.ma>: Recipient address rejected"
    _use_smtp(app, server, query="?starttls=false")
    letter_id, _ = letters.notified(**EMAIL)
    assert server.received == []
    email = _messages(app, letter_id)["email"]
    assert email.status is MessageStatus.FAILED
    assert email.attempts == 1
    assert "550" in (email.last_error or "")
    assert letter_row(app, letter_id).status is LetterStatus.NOTIFIED
    [failure] = [e for e in evidence_rows(app, letter_id) if e.event == Event.CONSIGNMENT_NOTIFICATION_FAILURE.value]
    details = record_of(failure)["details"]
    assert details["notification"]["channel"] == "email"
    assert "Recipient address rejected" in details["reason"]
    assert "to_status" not in details  # the letter did not change
    body = letters.api(letter_id)
    failed = [e for e in body["events"] if e["type"] == "ConsignmentNotificationFailure"]
    assert failed[0]["channel"] == "email"
    assert "550" in failed[0]["reason"]


def test_a_server_down_then_back_delivers_the_email_once(
    app: Flask, letters: Letters, smtp_server: Any, clock: FrozenClock, run_jobs: Any
) -> None:
    server = smtp_server()
    _use_smtp(app, server, query="?starttls=false")
    letter_id, _ = letters.notified(**EMAIL)  # the SMS goes, the email cannot
    email = _messages(app, letter_id)["email"]
    assert (email.status, email.attempts) == (MessageStatus.PENDING, 1)
    assert "ConnectionRefusedError" in (email.last_error or "")
    assert email.next_attempt_at is not None
    assert email.secret_ciphertext is not None  # kept for the next attempt
    assert letter_row(app, letter_id).status is LetterStatus.NOTIFIED  # by SMS

    server.start()
    clock.advance((email.next_attempt_at - clock.now()).total_seconds())
    assert _release_scheduled_retries(app) == 1
    run_jobs()
    assert len(server.received) == 1
    email = _messages(app, letter_id)["email"]
    assert (email.status, email.attempts) == (MessageStatus.SENT, 2)
    assert email.secret_ciphertext is None
    notified = [e for e in evidence_rows(app, letter_id) if e.event == Event.CONSIGNMENT_NOTIFICATION.value]
    assert sorted(_channel_of(e) for e in notified) == ["email", "sms"]
    # Whatever retries RQ still holds send nothing more.
    _release_scheduled_retries(app)
    run_jobs()
    assert len(server.received) == 1


def test_when_every_channel_fails_the_letter_is_undeliverable_with_a_proof_of_non_delivery(
    app: Flask, deposit: Any, smtp_server: Any, run_jobs: Any, letters: Letters
) -> None:
    server = smtp_server().start()
    server.mailbox.refuse[RECIPIENT_EMAIL] = "550 5.1.1 No such user"
    _use_smtp(app, server, query="?starttls=false")
    _services(app).sms = FailingSms()
    created = deposit(**EMAIL)
    assert created.status_code == 201
    letter_id = created.json["id"]
    run_jobs()
    letter = letter_row(app, letter_id)
    assert letter.status is LetterStatus.UNDELIVERABLE
    events = evidence_rows(app, letter_id)
    assert [e.event for e in events] == [
        Event.SUBMISSION_ACCEPTANCE.value,
        Event.CONSIGNMENT_NOTIFICATION_FAILURE.value,
        Event.CONSIGNMENT_NOTIFICATION_FAILURE.value,
    ]
    first, last = (record_of(e)["details"] for e in events[1:])
    assert "to_status" not in first  # one channel failed: the other could still reach the recipient
    assert last["to_status"] == "undeliverable"
    assert {first["notification"]["channel"], last["notification"]["channel"]} == {"email", "sms"}
    run_jobs()
    text = pdf_text(letters.proof(letter_id, "non_delivery"))
    assert "Preuve de non-distribution" in text
    assert text.count("Échec de la notification") == 2


# --- reminders on the email channel --------------------------------------------------------------


def test_an_email_letter_is_reminded_by_email_and_sms(
    app: Flask, letters: Letters, clock: FrozenClock, run_jobs: Any, outbox: Any, email_outbox: Any
) -> None:
    letter_id, _ = letters.notified(language="en", **EMAIL)
    clock.current = START + timedelta(days=3)
    with app.app_context():
        assert jobs.send_reminders() == 1
        db.session.remove()
    run_jobs()
    assert len(outbox()) == 2
    notification, reminder = email_outbox()
    assert reminder["subject"].startswith("Reminder: ")
    assert reminder["text"].startswith("Hello Youssef Alami,")
    sms_link, email_link = LINK.search(outbox()[-1]["text"]), LINK.search(reminder["text"])
    assert sms_link
    assert email_link
    assert sms_link.group(1) == email_link.group(1)  # one new link for the reminder
    assert email_link.group(1) not in notification["text"]
    reminders = [e for e in evidence_rows(app, letter_id) if e.event == Event.CONSIGNMENT_REMINDER.value]
    assert sorted(_channel_of(e) for e in reminders) == ["email", "sms"]


def test_a_refused_address_gets_no_reminder(
    app: Flask, letters: Letters, smtp_server: Any, clock: FrozenClock, run_jobs: Any
) -> None:
    server = smtp_server().start()
    server.mailbox.refuse[RECIPIENT_EMAIL] = "550 5.1.1 No such user"
    _use_smtp(app, server, query="?starttls=false")
    letter_id, _ = letters.notified(**EMAIL)
    clock.current = START + timedelta(days=3)
    with app.app_context():
        assert jobs.send_reminders() == 1
        db.session.remove()
    run_jobs()
    assert list(_messages(app, letter_id, MessagePurpose.REMINDER)) == ["sms"]


def test_the_default_sender_is_a_no_reply_on_our_domain(settings: Settings) -> None:
    assert settings.email_sender == "Wassit <no-reply@wassit.ma>"
    assert settings.replace(email_from="LRE <lre@example.ma>").email_sender == "LRE <lre@example.ma>"
    assert re.fullmatch(r".*email-outbox\.jsonl", str(settings.email_outbox_path))
    assert settings.email_outbox_path.parent == settings.instance_path


def test_the_portal_sends_a_letter_by_email_when_an_address_is_given(
    app: Flask, client: FlaskClient, sender: Sender, pdf: Callable[..., bytes], run_jobs: Any, email_outbox: Any
) -> None:
    log_in(client, sender)
    form = client.get("/letters/new")
    token = csrf_token(form.text)
    assert 'name="recipient_email"' in form.text
    response = client.post(
        "/letters/new",
        data={
            "csrf_token": token,
            "document": (io.BytesIO(pdf()), "lettre.pdf"),
            "recipient_name": "Youssef Alami",
            "recipient_phone": "0612345678",
            "recipient_email": RECIPIENT_EMAIL,
            "language": "fr",
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303, response.text[:2000]
    with app.app_context():
        letter = db.session.execute(select(Letter)).scalar_one()
        assert (letter.channel, letter.recipient_email) == ("email", RECIPIENT_EMAIL)
        db.session.remove()
    run_jobs()
    assert [e["to"] for e in email_outbox()] == [RECIPIENT_EMAIL]
    page = client.get(response.headers["Location"])
    assert RECIPIENT_EMAIL in page.text


def test_an_email_letter_becomes_undeliverable_when_the_sms_fails_at_the_operator_too(
    app: Flask, client: FlaskClient, letters: Letters, smtp_server: Any, clock: FrozenClock, run_jobs: Any
) -> None:
    services = _services(app)
    services.settings = services.settings.replace(vonage_signature_secret=SECRET)
    services.sms = FakeVonage(ConsoleSmsProvider(services.settings.sms_outbox))
    server = smtp_server().start()
    server.mailbox.refuse[RECIPIENT_EMAIL] = "550 5.1.1 No such user"
    _use_smtp(app, server, query="?starttls=false")
    letter_id, _ = letters.notified(**EMAIL)
    assert letter_row(app, letter_id).status is LetterStatus.NOTIFIED  # the SMS went out
    sms = _messages(app, letter_id)["sms"]
    fields = receipt_fields(sms, status="failed", err_code="4", signed_at=clock.now())
    assert client.post("/webhooks/vonage/dlr", data=sign(fields)).json == {"status": "recorded"}
    assert letter_row(app, letter_id).status is LetterStatus.UNDELIVERABLE
    run_jobs()
    assert "Preuve de non-distribution" in pdf_text(letters.proof(letter_id, "non_delivery"))
