"""Console SMS provider: appends each message as a JSON line to the outbox file (contract)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from webapp.notify.outbox import JsonLinesOutbox, OutboxWriteError
from webapp.notify.sms.base import SmsReceipt, TransientSmsError


class ConsoleSmsProvider:
    """Writes `{"to", "text", "at"}` (plus our message id) to a JSON-lines file."""

    name = "console"

    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox
        self._outbox = JsonLinesOutbox(outbox)

    def send(self, *, to: str, text: str, client_ref: str) -> SmsReceipt:
        try:
            self._outbox.append(
                {
                    "to": to,
                    "text": text,
                    "at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "id": client_ref,
                }
            )
        except OutboxWriteError as exc:
            raise TransientSmsError(f"the outbox could not take the message: {exc}") from exc
        return SmsReceipt(provider=self.name, message_id=client_ref)

    def find_sent(self, client_ref: str) -> SmsReceipt | bool | None:
        return SmsReceipt(provider=self.name, message_id=client_ref) if self._outbox.contains(client_ref) else None
