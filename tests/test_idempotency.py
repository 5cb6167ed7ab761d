"""Idempotency keys on POST /api/v1/letters: the same key of the same organisation is the same
letter, never a second one, even when two requests race; a reused key with another request is
refused; keys of different organisations never meet."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.conftest import Sender, make_pdf_bytes
from tests.test_api import stored_state
from webapp import create_app
from webapp.clock import FrozenClock
from webapp.config import Settings
from webapp.extensions import db
from webapp.letters import deposit as deposit_module
from webapp.models import Letter, OutboundMessage

KEY = "4f1c2a9e-6a55-4c7b-9d0e-0c1c5b8d2f11"


def post(
    client: FlaskClient,
    sender: Sender,
    key: str | None = KEY,
    document: bytes | None = None,
    **fields: str,
) -> Any:
    data: dict[str, Any] = {"recipient_phone": "0612345678", "recipient_name": "Youssef Alami"}
    data.update(fields)
    data["document"] = (io.BytesIO(document if document is not None else make_pdf_bytes()), "lettre.pdf")
    headers = dict(sender.auth)
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post("/api/v1/letters", data=data, headers=headers, content_type="multipart/form-data")


def letter_count(app: Flask) -> int:
    with app.app_context():
        count = db.session.execute(select(func.count(Letter.id))).scalar_one()
        db.session.remove()
        return int(count)


def test_a_retry_with_the_same_key_returns_the_same_letter_and_sends_once(
    app: Flask, client: FlaskClient, sender: Sender, run_jobs: Callable[[], None], outbox: Any
) -> None:
    first = post(client, sender, sender_reference="DOSSIER-1")
    assert first.status_code == 201
    assert first.headers["Idempotent-Replayed"] == "false"
    again = post(client, sender, sender_reference="DOSSIER-1")
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json["id"] == first.json["id"]
    assert again.json["reference"] == first.json["reference"]
    assert again.headers["Location"] == first.headers["Location"]
    assert letter_count(app) == 1
    run_jobs()
    assert len(outbox()) == 1


def test_a_replay_shows_the_letter_as_it_is_now(
    client: FlaskClient, sender: Sender, run_jobs: Callable[[], None]
) -> None:
    assert post(client, sender).json["status"] == "deposited"
    run_jobs()
    assert post(client, sender).json["status"] == "notified"


@pytest.mark.parametrize(
    "change",
    [
        {"recipient_name": "Someone Else"},
        {"recipient_phone": "0612345679"},
        {"sender_reference": "ANOTHER"},
        {"language": "ar"},
        {"document": make_pdf_bytes(pages=2)},
    ],
    ids=["name", "phone", "sender_reference", "language", "document"],
)
def test_the_same_key_with_a_different_request_is_refused(
    app: Flask, client: FlaskClient, sender: Sender, change: dict[str, Any]
) -> None:
    assert post(client, sender).status_code == 201
    before = stored_state(app)
    response = post(client, sender, **change)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "idempotency_key_reused"
    assert response.json["error"]["field"] == "Idempotency-Key"
    assert stored_state(app) == before


def test_keys_of_different_organisations_never_collide(
    app: Flask, client: FlaskClient, sender: Sender, make_sender: Callable[..., Sender]
) -> None:
    other = make_sender(org="Immobilière du Souss")
    mine = post(client, sender)
    theirs = post(client, other)
    assert mine.status_code == theirs.status_code == 201
    assert mine.json["id"] != theirs.json["id"]
    assert theirs.headers["Idempotent-Replayed"] == "false"
    assert letter_count(app) == 2


def test_two_senders_of_one_organisation_share_its_keys(
    app: Flask, client: FlaskClient, sender: Sender, make_sender: Callable[..., Sender]
) -> None:
    colleague = make_sender()  # same organisation name: the same organisation
    assert colleague.organisation_id == sender.organisation_id
    assert post(client, sender).json["id"] == post(client, colleague).json["id"]
    assert letter_count(app) == 1


def test_without_a_key_every_request_is_a_new_letter(app: Flask, client: FlaskClient, sender: Sender) -> None:
    assert post(client, sender, key=None).json["id"] != post(client, sender, key=None).json["id"]
    assert "Idempotent-Replayed" not in post(client, sender, key=None).headers
    assert letter_count(app) == 3


def test_different_keys_are_different_letters(app: Flask, client: FlaskClient, sender: Sender) -> None:
    assert post(client, sender, key="a").json["id"] != post(client, sender, key="b").json["id"]
    assert letter_count(app) == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "clé-é", "tab\there"], ids=["empty", "too-long", "non-ascii", "tab"])
def test_a_malformed_key_is_refused_and_nothing_stored(
    app: Flask, client: FlaskClient, sender: Sender, key: str
) -> None:
    before = stored_state(app)
    response = post(client, sender, key=key)
    assert response.status_code == 422
    assert response.json["error"] == {
        "code": "invalid_idempotency_key",
        "message": response.json["error"]["message"],
        "field": "Idempotency-Key",
    }
    assert stored_state(app) == before


def test_the_longest_key_is_accepted(client: FlaskClient, sender: Sender) -> None:
    key = "k" * 255
    assert post(client, sender, key=key).json["id"] == post(client, sender, key=key).json["id"]


def test_a_refused_request_does_not_use_up_its_key(app: Flask, client: FlaskClient, sender: Sender) -> None:
    refused = post(client, sender, recipient_phone="0522123456")  # a landline
    assert refused.status_code == 422
    assert letter_count(app) == 0
    assert post(client, sender).status_code == 201
    assert letter_count(app) == 1


def test_a_request_that_loses_the_race_answers_with_the_winners_letter(
    app: Flask,
    client: FlaskClient,
    sender: Sender,
    monkeypatch: pytest.MonkeyPatch,
    run_jobs: Callable[[], None],
    outbox: Any,
) -> None:
    """The second request's look-up ran before the first committed: its insert hits the unique
    (organisation, key), and it answers with the first letter, leaving nothing of its own."""
    first = post(client, sender)
    real_lookup = deposit_module.letter_for_idempotency_key
    calls: list[int] = []

    def stale_lookup(*args: Any) -> Letter | None:
        calls.append(1)
        return None if len(calls) == 1 else real_lookup(*args)

    monkeypatch.setattr(deposit_module, "letter_for_idempotency_key", stale_lookup)
    before = stored_state(app)
    second = post(client, sender)
    assert len(calls) == 2
    assert second.status_code == 201
    assert second.json["id"] == first.json["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert stored_state(app) == before  # not a row, not a job of the losing deposit
    run_jobs()
    assert len(outbox()) == 1


def test_concurrent_requests_with_one_key_make_one_letter(
    app: Flask, settings: Settings, clock: FrozenClock, sender: Sender, run_jobs: Callable[[], None], outbox: Any
) -> None:
    """Four API processes (own app, engine and connections) get the same request at the same
    moment; on PostgreSQL truly in parallel."""
    servers = [create_app(settings, clock=clock) for _ in range(4)]
    for server in servers:
        server.config.update(TESTING=True)
    barrier = threading.Barrier(len(servers))
    answers: list[tuple[int, str | None]] = []
    errors: list[BaseException] = []

    def call(server: Flask) -> None:
        try:
            client = server.test_client()
            barrier.wait(timeout=30)
            response = post(client, sender)
            answers.append((response.status_code, (response.json or {}).get("id")))
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
    assert {status for status, _ in answers} == {201}, answers
    assert len({letter_id for _, letter_id in answers}) == 1
    assert letter_count(app) == 1
    run_jobs()
    assert len(outbox()) == 1
    with app.app_context():
        assert db.session.execute(select(func.count(OutboundMessage.id))).scalar_one() == 1
        db.session.remove()
