"""Public verification: the QR code's page, the upload page, and `flask proofs verify`.

They say plainly whether a record or a proof is genuine, and never show the
letter's content.
"""

from __future__ import annotations

import hashlib
import io
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from tests.conftest import Sender, make_pdf_bytes
from tests.trust_helpers import Letters, csrf_of, evidence_rows, flip_signed_byte, run_cli, verdicts
from webapp.extensions import db

MARKER = "CONFIDENTIEL-7f3a9c-loyer-impaye"
CHECK = re.compile(r'<li class="(pass|fail)">')


def checks(html: str) -> list[str]:
    """The outcome of each check listed on a verification page, in order."""
    return CHECK.findall(html)


@pytest.fixture
def letters(app: Flask, client: FlaskClient, sender: Sender, deposit: Any, run_jobs: Any, outbox: Any) -> Letters:
    return Letters(app, client, sender, deposit, run_jobs, outbox)


@pytest.fixture
def proof(letters: Letters) -> tuple[str, bytes]:
    """A letter whose document carries a distinctive marker, and its proof of deposit."""
    letter_id, _ = letters.notified(document=make_pdf_bytes(text_marker=MARKER))
    data = letters.proof(letter_id, "deposit")
    assert MARKER.encode() not in data  # the proof itself does not carry the document
    return letter_id, data


def _upload(client: FlaskClient, data: bytes | None, filename: str = "preuve.pdf") -> Any:
    page = client.get("/verify")
    assert page.status_code == 200
    form: dict[str, Any] = {"csrf_token": csrf_of(page.text)}
    if data is not None:
        form["proof"] = (io.BytesIO(data), filename)
    return client.post("/verify", data=form, content_type="multipart/form-data")


def _edit_record(app: Flask, evidence_id: str, *, rehash: bool = False) -> None:
    """Changes the recipient's name in a record; with `rehash`, its stored hash follows."""
    with app.app_context():
        db.session.execute(
            text("UPDATE evidence SET canonical = replace(canonical, 'Youssef Alami', 'Youssef Alamy') WHERE id = :i"),
            {"i": evidence_id},
        )
        if rehash:
            canonical = db.session.execute(text("SELECT canonical FROM evidence WHERE id = :i"), {"i": evidence_id})
            digest = hashlib.sha256(canonical.scalar_one().encode("utf-8")).hexdigest()
            db.session.execute(
                text("UPDATE evidence SET record_hash = :h WHERE id = :i"), {"h": digest, "i": evidence_id}
            )
        db.session.commit()
        db.session.remove()


# --- GET /verify/<evidence-id> -------------------------------------------------------------------


def test_an_unknown_record_is_a_404_page(client: FlaskClient) -> None:
    for evidence_id in (str(uuid.uuid4()), "x" * 65, "not-an-id"):
        response = client.get(f"/verify/{evidence_id}")
        assert response.status_code == 404
        assert response.mimetype == "text/html"
        if len(evidence_id) <= 64:
            assert verdicts(response.text) == ["fail"]


def test_the_page_of_a_record_says_genuine_then_not_once_edited(
    app: Flask, client: FlaskClient, letters: Letters, proof: tuple[str, bytes]
) -> None:
    letter_id, _ = proof
    [deposited, notified] = evidence_rows(app, letter_id)
    body = letters.api(letter_id)
    for row in (deposited, notified):
        page = client.get(f"/verify/{row.id}")
        assert page.status_code == 200
        assert verdicts(page.text) == ["pass"]
        assert checks(page.text) == ["pass"] * 6  # hash, journal, chain, transparency log, seal, timestamp
        assert body["reference"] in page.text
        assert body["document"]["sha256"] in page.text
        assert MARKER not in page.text
        assert page.headers["Content-Type"].startswith("text/html")

    _edit_record(app, deposited.id)
    page = client.get(f"/verify/{deposited.id}")
    assert page.status_code == 200
    assert verdicts(page.text) == ["fail"]
    # Which checks fail: its hash, its place in the chain and in the log; it is what the journal holds,
    # and the checkpoint it was logged in is still sealed and timestamped.
    assert checks(page.text) == ["fail", "pass", "fail", "fail", "pass", "pass"]


def test_a_rehashed_edit_breaks_the_next_records_link(
    app: Flask, client: FlaskClient, proof: tuple[str, bytes]
) -> None:
    letter_id, _ = proof
    [deposited, notified] = evidence_rows(app, letter_id)
    _edit_record(app, deposited.id, rehash=True)
    assert verdicts(client.get(f"/verify/{deposited.id}").text) == ["fail"]
    assert verdicts(client.get(f"/verify/{notified.id}").text) == ["fail"]


def test_a_record_whose_checkpoint_seal_was_swapped_is_not_genuine(
    app: Flask, client: FlaskClient, letters: Letters, proof: tuple[str, bytes]
) -> None:
    letter_id, _ = proof
    [deposited, notified] = evidence_rows(app, letter_id)
    # A second letter's proof forces a later checkpoint, so the latest one (which a record's page
    # checks against) and the first one are never the same row, whatever the periodic checkpoints did.
    other, _ = letters.notified()
    letters.proof(other, "deposit")
    with app.app_context():
        sizes = db.session.execute(text("SELECT tree_size FROM journal_checkpoints")).scalars().all()
        assert len(set(sizes)) >= 2
        db.session.execute(
            text(
                "UPDATE journal_checkpoints"
                " SET seal = (SELECT seal FROM journal_checkpoints ORDER BY tree_size LIMIT 1)"
                " WHERE tree_size = (SELECT max(tree_size) FROM journal_checkpoints)"
            )
        )
        db.session.commit()
        db.session.remove()
    page = client.get(f"/verify/{deposited.id}").text
    assert verdicts(page) == ["fail"]
    assert checks(page) == ["pass", "pass", "pass", "pass", "fail", "pass"]
    assert verdicts(client.get(f"/verify/{notified.id}").text) == ["fail"]


# --- the upload page -----------------------------------------------------------------------------


def test_a_genuine_proof_uploaded_is_genuine(client: FlaskClient, letters: Letters, proof: tuple[str, bytes]) -> None:
    letter_id, data = proof
    response = _upload(client, data)
    assert response.status_code == 200
    assert verdicts(response.text) == ["pass"]
    body = letters.api(letter_id)
    assert body["reference"] in response.text
    assert body["document"]["sha256"] in response.text
    assert MARKER not in response.text


def test_a_tampered_proof_uploaded_is_not_genuine(client: FlaskClient, proof: tuple[str, bytes]) -> None:
    _, data = proof
    response = _upload(client, flip_signed_byte(data))
    assert response.status_code == 200
    assert verdicts(response.text) == ["fail"]
    # Bytes appended after the signature: the signature no longer covers the whole file.
    response = _upload(client, data + b"\n%% appended\n")
    assert verdicts(response.text) == ["fail"]
    assert MARKER not in response.text


def test_a_genuine_proof_of_an_edited_record_is_not_genuine(
    app: Flask, client: FlaskClient, proof: tuple[str, bytes]
) -> None:
    letter_id, data = proof
    _edit_record(app, evidence_rows(app, letter_id)[0].id)
    assert verdicts(_upload(client, data).text) == ["fail"]


@pytest.mark.parametrize(
    "data",
    [make_pdf_bytes(text_marker=MARKER), b"%PDF-1.7\ngarbage", b"not a pdf at all", b""],
    ids=["unsigned-pdf", "broken-pdf", "not-a-pdf", "empty"],
)
def test_other_files_are_not_genuine(client: FlaskClient, data: bytes) -> None:
    response = _upload(client, data)
    assert response.status_code == 200
    assert verdicts(response.text) == ["fail"]
    assert MARKER not in response.text


def test_no_file_is_a_422(client: FlaskClient) -> None:
    response = _upload(client, None)
    assert response.status_code == 422
    assert verdicts(response.text) == []
    response = _upload(client, b"%PDF-1.7", filename="")
    assert response.status_code == 422


# --- flask proofs verify ---------------------------------------------------------------------------


def test_the_cli_says_genuine_for_a_real_proof(app: Flask, proof: tuple[str, bytes], tmp_path: Path) -> None:
    _, data = proof
    path = tmp_path / "proof.pdf"
    path.write_bytes(data)
    result = run_cli(app, ["proofs", "verify", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[-1] == "GENUINE"
    assert "[FAIL]" not in result.output
    assert "SubmissionAcceptance" in result.output


def test_the_cli_says_not_genuine_after_tampering(app: Flask, proof: tuple[str, bytes], tmp_path: Path) -> None:
    _, data = proof
    for name, content in (
        ("flipped.pdf", flip_signed_byte(data)),
        ("appended.pdf", data + b"\n%% appended\n"),
        ("unsigned.pdf", make_pdf_bytes()),
        ("text.pdf", b"hello"),
    ):
        path = tmp_path / name
        path.write_bytes(content)
        result = run_cli(app, ["proofs", "verify", str(path)])
        assert result.exit_code != 0, name
        assert result.output.splitlines()[-1] == "NOT GENUINE", name
