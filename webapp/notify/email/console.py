"""Console email provider: appends each email as a JSON line to the outbox file (contract)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from webapp.notify.email.base import EmailReceipt, OutgoingEmail, TransientEmailError
from webapp.notify.outbox import JsonLinesOutbox, OutboxWriteError


class ConsoleEmailProvider:
    """Writes `{"to", "subject", "text", "at"}` (plus the HTML and our message id) to a JSON-lines file."""

    name = "console"

    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox
        self._outbox = JsonLinesOutbox(outbox)

    def send(self, *, email: OutgoingEmail, client_ref: str) -> EmailReceipt:
        try:
            self._outbox.append(
                {
                    "to": email.to,
                    "subject": email.subject,
                    "text": email.text,
                    "at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "html": email.html,
                    "language": email.language,
                    "id": client_ref,
                }
            )
        except OutboxWriteError as exc:
            raise TransientEmailError(f"the outbox could not take the message: {exc}") from exc
        return EmailReceipt(provider=self.name, message_id=client_ref)

    def find_sent(self, client_ref: str) -> EmailReceipt | bool | None:
        return EmailReceipt(provider=self.name, message_id=client_ref) if self._outbox.contains(client_ref) else None
