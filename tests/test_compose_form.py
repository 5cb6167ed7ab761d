"""The compose form keeps the sender's work: errors beside their field and linked from a summary, and the
PDF chosen kept (encrypted, for an hour, for this user only) for the corrected submission."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.conftest import Sender
from tests.portal_helpers import ENGLISH, csrf_token, log_in
from webapp.clock import FrozenClock
from webapp.extensions import db
from webapp.models import DraftDocument, Letter

DRAFT = re.compile(r'name="draft"[^>]*value="([^"]+)"')


def _post(client: FlaskClient, page: str, fields: dict[str, Any]) -> Any:
    data = {"csrf_token": csrf_token(page), "language": "fr", **fields}
    return client.post("/letters/new", data=data, headers=ENGLISH, content_type="multipart/form-data")


def test_a_wrong_number_is_shown_beside_its_field_and_the_pdf_is_kept(
    client: FlaskClient, app: Flask, sender: Sender, pdf: Callable[..., bytes]
) -> None:
    log_in(client, sender)
    page = client.get("/letters/new", headers=ENGLISH).text
    document = pdf(text_marker="mise en demeure")
    wrong = _post(
        client,
        page,
        {"recipient_name": "Salma Bennani", "recipient_phone": "0512", "document": (io.BytesIO(document), "md.pdf")},
    )
    assert wrong.status_code == 422
    html = wrong.text
    assert 'id="recipient_phone-error"' in html
    assert 'aria-invalid="true"' in html
    assert 'href="#recipient_phone"' in html  # the summary links to the field
    assert "Your PDF md.pdf" in html
    assert 'value="Salma Bennani"' in html  # what was typed stays
    [draft_id] = DRAFT.findall(html)
    with app.app_context():
        kept = db.session.get_one(DraftDocument, draft_id)
        assert document not in kept.ciphertext  # kept encrypted

    # Corrected, without choosing the file again: the letter is deposited with the kept PDF, and the draft goes.
    fixed = _post(client, html, {"recipient_name": "Salma Bennani", "recipient_phone": "0612345678", "draft": draft_id})
    assert fixed.status_code == 303, fixed.text[:3000]
    with app.app_context():
        letter = db.session.execute(select(Letter)).scalar_one()
        assert letter.document_sha256 == hashlib.sha256(document).hexdigest()
        assert letter.document_name == "md.pdf"
        assert db.session.get(DraftDocument, draft_id) is None


def test_a_missing_or_wrong_pdf_is_said_beside_the_file_field(client: FlaskClient, sender: Sender, app: Flask) -> None:
    log_in(client, sender)
    page = client.get("/letters/new", headers=ENGLISH).text
    missing = _post(client, page, {"recipient_name": "Salma Bennani", "recipient_phone": "0612345678"})
    assert missing.status_code == 422
    assert 'id="document-error"' in missing.text
    assert "Choose the PDF to send." in missing.text
    not_pdf = _post(
        client,
        page,
        {
            "recipient_name": "Salma Bennani",
            "recipient_phone": "0612345678",
            "document": (io.BytesIO(b"hello"), "note.txt"),
        },
    )
    assert not_pdf.status_code == 422
    assert 'id="document-error"' in not_pdf.text
    assert not DRAFT.findall(not_pdf.text)  # a wrong file is not kept
    with app.app_context():
        assert db.session.execute(select(Letter)).first() is None


def test_a_kept_pdf_is_its_senders_only_and_expires(
    app: Flask, make_sender: Callable[..., Sender], pdf: Callable[..., bytes], clock: FrozenClock
) -> None:
    first, second = make_sender(), make_sender(org="Cabinet Idrissi")
    mine, theirs = app.test_client(), app.test_client()
    log_in(mine, first)
    page = mine.get("/letters/new", headers=ENGLISH).text
    wrong = _post(
        mine, page, {"recipient_name": "S B", "recipient_phone": "0512", "document": (io.BytesIO(pdf()), "a.pdf")}
    )
    [draft_id] = DRAFT.findall(wrong.text)
    log_in(theirs, second)
    other_page = theirs.get("/letters/new", headers=ENGLISH).text
    stolen = _post(theirs, other_page, {"recipient_name": "S B", "recipient_phone": "0612345678", "draft": draft_id})
    assert stolen.status_code == 422
    assert "Choose the PDF to send." in stolen.text
    clock.advance(3601)
    late = _post(mine, wrong.text, {"recipient_name": "S B", "recipient_phone": "0612345678", "draft": draft_id})
    assert late.status_code == 422
    with app.app_context():
        assert db.session.execute(select(Letter)).first() is None
