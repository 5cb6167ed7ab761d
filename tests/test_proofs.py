"""PDF proofs of every kind, end to end: produced by a job, signed, timestamped, verifiable by anyone.

Each proof is checked as an outside party would: pyHanko's own validator
trusting only the CA fetched from /trust/ca.pem, pypdf for the text and the
attachments, and the public verification page its QR code points to.
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pypdf import PdfReader
from sqlalchemy import func, select

from tests.conftest import Sender
from tests.trust_helpers import (
    FailingSms,
    Letters,
    accepted,
    attachments,
    check_journal_attachments,
    evidence_rows,
    flip_signed_byte,
    pdf_text,
    proof_row,
    record_of,
    root_certificate,
    validate_pdf,
    verdicts,
)
from webapp import jobs
from webapp.clock import FrozenClock
from webapp.config import ConfigError, Settings
from webapp.extensions import db
from webapp.labels import PROOF_TEXTS_BY_LANGUAGE as LABELS
from webapp.models import Proof
from webapp.queue import every_queue
from webapp.services import Services, current_services
from webapp.trust.pdf_layout import QR_PIXELS_PER_MODULE, QR_QUIET_ZONE
from webapp.trust.proofs import PROOF_EVENTS, SHOWN_EVENTS, add_years

REFUSAL_REASON = "Je conteste la créance : facture n°1842 déjà réglée"


@pytest.fixture
def letters(app: Flask, client: FlaskClient, sender: Sender, deposit: Any, run_jobs: Any, outbox: Any) -> Letters:
    return Letters(app, client, sender, deposit, run_jobs, outbox)


def _services(app: Flask) -> Services:
    services: Services = app.extensions["wassit"]
    return services


def _letter_to(kind: str, letters: Letters, clock: FrozenClock, language: str) -> tuple[str, str]:
    """A letter brought to the outcome `kind` attests, its jobs run: (letter id, final status)."""
    app = letters.app
    if kind == "non_delivery":
        _services(app).sms = FailingSms()
        created = letters.deposit(language=language)
        assert created.status_code == 201
        letters.run_jobs()
        return created.json["id"], "undeliverable"
    letter_id, path = letters.notified(language=language)
    if kind == "deposit":
        return letter_id, "notified"
    if kind == "reception":
        letters.decide(path, "accept")
        status = "accepted"
    elif kind == "refusal":
        letters.decide(path, "refuse", reason=REFUSAL_REASON)
        status = "refused"
    else:
        clock.advance(_services(app).settings.acceptance_period + 1)
        with app.app_context():
            every_queue().enqueue("webapp.jobs.expire_letters")
        status = "neglected"
    letters.run_jobs()
    return letter_id, status


def _qr_matrix_drawn(pdf: bytes) -> list[list[bool]]:
    """The QR code's modules as drawn in the proof (the only image), quiet zone removed."""
    images = [image for page in PdfReader(io.BytesIO(pdf)).pages for image in page.images]
    assert len(images) == 1
    picture = images[0].image
    assert picture is not None
    picture = picture.convert("L")
    side = picture.size[0]
    assert picture.size == (side, side)
    assert side % QR_PIXELS_PER_MODULE == 0
    modules = side // QR_PIXELS_PER_MODULE - 2 * QR_QUIET_ZONE
    half = QR_PIXELS_PER_MODULE // 2

    def dark(row: int, column: int) -> bool:
        x = (column + QR_QUIET_ZONE) * QR_PIXELS_PER_MODULE + half
        y = (row + QR_QUIET_ZONE) * QR_PIXELS_PER_MODULE + half
        value = picture.getpixel((x, y))
        assert isinstance(value, int)
        return value < 128

    return [[dark(row, column) for column in range(modules)] for row in range(modules)]


def _qr_text(matrix: list[list[bool]]) -> str:
    """What a QR decoder (zxing-cpp, independent of the module under test) reads in the drawn modules."""
    size = len(matrix) + 8
    image = Image.new("L", (size * 4, size * 4), 255)
    for row, modules in enumerate(matrix):
        for column, dark in enumerate(modules):
            if dark:
                image.paste(0, ((column + 4) * 4, (row + 4) * 4, (column + 5) * 4, (row + 5) * 4))
    [result] = zxingcpp.read_barcodes(image)
    return str(result.text)


def _assert_rejected(data: bytes, root: asn1_x509.Certificate) -> None:
    assert not accepted(data, root)


def _signed_ranges(pdf: bytes) -> list[int]:
    """Offsets inside the byte ranges the seal signs: in the page content, and in the signature dictionary
    (the seal is the first signature; the archive timestamp that follows covers the rest, to the end)."""
    offsets = []
    for start in (pdf.index(b"/ByteRange"), pdf.rindex(b"/ByteRange")):
        numbers = pdf[pdf.index(b"[", start) + 1 : pdf.index(b"]", start)].split()
        first_start, first_length, second_start, second_length = (int(n) for n in numbers)
        assert first_start == 0
        offsets += [first_length // 2, first_length - 60, second_start + second_length // 2]
    assert second_start + second_length == len(pdf)  # the last archive timestamp covers the whole file
    return offsets


# --- every kind ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "language"),
    [
        ("deposit", "fr"),
        ("reception", "en"),
        ("refusal", "fr"),
        ("negligence", "ar"),
        ("non_delivery", "fr"),
    ],
)
def test_every_kind_of_proof_is_signed_timestamped_and_verifiable(
    app: Flask,
    client: FlaskClient,
    letters: Letters,
    clock: FrozenClock,
    settings: Settings,
    pdf: Any,
    kind: str,
    language: str,
    tmp_path: Path,
) -> None:
    letter_id, status = _letter_to(kind, letters, clock, language)
    body = letters.api(letter_id)
    assert body["status"] == status
    listed = {proof["kind"]: proof for proof in body["proofs"]}
    assert listed[kind]["status"] == "ready"
    assert listed[kind]["url"] == f"http://localhost/api/v1/letters/{letter_id}/proofs/{kind}"
    assert "deposit" in listed  # every letter has its proof of deposit

    proof = letters.proof(letter_id, kind)
    assert proof.startswith(b"%PDF")
    assert hashlib.sha256(proof).hexdigest() == listed[kind]["sha256"]

    # pyHanko's validator, trusting only the CA that /trust/ca.pem publishes.
    root = root_certificate(client)
    validity = validate_pdf(proof, root)
    assert validity.intact
    assert validity.valid
    assert validity.trusted
    # The seal covers its revision; after it come only the DSS and archive timestamps (PAdES B-LTA),
    # which its DocMDP "no changes" permission allows.
    assert validity.coverage == SignatureCoverageLevel.ENTIRE_REVISION
    assert validity.modification_level == ModificationLevel.LTA_UPDATES
    assert validity.docmdp_ok
    seal_cert = x509.load_pem_x509_certificate((settings.trust_directory / "seal.pem").read_bytes())
    assert validity.signing_cert.dump() == seal_cert.public_bytes(serialization.Encoding.DER)
    timestamp = validity.timestamp_validity
    assert timestamp is not None
    assert timestamp.intact
    assert timestamp.valid
    assert timestamp.trusted

    # One flipped byte anywhere in the signed ranges breaks it; a byte added at the end too.
    assert accepted(proof, root)
    _assert_rejected(proof + b"% appended", root)
    for offset in _signed_ranges(proof):
        tampered = bytearray(proof)
        tampered[offset] ^= 0x01
        _assert_rejected(bytes(tampered), root)
    _assert_rejected(flip_signed_byte(proof), root)

    # The facts, in the letter's language.
    records = evidence_rows(app, letter_id)
    [trigger] = [row for row in records if row.event == PROOF_EVENTS[kind]]  # type: ignore[index]
    text = pdf_text(proof)
    document = record_of(records[0])["document"]
    for value in (document["sha256"], body["reference"], letter_id, trigger.id, trigger.record_hash):
        assert value in text, value
    assert LABELS[language][f"title.{kind}"] in text
    if kind == "refusal":
        assert REFUSAL_REASON in text
        assert record_of(trigger)["details"]["reason"] == REFUSAL_REASON
    if kind == "non_delivery":
        assert "unknown subscriber" in text

    # The evidence records travel inside the proof, byte for byte as in the journal, each with its
    # inclusion proof into the signed, timestamped and sealed checkpoint the proof was issued against.
    embedded = attachments(proof)
    shown = [row for row in records if row.seq <= trigger.seq and row.event in SHOWN_EVENTS]
    assert shown[0].event == "SubmissionAcceptance"
    assert shown[-1].id == trigger.id
    json_names = sorted(name for name in embedded if name.startswith("evidence-") and name.endswith(".json"))
    assert len(json_names) == len(shown)
    for name, row in zip(json_names, shown, strict=True):
        assert embedded[name] == row.canonical.encode("utf-8")
        assert json.loads(embedded[name])["evidence_id"] == row.id
        assert name.removesuffix(".json") + ".p7s" not in embedded  # sealed by the log, not one by one
    checkpoint = check_journal_attachments(client, tmp_path, embedded, shown)
    assert checkpoint.size >= trigger.seq
    assert f"{checkpoint.size}" in text
    assert checkpoint.root.hex() in text
    journal_files = {"journal-checkpoint.txt", "journal-checkpoint.tsr", "journal-checkpoint.p7s"}
    inclusion_files = {f"inclusion-{row.seq:08d}.json" for row in shown}
    assert set(embedded) == set(json_names) | journal_files | inclusion_files

    # The QR code leads to the verification page of the record the proof attests, which says genuine.
    url = f"https://wassit.ma/verify/{trigger.id}"
    assert url in text
    assert _qr_text(_qr_matrix_drawn(proof)) == url
    page = client.get(url.removeprefix("https://wassit.ma"))
    assert page.status_code == 200
    assert verdicts(page.text) == ["pass"]
    assert document["sha256"] in page.text


def test_a_proof_is_for_the_sender_only(app: Flask, client: FlaskClient, letters: Letters, make_sender: Any) -> None:
    letter_id, _ = letters.notified()
    other = make_sender(org="Cabinet Bennani")
    response = client.get(f"/api/v1/letters/{letter_id}/proofs/deposit", headers=other.auth)
    assert response.status_code == 404
    assert b"%PDF" not in response.data
    assert client.get(f"/api/v1/letters/{letter_id}/proofs/deposit").status_code == 401
    # An outcome that has not happened has no proof; an unknown kind is not found.
    for kind in ("reception", "receipt"):
        response = client.get(f"/api/v1/letters/{letter_id}/proofs/{kind}", headers=letters.sender.auth)
        assert response.status_code == 404
        assert response.json["error"]["code"] in {"proof_not_available", "not_found"}


# --- the job ---------------------------------------------------------------------------------------


def test_a_proof_is_pending_until_its_job_has_run(
    app: Flask, client: FlaskClient, letters: Letters, sender: Sender
) -> None:
    created = letters.deposit()
    letter_id = created.json["id"]
    [listed] = letters.api(letter_id)["proofs"]
    assert listed["kind"] == "deposit"
    assert listed["status"] == "pending"
    assert listed["sha256"] is None
    response = client.get(f"/api/v1/letters/{letter_id}/proofs/deposit", headers=sender.auth)
    assert response.status_code == 409
    assert response.json["error"]["code"] == "proof_pending"
    assert response.headers["Retry-After"]

    letters.run_jobs()
    [listed] = letters.api(letter_id)["proofs"]
    assert listed["status"] == "ready"
    assert letters.proof(letter_id, "deposit").startswith(b"%PDF")


def test_running_the_proof_job_twice_keeps_one_proof(app: Flask, letters: Letters) -> None:
    letter_id, _ = letters.notified()
    first = proof_row(app, letter_id, "deposit")
    served = letters.proof(letter_id, "deposit")
    assert first.status.value == "ready"
    assert first.sha256 == hashlib.sha256(served).hexdigest()

    # Again directly, as a retried job would, and again through the queue.
    with app.app_context():
        assert jobs.issue_proof(first.id) == "ready"
        db.session.remove()
        every_queue().enqueue("webapp.jobs.issue_proof", first.id)
    letters.run_jobs()

    again = proof_row(app, letter_id, "deposit")
    assert again.id == first.id
    assert again.sha256 == first.sha256
    assert again.object_key == first.object_key
    assert again.issued_at == first.issued_at
    assert letters.proof(letter_id, "deposit") == served
    with app.app_context():
        assert db.session.execute(select(func.count(Proof.id)).where(Proof.letter_id == letter_id)).scalar_one() == 1
        db.session.remove()


def test_stored_proofs_are_encrypted_and_kept_ten_years(app: Flask, letters: Letters, clock: FrozenClock) -> None:
    letter_id, path = letters.notified()
    letters.decide(path, "accept")
    clock.advance(30)
    letters.run_jobs()
    for kind in ("deposit", "reception"):
        row = proof_row(app, letter_id, kind)
        served = letters.proof(letter_id, kind)
        assert row.ciphertext is None
        assert row.object_key is not None
        with app.app_context():
            ciphertext = current_services().objects.ciphertext(row)
        assert hashlib.sha256(ciphertext).hexdigest() == row.object_sha256
        assert b"%PDF" not in ciphertext
        assert served[200:264] not in ciphertext
        assert row.size == len(served)
        assert row.issued_at is not None
        assert row.retain_until == row.issued_at.replace(year=row.issued_at.year + 10)


def test_the_retention_follows_the_setting(app: Flask, letters: Letters) -> None:
    services = _services(app)
    services.settings = services.settings.replace(proof_retention_years=12)
    letter_id, _ = letters.notified()
    row = proof_row(app, letter_id, "deposit")
    assert row.issued_at is not None
    assert row.retain_until == row.issued_at.replace(year=row.issued_at.year + 12)


def test_proof_retention_years_is_read_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("PROOF_RETENTION_YEARS", "15")
    assert Settings.from_env().proof_retention_years == 15
    monkeypatch.delenv("PROOF_RETENTION_YEARS")
    assert Settings.from_env().proof_retention_years == 10
    monkeypatch.setenv("PROOF_RETENTION_YEARS", "0")
    with pytest.raises(ConfigError, match="PROOF_RETENTION_YEARS"):
        Settings.from_env()


def test_add_years_handles_the_29th_of_february() -> None:
    leap_day = datetime(2028, 2, 29, 12, 0, tzinfo=UTC)
    assert add_years(leap_day, 10) == datetime(2038, 2, 28, 12, 0, tzinfo=UTC)
    assert add_years(leap_day, 4) == datetime(2032, 2, 29, 12, 0, tzinfo=UTC)
    assert add_years(datetime(2026, 11, 23, tzinfo=UTC), 10) == datetime(2036, 11, 23, tzinfo=UTC)
