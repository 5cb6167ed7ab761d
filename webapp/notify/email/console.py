"""Console email provider: appends each email as a JSON line to the outbox file (contract)."""

from __future__ import annotations

import fcntl
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from webapp.notify.email.base import EmailReceipt, OutgoingEmail


class ConsoleEmailProvider:
    """Writes `{"to", "subject", "text", "at"}` (plus the HTML and our message id) to a JSON-lines file."""

    name = "console"

    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox

    def send(self, *, email: OutgoingEmail, client_ref: str) -> EmailReceipt:
        self.outbox.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(
            {
                "to": email.to,
                "subject": email.subject,
                "text": email.text,
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "html": email.html,
                "language": email.language,
                "id": client_ref,
            },
            ensure_ascii=False,
        )
        # One write of one line under an exclusive lock: concurrent workers never interleave.
        fd = os.open(self.outbox, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, (line + "\n").encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        return EmailReceipt(provider=self.name, message_id=client_ref)

    def find_sent(self, client_ref: str) -> EmailReceipt | bool | None:
        if not self.outbox.exists():
            return None
        with self.outbox.open(encoding="utf-8") as handle:
            for line in handle:
                if f'"{client_ref}"' in line and json.loads(line).get("id") == client_ref:
                    return EmailReceipt(provider=self.name, message_id=client_ref)
        return None
