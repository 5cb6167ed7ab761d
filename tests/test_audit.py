"""Tamper evidence against whoever holds the database: `flask evidence audit [--against]`, and the
checkpoint writer that refuses to log a record that does not check.

Each tampering is done as an intruder with full database access would do it (plain SQL), never
through our code; the journal's signing keys stay out of reach (they are not in the database).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from tests import rfc9162
from tests.conftest import Sender
from tests.trust_helpers import evidence_rows, journal_key, run_cli
from webapp.clock import FrozenClock
from webapp.extensions import db
from webapp.models import JournalCheckpoint, JournalRefusal
from webapp.queue import every_queue
from webapp.services import Services
from webapp.trust.journal import write_checkpoint


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


def _services(app: Flask) -> Services:
    services: Services = app.extensions["wassit"]
    return services


def _checkpoint(app: Flask) -> None:
    assert run_cli(app, ["evidence", "checkpoint"]).exit_code == 0


def _checkpoints(app: Flask) -> list[int]:
    with app.app_context():
        sizes = list(db.session.execute(select(JournalCheckpoint.tree_size).order_by(JournalCheckpoint.tree_size)))
        db.session.remove()
    return [size for (size,) in sizes]


def _refusals(app: Flask) -> list[tuple[int, str]]:
    with app.app_context():
        rows = db.session.execute(select(JournalRefusal.seq, JournalRefusal.problem)).all()
        db.session.remove()
    return [(seq, problem) for seq, problem in rows]


def _rehash(app: Flask, seq: int, change: Any) -> dict[str, Any]:
    """Rewrites record `seq` with a recomputed hash (and the chain head, if it is the last): what an
    intruder who knows the format does.  Returns the forged record."""
    [row] = [r for r in evidence_rows(app) if r.seq == seq]
    body = json.loads(row.canonical)
    change(body)
    forged = rfc8785.dumps(body)
    digest = hashlib.sha256(forged).hexdigest()
    _sql(
        app,
        "UPDATE evidence SET canonical = :c, record_hash = :h, seal = NULL, sealed_at = NULL WHERE seq = :s",
        c=forged.decode(),
        h=digest,
        s=seq,
    )
    _sql(app, "UPDATE evidence_chain_head SET record_hash = :h WHERE seq = :s", h=digest, s=seq)
    return dict(body)


@pytest.fixture
def journal(app: Flask, deposit: Any, run_jobs: Any, clock: FrozenClock) -> list[Any]:
    """Two letters deposited and notified, their four records logged in one checkpoint."""
    deposit()
    clock.advance(5)
    deposit(recipient_phone="0700112233", recipient_name="Fatima Zahra Bennani")
    clock.advance(60)
    run_jobs()
    _checkpoint(app)
    rows = evidence_rows(app)
    assert [row.seq for row in rows] == [1, 2, 3, 4]
    assert all(row.sealed_at is not None and row.seal is None for row in rows)
    assert _checkpoints(app)[-1] == 4
    return rows


# --- a journal left alone ------------------------------------------------------------------------


def test_an_empty_journal_is_intact(app: Flask) -> None:
    code, problems, output = _audit(app)
    assert (code, problems) == (0, [])
    assert "0 record(s)" in output
    assert "The journal is intact." in output


def test_a_fresh_journal_is_intact(app: Flask, journal: list[Any]) -> None:
    code, problems, output = _audit(app)
    assert (code, problems) == (0, [])
    assert "4 record(s), 4 in the transparency log" in output
    assert "0 awaiting the next checkpoint." in output


def test_records_awaiting_the_next_checkpoint_are_no_problem(app: Flask, journal: list[Any], deposit: Any) -> None:
    deposit(recipient_phone="0611223344")  # its checkpoint has not been written yet
    code, problems, output = _audit(app)
    assert (code, problems) == (0, [])
    assert "5 record(s), 4 in the transparency log" in output
    assert "1 awaiting the next checkpoint." in output


# --- the three tamperings ------------------------------------------------------------------


def test_an_edited_time_column_is_caught_and_never_shown(
    app: Flask, client: FlaskClient, journal: list[Any], sender: Sender
) -> None:
    """(1) `occurred_at` moved: the API reads the sealed time, and the audit flags the column."""
    letter_id = journal[0].letter_id
    sealed_at = json.loads(journal[0].canonical)["at"]
    _sql(app, "UPDATE evidence SET occurred_at = :t WHERE seq = 1", t=datetime(2020, 1, 1, 9, 0))  # noqa: DTZ001
    code, problems, _ = _audit(app)
    assert code != 0
    assert problems == [f"record 1 ({journal[0].id}): its time column differs from the time the sealed record states"]
    events = client.get(f"/api/v1/letters/{letter_id}", headers=sender.auth).get_json()["events"]
    assert events[0]["at"] == sealed_at
    assert "2020-01-01" not in json.dumps(events)


def test_a_rewritten_last_record_is_never_sealed_by_our_own_job(
    app: Flask, journal: list[Any], deposit: Any, run_jobs: Any, clock: FrozenClock
) -> None:
    """(2) The last record rewritten with a recomputed hash, its seal cleared: it stays unsealed, the
    checkpoint writer refuses to log anything after it, and the audit reports it."""

    def change(body: dict[str, Any]) -> None:
        body["recipient"]["phone"] = "+212699999999"

    _rehash(app, 4, change)
    clock.advance(60)
    deposit(recipient_phone="0611223344")  # a new record links to the forged one
    clock.advance(60)
    run_jobs()
    _checkpoint(app)
    assert _checkpoints(app)[-1] == 4  # nothing logged since
    rows = evidence_rows(app)
    assert rows[3].sealed_at is None  # our job did not seal the forgery
    assert rows[4].sealed_at is None
    assert _refusals(app) == [(4, "record changed after it was logged")]
    code, problems, _ = _audit(app)
    assert code != 0
    assert "checkpoint of 4 records: the journal's tree at this size has another root (rewritten?)" in problems
    assert "transparency log: the stored hash of record 4 does not match the journal" in problems
    assert any("refused by the checkpoint writer" in p for p in problems)


def test_a_rewritten_record_not_yet_logged_is_refused(
    app: Flask, journal: list[Any], deposit: Any, run_jobs: Any, clock: FrozenClock
) -> None:
    """A record rewritten before its checkpoint, keeping its hash column, is caught by the writer's re-check."""
    deposit(recipient_phone="0611223344")
    _sql(app, "UPDATE evidence SET canonical = replace(canonical, '+212611223344', '+212611223345') WHERE seq = 5")
    clock.advance(60)
    _checkpoint(app)
    assert _checkpoints(app)[-1] == 4
    assert _refusals(app) == [(5, "record hash does not match its content")]
    assert _audit(app)[0] != 0


def test_a_truncation_after_a_checkpoint_held_outside_is_caught(
    app: Flask, client: FlaskClient, journal: list[Any], deposit: Any, run_jobs: Any, clock: FrozenClock, tmp_path: Path
) -> None:
    """(3) The last records deleted, the head reset, the last checkpoint and its nodes deleted: the
    database alone then looks intact, but a checkpoint a sender kept proves the truncation."""
    clock.advance(60)
    deposit(recipient_phone="0611223344")
    clock.advance(60)
    run_jobs()
    _checkpoint(app)
    assert _checkpoints(app)[-1] == 6
    kept = client.get("/journal/checkpoint").get_data(as_text=True)
    assert rfc9162.open_checkpoint(kept, journal_key(client)).size == 6
    saved = tmp_path / "checkpoint.txt"
    saved.write_text(kept, encoding="utf-8")
    assert _audit(app, "--against", str(saved))[:2] == (0, [])

    rows = evidence_rows(app)
    _delete_records(app, "seq > 4")
    _sql(
        app,
        "UPDATE evidence_chain_head SET seq = 4, record_hash = :h",
        "DELETE FROM journal_checkpoints WHERE tree_size > 4",
        # Leaves 4 and 5, and the nodes above them that the first four leaves do not complete.
        "DELETE FROM journal_nodes WHERE (level = 0 AND position >= 4) OR (level = 1 AND position >= 2)"
        " OR (level = 2 AND position >= 1)",
        h=rows[3].record_hash,
    )
    assert _audit(app)[1] == [
        f"letter {rows[4].record['reference']} ({rows[4].letter_id}): it has no deposit record (deleted?)"
    ]
    # Every row of that letter, in whichever table holds one (children first), then the letter.
    tables = [t.name for t in reversed(db.metadata.sorted_tables) if "letter_id" in t.c and t.name != "evidence"]
    for table in [*tables, "letters"]:
        column = "id" if table == "letters" else "letter_id"
        _sql(app, f"DELETE FROM {table} WHERE {column} = :l", l=rows[4].letter_id)  # noqa: S608
    code, problems, _ = _audit(app)
    assert (code, problems) == (0, [])  # the database alone can no longer tell
    code, problems, output = _audit(app, "--against", str(saved))
    assert code != 0
    assert problems == [
        "checkpoint held outside: it covers 6 records but the journal holds 4: records were deleted",
    ]
    assert "problem(s) found" in output


def test_a_rewrite_contradicts_a_checkpoint_held_outside(
    app: Flask, client: FlaskClient, journal: list[Any], tmp_path: Path
) -> None:
    saved = tmp_path / "checkpoint.txt"
    saved.write_text(client.get("/journal/checkpoint").get_data(as_text=True), encoding="utf-8")

    def change(body: dict[str, Any]) -> None:
        body["document"]["sha256"] = "0" * 64

    _rehash(app, 2, change)
    code, problems, _ = _audit(app, "--skip-seals", "--against", str(saved))
    assert code != 0
    assert "checkpoint held outside: the journal's tree of 4 records has another root: it was rewritten" in problems


def test_a_checkpoint_of_another_key_is_no_evidence(app: Flask, journal: list[Any], tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from webapp.trust.signed_note import Checkpoint, NoteSigner

    name = _services(app).trust.journal_signer.name
    forged = NoteSigner(name, Ed25519PrivateKey.generate()).sign(Checkpoint(name, 9, b"\x01" * 32).text())
    saved = tmp_path / "forged.txt"
    saved.write_text(forged, encoding="utf-8")
    code, problems, _ = _audit(app, "--against", str(saved))
    assert code != 0
    assert problems == [
        "checkpoint held outside: not a checkpoint of this journal: the note carries no signature by wassit.ma/journal"
    ]


# --- other tamperings -----------------------------------------------------------------------------


def test_an_edited_record_is_caught(app: Flask, journal: list[Any]) -> None:
    _sql(app, "UPDATE evidence SET canonical = replace(canonical, 'Youssef Alami', 'Youssef Alamy') WHERE seq = 1")
    code, problems, output = _audit(app)
    assert code != 0
    assert f"record 1 ({journal[0].id}): record hash does not match" in problems
    assert "checkpoint of 4 records: the journal's tree at this size has another root (rewritten?)" in problems
    assert "problem(s) found" in output


def test_an_edited_and_rehashed_middle_record_is_caught(app: Flask, journal: list[Any]) -> None:
    def change(body: dict[str, Any]) -> None:
        body["recipient"]["phone"] = "+212699999999"

    _rehash(app, 2, change)
    code, problems, _ = _audit(app)
    assert code != 0
    assert f"record 3 ({journal[2].id}): broken link to previous record" in problems
    assert "checkpoint of 4 records: the journal's tree at this size has another root (rewritten?)" in problems
    assert "transparency log: the stored hash of record 2 does not match the journal" in problems


def test_a_deleted_record_is_caught(app: Flask, journal: list[Any]) -> None:
    _delete_records(app, "seq = 2")
    code, problems, _ = _audit(app)
    assert code != 0
    assert f"record 3 ({journal[2].id}): expected record 2" in problems
    assert f"record 3 ({journal[2].id}): broken link to previous record" in problems


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


def test_an_edited_letter_row_is_caught(app: Flask, journal: list[Any]) -> None:
    """The API shows a letter's reference, recipient and document from its row: the row must agree
    with the sealed deposit record."""
    _sql(app, "UPDATE letters SET recipient_name = 'Someone Else' WHERE id = :l", l=journal[0].letter_id)
    code, problems, _ = _audit(app)
    assert code != 0
    [problem] = problems
    assert problem.endswith("its recipient differ from its sealed deposit record")


def test_a_forged_checkpoint_is_caught(app: Flask, journal: list[Any]) -> None:
    _sql(app, "UPDATE journal_checkpoints SET note = replace(note, '\n4\n', '\n3\n') WHERE tree_size = 4")
    code, problems, _ = _audit(app, "--skip-seals")
    assert code != 0
    assert problems == ["checkpoint of 4 records: its note does not verify: the note's signature does not verify"]


def test_a_swapped_checkpoint_seal_or_timestamp_is_caught(app: Flask, journal: list[Any], deposit: Any) -> None:
    deposit(recipient_phone="0611223344")
    _checkpoint(app)
    assert _checkpoints(app)[-2:] == [4, 5]
    _sql(app, "UPDATE journal_checkpoints SET seal = (SELECT seal FROM journal_checkpoints WHERE tree_size = 4)"
         " WHERE tree_size = 5")  # fmt: skip
    code, problems, _ = _audit(app)
    assert code != 0
    assert problems == ["checkpoint of 5 records: the checkpoint's timestamp or seal does not verify"]
    assert _audit(app, "--skip-seals")[:2] == (0, [])
    _sql(app, "UPDATE journal_checkpoints SET seal = :s WHERE tree_size = 5", s=b"\x30\x03\x02\x01\x01")
    assert _audit(app)[1] == ["checkpoint of 5 records: the checkpoint's timestamp or seal does not verify"]
    _sql(
        app,
        "UPDATE journal_checkpoints SET seal = (SELECT seal FROM journal_checkpoints WHERE tree_size = 4),"
        " timestamp_token = (SELECT timestamp_token FROM journal_checkpoints WHERE tree_size = 4) WHERE tree_size = 5",
    )
    assert _audit(app)[1] == ["checkpoint of 5 records: the checkpoint's timestamp or seal does not verify"]


def test_a_legacy_individual_seal_is_still_checked(app: Flask, journal: list[Any]) -> None:
    """Records of earlier versions carry their own CAdES seal: a bad one is still reported."""
    _sql(app, "UPDATE evidence SET seal = :s WHERE seq = 4", s=b"\x30\x03\x02\x01\x01")
    code, problems, _ = _audit(app)
    assert code != 0
    assert problems == [f"record 4 ({journal[3].id}): bad seal"]


# --- writing checkpoints ---------------------------------------------------------------------------


def _write(app: Flask, *, force: bool = False) -> int | None:
    with app.app_context():
        checkpoint = write_checkpoint(db.session, _services(app), force=force)
        size = checkpoint.tree_size if checkpoint is not None else None
        db.session.remove()
    return size


def test_an_empty_journal_gets_no_checkpoint(app: Flask) -> None:
    assert _write(app) is None
    assert _write(app, force=True) is None
    result = run_cli(app, ["evidence", "checkpoint"])
    assert result.exit_code == 0
    assert "The journal is empty." in result.output
    assert _checkpoints(app) == []


def test_checkpoints_follow_new_records_and_the_interval(app: Flask, deposit: Any, clock: FrozenClock) -> None:
    services = _services(app)
    services.settings = services.settings.replace(checkpoint_interval=5)
    deposit()
    assert _write(app) == 1  # the first one at once
    deposit(recipient_phone="0700112233")
    assert _write(app) is None  # within the interval
    clock.advance(4)
    assert _write(app) is None
    clock.advance(1)
    assert _write(app) == 2
    clock.advance(600)
    assert _write(app) is None  # nothing new, however long we wait
    deposit(recipient_phone="0611223344")
    assert _write(app, force=True) == 3  # a proof that needs one does not wait
    assert _checkpoints(app) == [1, 2, 3]
    assert _audit(app)[:2] == (0, [])


def test_the_job_after_each_deposit_and_the_periodic_sweep_write_checkpoints(
    app: Flask, deposit: Any, run_jobs: Any, clock: FrozenClock
) -> None:
    services = _services(app)
    deposit()
    with app.app_context():
        every_queue().empty()  # only the job that follows each record, not the proof's or the SMS's
        services.settings = services.settings.replace(checkpoint_interval=0)
        every_queue().enqueue("webapp.jobs.checkpoint_journal")
    run_jobs()
    assert _checkpoints(app) == [1]
    deposit(recipient_phone="0700112233")
    with app.app_context():
        every_queue().empty()
        every_queue().enqueue("webapp.jobs.seal_evidence")  # the name queues of earlier releases may hold
    run_jobs()
    assert _checkpoints(app) == [1, 2]


def test_two_writers_that_race_leave_one_consistent_log(app: Flask, deposit: Any, clock: FrozenClock) -> None:
    """Both read the same tree and sign; the second to write collides on the stored nodes, then catches up."""
    for phone in ("0611111111", "0622222222", "0633333333"):
        deposit(recipient_phone=phone)
    services = _services(app)
    trust = services.trust
    real_seal = trust.seal
    both_signing = threading.Barrier(2, timeout=30)

    def seal_when_both_are_here(data: bytes) -> bytes:
        with contextlib.suppress(threading.BrokenBarrierError):  # the loser's second attempt comes alone
            both_signing.wait()
        return real_seal(data)

    trust.seal = seal_when_both_are_here  # type: ignore[method-assign]
    sizes: list[int | None] = []
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            sizes.append(_write(app, force=True))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    both_signing.abort()
    trust.seal = real_seal  # type: ignore[method-assign]
    assert errors == []
    assert sorted(sizes, key=lambda s: s or 0) == [None, 3]
    assert _checkpoints(app) == [3]
    assert _audit(app)[:2] == (0, [])


def test_the_whole_log_matches_an_independent_merkle_root(
    app: Flask, client: FlaskClient, deposit: Any, run_jobs: Any, clock: FrozenClock
) -> None:
    for index in range(5):
        deposit(recipient_phone=f"06{index}1234567")
        clock.advance(6)
        run_jobs()
    _checkpoint(app)
    rows = evidence_rows(app)
    note = client.get("/journal/checkpoint").get_data(as_text=True)
    checkpoint = rfc9162.open_checkpoint(note, journal_key(client))
    assert checkpoint.size == len(rows)
    assert checkpoint.root == rfc9162.mth([row.canonical.encode() for row in rows])
    with app.app_context():
        count = db.session.execute(select(func.count()).select_from(JournalCheckpoint)).scalar_one()
    assert count >= 2
