"""Key rotation without downtime: a new master key wraps new data keys at once, a resumable job re-wraps the
old ones, and every old document still decrypts; a new seal (and TSA) key takes over for new proofs while
old proofs keep validating (old certificates and CRLs stay published).  Each rotation is audited."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from cryptography import x509
from flask import Flask
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import select

from tests.trust_helpers import Letters, root_certificate, validate_pdf
from webapp import create_app, jobs
from webapp.clock import FrozenClock
from webapp.config import Settings, new_master_key_file, old_master_key_files
from webapp.extensions import db
from webapp.models import AgentAuditEntry, KeyRotation, StoredDocument
from webapp.services import Services
from webapp.support.agents import create_agent
from webapp.support.keys import key_usage
from webapp.vault import master_key_id

NEW_KEY = b"n" * 32


@pytest.fixture
def letters(app: Flask, client: Any, sender: Any, deposit: Any, run_jobs: Any, outbox: Any) -> Letters:
    return Letters(app, client, sender, deposit, run_jobs, outbox)


def _services(app: Flask) -> Services:
    services: Services = app.extensions["wassit"]
    return services


def _agent(app: Flask) -> str:
    with app.app_context():
        create_agent(db.session, _services(app).clock, email="keys@wassit.ma", password="a long agent password")
        db.session.commit()
        db.session.remove()
    return "keys@wassit.ma"


def _documents(app: Flask) -> dict[str, bytes]:
    services = _services(app)
    with app.app_context():
        rows = list(db.session.execute(select(StoredDocument)).scalars())
        plain = {row.letter_id: services.objects.read(row, context=f"document:{row.letter_id}") for row in rows}
        db.session.remove()
    return plain


def test_a_master_key_rotation_keeps_every_document_readable(
    app: Flask, letters: Letters, settings: Settings, clock: FrozenClock, sender: Any
) -> None:
    old_id = master_key_id(settings.master_key)
    first, path = letters.notified()
    letters.decide(path, "accept")
    letters.run_jobs()
    before = _documents(app)
    proof = letters.proof(first, "reception")
    agent = _agent(app)

    # Step 1: every process gets the new key as MASTER_KEY and the old one in MASTER_KEYS (a rolling restart).
    rotated = create_app(settings.replace(master_key=NEW_KEY, old_master_keys=(settings.master_key,)), clock=clock)
    rotated.config.update(TESTING=True)
    client = rotated.test_client()
    assert _documents(rotated) == before  # old data keys still open
    created = client.post(
        "/api/v1/letters",
        data={
            "document": (io.BytesIO(_pdf()), "n.pdf"),
            "recipient_phone": "0612345678",
            "recipient_name": "Salma Bennani",
        },
        headers=sender.auth,
        content_type="multipart/form-data",
    )
    assert created.status_code == 201, created.json
    with rotated.app_context():
        new_row = db.session.get_one(StoredDocument, created.json["id"])
        assert new_row.key_id == master_key_id(NEW_KEY)  # new data keys are wrapped by the new key at once
        usage = key_usage(db.session)
        db.session.remove()
    assert usage[old_id] >= 2

    # Step 2: the rotation is recorded and the old data keys re-wrapped (resumable; here, at once).
    runner = rotated.test_cli_runner()
    result = runner.invoke(args=["keys", "rotate-master", "--agent", agent, "--reason", "Annual rotation", "--now"])
    assert result.exit_code == 0, result.output
    status = runner.invoke(args=["keys", "status"]).output
    assert f"Master key in use: {master_key_id(NEW_KEY)}" in status
    assert "Data keys left to re-wrap: 0" in status
    assert "record sealed" in status  # the rotation's record, sealed and timestamped: evidence
    with rotated.app_context():
        assert set(key_usage(db.session)) == {master_key_id(NEW_KEY)}
        [rotation] = db.session.execute(select(KeyRotation)).scalars()
        assert rotation.finished_at is not None
        assert rotation.old_key_id == old_id
        assert rotation.rewrapped == usage[old_id]
        [entry] = db.session.execute(select(AgentAuditEntry).where(AgentAuditEntry.action == "rotate_key")).scalars()
        assert entry.reason == "Annual rotation"
        db.session.remove()
    again = runner.invoke(args=["keys", "rotate-master", "--agent", agent, "--reason", "Nothing left"])
    assert again.exit_code != 0  # nothing wrapped by another key

    # Step 3: the old key leaves; every old document and proof still opens.
    alone = create_app(settings.replace(master_key=NEW_KEY, old_master_keys=()), clock=clock)
    alone.config.update(TESTING=True)
    after = _documents(alone)
    assert {key: after[key] for key in before} == before
    assert alone.test_client().get(f"/api/v1/letters/{first}/proofs/reception", headers=sender.auth).data == proof
    for extra in (rotated, alone):
        with extra.app_context():
            db.session.remove()
            db.engine.dispose()
        extra.extensions["wassit.redis"].close()


def _pdf() -> bytes:
    from tests.conftest import make_pdf_bytes

    return make_pdf_bytes()


def test_an_unfinished_rotation_is_handed_back_to_a_worker(
    app: Flask, letters: Letters, settings: Settings, clock: FrozenClock
) -> None:
    letters.notified()
    agent = _agent(app)
    rotated = create_app(settings.replace(master_key=NEW_KEY, old_master_keys=(settings.master_key,)), clock=clock)
    runner = rotated.test_cli_runner()
    result = runner.invoke(args=["keys", "rotate-master", "--agent", agent, "--reason", "Rotation by a worker"])
    assert result.exit_code == 0, result.output
    # The job queued by the command is lost (Redis flushed): the sweeper finds the rotation again.
    from redis import Redis

    Redis.from_url(settings.redis_url or "").flushdb()
    clock.advance(600)
    with rotated.app_context():
        assert jobs.resume_key_rewraps() == 1
    from worker.app_worker import run_worker

    run_worker(rotated, burst=True, simple=True, logging_level="WARNING")
    with rotated.app_context():
        assert set(key_usage(db.session)) == {master_key_id(NEW_KEY)}
        assert db.session.execute(select(KeyRotation.finished_at)).scalar_one() is not None
        db.session.remove()
        db.engine.dispose()
    rotated.extensions["wassit.redis"].close()


def test_the_embedded_setup_keeps_its_old_master_key_readable(tmp_path: Any) -> None:
    (tmp_path / "master.key").write_text(base64.b64encode(b"o" * 32).decode() + "\n")
    old_id = new_master_key_file(tmp_path)
    assert old_id == master_key_id(b"o" * 32)
    assert old_master_key_files(tmp_path) == (b"o" * 32,)
    assert base64.b64decode((tmp_path / "master.key").read_text().strip()) != b"o" * 32
    assert (tmp_path / "master-keys" / f"{old_id}.key").stat().st_mode & 0o777 == 0o600


def test_a_seal_rotation_signs_new_proofs_with_the_new_key_and_old_proofs_keep_validating(
    app: Flask, letters: Letters, client: Any
) -> None:
    agent = _agent(app)
    old_letter, _ = letters.notified()
    old_proof = letters.proof(old_letter, "deposit")
    root = root_certificate(client)

    result = app.test_cli_runner().invoke(args=["keys", "rotate-seal", "--agent", agent, "--reason", "HSM migration"])
    assert result.exit_code == 0, result.output

    new_letter, _ = letters.notified()
    new_proof = letters.proof(new_letter, "deposit")

    def signer(pdf: bytes) -> bytes:
        [signature] = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_regular_signatures
        return bytes(signature.signer_cert.dump())

    assert signer(old_proof) != signer(new_proof)
    for pdf in (old_proof, new_proof):
        status = validate_pdf(pdf, root)
        assert status.intact
        assert status.valid
    # The old certificate stays published, with its generation's CRL.
    old_cert = x509.load_der_x509_certificate(signer(old_proof))
    crl_url = old_cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value[0].full_name[0].value
    published = client.get(crl_url.removeprefix("https://wassit.ma"))
    assert published.status_code == 200
    assert (
        x509.load_der_x509_crl(published.data).get_revoked_certificate_by_serial_number(old_cert.serial_number) is None
    )
    status_text = app.test_cli_runner().invoke(args=["keys", "status"]).output
    assert "archived:" in status_text
    assert "record sealed" in status_text
    with app.app_context():
        [rotation] = db.session.execute(select(KeyRotation)).scalars()
        assert rotation.kind == "seal"
        assert rotation.old_key_id != rotation.new_key_id
        db.session.remove()
