"""The SMS provider interface and its failures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class SmsError(Exception):
    """The provider did not take the message."""


class TransientSmsError(SmsError):
    """Throttling, timeout or a server error: try again later."""


class PermanentSmsError(SmsError):
    """The provider will never deliver this message (invalid or barred number)."""


@dataclass(frozen=True)
class SmsReceipt:
    provider: str
    message_id: str


class SmsProvider(Protocol):
    name: str

    def send(self, *, to: str, text: str, client_ref: str) -> SmsReceipt:
        """Hands one message to the provider; raises TransientSmsError or PermanentSmsError."""

    def find_sent(self, client_ref: str) -> SmsReceipt | bool | None:
        """After a crash mid-send: the receipt if the message went out, None if it surely
        did not, False if the provider cannot tell."""
