"""Tamper evidence: `flask evidence audit` and the sealed checkpoints of the chain's head."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from tests.trust_helpers import cms_verify, evidence_rows, run_cli
from webapp.clock import FrozenClock
from webapp.extensions import db
from webapp.models import ChainCheckpoint
from webapp.queue import get_queue
from webapp.services import Services
from webapp.trust.audit import write_checkpoint
from webapp.trust.evidence import GENESIS_HASH


def _sql(app: Flask, *statements: str, **params: Any) -> None:
    with app.app_context():
        for statement in statements:
            db.session.execute(text(statement), params)
        db.session.commit()
        db.session.remove()


def _delete_records(app: Flask, where: str) -> None:
    """Deletes evidence records as an intruder would: the proofs rows that reference them first."""
    _sql(
        app,
        f"DELETE FROM proofs WHERE evidence_id IN (SELECT id FROM evidence WHERE {where})",  # noqa: S608
        f"DELETE FROM evidence WHERE {where}",  # noqa: S608
    )


def _audit(app: Flask, *options: str) -> tuple[int, list[str], str]:
    """Runs `flask evidence audit`: (exit code, PROBLEM lines, whole output)."""
    result = run_cli(app, ["evidence", "audit", *options])
    problems = [line.removeprefix("PROBLEM ") for line in result.output.splitlines() if line.startswith("PROBLEM ")]
    return result.exit_code, problems, result.output


@pytest.fixture
def journal(app: Flask, deposit: Any, run_jobs: Any, clock: FrozenClock) -> list[Any]:
    """Two letters deposited and notified, their records sealed: four records."""
    deposit()
    clock.advance(5)
    deposit(recipient_phone="0700112233", recipient_name="Fatima Zahra Bennani")
    clock.advance(60)
    run_jobs()
    rows = evidence_rows(app)
    assert [row.seq for row in rows] == [1, 2, 3, 4]
    assert all(row.seal is not None for row in rows)
    return rows


def _services(app: Flask) -> Services:
    services: Services = app.extensions["wassit"]
    return services


# --- the audit -----------------------------------------------------------------------------------


def test_an_empty_journal_is_intact(app: Flask) -> None:
    code, problems, output = _audit(app)
    assert (code, problems) == (0, [])
    assert "0 record(s)" in output
    assert "The journal is intact." in output


def test_a_fresh_journal_is_intact(app: Flask, journal: list[Any]) -> None:
    code, problems, output = _audit(app)
    assert (code, problems) == (0, [])
    assert "4 record(s), 0 checkpoint(s), 0 awaiting their seal." in output
    assert "intact" in output


def test_records_awaiting_their_seal_are_no_problem(app: Flask, journal: list[Any], deposit: Any) -> None:
    deposit(recipient_phone="0611223344")  # its seal job has not run yet
    code, problems, output = _audit(app)
    assert (code, problems) == (0, [])
    assert "5 record(s), 0 checkpoint(s), 1 awaiting their seal." in output


def test_an_edited_record_is_caught(app: Flask, journal: list[Any]) -> None:
    _sql(app, "UPDATE evidence SET canonical = replace(canonical, 'Youssef Alami', 'Youssef Alamy') WHERE seq = 1")
    code, problems, output = _audit(app)
    assert code != 0
    assert f"record 1 ({journal[0].id}): record hash does not match" in problems
    assert f"record 1 ({journal[0].id}): bad seal" in problems
    assert "problem(s) found" in output


def test_an_edited_and_rehashed_record_is_caught(app: Flask, journal: list[Any]) -> None:
    body = json.loads(journal[1].canonical)
    body["recipient"]["phone"] = "+212699999999"
    forged = rfc8785.dumps(body)
    _sql(
        app,
        "UPDATE evidence SET canonical = :c, record_hash = :h WHERE seq = 2",
        c=forged.decode(),
        h=hashlib.sha256(forged).hexdigest(),
    )
    code, problems, _ = _audit(app)
    assert code != 0
    assert set(problems) == {
        f"record 2 ({journal[1].id}): bad seal",
        f"record 3 ({journal[2].id}): broken link to previous record",
    }


def test_a_deleted_record_is_caught(app: Flask, journal: list[Any]) -> None:
    _delete_records(app, "seq = 2")
    code, problems, _ = _audit(app)
    assert code != 0
    assert set(problems) == {
        f"record 3 ({journal[2].id}): expected record 2",
        f"record 3 ({journal[2].id}): broken link to previous record",
    }


def test_two_swapped_records_are_caught(app: Flask, journal: list[Any]) -> None:
    _sql(
        app,
        "UPDATE evidence SET seq = 1000 WHERE seq = 2",
        "UPDATE evidence SET seq = 2 WHERE seq = 3",
        "UPDATE evidence SET seq = 3 WHERE seq = 1000",
    )
    code, problems, _ = _audit(app)
    assert code != 0
    assert f"record 2 ({journal[2].id}): broken link to previous record" in problems
    assert f"record 2 ({journal[2].id}): record content does not match its row" in problems
    assert f"record 3 ({journal[1].id}): record content does not match its row" in problems


def test_a_seal_of_another_record_is_caught(app: Flask, journal: list[Any]) -> None:
    _sql(app, "UPDATE evidence SET seal = (SELECT seal FROM evidence WHERE seq = 1) WHERE seq = 3")
    code, problems, _ = _audit(app)
    assert code != 0
    assert problems == [f"record 3 ({journal[2].id}): bad seal"]
    # --skip-seals checks the hashes and links only: those are intact.
    code, problems, _ = _audit(app, "--skip-seals")
    assert (code, problems) == (0, [])


def test_a_garbage_seal_is_caught(app: Flask, journal: list[Any]) -> None:
    _sql(app, "UPDATE evidence SET seal = :s WHERE seq = 4", s=b"\x30\x03\x02\x01\x01")
    code, problems, _ = _audit(app)
    assert code != 0
    assert problems == [f"record 4 ({journal[3].id}): bad seal"]


def test_a_truncated_chain_is_caught_by_the_checkpoint(app: Flask, journal: list[Any]) -> None:
    result = run_cli(app, ["evidence", "checkpoint"])
    assert result.exit_code == 0
    assert "Checkpoint at record 4." in result.output
    assert _audit(app)[:2] == (0, [])

    # The two latest records go, and the head is reset to the new last one: the links alone still hold.
    _delete_records(app, "seq > 2")
    _sql(app, "UPDATE evidence_chain_head SET seq = 2, record_hash = :h", h=journal[1].record_hash)
    code, problems, output = _audit(app)
    assert code != 0
    assert problems == ["checkpoint 1 (record 4): the checkpointed record is missing or changed (truncated chain?)"]
    assert "2 record(s), 1 checkpoint(s)" in output


def test_a_checkpoint_rewritten_to_hide_a_truncation_is_caught(app: Flask, journal: list[Any]) -> None:
    assert run_cli(app, ["evidence", "checkpoint"]).exit_code == 0
    _delete_records(app, "seq > 2")
    _sql(app, "UPDATE evidence_chain_head SET seq = 2, record_hash = :h", h=journal[1].record_hash)
    with app.app_context():
        checkpoint = db.session.execute(select(ChainCheckpoint)).scalar_one()
        statement = json.loads(checkpoint.canonical)
        db.session.remove()
    statement.update(sequence=2, head_hash=journal[1].record_hash)
    _sql(
        app,
        "UPDATE evidence_checkpoints SET seq = 2, record_hash = :h, canonical = :c",
        h=journal[1].record_hash,
        c=rfc8785.dumps(statement).decode(),
    )
    code, problems, _ = _audit(app)
    assert code != 0
    assert problems == ["checkpoint 1 (record 2): bad seal"]


def test_a_deleted_checkpoint_breaks_the_checkpoint_chain(app: Flask, journal: list[Any], clock: FrozenClock) -> None:
    for _ in range(3):
        assert run_cli(app, ["evidence", "checkpoint"]).exit_code == 0
        clock.advance(10)
    _sql(app, "DELETE FROM evidence_checkpoints WHERE id = 2")
    code, problems, _ = _audit(app, "--skip-seals")
    assert code != 0
    assert problems == ["checkpoint 3 (record 4): broken link to the previous checkpoint"]


# --- checkpoints ---------------------------------------------------------------------------------


def _checkpoints(app: Flask) -> int:
    with app.app_context():
        count = db.session.execute(select(func.count(ChainCheckpoint.id))).scalar_one()
        db.session.remove()
    return int(count)


def _write(app: Flask, *, force: bool = False) -> ChainCheckpoint | None:
    with app.app_context():
        checkpoint = write_checkpoint(db.session, _services(app), force=force)
        if checkpoint is not None:
            db.session.refresh(checkpoint)  # committed: reload, then keep it past the session
            db.session.expunge(checkpoint)
        db.session.remove()
    return checkpoint


def test_an_empty_chain_gets_no_checkpoint(app: Flask) -> None:
    assert _write(app) is None
    assert _write(app, force=True) is None
    result = run_cli(app, ["evidence", "checkpoint"])
    assert result.exit_code == 0
    assert "The journal is empty." in result.output
    assert _checkpoints(app) == 0


def test_checkpoints_follow_the_head_and_the_interval(
    app: Flask, client: FlaskClient, deposit: Any, run_jobs: Any, clock: FrozenClock, tmp_path: Path
) -> None:
    services = _services(app)
    services.settings = services.settings.replace(checkpoint_interval=600)
    deposit()
    run_jobs()
    rows = evidence_rows(app)
    first = _write(app)
    assert first is not None
    assert (first.seq, first.record_hash) == (rows[-1].seq, rows[-1].record_hash)
    assert first.created_at == clock.now()
    statement = json.loads(first.canonical)
    assert statement == {
        "type": "ChainCheckpoint",
        "issuer": statement["issuer"],
        "at": clock.now().isoformat().replace("+00:00", ".000000Z"),
        "sequence": rows[-1].seq,
        "head_hash": rows[-1].record_hash,
        "previous_checkpoint_hash": GENESIS_HASH,
    }
    assert first.canonical.encode() == rfc8785.dumps(statement)
    # Its seal verifies with OpenSSL against the published root.
    ca = client.get("/trust/ca.pem").data
    result = cms_verify(tmp_path, first.canonical.encode(), first.seal, ca)
    assert result.returncode == 0, result.stderr
    assert cms_verify(tmp_path, first.canonical.encode() + b" ", first.seal, ca).returncode != 0

    # Neither moved nor later: none.
    assert _write(app) is None
    # The head moved, but the interval since the last checkpoint has not passed: none yet.
    clock.advance(10)
    deposit(recipient_phone="0700112233")
    run_jobs()
    assert _write(app) is None
    clock.advance(600 - 10 - 1)
    assert _write(app) is None
    assert _checkpoints(app) == 1
    # Moved, and the interval passed: a new checkpoint, linked to the previous one.
    clock.advance(1)
    second = _write(app)
    assert second is not None
    assert second.seq == evidence_rows(app)[-1].seq > first.seq
    assert (
        json.loads(second.canonical)["previous_checkpoint_hash"] == hashlib.sha256(first.canonical.encode()).hexdigest()
    )
    # The head has not moved since: none, however long we wait.
    clock.advance(30 * 86400)
    assert _write(app) is None
    assert _checkpoints(app) == 2
    # `flask evidence checkpoint` forces one at once.
    assert run_cli(app, ["evidence", "checkpoint"]).exit_code == 0
    assert _checkpoints(app) == 3
    assert _audit(app)[:2] == (0, [])


def test_the_periodic_job_writes_checkpoints(app: Flask, deposit: Any, run_jobs: Any, clock: FrozenClock) -> None:
    deposit()
    run_jobs()
    with app.app_context():
        get_queue().enqueue("webapp.jobs.checkpoint_chain")
        get_queue().enqueue("webapp.jobs.checkpoint_chain")
    run_jobs()
    assert _checkpoints(app) == 1
