"""The deposit and follow-up API (DESIGN.md §3): every refusal, and what a success stores."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfWriter
from sqlalchemy import text

from webapp import create_app
from webapp.clock import FrozenClock
from webapp.config import Settings
from webapp.extensions import db
from webapp.models import StoredDocument
from webapp.queue import every_queue
from webapp.services import current_services

STORED_TABLES = (
    "letters",
    "documents",
    "evidence",
    "outbound_messages",
    "access_links",
    "one_time_codes",
    "proofs",
    "evidence_checkpoints",
)


# --- helpers ---------------------------------------------------------------


def stored_state(app: Flask) -> dict[str, Any]:
    """Row counts of every table a deposit writes, the evidence chain head, and the queued jobs (by function)."""
    with app.app_context():
        state: dict[str, Any] = {
            table: db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: S608
            for table in STORED_TABLES
        }
        state["chain_head"] = db.session.execute(text("SELECT seq, record_hash FROM evidence_chain_head")).all()
        queue = every_queue()
        state["queued_jobs"] = sorted(job.func_name for job in queue.jobs)
        db.session.remove()
    return state


def encrypted_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.encrypt("pw")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def post_letter(client: FlaskClient, headers: dict[str, str], data: dict[str, Any]) -> Any:
    return client.post("/api/v1/letters", data=data, headers=headers, content_type="multipart/form-data")


def assert_json_error(response: Any, status: int, field: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.data[:500]
    assert response.mimetype == "application/json"
    error = response.json["error"]
    assert isinstance(error["code"], str)
    assert error["code"]
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error.get("field") == field
    return dict(error)


def stored_phone(app: Flask, letter_id: str) -> str:
    with app.app_context():
        phone: str = db.session.execute(
            text("SELECT recipient_phone FROM letters WHERE id = :id"), {"id": letter_id}
        ).scalar_one()
        db.session.remove()
    return phone


@pytest.fixture
def small_app(settings: Settings, clock: FrozenClock, app: Flask) -> Iterator[Flask]:
    """A second app on the same database whose document limit is 4 KB (the `app` fixture runs first
    so that its Redis is flushed before this one is used)."""
    small = create_app(settings.replace(max_document_bytes=4096), clock=clock)
    small.config.update(TESTING=True)
    yield small
    with small.app_context():
        db.session.remove()
        db.engine.dispose()
    small.extensions["wassit.redis"].close()


# --- authentication --------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer lre_not-a-real-token"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
    ids=["missing", "unknown", "empty", "wrong-scheme"],
)
def test_deposit_without_a_valid_token_is_401(
    app: Flask, client: FlaskClient, pdf: Callable[..., bytes], headers: dict[str, str]
) -> None:
    before = stored_state(app)
    response = post_letter(
        client,
        headers,
        {
            "document": (io.BytesIO(pdf()), "a.pdf"),
            "recipient_phone": "0612345678",
            "recipient_name": "Youssef Alami",
        },
    )
    assert_json_error(response, 401, None)
    assert response.json["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert stored_state(app) == before


def test_reading_a_letter_needs_a_token(client: FlaskClient, deposit: Any) -> None:
    letter_id = deposit().json["id"]
    assert_json_error(client.get(f"/api/v1/letters/{letter_id}"), 401, None)
    response = client.get(f"/api/v1/letters/{letter_id}", headers={"Authorization": "Bearer lre_nope"})
    assert_json_error(response, 401, None)


# --- refusals of bad input: 4xx, the field named, nothing stored -----------

GOOD_FIELDS = {"recipient_phone": "0612345678", "recipient_name": "Youssef Alami"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"recipient_phone": None}, "recipient_phone"),
        ({"recipient_phone": "   "}, "recipient_phone"),
        ({"recipient_name": None}, "recipient_name"),
        ({"recipient_name": " \t "}, "recipient_name"),
        ({"recipient_phone": "061234"}, "recipient_phone"),
        ({"recipient_phone": "06123456789012"}, "recipient_phone"),
        ({"recipient_phone": "05 22 12 34 56"}, "recipient_phone"),  # Casablanca landline
        ({"recipient_phone": "+212 522 123 456"}, "recipient_phone"),  # the same, international
        ({"recipient_phone": "0800 12 34 56"}, "recipient_phone"),  # toll-free
        ({"recipient_phone": "call me"}, "recipient_phone"),
        ({"recipient_phone": "0" * 41}, "recipient_phone"),
        ({"recipient_name": "Youssef\x00Alami"}, "recipient_name"),
        ({"recipient_name": "Y" * 201}, "recipient_name"),
        ({"recipient_email": "not-an-email"}, "recipient_email"),
        ({"language": "de"}, "language"),
        ({"language": "FRA"}, "language"),
        ({"channel": "fax"}, "channel"),
        ({"channel": "whatsapp"}, "channel"),
    ],
    ids=lambda value: repr(value)[:40] if isinstance(value, dict) else str(value),
)
def test_bad_field_is_refused_and_nothing_is_stored(
    app: Flask,
    client: FlaskClient,
    sender: Any,
    pdf: Callable[..., bytes],
    overrides: dict[str, Any],
    field: str,
) -> None:
    data: dict[str, Any] = {**GOOD_FIELDS, **overrides}
    data = {key: value for key, value in data.items() if value is not None}
    data["document"] = (io.BytesIO(pdf()), "lettre.pdf")
    before = stored_state(app)
    response = post_letter(client, sender.auth, data)
    assert_json_error(response, 422, field)
    assert stored_state(app) == before


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"Bonjour, ceci n'est pas un PDF.\n" * 20, id="text-named-pdf"),
        pytest.param(b"PK\x03\x04" + b"\x00" * 300, id="zip-named-pdf"),
        pytest.param(b"<html><body>%PDF-1.7</body></html>", id="html-mentioning-pdf"),
        pytest.param(encrypted_pdf(), id="encrypted"),
        pytest.param(None, id="truncated"),
        pytest.param(b"%PDF-1.7\n" + b"\x8f garbage \x00" * 100, id="unparsable"),
    ],
)
def test_bad_document_is_refused_and_nothing_is_stored(
    app: Flask, client: FlaskClient, sender: Any, pdf: Callable[..., bytes], document: bytes | None
) -> None:
    if document is None:
        whole = pdf()
        document = whole[: len(whole) // 2]
    before = stored_state(app)
    response = post_letter(client, sender.auth, {**GOOD_FIELDS, "document": (io.BytesIO(document), "lettre.pdf")})
    error = assert_json_error(response, 422, "document")
    assert error["code"] in {"invalid_document", "missing_field"}
    assert stored_state(app) == before


def test_missing_document_is_refused(app: Flask, client: FlaskClient, sender: Any) -> None:
    before = stored_state(app)
    assert_json_error(post_letter(client, sender.auth, dict(GOOD_FIELDS)), 422, "document")
    assert stored_state(app) == before


def test_a_pdf_is_recognised_by_content_not_by_name(
    app: Flask, client: FlaskClient, sender: Any, pdf: Callable[..., bytes]
) -> None:
    response = post_letter(client, sender.auth, {**GOOD_FIELDS, "document": (io.BytesIO(pdf()), "scan.bin")})
    assert response.status_code == 201, response.json
    assert response.json["document"]["name"] == "scan.bin"


def test_unverified_organisation_cannot_deposit(
    app: Flask, client: FlaskClient, make_sender: Callable[..., Any], pdf: Callable[..., bytes]
) -> None:
    unverified = make_sender(org="Société Pas Encore Vérifiée", verified=False)
    before = stored_state(app)
    response = post_letter(client, unverified.auth, {**GOOD_FIELDS, "document": (io.BytesIO(pdf()), "a.pdf")})
    error = assert_json_error(response, 403, None)
    assert error["code"] == "organisation_not_verified"
    assert stored_state(app) == before


def test_json_body_instead_of_multipart_is_refused(app: Flask, client: FlaskClient, sender: Any) -> None:
    before = stored_state(app)
    response = client.post("/api/v1/letters", json=GOOD_FIELDS, headers=sender.auth)
    assert_json_error(response, 415, None)
    assert stored_state(app) == before


# --- size limits ------------------------------------------------------------


def test_document_over_the_configured_limit_is_413(small_app: Flask, sender: Any, pdf: Callable[..., bytes]) -> None:
    client = small_app.test_client()
    before = stored_state(small_app)
    document = pdf(pad_to=4097)
    response = post_letter(client, sender.auth, {**GOOD_FIELDS, "document": (io.BytesIO(document), "big.pdf")})
    error = assert_json_error(response, 413, "document")
    assert error["code"] == "document_too_large"
    assert stored_state(small_app) == before


def test_document_exactly_at_the_limit_is_accepted(small_app: Flask, sender: Any, pdf: Callable[..., bytes]) -> None:
    client = small_app.test_client()
    document = pdf(pad_to=4096)
    assert len(document) == 4096
    response = post_letter(client, sender.auth, {**GOOD_FIELDS, "document": (io.BytesIO(document), "edge.pdf")})
    assert response.status_code == 201, response.json
    assert response.json["document"]["size"] == 4096


def test_request_over_max_content_length_is_413_json(
    app: Flask, client: FlaskClient, sender: Any, pdf: Callable[..., bytes]
) -> None:
    """Werkzeug refuses the body before the view reads it; the API still answers in JSON."""
    assert app.config["MAX_CONTENT_LENGTH"] > app.extensions["wassit"].settings.max_document_bytes
    app.config["MAX_CONTENT_LENGTH"] = 8192  # far below the document limit: only Werkzeug can refuse
    document = pdf(pad_to=9000)
    before = stored_state(app)
    response = post_letter(client, sender.auth, {**GOOD_FIELDS, "document": (io.BytesIO(document), "huge.pdf")})
    error = assert_json_error(response, 413, "document")
    assert error["code"] == "document_too_large"
    assert stored_state(app) == before


# --- phone numbers ------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "e164"),
    [
        ("0612345678", "+212612345678"),
        ("06 12 34 56 78", "+212612345678"),
        ("06-12-34-56-78", "+212612345678"),
        ("+212612345678", "+212612345678"),
        ("+212 6 12 34 56 78", "+212612345678"),
        ("00212 6 12 34 56 78", "+212612345678"),
        ("212612345678", "+212612345678"),
        ("0712345678", "+212712345678"),
    ],
)
def test_mobile_numbers_are_accepted_in_every_usual_form_and_stored_e164(
    app: Flask, deposit: Any, written: str, e164: str
) -> None:
    response = deposit(recipient_phone=written)
    assert response.status_code == 201, response.json
    assert response.json["recipient"]["phone"] == e164
    assert stored_phone(app, response.json["id"]) == e164


# --- success -----------------------------------------------------------------


def test_deposit_answers_201_with_id_reference_status_and_location(
    app: Flask, client: FlaskClient, deposit: Any, sender: Any
) -> None:
    response = deposit()
    assert response.status_code == 201, response.json
    body = response.json
    assert body["status"] == "deposited"
    assert body["id"]
    assert re.fullmatch(r"[2-9A-Z]{4}-[2-9A-Z]{4}", body["reference"])
    assert response.headers["Location"].endswith(f"/api/v1/letters/{body['id']}")
    state = stored_state(app)
    for table in ("letters", "documents", "access_links", "outbound_messages", "evidence", "proofs"):
        assert state[table] == 1, table
    # One notification, the deposit proof, and the journal checkpoint that seals the new evidence record.
    assert state["queued_jobs"] == [
        "webapp.letters.notifications.send_message_job",
        "webapp.letters.proofs.issue_proof_job",
        "webapp.trust.journal.checkpoint_journal_job",
    ]

    followed = client.get(response.headers["Location"], headers=sender.auth)
    assert followed.status_code == 200
    assert followed.json["id"] == body["id"]


def test_get_letter_shows_status_events_and_proofs(
    client: FlaskClient, deposit: Any, sender: Any, run_jobs: Callable[[], None]
) -> None:
    letter_id = deposit().json["id"]
    response = client.get(f"/api/v1/letters/{letter_id}", headers=sender.auth)
    assert response.status_code == 200
    body = response.json
    assert body["status"] == "deposited"
    assert [event["type"] for event in body["events"]] == ["SubmissionAcceptance"]
    assert body["events"][0]["at"].startswith("2026-11-23T10:00:00")
    assert isinstance(body["proofs"], list)
    assert response.headers["Cache-Control"] == "no-store"

    run_jobs()
    body = client.get(f"/api/v1/letters/{letter_id}", headers=sender.auth).json
    assert body["status"] == "notified"
    assert [event["type"] for event in body["events"]] == ["SubmissionAcceptance", "ConsignmentNotification"]
    assert all(set(event) >= {"type", "at"} for event in body["events"])


def test_letters_are_visible_only_within_the_organisation(
    client: FlaskClient, deposit: Any, make_sender: Callable[..., Any]
) -> None:
    letter_id = deposit().json["id"]
    colleague = make_sender(org="Banque Atlas SA")
    stranger = make_sender(org="Assurances Rif SA")

    assert client.get(f"/api/v1/letters/{letter_id}", headers=colleague.auth).status_code == 200
    for path in (f"/api/v1/letters/{letter_id}", f"/api/v1/letters/{letter_id}/proofs/deposit"):
        response = client.get(path, headers=stranger.auth)
        error = assert_json_error(response, 404, None)
        assert error["code"] == "not_found"
        assert letter_id not in response.get_data(as_text=True)


def test_unknown_letter_is_404(client: FlaskClient, sender: Any) -> None:
    response = client.get("/api/v1/letters/00000000-0000-4000-8000-000000000000", headers=sender.auth)
    assert_json_error(response, 404, None)
    assert_json_error(client.get("/api/v1/letters/nope", headers=sender.auth), 404, None)


def test_document_hash_is_recorded_and_document_is_encrypted_at_rest(
    app: Flask, deposit: Any, pdf: Callable[..., bytes]
) -> None:
    marker = "CONFIDENTIEL" + "Z" * 24
    document = pdf(pad_to=3000, text_marker=marker)
    assert marker.encode() in document
    response = deposit(document=document)
    assert response.status_code == 201, response.json
    assert response.json["document"]["sha256"] == hashlib.sha256(document).hexdigest()
    assert response.json["document"]["size"] == len(document)

    with app.app_context():
        letter_hash, size = db.session.execute(
            text("SELECT document_sha256, document_size FROM letters WHERE id = :id"),
            {"id": response.json["id"]},
        ).one()
        inline, wrapped_key, nonce = db.session.execute(
            text("SELECT ciphertext, wrapped_key, nonce FROM documents WHERE letter_id = :id"),
            {"id": response.json["id"]},
        ).one()
        assert inline is None  # the document is an object in the store, never a blob in the database
        ciphertext = current_services().objects.ciphertext(db.session.get_one(StoredDocument, response.json["id"]))
        db.session.remove()
    assert letter_hash == hashlib.sha256(document).hexdigest()
    assert size == len(document)
    ciphertext = bytes(ciphertext)
    assert len(ciphertext) == len(document) + 16  # AES-GCM: same length plus the tag
    assert document not in ciphertext
    assert marker.encode() not in ciphertext
    assert b"%PDF-" not in ciphertext
    assert len(bytes(nonce)) == 12
    assert len(bytes(wrapped_key)) > 32  # the data key is stored only wrapped


def test_each_document_has_its_own_data_key(app: Flask, deposit: Any, pdf: Callable[..., bytes]) -> None:
    document = pdf()
    first, second = deposit(document=document).json["id"], deposit(document=document).json["id"]
    with app.app_context():
        rows = [db.session.get_one(StoredDocument, letter_id) for letter_id in (first, second)]
        ciphertexts = [current_services().objects.ciphertext(row) for row in rows]
        db.session.remove()
    assert bytes(rows[0].wrapped_key) != bytes(rows[1].wrapped_key)
    assert ciphertexts[0] != ciphertexts[1]
    assert rows[0].object_key != rows[1].object_key


def test_a_letter_can_be_marked_confidential_for_our_support_team(deposit: Any) -> None:
    marked = deposit(document_confidential="true")
    assert marked.status_code == 201, marked.json
    assert marked.json["document"]["confidential"] is True
    assert marked.json["document"]["name"] == "mise-en-demeure.pdf"  # the sender's own view keeps the name
    plain = deposit()
    assert plain.json["document"]["confidential"] is False
    wrong = deposit(document_confidential="maybe")
    assert wrong.status_code == 422
    assert wrong.json["error"] == {
        "code": "invalid_input",
        "message": "The field 'document_confidential' must be true or false.",
        "field": "document_confidential",
    }
