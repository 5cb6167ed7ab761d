"""The portal's letters: the sender's own reference at compose, "send the notification again", and the
letter's page (its live part over htmx, its timeline)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import START, Sender
from tests.db_helpers import evidence_rows, letter_row
from tests.portal_helpers import ENGLISH, csrf_token, log_in
from webapp.clock import FrozenClock
from webapp.extensions import db
from webapp.letters.recipient import expire_overdue_letters
from webapp.models import Evidence, OutboundMessage
from webapp.web.portal.letters import _notification_label, timeline


def _notified(deposit: Any, run_jobs: Callable[[], None]) -> str:
    created = deposit()
    assert created.status_code == 201, created.json
    run_jobs()
    return str(created.json["id"])


def _resend(client: FlaskClient, letter_id: str) -> Any:
    page = client.get(f"/letters/{letter_id}", headers=ENGLISH)
    return client.post(
        f"/letters/{letter_id}/resend",
        data={"csrf_token": csrf_token(page.text)},
        headers=ENGLISH,
        follow_redirects=True,
    )


def test_compose_keeps_the_senders_own_reference(
    app: Flask, client: FlaskClient, sender: Sender, pdf: Callable[..., bytes]
) -> None:
    log_in(client, sender)
    form = client.get("/letters/new", headers=ENGLISH)
    response = client.post(
        "/letters/new",
        data={
            "csrf_token": csrf_token(form.text),
            "document": (io.BytesIO(pdf()), "lettre.pdf"),
            "recipient_name": "Youssef Alami",
            "recipient_phone": "0612345678",
            "sender_reference": "DOSSIER-2026-114",
            "language": "fr",
        },
        content_type="multipart/form-data",
        headers=ENGLISH,
    )
    assert response.status_code == 303, response.text[:2000]
    page = client.get(response.headers["Location"], headers=ENGLISH)
    assert "DOSSIER-2026-114" in page.text
    letter_id = response.headers["Location"].rsplit("/", 1)[1]
    assert letter_row(app, letter_id).sender_reference == "DOSSIER-2026-114"


def test_a_sender_sends_the_notification_again_once_per_interval(
    app: Flask,
    client: FlaskClient,
    sender: Sender,
    deposit: Any,
    run_jobs: Callable[[], None],
    outbox: Callable[[], list[dict[str, Any]]],
) -> None:
    letter_id = _notified(deposit, run_jobs)
    log_in(client, sender)
    assert "Send the notification again" in client.get(f"/letters/{letter_id}", headers=ENGLISH).text
    before = len(outbox())

    page = _resend(client, letter_id)
    assert "The notification is being sent again, with a new link." in page.text
    run_jobs()
    [again] = outbox()[before:]
    assert again["to"] == "+212612345678"
    assert "/l/" in again["text"]
    details = [e for e in evidence_rows(app, letter_id) if e.event == "ConsignmentReminder"]
    assert len(details) == 1
    page = client.get(f"/letters/{letter_id}", headers=ENGLISH)
    assert "Notification sent again by SMS, at the sender&#39;s request" in page.text
    assert "Sent again at your request" in page.text

    limited = _resend(client, letter_id)
    assert "You can send it again in 10 min." in limited.text
    run_jobs()
    assert len(outbox()) == before + 1


def test_another_organisation_cannot_resend(
    client: FlaskClient, make_sender: Callable[..., Sender], deposit: Any, run_jobs: Callable[[], None]
) -> None:
    letter_id = _notified(deposit, run_jobs)
    stranger = make_sender(org="Autre Société SARL")
    log_in(client, stranger)
    page = client.get("/letters", headers=ENGLISH)
    response = client.post(f"/letters/{letter_id}/resend", data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 404


# --- the letter's page: live part, timeline ------------------------------------------------------

HTMX = {"HX-Request": "true", **ENGLISH}


def test_the_letter_page_refreshes_its_live_part_until_final_and_proofs_are_ready(
    app: Flask, client: FlaskClient, sender: Sender, deposit: Any, run_jobs: Callable[[], None], clock: FrozenClock
) -> None:
    letter_id = _notified(deposit, run_jobs)
    log_in(client, sender)
    page = client.get(f"/letters/{letter_id}", headers=ENGLISH)
    assert page.text.lstrip().lower().startswith("<!doctype html>")
    assert "HX-Request" in page.vary
    assert page.headers["Cache-Control"] == "no-store"
    live = client.get(f"/letters/{letter_id}", headers=HTMX)
    assert live.status_code == 200
    assert "HX-Request" in live.vary
    assert live.headers["Cache-Control"] == "no-store"
    assert live.text.lstrip().startswith(f'<div id="letter-live" class="letter-live" hx-get="/letters/{letter_id}"')
    assert 'hx-trigger="every 5s"' in live.text
    assert "<html" not in live.text
    assert "Fingerprint (SHA-256)" not in live.text  # the facts do not change: not polled
    assert "Send the notification again" in live.text

    clock.advance(app.extensions["wassit"].settings.acceptance_period + 1)
    with app.app_context():
        assert expire_overdue_letters(db.session, app.extensions["wassit"]) == 1
        db.session.remove()
    pending = client.get(f"/letters/{letter_id}", headers=HTMX).text
    assert "Not collected" in pending
    assert "Proof of negligence" in pending
    assert "being produced" in pending
    assert 'hx-trigger="every 5s"' in pending  # until the proof is ready
    assert "Send the notification again" not in pending

    run_jobs()
    done = client.get(f"/letters/{letter_id}", headers=HTMX).text
    assert f'href="/letters/{letter_id}/proofs/negligence"' in done
    assert "hx-trigger" not in done
    assert "hx-get" not in done


def test_each_timeline_entry_links_to_its_public_verification(
    app: Flask, client: FlaskClient, sender: Sender, deposit: Any, run_jobs: Callable[[], None]
) -> None:
    letter_id = _notified(deposit, run_jobs)
    log_in(client, sender)
    page = client.get(f"/letters/{letter_id}", headers=ENGLISH).text
    records = evidence_rows(app, letter_id)
    assert [r.event for r in records] == ["SubmissionAcceptance", "ConsignmentNotification"]
    for record in records:
        assert f'href="/verify/{record.id}"' in page
        assert f'<code dir="ltr">{record.id[:8]}</code>' in page
        assert f'datetime="{record.occurred_at.isoformat()}"' in page
    assert page.index("Letter deposited") < page.index("Recipient notified by SMS")
    assert client.get(f"/verify/{records[0].id}").status_code == 200


@pytest.mark.parametrize(
    ("channel", "label"),
    [
        ("sms", "Notification sent again by SMS by our support team"),
        ("email", "Notification sent again by email by our support team"),
    ],
)
def test_a_resend_by_our_support_team_is_named_in_the_timeline(app: Flask, channel: str, label: str) -> None:
    record = Evidence(
        id="e1",
        event="ConsignmentReminder",
        occurred_at=START,
        canonical=json.dumps(
            {
                "event": "ConsignmentReminder",
                "at": START.isoformat(),
                "details": {"notification": {"channel": channel, "reason": "support"}},
            }
        ),
    )
    sender_resend = Evidence(
        id="e2",
        event="ConsignmentReminder",
        occurred_at=START,
        canonical=json.dumps(
            {
                "event": "ConsignmentReminder",
                "at": START.isoformat(),
                "details": {"notification": {"channel": channel, "reason": "resend"}},
            }
        ),
    )
    with app.test_request_context(headers=ENGLISH):
        [entry, other] = timeline([record, sender_resend])
        assert entry.label == label
        assert "at the sender's request" in other.label


def test_a_notification_sent_again_by_our_support_team_says_so(app: Flask) -> None:
    by_agent = OutboundMessage(requested_by_agent_id="agent-1", requested_by_user_id=None, reminder_number=1)
    by_sender = OutboundMessage(requested_by_user_id="user-1", reminder_number=1)
    scheduled = OutboundMessage(reminder_number=2)
    with app.test_request_context(headers=ENGLISH):
        assert _notification_label(by_agent) == "Sent again by our support team"
        assert _notification_label(by_sender) == "Sent again at your request"
        assert _notification_label(scheduled) == "Reminder 2"
        assert _notification_label(OutboundMessage()) == "Notification"


def test_compose_can_hide_the_document_name_from_our_support_team(
    app: Flask, client: FlaskClient, sender: Sender, pdf: Callable[..., bytes]
) -> None:
    log_in(client, sender)
    form = client.get("/letters/new", headers=ENGLISH)
    assert 'name="document_confidential"' in form.text
    fields = {
        "recipient_name": "Youssef Alami",
        "recipient_phone": "0612345678",
        "language": "fr",
    }
    sent = []
    for confidential in (True, False):
        data = {"csrf_token": csrf_token(form.text), "document": (io.BytesIO(pdf()), "licenciement.pdf"), **fields}
        if confidential:
            data["document_confidential"] = "y"
        response = client.post("/letters/new", data=data, content_type="multipart/form-data", headers=ENGLISH)
        assert response.status_code == 303, response.text[:2000]
        sent.append(letter_row(app, response.headers["Location"].rsplit("/", 1)[1]))
    assert [letter.document_confidential for letter in sent] == [True, False]
    assert [letter.document_name for letter in sent] == ["licenciement.pdf"] * 2  # the sender still sees it
