"""The console outbox never records a partial write as sent (issue 17, finding 10).

A full disk is real here: a child process whose file size limit (RLIMIT_FSIZE)
stops a record half-way, and /dev/full, which refuses every byte.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from webapp.extensions import db
from webapp.letters.states import LetterStatus
from webapp.models import Letter, MessageStatus, OutboundMessage
from webapp.notify.outbox import JsonLinesOutbox, OutboxWriteError
from webapp.queue import every_queue

ROOT = Path(__file__).resolve().parent.parent


def _append_with_size_limit(path: Path, limit: int, record: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """Appends `record` in a child process that may not grow any file beyond `limit` bytes."""
    script = textwrap.dedent(
        f"""
        import json, resource, signal, sys
        from pathlib import Path
        from webapp.notify.outbox import JsonLinesOutbox, OutboxWriteError
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
        try:
            JsonLinesOutbox(Path({str(path)!r})).append(json.loads({json.dumps(json.dumps(record))}))
        except OutboxWriteError as exc:
            print("refused:", exc)
            sys.exit(3)
        """
    )
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_a_record_cut_short_by_a_full_disk_is_not_kept(tmp_path: Path) -> None:
    path = tmp_path / "sms-outbox.jsonl"
    outbox = JsonLinesOutbox(path)
    outbox.append({"to": "+212612345678", "text": "first", "id": "m1"})
    size = path.stat().st_size

    # Room for 20 more bytes: the kernel writes those and stops (a partial write), or refuses outright.
    result = _append_with_size_limit(path, size + 20, {"to": "+212612345678", "text": "x" * 200, "id": "m2"})
    assert result.returncode == 3, result.stdout + result.stderr
    assert "refused" in result.stdout
    assert path.stat().st_size == size  # nothing of the cut record stays
    assert not outbox.contains("m2")

    outbox.append({"to": "+212612345678", "text": "third", "id": "m3"})
    lines = path.read_bytes().splitlines(keepends=True)
    assert [json.loads(line)["id"] for line in lines] == ["m1", "m3"]  # the next one is not glued to a tail
    assert all(line.endswith(b"\n") for line in lines)


def test_a_record_torn_by_a_writer_that_died_is_neither_sent_nor_glued_to(tmp_path: Path) -> None:
    path = tmp_path / "sms-outbox.jsonl"
    outbox = JsonLinesOutbox(path)
    outbox.append({"to": "+212612345678", "text": "first", "id": "m1"})
    torn = (json.dumps({"to": "+212612345678", "text": "cut", "id": "m2"}) + "\n").encode()[:30]
    with path.open("ab") as handle:  # what a process killed in the middle of its write leaves
        handle.write(torn)

    assert outbox.contains("m1")
    assert not outbox.contains("m2")
    assert [record["id"] for record in outbox.records()] == ["m1"]
    outbox.append({"to": "+212612345678", "text": "next", "id": "m3"})
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == ["m1", "m3"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
def test_a_full_disk_is_an_error_not_a_sent_message(tmp_path: Path) -> None:
    path = tmp_path / "sms-outbox.jsonl"
    path.symlink_to("/dev/full")
    with pytest.raises(OutboxWriteError):
        JsonLinesOutbox(path).append({"to": "+212612345678", "text": "lost", "id": "m1"})


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
def test_a_notification_that_meets_a_full_disk_is_sent_later_exactly_once(
    app: Flask, deposit: Any, run_jobs: Any, outbox: Any, clock: Any
) -> None:
    sms_outbox = app.extensions["wassit"].settings.sms_outbox
    sms_outbox.parent.mkdir(parents=True, exist_ok=True)
    sms_outbox.symlink_to("/dev/full")  # the disk is full
    response = deposit()
    assert response.status_code == 201
    letter_id = response.get_json()["id"]
    with app.app_context():
        run_jobs()
        message = db.session.query(OutboundMessage).filter_by(letter_id=letter_id).one()
        assert message.status is MessageStatus.PENDING  # not sent: it waits for its next attempt
        assert "outbox" in (message.last_error or "")
        assert db.session.get_one(Letter, letter_id).status is LetterStatus.DEPOSITED
        db.session.remove()

    os.unlink(sms_outbox)  # room again
    clock.advance(60)
    with app.app_context():
        assert every_queue().requeue_scheduled() >= 1  # RQ's retry, due now
        run_jobs()
        assert db.session.get_one(Letter, letter_id).status is LetterStatus.NOTIFIED
        db.session.remove()
    sent = [line for line in outbox() if line["id"] == message.id]
    assert len(sent) == 1
