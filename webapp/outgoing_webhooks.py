"""Outgoing webhooks: letter events POSTed, signed, to the HTTPS endpoints an organisation registers.

An event is recorded as one `WebhookDelivery` per active endpoint in the same
transaction as the change it reports (`letters.lifecycle.transition`, a proof
becoming ready), and its delivery job is enqueued after that commit.  The body
is fixed then, so every retry sends the same bytes with a fresh signature:

    Wassit-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

Delivery is at least once: receivers deduplicate on `Wassit-Event-Id`.  A
failed attempt is retried after `RETRY_DELAYS`; a periodic sweeper enqueues
due retries, so a Redis outage delays deliveries but loses none.  Bodies carry
facts about the letter only: never the document, the recipient's code or links.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from sqlalchemy import delete, select

from webapp.extensions import DbSession
from webapp.models import (
    Letter,
    ProofKind,
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
)
from webapp.models.types import new_id
from webapp.queue import PendingJob, enqueue_after_commit, enqueue_now, get_queue
from webapp.services import Services
from webapp.vault import Sealed, VaultError

log = logging.getLogger(__name__)

DELIVER_JOB = "webapp.jobs.deliver_webhook"
STATUS_CHANGED = "letter.status_changed"
PROOF_READY = "letter.proof_ready"
USER_AGENT = "Wassit-Webhooks/1"
SIGNATURE_HEADER = "Wassit-Signature"
EVENT_ID_HEADER = "Wassit-Event-Id"

# Seconds to wait after the 1st, 2nd, … failed attempt; after the last, the delivery has failed.
RETRY_DELAYS = (60, 300, 1800, 7200, 6 * 3600, 12 * 3600, 24 * 3600)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# A claimed attempt that never reports back (worker killed) is retried after this long.
CLAIM_SECONDS = 300
MAX_RESPONSE_BYTES = 4096
MAX_URL_LENGTH = 500
SECRET_PREFIX = "whsec_"  # noqa: S105  (a prefix, not a secret)
_SWEEP_BATCH = 500
_LOCAL_SUFFIXES = (".localhost", ".local", ".localdomain", ".internal", ".lan", ".home.arpa")


class WebhookError(Exception):
    """A webhook operation was refused."""


class InvalidWebhookUrl(WebhookError):
    """The URL cannot receive webhooks (not HTTPS, credentials in it, private host, too long)."""


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown once to the admin, never stored in clear


def validate_webhook_url(url: str, *, allow_private: bool) -> str:
    """Returns the URL if an endpoint may use it, or raises `InvalidWebhookUrl`."""
    url = url.strip()
    if not url:
        raise InvalidWebhookUrl("A URL is required.")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidWebhookUrl("The URL is too long.")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise InvalidWebhookUrl("The URL may not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError on a malformed port)
    except ValueError as exc:
        raise InvalidWebhookUrl("This is not a valid URL.") from exc
    host = (parts.hostname or "").rstrip(".")
    if parts.scheme not in {"https", "http"} or not host:
        raise InvalidWebhookUrl("The URL must start with https://.")
    if parts.username is not None or parts.password is not None:
        raise InvalidWebhookUrl("The URL may not contain a user name or password.")
    if parts.fragment:
        raise InvalidWebhookUrl("The URL may not contain a fragment (#).")
    private = is_private_host(host)
    if private and not allow_private:
        raise InvalidWebhookUrl("The URL must point to a public host.")
    if parts.scheme == "http" and not (allow_private and private):
        raise InvalidWebhookUrl("The URL must start with https://.")
    return url


def is_private_host(host: str) -> bool:
    """True for loopback, private, link-local and other non-public addresses, and local-only names."""
    host = host.lower().strip("[]")
    try:
        return not ipaddress.ip_address(host).is_global
    except ValueError:
        pass
    try:  # the legacy forms that resolvers still accept: 127.1, 0x7f.0.0.1, 2130706433
        return not ipaddress.IPv4Address(socket.inet_aton(host)).is_global
    except OSError:
        return host == "localhost" or host.endswith(_LOCAL_SUFFIXES) or "." not in host


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `Wassit-Signature` header value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(secret: str, header: str, body: bytes, *, now: int, tolerance: int = 300) -> bool:
    """The receiver's check (as documented in the README): valid signature, recent timestamp."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _seal_secret(services: Services, endpoint: WebhookEndpoint, secret: str) -> None:
    sealed = services.vault.encrypt(secret.encode(), context=f"webhook-secret:{endpoint.id}")
    endpoint.secret_key_id, endpoint.secret_wrapped_key = sealed.key_id, sealed.wrapped_key
    endpoint.secret_nonce, endpoint.secret_ciphertext = sealed.nonce, sealed.ciphertext
    endpoint.secret_hint = secret[: len(SECRET_PREFIX) + 4]


def endpoint_secret(services: Services, endpoint: WebhookEndpoint) -> str:
    sealed = Sealed(
        endpoint.secret_key_id, endpoint.secret_wrapped_key, endpoint.secret_nonce, endpoint.secret_ciphertext
    )
    return services.vault.decrypt(sealed, context=f"webhook-secret:{endpoint.id}").decode()


def create_endpoint(
    session: DbSession,
    services: Services,
    *,
    organisation_id: str,
    url: str,
    description: str = "",
    user_id: str | None = None,
) -> CreatedEndpoint:
    """Registers an endpoint with a new signing secret, returned once."""
    url = validate_webhook_url(url, allow_private=services.settings.webhook_allow_private)
    endpoint = WebhookEndpoint(
        id=new_id(),
        organisation_id=organisation_id,
        url=url,
        description=description.strip()[:100],
        is_active=True,
        created_at=services.clock.now(),
        created_by_user_id=user_id,
    )
    secret = new_secret()
    _seal_secret(services, endpoint, secret)
    session.add(endpoint)
    return CreatedEndpoint(endpoint, secret)


def rotate_secret(services: Services, endpoint: WebhookEndpoint) -> str:
    """Replaces the endpoint's secret at once (the old one stops working); returns the new one."""
    secret = new_secret()
    _seal_secret(services, endpoint, secret)
    endpoint.secret_rotated_at = services.clock.now()
    return secret


def set_endpoint_active(services: Services, endpoint: WebhookEndpoint, active: bool) -> None:
    endpoint.is_active = active
    endpoint.disabled_at = None if active else services.clock.now()


def delete_endpoint(session: DbSession, endpoint: WebhookEndpoint) -> None:
    """Deletes the endpoint with its delivery log."""
    deliveries = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint.id)
    session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries)))
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    session.delete(endpoint)


def record_event(
    session: DbSession, letter: Letter, event_type: str, data: dict[str, Any], *, at: datetime
) -> list[WebhookDelivery]:
    """Queues the event for each active endpoint of the letter's organisation, sent after commit."""
    endpoints = (
        session.execute(
            select(WebhookEndpoint).where(
                WebhookEndpoint.organisation_id == letter.organisation_id,
                WebhookEndpoint.is_active.is_(True),
            )
        )
        .scalars()
        .all()
    )
    if not endpoints:
        return []
    event_id = new_id()
    body = json.dumps(
        {"id": event_id, "type": event_type, "created_at": at.isoformat(), "data": data},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    deliveries = []
    for endpoint in endpoints:
        delivery = WebhookDelivery(
            id=new_id(),
            endpoint_id=endpoint.id,
            event_id=event_id,
            event_type=event_type,
            letter_id=letter.id,
            payload=body,
            status=WebhookDeliveryStatus.PENDING,
            attempts=0,
            created_at=at,
            next_attempt_at=at,
        )
        session.add(delivery)
        enqueue_after_commit(session, DELIVER_JOB, delivery.id, job_id=f"webhook-{delivery.id}", retry=False)
        deliveries.append(delivery)
    return deliveries


def _letter_data(letter: Letter) -> dict[str, Any]:
    data: dict[str, Any] = {"letter_id": letter.id, "reference": letter.reference}
    if hasattr(letter, "sender_reference"):  # the sender's own reference (a file number), null if none
        data["sender_reference"] = letter.sender_reference
    data["status"] = letter.status.value
    return data


def letter_status_changed(session: DbSession, letter: Letter, previous: str | None, *, at: datetime) -> None:
    """Records `letter.status_changed` (`previous` is None for the deposit)."""
    data = _letter_data(letter) | {"previous_status": previous}
    record_event(session, letter, STATUS_CHANGED, data, at=at)


def letter_proof_ready(session: DbSession, letter: Letter, kind: ProofKind, *, at: datetime, public_url: str) -> None:
    """Records `letter.proof_ready`, with the API URL to download the proof from."""
    proof = {"kind": kind.value, "url": f"{public_url}/api/v1/letters/{letter.id}/proofs/{kind.value}"}
    record_event(session, letter, PROOF_READY, _letter_data(letter) | {"proof": proof}, at=at)


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    error: str | None
    excerpt: str | None
    duration_ms: int


def post_event(url: str, body: bytes, headers: dict[str, str], *, timeout: int, allow_private: bool) -> PostResult:
    """One POST: no redirects followed, no proxies or .netrc, response body read up to a cap."""
    started = time.monotonic()

    def result(status: int | None, error: str | None, excerpt: str | None = None) -> PostResult:
        return PostResult(status, error, excerpt, int((time.monotonic() - started) * 1000))

    if not allow_private:
        # Checked again at each delivery: a public name may have been pointed at a private address since.
        parts = urlsplit(url)
        try:
            infos = socket.getaddrinfo(parts.hostname or "", parts.port or 443, proto=socket.IPPROTO_TCP)
        except OSError:
            return result(None, "the host name does not resolve")
        if any(is_private_host(str(info[4][0])) for info in infos):
            return result(None, "the host resolves to a private address")
    with requests.Session() as http:
        http.trust_env = False
        try:
            response = http.post(
                url, data=body, headers=headers, timeout=(min(timeout, 5), timeout), allow_redirects=False, stream=True
            )
        except requests.Timeout:
            return result(None, "timed out")
        except requests.RequestException as exc:
            return result(None, f"connection failed: {type(exc).__name__}")
        try:
            raw = response.raw.read(MAX_RESPONSE_BYTES, decode_content=True) or b""
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
            # A broken or slow body does not change the status the endpoint answered.
            raw = b""
        finally:
            response.close()
    excerpt = raw.decode("utf-8", errors="replace")[:500] or None
    error = None
    if 300 <= response.status_code < 400:
        error = "redirects are not followed"
    elif not 200 <= response.status_code < 300:
        error = f"HTTP {response.status_code}"
    return result(response.status_code, error, excerpt)


def deliver(session: DbSession, services: Services, delivery_id: str) -> WebhookDeliveryStatus | None:
    """Makes one attempt at a due delivery and records it; idempotent (a delivered one is left alone)."""
    now = services.clock.now()
    delivery = session.execute(
        select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
    ).scalar_one_or_none()
    if delivery is None:
        session.commit()
        return None
    if delivery.status is not WebhookDeliveryStatus.PENDING or (
        delivery.next_attempt_at is not None and delivery.next_attempt_at > now
    ):
        session.commit()  # done, or not due (a retry later, or another worker holds the claim)
        return delivery.status
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        delivery.status, delivery.next_attempt_at = WebhookDeliveryStatus.FAILED, None
        delivery.last_error = "endpoint disabled"
        session.commit()
        return delivery.status
    # Claim the attempt, so that a second job does not post it at the same time, and commit before the POST.
    delivery.attempts += 1
    number = delivery.attempts
    delivery.next_attempt_at = now + timedelta(seconds=CLAIM_SECONDS)
    url, body, event_id = endpoint.url, delivery.payload.encode(), delivery.event_id
    try:
        secret = endpoint_secret(services, endpoint)
    except VaultError:
        secret = None
    session.commit()
    if secret is None:
        unreadable = PostResult(None, "the signing secret cannot be read: renew it", None, 0)
        return record_attempt(session, services, delivery_id, number, unreadable)

    # Wall-clock time, not the injected clock: the receiver checks it against its own clock.
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Accept-Encoding": "identity",  # the answer's body is only glanced at: no decompression
        EVENT_ID_HEADER: event_id,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    settings = services.settings
    outcome = post_event(
        url, body, headers, timeout=settings.webhook_timeout, allow_private=settings.webhook_allow_private
    )
    return record_attempt(session, services, delivery_id, number, outcome)


def record_attempt(
    session: DbSession, services: Services, delivery_id: str, number: int, outcome: PostResult
) -> WebhookDeliveryStatus:
    now = services.clock.now()
    delivery = session.execute(
        select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
    ).scalar_one_or_none()
    if delivery is None:  # its endpoint was deleted during the attempt
        session.commit()
        return WebhookDeliveryStatus.FAILED
    session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            number=number,
            attempted_at=now,
            duration_ms=outcome.duration_ms,
            status_code=outcome.status_code,
            error=outcome.error,
            response_excerpt=outcome.excerpt,
        )
    )
    delivery.last_attempt_at = now
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error
    if outcome.error is None:
        delivery.status = WebhookDeliveryStatus.DELIVERED
        delivery.delivered_at, delivery.next_attempt_at = now, None
    elif number <= len(RETRY_DELAYS):
        delivery.status = WebhookDeliveryStatus.PENDING
        delivery.next_attempt_at = now + timedelta(seconds=RETRY_DELAYS[number - 1])
    else:
        delivery.status, delivery.next_attempt_at = WebhookDeliveryStatus.FAILED, None
    session.commit()
    log.info("webhook delivery %s attempt %d: %s", delivery.id, number, outcome.error or "delivered")
    return delivery.status


def retry_now(session: DbSession, services: Services, delivery: WebhookDelivery) -> None:
    """Sends the delivery again as soon as a worker is free (the admin's "retry now")."""
    delivery.status = WebhookDeliveryStatus.PENDING
    delivery.next_attempt_at = services.clock.now()
    enqueue_after_commit(session, DELIVER_JOB, delivery.id, job_id=f"webhook-{delivery.id}", retry=False)


def requeue_due_deliveries(session: DbSession, services: Services) -> int:
    """Enqueues deliveries whose attempt is due: retries, and jobs lost while Redis was down."""
    ids = (
        session.execute(
            select(WebhookDelivery.id)
            .where(
                WebhookDelivery.status == WebhookDeliveryStatus.PENDING,
                WebhookDelivery.next_attempt_at <= services.clock.now(),
            )
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(_SWEEP_BATCH)
        )
        .scalars()
        .all()
    )
    session.commit()
    if not ids:
        return 0
    queue = get_queue()
    return sum(
        enqueue_now(PendingJob(DELIVER_JOB, (delivery_id,), f"webhook-{delivery_id}", False), queue)
        for delivery_id in ids
    )
