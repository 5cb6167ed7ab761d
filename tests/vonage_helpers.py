"""Vonage stand-ins for the delivery receipt tests: an SMS API that answers with Vonage-like ids,
and receipts signed as Vonage signs them."""

from __future__ import annotations

import secrets
from datetime import datetime

from webapp.models import OutboundMessage
from webapp.notify.sms import SmsReceipt
from webapp.notify.sms.console import ConsoleSmsProvider
from webapp.notify.sms.vonage_receipts import signature

SECRET = "dlr-signature-secret-0123456789abcdef"


class FakeVonage:
    """Stands for Vonage's SMS API: takes every SMS (into the console outbox, where the tests read
    it) and answers with a Vonage-like message id."""

    name = "vonage"

    def __init__(self, outbox: ConsoleSmsProvider) -> None:
        self.outbox = outbox
        self.sent: list[dict[str, str]] = []

    def send(self, *, to: str, text: str, client_ref: str) -> SmsReceipt:
        self.outbox.send(to=to, text=text, client_ref=client_ref)
        self.sent.append({"to": to, "text": text, "client_ref": client_ref})
        return SmsReceipt(provider=self.name, message_id=f"0A00000{len(self.sent):09X}")

    def find_sent(self, client_ref: str) -> SmsReceipt | bool | None:
        return False


def receipt_fields(
    message: OutboundMessage,
    *,
    status: str = "delivered",
    err_code: str = "0",
    scts: str = "2611231001",
    signed_at: datetime,
) -> dict[str, str]:
    """A delivery receipt as Vonage's SMS API sends it (before signing)."""
    return {
        "msisdn": message.recipient.lstrip("+"),
        "to": "Wassit",
        "network-code": "60400",
        "messageId": message.provider_message_id or "",
        "price": "0.03330000",
        "status": status,
        "scts": scts,
        "err-code": err_code,
        "api-key": "abcd1234",
        "client-ref": message.id,
        "message-timestamp": "2026-11-23 10:01:07",
        "timestamp": str(int(signed_at.timestamp())),
        "nonce": secrets.token_hex(8),
    }


def sign(fields: dict[str, str], secret: str = SECRET) -> dict[str, str]:
    return {**fields, "sig": signature(fields, secret).upper()}
