"""The console providers' contract outbox: one JSON object per line, appended atomically."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any


class JsonLinesOutbox:
    """A file that several workers append to; each record carries our message id under `id`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, ensure_ascii=False) + "\n"
        # One write of one line under an exclusive lock: concurrent workers never interleave.
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def contains(self, message_id: str) -> bool:
        if not self.path.exists():
            return False
        with self.path.open(encoding="utf-8") as handle:
            return any(f'"{message_id}"' in line and json.loads(line).get("id") == message_id for line in handle)
