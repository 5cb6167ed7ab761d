"""Bulk sending: every row checked before anything is stored, a job that deposits each row once
(even after a crash), the portal's report and live progress, and the API."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfWriter
from sqlalchemy import func, select

from tests.conftest import Sender, make_pdf_bytes
from tests.portal_helpers import ENGLISH, csrf_token, log_in
from webapp import jobs
from webapp.extensions import db
from webapp.letters.bulk import BulkLimits, deposit_batch, row_idempotency_key
from webapp.letters.bulk import batches as bulk
from webapp.models import Batch, BatchDocument, BatchRow, BatchStatus, Letter, MessagePurpose, OutboundMessage
from webapp.queue import every_queue
from webapp.services import current_services
from webapp.storage import ObjectMissing
from webapp.vault import Sealed

HEADER = ("name", "mobile", "email", "reference", "file")


def phone(index: int) -> str:
    """A distinct valid Moroccan mobile number per index."""
    return f"06{12000000 + index:08d}"


def make_csv(rows: Iterable[Iterable[str]], header: Iterable[str] = HEADER, sep: str = ",", bom: bool = False) -> bytes:
    lines = [sep.join(header), *(sep.join(row) for row in rows)]
    text = "\r\n".join(lines) + "\r\n"
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


def make_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def rows_and_pdfs(count: int) -> tuple[list[tuple[str, ...]], dict[str, bytes]]:
    pdfs = {f"lettre-{i:03d}.pdf": make_pdf_bytes(text_marker=f"letter {i}") for i in range(count)}
    rows = [
        (f"Destinataire {i}", phone(i), f"dest{i}@example.ma" if i % 10 == 0 else "", f"DOSSIER-{i}", name)
        for i, name in enumerate(pdfs)
    ]
    return rows, pdfs


def encrypted_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.encrypt(user_password="secret", owner_password="owner-secret")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def post_batch(
    client: FlaskClient,
    sender: Sender,
    csv_data: bytes,
    *,
    zip_data: bytes | None = None,
    document: bytes | None = None,
    **fields: str,
) -> Any:
    data: dict[str, Any] = {"csv": (io.BytesIO(csv_data), "destinataires.csv"), **fields}
    if zip_data is not None:
        data["zip"] = (io.BytesIO(zip_data), "lettres.zip")
    if document is not None:
        data["document"] = (io.BytesIO(document), "courrier.pdf")
    return client.post("/api/v1/batches", data=data, headers=sender.auth, content_type="multipart/form-data")


def counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        return {
            model.__tablename__: db.session.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (Letter, Batch, BatchRow, BatchDocument, OutboundMessage)
        }


NOTHING = {"letters": 0, "batches": 0, "batch_rows": 0, "batch_documents": 0, "outbound_messages": 0}


def run_deposit(app: Flask, batch_id: str) -> str | None:
    with app.app_context():
        return jobs.deposit_batch(batch_id)


def queued_job_ids(app: Flask) -> list[str]:
    with app.app_context():
        return list(every_queue().job_ids)


# --- A valid file ----------------------------------------------------------------------------------


def test_a_valid_100_row_csv_with_a_zip_deposits_exactly_100_letters(
    app: Flask, client: FlaskClient, sender: Sender
) -> None:
    rows, pdfs = rows_and_pdfs(100)
    response = post_batch(client, sender, make_csv(rows), zip_data=make_zip(pdfs), language="ar")
    assert response.status_code == 201, response.json
    batch = response.json
    assert (batch["status"], batch["total_rows"], batch["deposited_rows"], batch["language"]) == ("ready", 100, 0, "ar")
    assert response.headers["Location"] == f"/api/v1/batches/{batch['id']}"
    # The job is queued once the batch is committed; nothing is deposited before it runs.
    assert f"batch-{batch['id']}-0" in queued_job_ids(app)
    assert counts(app) | {"batches": 0, "batch_rows": 0, "batch_documents": 0} == NOTHING
    assert counts(app)["batch_documents"] == 100

    assert run_deposit(app, batch["id"]) == "done"

    with app.app_context():
        letters = {
            letter.idempotency_key: letter
            for letter in db.session.execute(select(Letter).where(Letter.batch_id == batch["id"])).scalars()
        }
        assert len(letters) == 100
        for i, (name, mobile, email, reference, file_name) in enumerate(rows):
            letter = letters[row_idempotency_key(batch["id"], i + 2)]  # the header is row 1
            assert letter.recipient_name == name
            assert letter.recipient_phone == "+212" + mobile[1:]
            assert letter.recipient_email == (email or None)
            assert letter.channel == ("email" if email else "sms")
            assert letter.sender_reference == reference
            assert letter.document_name == file_name
            assert letter.document_sha256 == hashlib.sha256(pdfs[file_name]).hexdigest()
            assert letter.language == "ar"
            assert letter.organisation_id == sender.organisation_id
        notifications = db.session.execute(
            select(OutboundMessage.channel, func.count())
            .where(OutboundMessage.purpose == MessagePurpose.NOTIFICATION)
            .group_by(OutboundMessage.channel)
        ).all()
        assert dict(notifications) == {"sms": 100, "email": 10}
        message_ids = set(db.session.execute(select(OutboundMessage.id)).scalars())
    queued = queued_job_ids(app)
    assert sum(1 for job_id in queued if job_id.removeprefix("message-") in message_ids) == 110
    # Done: the uploaded PDFs are gone (each letter keeps its own encrypted copy).
    assert counts(app)["batch_documents"] == 0
    status = client.get(f"/api/v1/batches/{batch['id']}", headers=sender.auth).json
    assert (status["status"], status["deposited_rows"], status["progress"]) == ("done", 100, 1)
    page = client.get(f"/api/v1/batches/{batch['id']}/letters?limit=60", headers=sender.auth).json
    assert [item["row"] for item in page["items"]] == list(range(2, 62))
    rest = client.get(f"/api/v1/batches/{batch['id']}/letters?cursor={page['next_cursor']}", headers=sender.auth).json
    assert rest["items"][0]["row"] == 62


def test_the_uploaded_pdfs_are_stored_encrypted_until_the_batch_is_done(
    app: Flask, client: FlaskClient, sender: Sender
) -> None:
    rows, pdfs = rows_and_pdfs(3)
    batch_id = post_batch(client, sender, make_csv(rows), zip_data=make_zip(pdfs)).json["id"]
    with app.app_context():
        stored = list(db.session.execute(select(BatchDocument)).scalars())
        assert len(stored) == 3
        objects = current_services().objects
        for document in stored:
            assert document.ciphertext is None  # an object in the store
            assert b"%PDF" not in objects.ciphertext(document)
            assert pdfs[document.name][:200] not in objects.ciphertext(document)
        moved = stored[0]
        with pytest.raises(Exception, match="authentication"):
            current_services().vault.decrypt(
                Sealed(moved.key_id, moved.wrapped_key, moved.nonce, objects.ciphertext(moved)),
                context=f"batch-document:{stored[1].id}",
            )
        keys = [document.object_key for document in stored]
    assert run_deposit(app, batch_id) == "done"
    assert counts(app)["batch_documents"] == 0
    with app.app_context():  # the batch's files are deleted from the store too
        for key in keys:
            with pytest.raises(ObjectMissing):
                current_services().objects.store.get(key or "")


def test_one_pdf_for_every_row_from_the_portal_end_to_end(
    app: Flask,
    client: FlaskClient,
    sender: Sender,
    run_jobs: Callable[[], None],
    outbox: Callable[[], list[dict[str, Any]]],
) -> None:
    document = make_pdf_bytes(text_marker="circulaire")
    csv_data = make_csv([("Amal", phone(1)), ("Badr", phone(2)), ("Chama", phone(3))], header=("nom", "mobile"))
    log_in(client, sender)
    form = client.get("/bulk/new", headers=ENGLISH)
    assert form.status_code == 200
    assert 'href="/bulk/template.csv"' in form.text
    assert 'name="document_confidential"' in form.text
    response = client.post(
        "/bulk/new",
        data={
            "csrf_token": csrf_token(form.text),
            "recipients": (io.BytesIO(csv_data), "liste.csv"),
            "document": (io.BytesIO(document), "circulaire.pdf"),
            "language": "en",
        },
        content_type="multipart/form-data",
        headers=ENGLISH,
    )
    assert response.status_code == 303, response.text[:3000]
    batch_url = response.headers["Location"]
    # A summary first, and nothing sent until the sender confirms.
    summary = client.get(batch_url, headers=ENGLISH)
    assert "Check before sending" in summary.text
    assert re.search(r"<dt>Rows</dt><dd>3</dd>", summary.text)
    assert re.search(r"<dt>Recipients \(distinct mobile numbers\)</dt><dd>3</dd>", summary.text)
    assert re.search(r"<span lang=\"en\">English</span> 3", summary.text)
    assert re.search(r"\d+ SMS segments", summary.text)
    assert "Confirm and send 3 letters" in summary.text
    run_jobs()
    assert outbox() == []
    with app.app_context():
        assert db.session.execute(select(Letter)).first() is None
    confirmed = client.post(f"{batch_url}/confirm", data={"csrf_token": csrf_token(summary.text)}, headers=ENGLISH)
    assert confirmed.status_code == 303
    page = client.get(batch_url, headers=ENGLISH)
    assert '<progress max="3" value="0">' in page.text
    assert 'http-equiv="refresh"' in page.text  # without JavaScript, the page refreshes itself
    run_jobs()
    assert sorted(sms["to"] for sms in outbox()) == ["+212612000001", "+212612000002", "+212612000003"]
    with app.app_context():
        letters = list(db.session.execute(select(Letter)).scalars())
        assert {letter.document_sha256 for letter in letters} == {hashlib.sha256(document).hexdigest()}
        assert {letter.document_name for letter in letters} == {"circulaire.pdf"}
        assert {letter.language for letter in letters} == {"en"}
    done = client.get(batch_url, headers=ENGLISH)
    assert '<progress max="3" value="3">' in done.text
    assert "being deposited" not in done.text  # a finished batch says so, and nothing else
    assert "Done" in done.text
    # Confirming twice deposits nothing more.
    client.post(f"{batch_url}/confirm", data={"csrf_token": csrf_token(done.text)}, headers=ENGLISH)
    run_jobs()
    assert len(outbox()) == 3
    assert "hx-trigger" not in done.text
    assert 'http-equiv="refresh"' not in done.text
    listing = client.get(f"{batch_url}/letters", headers=ENGLISH)
    assert len(re.findall(r'href="/letters/[0-9a-f-]{36}"', listing.text)) == 3
    assert "Chama" in listing.text
    assert "liste.csv" in client.get("/bulk", headers=ENGLISH).text


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
def test_a_csv_saved_by_excel_in_any_usual_encoding_is_read(
    app: Flask, client: FlaskClient, sender: Sender, encoding: str
) -> None:
    csv_text = "Nom;Téléphone;Fichier\r\nHélène Benâni;0612000001;a.pdf\r\nSociété Générale;0612000002;a.pdf\r\n"
    response = post_batch(client, sender, csv_text.encode(encoding), zip_data=make_zip({"a.pdf": make_pdf_bytes()}))
    assert response.status_code == 201, response.json
    with app.app_context():
        names = set(db.session.execute(select(BatchRow.recipient_name)).scalars())
    assert names == {"Hélène Benâni", "Société Générale"}


def test_semicolons_a_bom_and_french_column_names_are_read(app: Flask, client: FlaskClient, sender: Sender) -> None:
    rows, pdfs = rows_and_pdfs(2)
    csv_data = make_csv(
        [(name, mobile, email, ref, file, "ar") for name, mobile, email, ref, file in rows],
        header=("Nom", "Téléphone", "Courriel", "Référence", "Fichier", "Langue"),
        sep=";",
        bom=True,
    )
    response = post_batch(client, sender, csv_data, zip_data=make_zip(pdfs))
    assert response.status_code == 201, response.json
    assert run_deposit(app, response.json["id"]) == "done"
    with app.app_context():
        letters = list(db.session.execute(select(Letter).order_by(Letter.sender_reference)).scalars())
        assert [(letter.recipient_name, letter.language) for letter in letters] == [
            ("Destinataire 0", "ar"),
            ("Destinataire 1", "ar"),
        ]


def test_files_are_found_in_zip_folders_and_macos_extras_are_ignored(
    app: Flask, client: FlaskClient, sender: Sender
) -> None:
    pdf = make_pdf_bytes()
    archive = make_zip({"lettres/a.pdf": pdf, "__MACOSX/lettres/._a.pdf": b"\x00\x05\x16\x07", "notes.txt": b"x"})
    response = post_batch(client, sender, make_csv([("Amal", phone(1), "", "", "a.pdf")]), zip_data=archive)
    assert response.status_code == 201, response.json


# --- Bad files: every error reported by row, nothing stored ---------------------------------------------


def _valid(i: int, file: str = "a.pdf") -> tuple[str, ...]:
    return (f"Destinataire {i}", phone(i), "", "", file)


BAD_FILES: dict[str, tuple[bytes, dict[str, bytes], list[tuple[int | None, str | None, str]]]] = {
    "bad phone": (
        make_csv([_valid(1), ("Amal", "0512345678", "", "", "a.pdf"), ("Badr", "06ABC", "", "", "a.pdf")]),
        {"a.pdf": make_pdf_bytes()},
        [(3, "mobile", "invalid_phone"), (4, "mobile", "invalid_phone")],
    ),
    "missing name": (
        make_csv([_valid(1), ("", phone(2), "", "", "a.pdf")]),
        {"a.pdf": make_pdf_bytes()},
        [(3, "name", "invalid_input")],
    ),
    "bad email": (
        make_csv([_valid(1), ("Amal", phone(2), "amal@", "", "a.pdf")]),
        {"a.pdf": make_pdf_bytes()},
        [(3, "email", "invalid_input")],
    ),
    "missing file": (
        make_csv([_valid(1), _valid(2, "absent.pdf"), _valid(3, "")]),
        {"a.pdf": make_pdf_bytes()},
        [(3, "file", "file_not_found"), (4, "file", "missing_field")],
    ),
    "non-PDF": (
        make_csv([_valid(1, "faux.pdf"), _valid(2, "notes.txt")]),
        {"faux.pdf": b"GIF89a not a pdf", "notes.txt": b"%PDF-1.4 but a text file"},
        [(2, "file", "invalid_document"), (3, "file", "not_pdf")],
    ),
    "encrypted PDF": (
        make_csv([_valid(1), _valid(2, "secret.pdf"), _valid(3, "secret.pdf")]),
        {"a.pdf": make_pdf_bytes(), "secret.pdf": encrypted_pdf()},
        [(3, "file", "invalid_document"), (4, "file", "invalid_document")],
    ),
    "duplicate row": (
        make_csv([_valid(1), _valid(2), _valid(1)]),
        {"a.pdf": make_pdf_bytes()},
        [(4, "mobile", "duplicate_row")],
    ),
    "bad language": (
        make_csv([(*_valid(1), "de"), (*_valid(2), "fr")], header=(*HEADER, "langue")),
        {"a.pdf": make_pdf_bytes()},
        [(2, "language", "invalid_language")],
    ),
    "too many rows": (
        make_csv([_valid(i % 1000) for i in range(10_001)]),
        {"a.pdf": make_pdf_bytes()},
        [(None, "csv", "too_many_rows")],
    ),
    "bad header": (
        make_csv([("Amal", phone(1), "a.pdf")], header=("nom", "portabel", "fichier")),
        {"a.pdf": make_pdf_bytes()},
        [(1, "portabel", "unknown_column"), (1, "mobile", "missing_column")],
    ),
    "no rows": (make_csv([]), {"a.pdf": make_pdf_bytes()}, [(None, "csv", "csv_empty")]),
    "not text": (
        b"PK\x03\x04\x14\x00\x00\x00binary\x00\x01\x02",
        {"a.pdf": make_pdf_bytes()},
        [(None, "csv", "csv_encoding")],
    ),
    "zip path traversal": (
        make_csv([_valid(1, "evil.pdf")]),
        {"../../evil.pdf": make_pdf_bytes()},
        [(None, "zip", "zip_unsafe_path")],
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES), ids=list(BAD_FILES))
def test_a_bad_file_is_refused_with_each_error_by_row_and_nothing_is_stored(
    app: Flask, client: FlaskClient, sender: Sender, case: str
) -> None:
    csv_data, files, expected = BAD_FILES[case]
    response = post_batch(client, sender, csv_data, zip_data=make_zip(files))
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "invalid_batch"
    assert [(row["row"], row["field"], row["code"]) for row in response.json["rows"]] == expected
    assert all(row["message"] for row in response.json["rows"])
    assert counts(app) == NOTHING
    assert queued_job_ids(app) == []


def test_a_zip_bomb_is_refused_before_anything_is_decompressed(
    app: Flask, client: FlaskClient, sender: Sender, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "LIMITS", BulkLimits(max_uncompressed_bytes=1024 * 1024, max_zip_entries=5))
    bomb = make_zip({"a.pdf": make_pdf_bytes(), "zeros.pdf": b"\0" * (2 * 1024 * 1024)})
    assert len(bomb) < 10_000
    refused = post_batch(client, sender, make_csv([_valid(1)]), zip_data=bomb)
    assert refused.status_code == 422
    assert [row["code"] for row in refused.json["rows"]] == ["zip_too_large_uncompressed"]
    many = make_zip({f"{i}.pdf": b"%PDF-" for i in range(6)})
    refused = post_batch(client, sender, make_csv([_valid(1, "0.pdf")]), zip_data=many)
    assert [row["code"] for row in refused.json["rows"]] == ["zip_too_many_files"]
    assert counts(app) == NOTHING


def test_a_damaged_zip_and_an_upload_without_pdfs_are_refused(app: Flask, client: FlaskClient, sender: Sender) -> None:
    csv_data = make_csv([_valid(1)])
    damaged = post_batch(client, sender, csv_data, zip_data=b"PK\x03\x04 not really")
    assert [row["code"] for row in damaged.json["rows"]] == ["zip_invalid"]
    neither = post_batch(client, sender, csv_data)
    assert [row["code"] for row in neither.json["rows"]] == ["missing_field"]
    both = post_batch(client, sender, csv_data, zip_data=make_zip({"a.pdf": make_pdf_bytes()}), document=b"%PDF-")
    assert [row["code"] for row in both.json["rows"]] == ["missing_field"]
    missing_csv = client.post(
        "/api/v1/batches", data={"language": "fr"}, headers=sender.auth, content_type="multipart/form-data"
    )
    assert (missing_csv.status_code, missing_csv.json["error"]["field"]) == (422, "csv")
    assert counts(app) == NOTHING


def test_an_unverified_organisation_cannot_send_in_bulk(
    app: Flask, client: FlaskClient, make_sender: Callable[..., Sender]
) -> None:
    unverified = make_sender(org="Société Pas Encore Vérifiée", verified=False)
    response = post_batch(client, unverified, make_csv([_valid(1)]), zip_data=make_zip({"a.pdf": make_pdf_bytes()}))
    assert (response.status_code, response.json["error"]["code"]) == (403, "organisation_not_verified")
    log_in(client, unverified)
    form = client.get("/bulk/new", headers=ENGLISH)
    page = client.post(
        "/bulk/new",
        data={
            "csrf_token": csrf_token(form.text),
            "recipients": (io.BytesIO(make_csv([("Amal", phone(1))], header=("nom", "mobile"))), "liste.csv"),
            "document": (io.BytesIO(make_pdf_bytes()), "circulaire.pdf"),
            "language": "fr",
        },
        content_type="multipart/form-data",
        headers=ENGLISH,
    )
    assert page.status_code == 403
    assert "Your organisation cannot send yet" in page.text
    assert 'name="recipients"' not in form.text  # no form to fill in for nothing
    assert counts(app) == NOTHING


def test_the_portal_shows_the_report_by_row_with_422_and_needs_its_csrf_token(
    app: Flask, client: FlaskClient, sender: Sender
) -> None:
    csv_data = make_csv([_valid(1), ("Amal", "0512345678", "", "", "a.pdf"), _valid(3, "absent.pdf")])
    data = {
        "recipients": (io.BytesIO(csv_data), "liste.csv"),
        "archive": (io.BytesIO(make_zip({"a.pdf": make_pdf_bytes()})), "lettres.zip"),
        "language": "fr",
    }
    log_in(client, sender)
    forged = client.post("/bulk/new", data=dict(data), content_type="multipart/form-data", headers=ENGLISH)
    assert forged.status_code == 422
    assert "bulk-report" not in forged.text
    form = client.get("/bulk/new", headers=ENGLISH)
    data = {
        **data,
        "csrf_token": csrf_token(form.text),
        "recipients": (io.BytesIO(csv_data), "liste.csv"),
        "archive": (io.BytesIO(make_zip({"a.pdf": make_pdf_bytes()})), "lettres.zip"),
    }
    response = client.post("/bulk/new", data=data, content_type="multipart/form-data", headers=ENGLISH)
    assert response.status_code == 422
    assert "2 errors: nothing was sent" in response.text
    assert "<td>3</td>" in response.text
    assert "This phone number does not exist." in response.text
    assert "<td>4</td>" in response.text
    assert "absent.pdf is not in the ZIP file." in response.text
    french = client.post(
        "/bulk/new",
        data={
            **data,
            "recipients": (io.BytesIO(csv_data), "liste.csv"),
            "archive": (io.BytesIO(make_zip({"a.pdf": make_pdf_bytes()})), "lettres.zip"),
        },
        content_type="multipart/form-data",
        headers={"Accept-Language": "fr"},
    )
    assert french.status_code == 422
    assert "This phone number does not exist." not in french.text  # the deposit's own words, translated
    assert counts(app) == NOTHING


def test_the_csv_template_downloads_with_every_column(client: FlaskClient, sender: Sender) -> None:
    log_in(client, sender)
    response = client.get("/bulk/template.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.data.startswith(b"\xef\xbb\xbfname,mobile,email,reference,file,language\r\n")


# --- The job: chunks, crashes, reruns ---------------------------------------------------------------


class SimulatedCrash(Exception):
    """Stands for the worker dying in the middle of a chunk."""


def _single_pdf_batch(client: FlaskClient, sender: Sender, count: int) -> str:
    csv_data = make_csv([(f"Destinataire {i}", phone(i)) for i in range(count)], header=("name", "mobile"))
    response = post_batch(client, sender, csv_data, document=make_pdf_bytes())
    assert response.status_code == 201, response.json
    return str(response.json["id"])


def _letters_by_key(app: Flask, batch_id: str) -> dict[str | None, int]:
    with app.app_context():
        return dict(
            db.session.execute(
                select(Letter.idempotency_key, func.count())
                .where(Letter.batch_id == batch_id)
                .group_by(Letter.idempotency_key)
            ).all()
        )


def test_a_crash_mid_way_loses_one_chunk_and_the_rerun_deposits_each_row_once(
    app: Flask, client: FlaskClient, sender: Sender, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch_id = _single_pdf_batch(client, sender, 250)
    real_deposit = bulk.deposit_letter
    calls = 0

    def crashing_deposit(*args: Any, **kwargs: Any) -> Letter:
        nonlocal calls
        calls += 1
        if calls == bulk.CHUNK_ROWS + bulk.CHUNK_ROWS // 2:  # half-way through the second chunk
            raise SimulatedCrash
        return real_deposit(*args, **kwargs)

    monkeypatch.setattr(bulk, "deposit_letter", crashing_deposit)
    with pytest.raises(SimulatedCrash):
        run_deposit(app, batch_id)
    with app.app_context():
        batch = db.session.get_one(Batch, batch_id)
        assert (batch.status, batch.deposited_rows) == (BatchStatus.DEPOSITING, bulk.CHUNK_ROWS)
    assert sum(_letters_by_key(app, batch_id).values()) == bulk.CHUNK_ROWS  # the second chunk rolled back whole

    monkeypatch.setattr(bulk, "deposit_letter", real_deposit)
    assert run_deposit(app, batch_id) == "done"
    assert run_deposit(app, batch_id) == "done"  # a second run does nothing
    by_key = _letters_by_key(app, batch_id)
    assert len(by_key) == 250
    assert set(by_key.values()) == {1}
    with app.app_context():
        rows = list(db.session.execute(select(BatchRow).where(BatchRow.batch_id == batch_id)).scalars())
        assert all(row.letter_id for row in rows)
        assert len({row.letter_id for row in rows}) == 250
        assert db.session.get_one(Batch, batch_id).deposited_rows == 250


def test_a_row_whose_letter_exists_but_was_not_recorded_is_not_deposited_again(
    app: Flask, client: FlaskClient, sender: Sender
) -> None:
    batch_id = _single_pdf_batch(client, sender, 5)
    assert run_deposit(app, batch_id) == "done"
    with app.app_context():
        # As if another run had deposited row 4 while this one missed it.
        row = db.session.execute(
            select(BatchRow).where(BatchRow.batch_id == batch_id, BatchRow.row_number == 4)
        ).scalar_one()
        letter_id = row.letter_id
        row.letter_id = None
        db.session.get_one(Batch, batch_id).status = BatchStatus.DEPOSITING
        db.session.commit()
        services = current_services()
        # The uploaded PDFs are gone, and not needed: the letter is found by its idempotency key.
        assert deposit_batch(db.session, services, batch_id) is BatchStatus.DONE
        assert db.session.get_one(BatchRow, row.id).letter_id == letter_id
    assert sum(_letters_by_key(app, batch_id).values()) == 5


def test_out_of_time_the_job_queues_its_continuation(app: Flask, client: FlaskClient, sender: Sender) -> None:
    batch_id = _single_pdf_batch(client, sender, 120)
    with app.app_context():
        status = deposit_batch(db.session, current_services(), batch_id, chunk_rows=50, seconds=0)
        assert status is BatchStatus.DEPOSITING
        assert db.session.get_one(Batch, batch_id).deposited_rows == 50
    assert f"batch-{batch_id}-50" in queued_job_ids(app)


def test_a_batch_whose_job_was_lost_is_queued_again_by_the_sweeper(
    app: Flask, client: FlaskClient, sender: Sender, run_jobs: Callable[[], None]
) -> None:
    batch_id = _single_pdf_batch(client, sender, 120)
    with app.app_context():
        assert jobs.requeue_batches() == 1  # its job is queued: the sweep leaves it be (same id)
        assert queued_job_ids(app).count(f"batch-{batch_id}-0") == 1
        every_queue().empty()  # as if Redis had been down when the upload committed
        assert jobs.requeue_batches() == 1
        assert queued_job_ids(app) == [f"batch-{batch_id}-0"]
        # A run handed over and its continuation was lost: the sweep queues the job for that progress.
        every_queue().empty()
        assert deposit_batch(db.session, current_services(), batch_id, chunk_rows=50, seconds=0)
        every_queue().empty()
        assert jobs.requeue_batches() == 1
        assert queued_job_ids(app) == [f"batch-{batch_id}-50"]
    run_jobs()
    assert sum(_letters_by_key(app, batch_id).values()) == 120
    with app.app_context():
        assert db.session.get_one(Batch, batch_id).status is BatchStatus.DONE
        assert jobs.requeue_batches() == 0  # done: nothing left to sweep


def test_a_batch_stops_if_the_organisation_loses_its_verification(
    app: Flask, client: FlaskClient, sender: Sender
) -> None:
    batch_id = _single_pdf_batch(client, sender, 3)
    with app.app_context():
        db.session.get_one(Batch, batch_id).user.organisation.verified_at = None
        db.session.commit()
    assert run_deposit(app, batch_id) == "failed"
    status = client.get(f"/api/v1/batches/{batch_id}", headers=sender.auth).json
    assert (status["status"], status["error"], status["deposited_rows"]) == ("failed", "organisation_not_verified", 0)
    assert counts(app)["letters"] == 0
    assert counts(app)["batch_documents"] == 0


# --- Progress, authorisation --------------------------------------------------------------------------


def test_the_progress_partial_answers_htmx_and_varies_on_it(app: Flask, client: FlaskClient, sender: Sender) -> None:
    batch_id = _single_pdf_batch(client, sender, 3)
    log_in(client, sender)
    partial = client.get(f"/bulk/{batch_id}", headers={**ENGLISH, "HX-Request": "true"})
    assert partial.status_code == 200
    assert "HX-Request" in partial.headers["Vary"]
    assert "<html" not in partial.text
    assert partial.text.lstrip().startswith('<div id="batch-progress"')
    assert 'hx-trigger="every 2s"' in partial.text
    assert "0 of 3 letters deposited" in partial.text
    page = client.get(f"/bulk/{batch_id}", headers=ENGLISH)
    assert "HX-Request" in page.headers["Vary"]
    assert "<html" in page.text
    assert f'href="/bulk/{batch_id}">Refresh</a>' in page.text
    assert run_deposit(app, batch_id) == "done"
    finished = client.get(f"/bulk/{batch_id}", headers={**ENGLISH, "HX-Request": "true"})
    assert "3 of 3 letters deposited" in finished.text
    assert "hx-get" not in finished.text  # the last answer stops the polling


def test_another_organisations_batch_is_not_found(
    app: Flask, client: FlaskClient, sender: Sender, make_sender: Callable[..., Sender]
) -> None:
    batch_id = _single_pdf_batch(client, sender, 2)
    run_deposit(app, batch_id)
    other = make_sender(org="Autre Société SARL")
    assert client.get(f"/api/v1/batches/{batch_id}", headers=other.auth).status_code == 404
    assert client.get(f"/api/v1/batches/{batch_id}/letters", headers=other.auth).status_code == 404
    assert client.get(f"/api/v1/batches/{batch_id}", headers=sender.auth).status_code == 200
    log_in(client, other)
    assert client.get(f"/bulk/{batch_id}", headers=ENGLISH).status_code == 404
    assert client.get(f"/bulk/{batch_id}/letters", headers=ENGLISH).status_code == 404
    assert client.get(f"/bulk/{batch_id}", headers={"HX-Request": "true"}).status_code == 404
    assert batch_id not in client.get("/bulk", headers=ENGLISH).text
    assert client.get(f"/api/v1/batches/{batch_id}").status_code == 401


def test_a_confidential_batch_hides_every_letters_document_name_from_support(
    app: Flask, client: FlaskClient, sender: Sender, run_jobs: Callable[[], None]
) -> None:
    csv_data = make_csv([("Amal", phone(1)), ("Badr", phone(2))], header=("name", "mobile"))
    refused = post_batch(client, sender, csv_data, document=make_pdf_bytes(), document_confidential="oui")
    assert refused.status_code == 422
    assert refused.json["error"]["field"] == "document_confidential"
    assert counts(app) == NOTHING
    marked = post_batch(client, sender, csv_data, document=make_pdf_bytes(), document_confidential="true")
    assert marked.status_code == 201, marked.json
    assert marked.json["document_confidential"] is True
    plain = post_batch(
        client, sender, make_csv([("Chama", phone(3))], header=("name", "mobile")), document=make_pdf_bytes()
    )
    assert plain.json["document_confidential"] is False
    run_jobs()
    with app.app_context():
        flags = dict(db.session.execute(select(Letter.recipient_name, Letter.document_confidential)).all())
    assert flags == {"Amal": True, "Badr": True, "Chama": False}
