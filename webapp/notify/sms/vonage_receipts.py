"""Vonage SMS API delivery receipts: signature check and parsing (no SDK, no letters).

Vonage signs webhooks of the SMS API with the account's *signature secret*
when signed webhooks are enabled (dashboard, API settings, "Webhook signature
method": HMAC SHA-256): every field is sent as a parameter, with a `timestamp`
(Unix seconds), a `nonce` and the signature `sig`.  The signature is the hex
HMAC-SHA256, keyed by the secret, of the concatenation, over the parameters
other than `sig` sorted by name, of `&name=value`, where `&` and `=` in values
are replaced by `_` (as `vonage_http_client.Auth.sign_params` computes it).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

PROVIDER = "vonage"

# Delivery receipt `status` values: final outcomes, and the intermediate ones we do not record.
DELIVERED_STATUSES = frozenset({"delivered"})
FAILED_STATUSES = frozenset({"expired", "failed", "rejected"})

# DLR `err-code` values (Vonage, "SMS delivery error codes").
ERROR_CODES = {
    "1": "unknown error",
    "2": "absent subscriber (temporary)",
    "3": "absent subscriber (permanent): the number is no longer active",
    "4": "SMS barred by the subscriber",
    "5": "number portability error",
    "6": "rejected by the operator's anti-spam filter",
    "7": "handset busy",
    "8": "network error",
    "9": "illegal number",
    "10": "illegal message",
    "11": "unroutable",
    "12": "destination unreachable",
    "13": "subscriber age restriction",
    "14": "number blocked by the operator",
    "15": "pre-paid subscriber without credit",
    "99": "general error",
}
# The number itself cannot receive our SMS: trying again later would not help.
PERMANENT_ERROR_CODES = frozenset({"3", "4", "9", "12", "13", "14"})


class SignatureError(Exception):
    """A delivery receipt that is unsigned, wrongly signed, or signed too long ago (or ahead)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def signature(params: Mapping[str, str], secret: str) -> str:
    """The hex HMAC-SHA256 of the parameters (except `sig`), as Vonage computes it."""
    hasher = hmac.new(secret.encode("utf-8"), digestmod=hashlib.sha256)
    for key in sorted(params):
        if key == "sig":
            continue
        value = params[key].replace("&", "_").replace("=", "_")
        hasher.update(f"&{key}={value}".encode())
    return hasher.hexdigest()


def verify_signature(params: Mapping[str, str], *, secret: str, now: datetime, max_age: int) -> None:
    """Raises SignatureError unless `params` carry a valid, fresh signature."""
    if not secret:
        raise SignatureError("no signature secret is configured")
    sig = params.get("sig", "")
    if not sig:
        raise SignatureError("unsigned")
    try:
        signed_at = int(params.get("timestamp", ""))
    except ValueError:
        raise SignatureError("no valid timestamp") from None
    if abs(now.timestamp() - signed_at) > max_age:
        raise SignatureError("timestamp outside the accepted window")
    if not hmac.compare_digest(signature(params, secret), sig.strip().lower()):
        raise SignatureError("signature mismatch")


@dataclass(frozen=True)
class DeliveryReport:
    """One operator delivery receipt, as the letters service needs it."""

    provider: str
    provider_message_id: str
    client_ref: str | None
    status: str  # the provider's own word: delivered, expired, failed, rejected, accepted, …
    outcome: str  # "delivered", "failed" or "pending" (intermediate: nothing to record)
    error_code: str | None
    permanent: bool  # a failure that will not go away for this number
    operator_at: datetime | None  # when the operator reports the event (UTC)
    fields: dict[str, str]  # what was received, the signature left out

    @property
    def reason(self) -> str:
        """A failure in words, with the operator's code."""
        meaning = ERROR_CODES.get(self.error_code or "", "no reason given")
        return f"operator reported {self.status} (error {self.error_code or '?'}: {meaning})"


def parse_delivery_report(params: Mapping[str, str]) -> DeliveryReport:
    """Reads a Vonage DLR; raises ValueError when it names no message."""
    message_id = (params.get("messageId") or params.get("message-id") or "").strip()
    if not message_id or len(message_id) > 100:
        raise ValueError("the delivery receipt names no message")
    status = (params.get("status") or "").strip().lower()
    error_code = (params.get("err-code") or "").strip() or None
    if status in DELIVERED_STATUSES:
        outcome = "delivered"
    elif status in FAILED_STATUSES:
        outcome = "failed"
    else:
        outcome = "pending"
    client_ref = (params.get("client-ref") or "").strip() or None
    return DeliveryReport(
        provider=PROVIDER,
        provider_message_id=message_id,
        client_ref=client_ref[:100] if client_ref else None,
        status=status[:20] or "unknown",
        outcome=outcome,
        error_code=error_code[:20] if error_code else None,
        permanent=outcome == "failed" and error_code in PERMANENT_ERROR_CODES,
        operator_at=_operator_time(params),
        fields={key: value for key, value in params.items() if key != "sig"},
    )


def _operator_time(params: Mapping[str, str]) -> datetime | None:
    """`scts` (the operator's time, YYMMDDHHMM[SS], UTC), else `message-timestamp`."""
    scts = (params.get("scts") or "").strip()
    if scts.isdigit() and len(scts) in (10, 12):
        try:
            return datetime.strptime(scts, "%y%m%d%H%M%S" if len(scts) == 12 else "%y%m%d%H%M").replace(tzinfo=UTC)
        except ValueError:
            pass
    stamp = (params.get("message-timestamp") or "").strip()
    try:
        return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
