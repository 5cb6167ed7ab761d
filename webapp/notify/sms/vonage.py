"""Vonage SMS provider (Vonage Python SDK v4)."""

from __future__ import annotations

import logging
import re

import requests
from vonage import Auth, HttpClientOptions, Vonage
from vonage_http_client.errors import HttpRequestError, RateLimitedError, ServerError
from vonage_sms import SmsMessage
from vonage_sms.errors import SmsError as VonageSmsError

from webapp.notify.sms.base import PermanentSmsError, SmsReceipt, TransientSmsError

log = logging.getLogger(__name__)

# Vonage SMS API status codes (https://developer.vonage.com/en/messaging/sms/guides/troubleshooting-sms).
TRANSIENT_STATUSES = {1, 5, 8, 9, 10}  # throttled, internal error, quota, too many binds
PERMANENT_NUMBER_STATUSES = {
    3,
    6,
    7,
    29,
    33,
}  # invalid params/number, barred, not whitelisted, deactivated
_STATUS = re.compile(r"error code (\d+)")


class VonageSmsProvider:
    name = "vonage"

    def __init__(self, *, api_key: str, api_secret: str, sender_id: str, timeout: int) -> None:
        # The SDK's own HTTP retries are off: our job retries with backoff and
        # keeps the message state, so that a retry never duplicates an SMS.
        self.client = Vonage(
            Auth(api_key=api_key, api_secret=api_secret),
            HttpClientOptions(timeout=timeout, max_retries=0),
        )
        self.sender_id = sender_id

    def send(self, *, to: str, text: str, client_ref: str) -> SmsReceipt:
        message = SmsMessage(
            to=to.lstrip("+"),
            from_=self.sender_id,
            text=text,
            type="unicode" if not _is_gsm(text) else "text",
            client_ref=client_ref,
        )
        try:
            response = self.client.sms.send(message)
        except (RateLimitedError, ServerError, requests.Timeout, requests.ConnectionError) as exc:
            raise TransientSmsError(type(exc).__name__) from exc
        except VonageSmsError as exc:
            match = _STATUS.search(str(exc))
            status = int(match.group(1)) if match else -1
            if status in TRANSIENT_STATUSES:
                raise TransientSmsError(f"vonage status {status}") from exc
            if status in PERMANENT_NUMBER_STATUSES:
                raise PermanentSmsError(f"vonage status {status}") from exc
            # Credentials or configuration: a person must fix it; keep retrying meanwhile.
            log.error("Vonage refused the message with status %s", status)
            raise TransientSmsError(f"vonage status {status}") from exc
        except HttpRequestError as exc:
            raise TransientSmsError(f"vonage http {exc.response.status_code}") from exc
        message_id = response.messages[0].message_id or ""
        return SmsReceipt(provider=self.name, message_id=message_id)

    def find_sent(self, client_ref: str) -> SmsReceipt | bool | None:
        # The SMS API offers no lookup by client reference: the delivery
        # receipt, which carries it, will settle the message.
        return False


def _is_gsm(text: str) -> bool:
    from webapp.notify.texts import is_gsm7

    return is_gsm7(text)
