"""Webhook endpoints over the API: the portal's rules (admins only, checked URLs, secret shown once,
404 across organisations), the delivery log a page at a time, retries, and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import select, update

from tests.conftest import Sender
from webapp.accounts.signup import create_sender
from webapp.accounts.tokens import create_api_token
from webapp.clock import FrozenClock
from webapp.config import Settings
from webapp.extensions import db
from webapp.hooks.endpoints import endpoint_secret
from webapp.models import Role, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint
from webapp.services import current_services

HOOK = "https://erp.example.ma/hooks/wassit"


def create(client: FlaskClient, who: Sender, url: str = HOOK, **fields: Any) -> Any:
    return client.post("/api/v1/webhooks", json={"url": url, **fields}, headers=who.auth)


def stored_secret(app: Flask, endpoint_id: str) -> str:
    with app.app_context():
        return endpoint_secret(current_services(), db.session.get_one(WebhookEndpoint, endpoint_id))


@pytest.fixture
def other_admin(make_sender: Callable[..., Sender]) -> Sender:
    return make_sender(org="Cabinet Idrissi")


@pytest.fixture
def plain_sender(app: Flask, clock: FrozenClock, sender: Sender) -> Sender:
    """A user of the sender's organisation with the `sender` role, and a token."""
    with app.app_context():
        user = create_sender(
            db.session,
            clock,
            org_name="Banque Atlas SA",
            email="clerk@atlas.ma",
            password="correct horse battery",
            role=Role.SENDER,
        )
        db.session.flush()
        token = create_api_token(db.session, clock, email=user.email)
        db.session.commit()
        return Sender(user.id, user.organisation_id, user.email, token)


def test_an_admin_registers_lists_reads_and_deletes_an_endpoint_with_the_secret_shown_once(
    client: FlaskClient, app: Flask, sender: Sender
) -> None:
    created = create(client, sender, description="ERP production")
    assert created.status_code == 201, created.text
    body = created.json
    secret = body["secret"]
    assert secret.startswith("whsec_")
    assert len(secret) > 40
    assert body["url"] == HOOK
    assert body["description"] == "ERP production"
    assert body["active"] is True
    assert secret.startswith(body["secret_hint"])
    assert created.headers["Location"] == f"/api/v1/webhooks/{body['id']}"
    assert created.headers["Cache-Control"] == "no-store"
    # What signs the deliveries is that secret, kept sealed: not in any column in clear.
    assert stored_secret(app, body["id"]) == secret
    with app.app_context():
        endpoint = db.session.get_one(WebhookEndpoint, body["id"])
        assert secret.encode() not in endpoint.secret_ciphertext

    listed = client.get("/api/v1/webhooks", headers=sender.auth)
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json["items"]] == [body["id"]]
    fetched = client.get(created.headers["Location"], headers=sender.auth)
    assert fetched.status_code == 200
    for shown in (listed.json["items"][0], fetched.json):
        assert "secret" not in shown
        assert secret not in str(shown)
    assert fetched.json["deliveries_url"] == f"http://localhost/api/v1/webhooks/{body['id']}/deliveries"

    deleted = client.delete(created.headers["Location"], headers=sender.auth)
    assert deleted.status_code == 204
    assert deleted.data == b""
    assert client.get(created.headers["Location"], headers=sender.auth).status_code == 404
    assert client.get("/api/v1/webhooks", headers=sender.auth).json["items"] == []


def test_rotating_the_secret_shows_the_new_one_once_and_the_old_one_stops_signing(
    client: FlaskClient, app: Flask, sender: Sender
) -> None:
    endpoint = create(client, sender).json
    rotated = client.post(f"/api/v1/webhooks/{endpoint['id']}/rotate-secret", headers=sender.auth)
    assert rotated.status_code == 200
    new_secret = rotated.json["secret"]
    assert new_secret != endpoint["secret"]
    assert rotated.json["secret_rotated_at"] is not None
    assert stored_secret(app, endpoint["id"]) == new_secret
    assert "secret" not in client.get(f"/api/v1/webhooks/{endpoint['id']}", headers=sender.auth).json


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://erp.example.ma/hooks", "invalid_url"),
        ("https://10.0.0.7/hooks", "invalid_url"),
        ("https://localhost/hooks", "invalid_url"),
        ("https://user:pw@erp.example.ma/", "invalid_url"),
        ("https://erp.example.ma/#frag", "invalid_url"),
        ("", "invalid_url"),
        (None, "missing_field"),
    ],
)
def test_bad_urls_are_refused_as_in_the_portal_and_nothing_is_stored(
    client: FlaskClient, app: Flask, sender: Sender, url: str | None, code: str
) -> None:
    response = client.post("/api/v1/webhooks", json={} if url is None else {"url": url}, headers=sender.auth)
    assert response.status_code == 422
    assert response.json["error"]["code"] == code
    assert response.json["error"]["field"] == "url"
    with app.app_context():
        assert db.session.execute(select(WebhookEndpoint)).first() is None


def test_bodies_that_are_not_a_json_object_or_have_bad_fields_are_refused(client: FlaskClient, sender: Sender) -> None:
    form = client.post("/api/v1/webhooks", data={"url": HOOK}, headers=sender.auth)
    assert form.status_code == 415
    assert form.json["error"]["code"] == "unsupported_media_type"
    array = client.post("/api/v1/webhooks", json=[HOOK], headers=sender.auth)
    assert (array.status_code, array.json["error"]["code"]) == (422, "invalid_json")
    long = create(client, sender, description="x" * 101)
    assert (long.status_code, long.json["error"]["field"]) == (422, "description")
    endpoint = create(client, sender).json
    not_bool = client.patch(f"/api/v1/webhooks/{endpoint['id']}", json={"active": "no"}, headers=sender.auth)
    assert (not_bool.status_code, not_bool.json["error"]["field"]) == (422, "active")


def test_only_admins_manage_webhooks_over_the_api_too(
    client: FlaskClient, sender: Sender, plain_sender: Sender
) -> None:
    endpoint_id = create(client, sender).json["id"]
    attempts = [
        client.get("/api/v1/webhooks", headers=plain_sender.auth),
        create(client, plain_sender),
        client.get(f"/api/v1/webhooks/{endpoint_id}", headers=plain_sender.auth),
        client.patch(f"/api/v1/webhooks/{endpoint_id}", json={"active": False}, headers=plain_sender.auth),
        client.delete(f"/api/v1/webhooks/{endpoint_id}", headers=plain_sender.auth),
        client.post(f"/api/v1/webhooks/{endpoint_id}/rotate-secret", headers=plain_sender.auth),
        client.get(f"/api/v1/webhooks/{endpoint_id}/deliveries", headers=plain_sender.auth),
    ]
    for response in attempts:
        assert response.status_code == 403, response.request.path
        assert response.json["error"]["code"] == "admin_required"
    assert client.get(f"/api/v1/webhooks/{endpoint_id}", headers=sender.auth).json["active"] is True


def test_another_organisations_endpoints_and_deliveries_are_404(
    client: FlaskClient, sender: Sender, other_admin: Sender, deposit: Any
) -> None:
    endpoint_id = create(client, sender).json["id"]
    deposit()
    delivery_id = client.get(f"/api/v1/webhooks/{endpoint_id}/deliveries", headers=sender.auth).json["items"][0]["id"]
    base = f"/api/v1/webhooks/{endpoint_id}"
    attempts = [
        client.get(base, headers=other_admin.auth),
        client.patch(base, json={"active": False}, headers=other_admin.auth),
        client.delete(base, headers=other_admin.auth),
        client.post(f"{base}/rotate-secret", headers=other_admin.auth),
        client.get(f"{base}/deliveries", headers=other_admin.auth),
        client.post(f"{base}/deliveries/{delivery_id}/retry", headers=other_admin.auth),
    ]
    for response in attempts:
        assert response.status_code == 404, response.request.path
        assert response.json["error"]["code"] == "not_found"
    assert client.get("/api/v1/webhooks", headers=other_admin.auth).json["items"] == []
    # Their own endpoint does not reach our deliveries either.
    theirs = create(client, other_admin).json["id"]
    cross = client.post(f"/api/v1/webhooks/{theirs}/deliveries/{delivery_id}/retry", headers=other_admin.auth)
    assert cross.status_code == 404
    assert client.get(base, headers=sender.auth).json["active"] is True


def test_the_delivery_log_pages_filters_and_shows_what_was_sent(
    client: FlaskClient, sender: Sender, deposit: Any
) -> None:
    endpoint_id = create(client, sender).json["id"]
    references = {deposit(sender_reference=f"DOSSIER-{n}").json["reference"] for n in range(3)}
    path = f"/api/v1/webhooks/{endpoint_id}/deliveries"
    first = client.get(f"{path}?limit=2", headers=sender.auth)
    assert first.status_code == 200
    assert len(first.json["items"]) == 2
    assert first.json["next_cursor"]
    second = client.get(f"{path}?limit=2&cursor={first.json['next_cursor']}", headers=sender.auth).json
    assert len(second["items"]) == 1
    assert second["next_cursor"] is None
    items = first.json["items"] + second["items"]
    assert len({item["id"] for item in items}) == 3
    for item in items:
        assert item["event_type"] == "letter.status_changed"
        assert item["status"] == "pending"
        assert item["attempt_log"] == []
        assert item["payload"]["id"] == item["event_id"]
        assert item["payload"]["data"]["status"] == "deposited"
        assert item["payload"]["data"]["previous_status"] is None
    assert {item["payload"]["data"]["reference"] for item in items} == references

    assert client.get(f"{path}?status=delivered", headers=sender.auth).json["items"] == []
    assert len(client.get(f"{path}?status=pending", headers=sender.auth).json["items"]) == 3
    for bad in ("limit=0", "limit=101", "status=lost", "cursor=not-ours"):
        refused = client.get(f"{path}?{bad}", headers=sender.auth)
        assert refused.status_code == 422, bad
        assert refused.json["error"]["field"] == bad.split("=")[0]


def test_a_delivery_is_retried_on_request_unless_the_endpoint_is_disabled(
    client: FlaskClient, app: Flask, sender: Sender, deposit: Any, settings: Settings
) -> None:
    endpoint_id = create(client, sender).json["id"]
    deposit()
    with app.app_context():
        delivery = db.session.execute(select(WebhookDelivery)).scalar_one()
        delivery_id = delivery.id
        db.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(status=WebhookDeliveryStatus.FAILED, next_attempt_at=None, attempts=8, last_error="HTTP 500")
        )
        db.session.commit()
    redis = Redis.from_url(settings.redis_url or "")
    redis.flushdb()
    retry = f"/api/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}/retry"

    disabled = client.patch(f"/api/v1/webhooks/{endpoint_id}", json={"active": False}, headers=sender.auth)
    assert disabled.status_code == 200
    assert (disabled.json["active"], disabled.json["disabled_at"] is not None) == (False, True)
    refused = client.post(retry, headers=sender.auth)
    assert (refused.status_code, refused.json["error"]["code"]) == (409, "endpoint_disabled")
    assert not redis.exists(f"rq:job:webhook-{delivery_id}")

    enabled = client.patch(
        f"/api/v1/webhooks/{endpoint_id}", json={"active": True, "description": "back"}, headers=sender.auth
    )
    assert (enabled.json["active"], enabled.json["description"], enabled.json["disabled_at"]) == (True, "back", None)
    queued = client.post(retry, headers=sender.auth)
    assert queued.status_code == 202
    assert queued.json["status"] == "pending"
    assert queued.json["next_attempt_at"] is not None
    assert redis.exists(f"rq:job:webhook-{delivery_id}")
    redis.close()
    unknown = client.post(f"/api/v1/webhooks/{endpoint_id}/deliveries/nope/retry", headers=sender.auth)
    assert unknown.status_code == 404


def test_the_openapi_document_describes_the_endpoints_and_the_signed_events(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").json
    paths = document["paths"]
    assert set(paths["/api/v1/webhooks"]) == {"get", "post"}
    assert set(paths["/api/v1/webhooks/{endpoint_id}"]) == {"get", "patch", "delete"}
    assert "post" in paths["/api/v1/webhooks/{endpoint_id}/rotate-secret"]
    assert "get" in paths["/api/v1/webhooks/{endpoint_id}/deliveries"]
    assert "post" in paths["/api/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}/retry"]
    created = paths["/api/v1/webhooks"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert created == {"$ref": "#/components/schemas/WebhookEndpointWithSecret"}
    assert "403" in paths["/api/v1/webhooks"]["get"]["responses"]

    assert set(document["webhooks"]) == {"letter.status_changed", "letter.proof_ready", "letter.identification_failed"}
    for event in document["webhooks"].values():
        headers = {p["name"]: p for p in event["post"]["parameters"] if p["in"] == "header"}
        assert headers["Wassit-Signature"]["required"] is True
        assert "HMAC-SHA256" in headers["Wassit-Signature"]["description"]
        assert "Wassit-Event-Id" in headers
        assert "<t>.<raw body>" in event["post"]["description"]
        body = event["post"]["requestBody"]["content"]["application/json"]
        assert body["schema"] == {"$ref": "#/components/schemas/WebhookEvent"}
    assert "WebhookEvent" in document["components"]["schemas"]


@pytest.mark.parametrize("path", ["/api/v1/webhooks", "/api/v1/webhooks/x", "/api/v1/webhooks/x/deliveries"])
def test_webhook_routes_need_a_token(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"
