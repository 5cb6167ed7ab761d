"""On SQLite, reading never waits for a writer: GET pages begin DEFERRED transactions (WAL readers beside
the writer), and only work that writes takes the lock (IMMEDIATE) — so a recipient's page answers while a
proof or a deposit holds the write lock."""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import Sender
from tests.trust_helpers import Letters, proof_row
from webapp.config import Settings


@pytest.fixture
def letters(app: Flask, client: FlaskClient, sender: Sender, deposit: Any, run_jobs: Any, outbox: Any) -> Letters:
    return Letters(app, client, sender, deposit, run_jobs, outbox)


@pytest.fixture
def sqlite_path(settings: Settings) -> str:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite's locking")
    return settings.database_url.removeprefix("sqlite:///")


def _hold_the_write_lock(path: str) -> sqlite3.Connection:
    other = sqlite3.connect(path, timeout=0.1, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    return other


def test_pages_that_read_answer_while_another_process_holds_the_write_lock(
    app: Flask, client: FlaskClient, letters: Letters, sender: Sender, sqlite_path: str
) -> None:
    letter_id, path = letters.notified()
    writer = _hold_the_write_lock(sqlite_path)
    try:
        for url, headers in ((path, {}), (f"/api/v1/letters/{letter_id}", sender.auth), ("/journal/checkpoint", {})):
            started = time.monotonic()
            assert client.get(url, headers=headers).status_code == 200
            assert time.monotonic() - started < 2, url  # no busy wait on the writer's lock
    finally:
        writer.rollback()
        writer.close()


def test_work_that_writes_waits_for_the_lock_instead_of_failing_halfway(
    app: Flask, client: FlaskClient, letters: Letters, sender: Sender, sqlite_path: str
) -> None:
    """A deposit (a POST) takes the write lock at BEGIN: it queues behind the writer, then succeeds."""
    writer = _hold_the_write_lock(sqlite_path)
    # Released after a moment, as a worker's short write transaction would be.
    release = threading.Timer(1.0, writer.rollback)
    release.start()
    try:
        response = letters.deposit()
        assert response.status_code == 201, response.get_data(as_text=True)
    finally:
        release.join()
        writer.close()


@pytest.mark.parametrize("endpoint", ["api.get_bundle", "portal.download_bundle", "recipient.document"])
def test_the_gets_that_write_are_marked(app: Flask, endpoint: str) -> None:
    assert getattr(app.view_functions[endpoint], "writes", False) is True


def test_a_proof_job_reads_beside_a_writer_and_signs_without_holding_the_lock(
    app: Flask, letters: Letters, sqlite_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15: the proof job reads in a snapshot (it does not queue behind a deposit's write), and holds
    no lock while it renders and signs, so two workers proving letters run side by side."""
    from webapp import jobs
    from webapp.extensions import db
    from webapp.trust import proofs
    from webapp.trust.context import current_trust_services
    from webapp.trust.journal import write_checkpoint

    response = letters.deposit()
    assert response.status_code == 201, response.get_data(as_text=True)
    proof = proof_row(app, response.json["id"], "deposit")
    assert proof.status.value == "pending"
    with app.app_context():
        write_checkpoint(db.session, current_trust_services(), force=True)  # the records are logged already
        db.session.remove()

    writer = _hold_the_write_lock(sqlite_path)
    seen: dict[str, Any] = {}
    render, sign = proofs.render_proof_pdf, proofs.sign_proof_pdf

    def render_beside_the_writer(*args: Any, **kwargs: Any) -> bytes:
        seen["rendered while the writer held the lock"] = writer.in_transaction
        writer.rollback()  # the deposit's short write ends; the job will need the lock to finish
        return render(*args, **kwargs)

    def sign_and_look_at_the_lock(*args: Any, **kwargs: Any) -> bytes:
        signed = sign(*args, **kwargs)
        probe = sqlite3.connect(sqlite_path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")  # fails at once if the job kept a write transaction open
            probe.rollback()
            seen["lock free after signing"] = True
        except sqlite3.OperationalError:
            seen["lock free after signing"] = False
        finally:
            probe.close()
        return signed

    monkeypatch.setattr(proofs, "render_proof_pdf", render_beside_the_writer)
    monkeypatch.setattr(proofs, "sign_proof_pdf", sign_and_look_at_the_lock)
    try:
        with app.app_context():
            started = time.monotonic()
            assert jobs.issue_proof(proof.id) == "ready"
            assert time.monotonic() - started < 10  # not a busy wait of 30 s on the writer
            db.session.remove()
    finally:
        writer.close()
    assert seen == {"rendered while the writer held the lock": True, "lock free after signing": True}
    assert proof_row(app, response.json["id"], "deposit").status.value == "ready"
