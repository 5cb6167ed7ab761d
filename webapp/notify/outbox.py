"""The console providers' contract outbox: one JSON object per line, appended whole or not at all.

A record is the proof that a message was handed over, so a record cut short (a
full disk, a file size limit, a process killed in the middle of its write) must
never count as sent, nor glue the next record to its tail: a failed write is
cut off again before the error is raised, and a torn last line left by a
process that died mid-write is dropped before the next record is appended (and
never read as a record).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Any

_CHUNK = 64 * 1024


class OutboxWriteError(OSError):
    """The record could not be written whole (no space, file too large); nothing of it was kept."""


class JsonLinesOutbox:
    """A file that several workers append to; each record carries our message id under `id`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: dict[str, Any]) -> None:
        """Appends one record as one line, durably; raises `OutboxWriteError` and keeps nothing of it when
        it cannot be written whole."""
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as exc:
            raise OutboxWriteError(exc.errno, f"cannot open the outbox: {exc.strerror}") from exc
        try:
            # One write of one line under an exclusive lock: concurrent workers never interleave.
            fcntl.flock(fd, fcntl.LOCK_EX)
            start = _drop_torn_tail(fd)
            try:
                written = os.write(fd, data)
                if written != len(data):
                    raise OutboxWriteError(f"only {written} of {len(data)} bytes written (disk full?)")
                os.fsync(fd)
            except OSError as exc:
                # Whatever part reached the file goes again: a cut record is not a sent message.
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)
                    os.fsync(fd)
                if isinstance(exc, OutboxWriteError):
                    raise
                raise OutboxWriteError(exc.errno, f"cannot write to the outbox: {exc.strerror}") from exc
        finally:
            os.close(fd)

    def records(self) -> list[dict[str, Any]]:
        """Every whole record (a torn last line, or a line that is not JSON, is not a record)."""
        if not self.path.exists():
            return []
        found = []
        with self.path.open("rb") as handle:
            for raw in handle:
                if not raw.endswith(b"\n"):
                    break
                with contextlib.suppress(ValueError):
                    record = json.loads(raw)
                    if isinstance(record, dict):
                        found.append(record)
        return found

    def contains(self, message_id: str) -> bool:
        if not self.path.exists():
            return False
        needle = json.dumps(message_id).encode()
        with self.path.open("rb") as handle:
            for raw in handle:
                if needle in raw and raw.endswith(b"\n"):
                    with contextlib.suppress(ValueError):
                        record = json.loads(raw)
                        if isinstance(record, dict) and record.get("id") == message_id:
                            return True
        return False


def _drop_torn_tail(fd: int) -> int:
    """Cuts the file back to its last newline (a record torn by a writer that died) and returns its size."""
    size = os.lseek(fd, 0, os.SEEK_END)
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return size
    end = size
    while end > 0:
        begin = max(0, end - _CHUNK)
        newline = os.pread(fd, end - begin, begin).rfind(b"\n")
        if newline >= 0:
            end = begin + newline + 1
            break
        end = begin
    os.ftruncate(fd, end)
    return end
