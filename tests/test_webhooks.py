"""Outgoing webhooks: signed letter events POSTed to an organisation's endpoints, retried, logged in the portal."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import select

from tests.conftest import Sender
from webapp.clock import FrozenClock
from webapp.config import Settings
from webapp.extensions import db
from webapp.hooks.delivery import MAX_ATTEMPTS, NO_ANSWER, RETRY_DELAYS, post_event, sign, verify_signature
from webapp.hooks.endpoints import InvalidWebhookUrl, create_endpoint, validate_webhook_url
from webapp.letters.lifecycle import transition
from webapp.letters.states import LetterStatus
from webapp.models import Letter, Role, WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint
from webapp.services import current_services
from webapp.sweepers import requeue_due_deliveries

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def readme_verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """The recipe of the README ("Outgoing webhooks"), copied as is."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = parts["t"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    signed = timestamp.encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(webhook_allow_private=True)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    url: str
    status: int = 200
    location: str | None = None
    received: list[Received] = field(default_factory=list)

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [r.event for r in self.received if kind is None or r.event["type"] == kind]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP server on 127.0.0.1 that records every POST and answers `receiver.status`."""
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.received.append(Received({k: v for k, v in self.headers.items()}, body))
            self.send_response(state.status)
            if state.location:
                self.send_header("Location", state.location)
            reply = b"ok" if state.status < 300 else b"boom " * 2000  # a large body, read only up to the cap
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/wassit"
    yield state
    server.shutdown()
    server.server_close()


def register(app: Flask, sender: Sender, url: str) -> tuple[str, str]:
    with app.app_context():
        created = create_endpoint(db.session, current_services(), organisation_id=sender.organisation_id, url=url)
        db.session.commit()
        return created.endpoint.id, created.secret


def deliveries(app: Flask) -> list[WebhookDelivery]:
    with app.app_context():
        rows = db.session.execute(select(WebhookDelivery).order_by(WebhookDelivery.created_at)).scalars().all()
        db.session.expunge_all()
        return list(rows)


def move(app: Flask, letter_id: str, target: LetterStatus) -> None:
    with app.app_context():
        services = current_services()
        letter = db.session.get_one(Letter, letter_id)
        transition(db.session, letter, target, at=services.clock.now(), issuer=services.issuer)
        db.session.commit()


def login(client: FlaskClient, email: str) -> None:
    page = client.get("/login", headers={"Accept-Language": "en"})
    match = CSRF.search(page.text)
    assert match, page.text[:1000]
    data = {"csrf_token": match.group(1), "email": email, "password": PASSWORD}
    assert client.post("/login", data=data).status_code == 303


def csrf_of(client: FlaskClient, path: str) -> str:
    page = client.get(path, headers={"Accept-Language": "en"})
    assert page.status_code == 200, page.status_code
    match = CSRF.search(page.text)
    assert match
    return match.group(1)


# --- Signature ---------------------------------------------------------------------------


def test_signature_verifies_with_the_documented_recipe_and_binds_the_timestamp() -> None:
    secret, body, now = "whsec_test", b'{"id":"1","type":"letter.status_changed"}', int(time.time())
    header = sign(secret, now, body)
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    assert readme_verify(secret, header, body)
    assert verify_signature(secret, header, body, now=now)
    # The timestamp is inside the signed content: changing it breaks the signature.
    forged = header.replace(f"t={now}", f"t={now + 1}")
    assert not readme_verify(secret, forged, body)
    assert not verify_signature(secret, forged, body, now=now)
    assert not readme_verify(secret, header, body + b" ")
    assert not readme_verify("whsec_other", header, body)
    # An old signature (a replay) is refused.
    old = sign(secret, now - 3600, body)
    assert not readme_verify(secret, old, body)
    assert not verify_signature(secret, old, body, now=now)


# --- URL validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["https://hooks.example.com/wassit", "https://api.banque-atlas.ma:8443/events?source=wassit"],
)
def test_public_https_urls_are_accepted(url: str) -> None:
    assert validate_webhook_url(url, allow_private=False) == url


@pytest.mark.parametrize(
    "url",
    [
        "",
        "http://hooks.example.com/wassit",
        "ftp://hooks.example.com/",
        "https://user:password@hooks.example.com/",
        "https://token@hooks.example.com/",
        "https://127.0.0.1/hooks",
        "https://127.1/hooks",
        "https://0x7f.0.0.1/hooks",
        "https://2130706433/hooks",
        "https://10.1.2.3/hooks",
        "https://192.168.1.10/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hooks",
        "https://localhost/hooks",
        "https://printer.local/hooks",
        "https://intranet/hooks",
        "https://hooks.example.com/#fragment",
        "https://hooks.example.com/a b",
        "https://hooks.example.com:99999/",
        "https://hooks.example.com/" + "x" * 500,
        "javascript:alert(1)",
    ],
)
def test_unsafe_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidWebhookUrl):
        validate_webhook_url(url, allow_private=False)


def test_plain_http_only_for_private_hosts_when_allowed() -> None:
    assert validate_webhook_url("http://127.0.0.1:8000/hooks", allow_private=True)
    with pytest.raises(InvalidWebhookUrl):
        validate_webhook_url("http://hooks.example.com/", allow_private=True)
    with pytest.raises(InvalidWebhookUrl):
        validate_webhook_url("http://127.0.0.1:8000/hooks", allow_private=False)


# --- Delivery ----------------------------------------------------------------------------


def test_a_status_change_reaches_a_real_receiver_signed(
    app: Flask, sender: Sender, deposit: Any, run_jobs: Callable[[], None], receiver: Receiver
) -> None:
    endpoint_id, secret = register(app, sender, receiver.url)
    created = deposit(recipient_email="youssef@example.ma", channel="email")
    assert created.status_code == 201, created.json
    letter_id = created.json["id"]
    run_jobs()

    assert receiver.received, "the receiver got nothing"
    for got in receiver.received:
        assert got.headers["User-Agent"] == "Wassit-Webhooks/1"
        assert got.headers["Content-Type"] == "application/json"
        assert got.headers["Wassit-Event-Id"] == got.event["id"]
        assert readme_verify(secret, got.headers["Wassit-Signature"], got.body)
        assert set(got.event) == {"id", "type", "created_at", "data"}
        data = got.event["data"]
        assert data["letter_id"] == letter_id
        assert data["reference"] == created.json["reference"]
        # Nothing about the document's content, the recipient's secrets or links, nor our secret.
        text = got.body.decode()
        for leak in (secret, "/l/", "0612345678", "612345678", "youssef@example.ma", "Youssef", "%PDF"):
            assert leak not in text, leak
        assert not ({"document", "code", "link", "recipient_phone", "recipient_email"} & set(data))

    [deposited] = [e for e in receiver.events("letter.status_changed") if e["data"]["status"] == "deposited"]
    assert deposited["data"]["previous_status"] is None
    [proof] = receiver.events("letter.proof_ready")
    assert proof["data"]["proof"] == {
        "kind": "deposit",
        "url": f"https://wassit.ma/api/v1/letters/{letter_id}/proofs/deposit",
    }
    rows = deliveries(app)
    assert {d.endpoint_id for d in rows} == {endpoint_id}
    assert all(d.status is WebhookDeliveryStatus.DELIVERED and d.attempts == 1 for d in rows)
    assert len(rows) == len(receiver.received)


def test_deposited_notified_accepted_produce_events_in_order(
    app: Flask, sender: Sender, deposit: Any, run_jobs: Callable[[], None], receiver: Receiver
) -> None:
    register(app, sender, receiver.url)
    letter_id = deposit().json["id"]
    run_jobs()
    with app.app_context():
        db.session.get_one(Letter, letter_id).sender_reference = "DOSSIER-2291"
        db.session.commit()
    move(app, letter_id, LetterStatus.ACCEPTED)
    run_jobs()

    changes = [(e["data"]["previous_status"], e["data"]["status"]) for e in receiver.events("letter.status_changed")]
    assert changes == [(None, "deposited"), ("deposited", "notified"), ("notified", "accepted")]
    assert receiver.events("letter.status_changed")[-1]["data"]["sender_reference"] == "DOSSIER-2291"
    kinds = [e["data"]["proof"]["kind"] for e in receiver.events("letter.proof_ready")]
    assert kinds == ["deposit", "reception"]
    assert len({e["id"] for e in receiver.events()}) == len(receiver.received)  # one id per event


def test_a_failing_receiver_is_retried_with_backoff_and_logged(
    app: Flask,
    sender: Sender,
    deposit: Any,
    run_jobs: Callable[[], None],
    receiver: Receiver,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    _, secret = register(app, sender, receiver.url)
    receiver.status = 500
    deposit()
    run_jobs()
    first = deliveries(app)
    assert first
    assert all(d.status is WebhookDeliveryStatus.PENDING for d in first)
    assert all(d.attempts == 1 and d.last_status_code == 500 for d in first)
    assert all(d.next_attempt_at == clock.now() + timedelta(seconds=RETRY_DELAYS[0]) for d in first)
    with app.app_context():
        attempt = db.session.execute(select(WebhookAttempt)).scalars().first()
        assert attempt is not None
        assert (attempt.number, attempt.status_code, attempt.error) == (1, 500, "HTTP 500")
        assert attempt.response_excerpt is not None
        assert len(attempt.response_excerpt) <= 500
        # Not due yet: the sweeper leaves them.
        assert requeue_due_deliveries(db.session, current_services()) == 0

    sent = len(receiver.received)
    for number, delay in enumerate(RETRY_DELAYS, start=2):
        clock.advance(delay)
        with app.app_context():
            assert requeue_due_deliveries(db.session, current_services()) == len(first)
        run_jobs()
        assert len(receiver.received) == sent + len(first) * (number - 1)
        assert all(d.attempts == number for d in deliveries(app))
    assert all(d.status is WebhookDeliveryStatus.FAILED for d in deliveries(app))
    assert len(RETRY_DELAYS) + 1 == MAX_ATTEMPTS
    assert secret not in caplog.text


def test_the_receiver_recovers_and_a_redirect_is_not_followed(
    app: Flask, sender: Sender, deposit: Any, run_jobs: Callable[[], None], receiver: Receiver, clock: FrozenClock
) -> None:
    register(app, sender, receiver.url)
    receiver.status, receiver.location = 302, "http://127.0.0.1:9/elsewhere"
    deposit()
    run_jobs()
    rows = deliveries(app)
    assert len(receiver.received) == len(rows)  # one POST each: the redirect was not followed
    assert all(d.last_error == "redirects are not followed" for d in rows)
    receiver.status, receiver.location = 204, None
    clock.advance(RETRY_DELAYS[0])
    with app.app_context():
        requeue_due_deliveries(db.session, current_services())
    run_jobs()
    assert all(d.status is WebhookDeliveryStatus.DELIVERED and d.attempts == 2 for d in deliveries(app))


def test_jobs_lost_with_redis_are_enqueued_again_by_the_sweeper(
    app: Flask, sender: Sender, deposit: Any, run_jobs: Callable[[], None], receiver: Receiver
) -> None:
    register(app, sender, receiver.url)
    deposit()
    Redis.from_url(app.extensions["wassit.redis_url"]).flushdb()  # every queued job lost
    [lost] = deliveries(app)
    assert lost.status is WebhookDeliveryStatus.PENDING
    with app.app_context():
        assert requeue_due_deliveries(db.session, current_services()) == 1
    run_jobs()
    assert receiver.events("letter.status_changed")[0]["data"]["status"] == "deposited"


def test_a_private_address_is_refused_at_delivery_time(receiver: Receiver) -> None:
    url = receiver.url.replace("http://", "https://")
    outcome = post_event(url, b"{}", {}, timeout=2, allow_private=False)
    assert outcome.status_code is None
    assert outcome.error == NO_ANSWER
    assert receiver.received == []


def test_disabled_endpoints_get_nothing_and_other_organisations_events_stay_theirs(
    app: Flask, make_sender: Callable[..., Sender], deposit: Any, run_jobs: Callable[[], None], receiver: Receiver
) -> None:
    ours, theirs = make_sender(), make_sender(org="Cabinet Benali")
    register(app, theirs, receiver.url)
    endpoint_id, _ = register(app, ours, receiver.url)
    with app.app_context():
        db.session.get_one(WebhookEndpoint, endpoint_id).is_active = False
        db.session.commit()
    deposit(as_sender=ours)
    run_jobs()
    assert receiver.received == []
    assert deliveries(app) == []


def test_the_secret_is_stored_encrypted(app: Flask, sender: Sender, receiver: Receiver) -> None:
    endpoint_id, secret = register(app, sender, receiver.url)
    assert secret.startswith("whsec_")
    assert len(secret) > 40
    with app.app_context():
        endpoint = db.session.get_one(WebhookEndpoint, endpoint_id)
        stored = b"".join(
            [endpoint.secret_wrapped_key, endpoint.secret_nonce, endpoint.secret_ciphertext, endpoint.url.encode()]
        )
        assert secret.encode() not in stored
        assert secret[10:].encode() not in stored


# --- Portal ------------------------------------------------------------------------------


def test_an_admin_adds_an_endpoint_sees_the_secret_once_and_follows_deliveries(
    app: Flask,
    client: FlaskClient,
    sender: Sender,
    deposit: Any,
    run_jobs: Callable[[], None],
    receiver: Receiver,
) -> None:
    login(client, sender.email)
    token = csrf_of(client, "/settings/webhooks")
    refused = client.post(
        "/settings/webhooks",
        data={"csrf_token": token, "url": "https://user:pw@example.com/"},
        headers={"Accept-Language": "en"},
    )
    assert refused.status_code == 422  # the form again, with the refusal under the field
    assert "user name or password" in refused.text
    created = client.post("/settings/webhooks", data={"csrf_token": token, "url": receiver.url, "description": "ERP"})
    assert created.status_code == 200
    assert created.headers["Cache-Control"] == "no-store"
    secret = re.search(r"whsec_[A-Za-z0-9_-]+", created.text)
    assert secret
    with app.app_context():
        endpoint = db.session.execute(select(WebhookEndpoint)).scalar_one()
        endpoint_id = endpoint.id
    detail = f"/settings/webhooks/{endpoint_id}"
    assert secret.group(0) not in client.get(detail).text
    assert secret.group(0) not in client.get("/settings/webhooks").text

    receiver.status = 503
    deposit()
    run_jobs()
    page = client.get(detail)
    assert "letter.status_changed" in page.text
    assert "503" in page.text
    assert readme_verify(secret.group(0), receiver.received[0].headers["Wassit-Signature"], receiver.received[0].body)

    receiver.status = 200
    delivery = deliveries(app)[0]
    token = csrf_of(client, detail)
    response = client.post(f"{detail}/deliveries/{delivery.id}/retry", data={"csrf_token": token})
    assert response.status_code == 303
    run_jobs()
    with app.app_context():
        assert db.session.get_one(WebhookDelivery, delivery.id).status is WebhookDeliveryStatus.DELIVERED

    rotated = client.post(f"{detail}/rotate", data={"csrf_token": token})
    new_secret = re.search(r"whsec_[A-Za-z0-9_-]+", rotated.text)
    assert new_secret
    assert new_secret.group(0) != secret.group(0)
    assert client.post(f"{detail}/disable", data={"csrf_token": token}).status_code == 303
    with app.app_context():
        assert db.session.get_one(WebhookEndpoint, endpoint_id).is_active is False
    assert client.post(f"{detail}/delete", data={"csrf_token": token}).status_code == 303
    with app.app_context():
        assert db.session.execute(select(WebhookEndpoint)).first() is None
        assert db.session.execute(select(WebhookDelivery)).first() is None
        assert db.session.execute(select(WebhookAttempt)).first() is None


def test_actions_need_the_csrf_token(app: Flask, client: FlaskClient, sender: Sender, receiver: Receiver) -> None:
    endpoint_id, _ = register(app, sender, receiver.url)
    login(client, sender.email)
    assert client.post(f"/settings/webhooks/{endpoint_id}/delete").status_code == 400
    with app.app_context():
        assert db.session.get(WebhookEndpoint, endpoint_id) is not None


def test_senders_get_403_and_other_organisations_get_404(
    app: Flask,
    client: FlaskClient,
    make_sender: Callable[..., Sender],
    clock: FrozenClock,
    deposit: Any,
    run_jobs: Callable[[], None],
    receiver: Receiver,
) -> None:
    from webapp.accounts.signup import create_sender

    owner, stranger = make_sender(), make_sender(org="Cabinet Benali")
    endpoint_id, _ = register(app, owner, receiver.url)
    deposit(as_sender=owner)
    run_jobs()
    delivery_id = deliveries(app)[0].id
    with app.app_context():
        create_sender(
            db.session,
            clock,
            org_name="Banque Atlas SA",
            email="clerk@atlas.ma",
            password=PASSWORD,
            role=Role.SENDER,
        )
        db.session.commit()

    paths = [
        ("get", "/settings/webhooks"),
        ("post", "/settings/webhooks"),
        ("get", f"/settings/webhooks/{endpoint_id}"),
        ("post", f"/settings/webhooks/{endpoint_id}/disable"),
        ("post", f"/settings/webhooks/{endpoint_id}/enable"),
        ("post", f"/settings/webhooks/{endpoint_id}/rotate"),
        ("post", f"/settings/webhooks/{endpoint_id}/delete"),
        ("post", f"/settings/webhooks/{endpoint_id}/deliveries/{delivery_id}/retry"),
    ]
    anonymous = [getattr(client, method)(path).status_code for method, path in paths]
    assert all(code in {302, 400} for code in anonymous), anonymous  # to the login page, or no CSRF token

    login(client, "clerk@atlas.ma")
    assert "/settings/webhooks" not in client.get("/letters").text
    token = csrf_of(client, "/letters")
    codes = [getattr(client, method)(path, data={"csrf_token": token}).status_code for method, path in paths]
    assert codes == [403] * len(paths)
    client.post("/logout")

    login(client, stranger.email)
    token = csrf_of(client, "/settings/webhooks")
    codes = [getattr(client, method)(path, data={"csrf_token": token}).status_code for method, path in paths[2:]]
    assert codes == [404] * len(codes)
    with app.app_context():
        endpoint = db.session.get_one(WebhookEndpoint, endpoint_id)
        assert endpoint.is_active
        assert endpoint.secret_rotated_at is None
    # A delivery is reached only through its own endpoint.
    own_id, _ = register(app, stranger, receiver.url)
    response = client.post(f"/settings/webhooks/{own_id}/deliveries/{delivery_id}/retry", data={"csrf_token": token})
    assert response.status_code == 404
