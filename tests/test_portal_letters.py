"""The portal's letters: the sender's own reference at compose, and "send the notification again"."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import Sender
from tests.db_helpers import evidence_rows, letter_row
from tests.portal_helpers import ENGLISH, csrf_token, log_in


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
