"""Delivering a recorded event: one signed POST per attempt, retried after `RETRY_DELAYS`.

The body was fixed when the event was recorded (`hooks.events`); each attempt signs it
afresh (`Wassit-Signature`), claims the delivery before posting so that two jobs never
post it at once, and records what the endpoint answered.  Nothing is followed: no
redirect, no proxy, a capped read of the answer.  The host is resolved once per attempt,
every address checked, and the connection made to the checked address itself: a public
name pointed at a private address since is refused, and a resolver that answers a
second lookup differently (DNS rebinding) is never asked one.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from ipaddress import IPv4Address, IPv6Address
from urllib.parse import urlsplit

import certifi
import urllib3
from sqlalchemy import select

from webapp.extensions import DbSession, db
from webapp.hooks.addresses import is_public_address, literal_address
from webapp.hooks.context import HookServices, current_hook_services
from webapp.hooks.endpoints import endpoint_secret
from webapp.models import WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus
from webapp.queue import Priority, enqueue_after_commit
from webapp.vault import VaultError

log = logging.getLogger(__name__)

USER_AGENT = "Wassit-Webhooks/1"
SIGNATURE_HEADER = "Wassit-Signature"
EVENT_ID_HEADER = "Wassit-Event-Id"

# Seconds to wait after the 1st, 2nd, … failed attempt; after the last, the delivery has failed.
RETRY_DELAYS = (60, 300, 1800, 7200, 6 * 3600, 12 * 3600, 24 * 3600)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# A claimed attempt that never reports back (worker killed) is retried after this long.
CLAIM_SECONDS = 300
MAX_RESPONSE_BYTES = 4096


def delivery_job_id(delivery_id: str) -> str:
    return f"webhook-{delivery_id}"


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


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    error: str | None
    excerpt: str | None
    duration_ms: int


# The one error of an attempt that got no answer, whatever the cause (name unknown or not public,
# connection refused or reset, timeout, TLS failure): distinct errors would tell whoever controls the
# URL which hosts and ports exist where we stand, a port scanner by the delivery log.
NO_ANSWER = "no answer from the endpoint"


def resolve_once(host: str, port: int) -> list[IPv4Address | IPv6Address]:
    """The addresses `host` resolves to, in the resolver's order: the one lookup of a delivery."""
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    found: list[IPv4Address | IPv6Address] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP):
        address = ipaddress.ip_address(sockaddr[0])
        if address not in found:
            found.append(address)
    return found


def _pool(
    scheme: str, address: IPv4Address | IPv6Address, port: int, hostname: str, timeout: int, ca_certs: str | None
) -> urllib3.HTTPConnectionPool:
    """A connection pool to the vetted address itself, never to the name (which would be looked up again):
    TLS still sends the name (SNI) and checks the certificate against it."""
    limits = urllib3.Timeout(connect=min(timeout, 5), read=timeout)
    if scheme == "https":
        return urllib3.HTTPSConnectionPool(
            str(address),
            port,
            timeout=limits,
            retries=False,
            maxsize=1,
            cert_reqs="CERT_REQUIRED",
            ca_certs=ca_certs or certifi.where(),
            server_hostname=hostname,
            assert_hostname=hostname,
        )
    return urllib3.HTTPConnectionPool(str(address), port, timeout=limits, retries=False, maxsize=1)


def post_event(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: int,
    allow_private: bool,
    ca_certs: str | None = None,
) -> PostResult:
    """One POST to the address checked, resolved once (no second lookup that DNS rebinding could
    answer differently): no redirects followed, no proxies or .netrc, the answer read up to a cap.

    Unless `allow_private`, every address the name resolves to must be public (`webapp.hooks.addresses`).
    Any failure before an answer is the one neutral `NO_ANSWER`."""
    started = time.monotonic()

    def result(status: int | None, error: str | None, excerpt: str | None = None) -> PostResult:
        return PostResult(status, error, excerpt, int((time.monotonic() - started) * 1000))

    parts = urlsplit(url)
    hostname = (parts.hostname or "").rstrip(".")
    try:  # an internationalised name as DNS, TLS and the Host header spell it (A-labels)
        hostname = hostname.encode("idna").decode("ascii") if not hostname.isascii() else hostname
    except UnicodeError:
        return result(None, NO_ANSWER)
    scheme = parts.scheme
    port = parts.port or (443 if scheme == "https" else 80)
    try:
        addresses = resolve_once(hostname, port) if hostname else []
    except (OSError, UnicodeError, ValueError):
        addresses = []
    if not addresses or (not allow_private and not all(is_public_address(a) for a in addresses)):
        return result(None, NO_ANSWER)
    host_header = f"[{hostname}]" if ":" in hostname else hostname
    if parts.port is not None:
        host_header += f":{parts.port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    for address in addresses:
        pool = _pool(scheme, address, port, hostname, timeout, ca_certs)
        try:
            response = pool.urlopen(
                "POST",
                target,
                body=body,
                headers={**headers, "Host": host_header},
                redirect=False,
                retries=False,
                preload_content=False,
                assert_same_host=False,
            )
        except (urllib3.exceptions.HTTPError, OSError, ValueError):
            pool.close()
            continue  # the next address, as a resolver-ordered connect would
        try:
            raw = response.read(MAX_RESPONSE_BYTES, decode_content=True) or b""
        except (urllib3.exceptions.HTTPError, OSError, ValueError):
            # A broken or slow body does not change the status the endpoint answered.
            raw = b""
        finally:
            response.release_conn()
            pool.close()
        excerpt = raw.decode("utf-8", errors="replace")[:500] or None
        error = None
        if 300 <= response.status < 400:
            error = "redirects are not followed"
        elif not 200 <= response.status < 300:
            error = f"HTTP {response.status}"
        return result(response.status, error, excerpt)
    return result(None, NO_ANSWER)


def deliver(session: DbSession, services: HookServices, delivery_id: str) -> WebhookDeliveryStatus | None:
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
    session: DbSession, services: HookServices, delivery_id: str, number: int, outcome: PostResult
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


def retry_now(session: DbSession, services: HookServices, delivery: WebhookDelivery) -> None:
    """Sends the delivery again as soon as a worker is free (the admin's "retry now")."""
    delivery.status = WebhookDeliveryStatus.PENDING
    delivery.next_attempt_at = services.clock.now()
    enqueue_after_commit(
        session,
        deliver_webhook_job,
        delivery.id,
        job_id=delivery_job_id(delivery.id),
        retry=False,
        priority=Priority.NOTIFY,
    )


def deliver_webhook_job(delivery_id: str) -> str | None:
    """RQ job: one attempt at the delivery (not retried by RQ: the sweeper enqueues it again when due)."""
    status = deliver(db.session, current_hook_services(), delivery_id)
    return status.value if status else None
