"""JSON API v1: webhook endpoints and their delivery log, as the portal's admins manage them.

The same rules as the portal (webapp/web/portal/webhooks.py): only an admin of the
organisation manages its endpoints (403 `admin_required` for a sender's token),
URLs are checked by `webapp.hooks.endpoints`, the signing secret is shown once
(on creation and rotation), and another organisation's endpoints are 404.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from webapp.extensions import db
from webapp.hooks.delivery import retry_now
from webapp.hooks.endpoints import (
    MAX_DESCRIPTION_LENGTH,
    InvalidWebhookUrl,
    create_endpoint,
    delete_endpoint,
    delivery_page,
    endpoint_delivery,
    organisation_endpoint,
    organisation_endpoints,
    rotate_secret,
    update_endpoint,
)
from webapp.models import User, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint
from webapp.services import current_services
from webapp.trust.evidence import isoformat_utc
from webapp.web.api.common import ApiError, bp, current_api_user, decode_cursor, encode_cursor, iso, limit_arg

DESCRIPTION_MAX = MAX_DESCRIPTION_LENGTH


def _json_response(body: dict[str, Any], status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"  # creation and rotation answers carry a secret
    return response


def _admin() -> User:
    user = current_api_user()
    if not user.is_admin:
        raise ApiError(403, "admin_required", "Only an admin of the organisation manages its webhooks.")
    return user


def _own_endpoint(user: User, endpoint_id: str) -> WebhookEndpoint:
    endpoint = organisation_endpoint(db.session, user.organisation_id, endpoint_id)
    if endpoint is None:
        raise ApiError(404, "not_found", "No such webhook endpoint.")
    return endpoint


def _own_delivery(endpoint: WebhookEndpoint, delivery_id: str) -> WebhookDelivery:
    delivery = endpoint_delivery(db.session, endpoint, delivery_id)
    if delivery is None:
        raise ApiError(404, "not_found", "No such delivery for this endpoint.")
    return delivery


def _json_body() -> dict[str, Any]:
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "Send a JSON object (Content-Type: application/json).")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_json", "The body must be a JSON object.")
    return body


def _description(body: dict[str, Any]) -> str | None:
    value = body.get("description")
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > DESCRIPTION_MAX:
        raise ApiError(
            422, "invalid_input", f"'description' is a string of at most {DESCRIPTION_MAX} characters.", "description"
        )
    return value.strip()


def endpoint_json(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "active": endpoint.is_active,
        "secret_hint": endpoint.secret_hint,
        "created_at": isoformat_utc(endpoint.created_at),
        "secret_rotated_at": iso(endpoint.secret_rotated_at),
        "disabled_at": iso(endpoint.disabled_at),
        "deliveries_url": url_for("api.list_webhook_deliveries", endpoint_id=endpoint.id, _external=True),
    }


def delivery_json(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "letter_id": delivery.letter_id,
        "status": delivery.status.value,
        "attempts": delivery.attempts,
        "created_at": isoformat_utc(delivery.created_at),
        "next_attempt_at": iso(delivery.next_attempt_at),
        "last_attempt_at": iso(delivery.last_attempt_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "delivered_at": iso(delivery.delivered_at),
        "payload": json.loads(delivery.payload),
        "attempt_log": [
            {
                "number": attempt.number,
                "attempted_at": isoformat_utc(attempt.attempted_at),
                "duration_ms": attempt.duration_ms,
                "status_code": attempt.status_code,
                "error": attempt.error,
            }
            for attempt in delivery.attempt_log
        ],
    }


@bp.get("/webhooks")
def list_webhooks() -> ResponseReturnValue:
    endpoints = organisation_endpoints(db.session, _admin().organisation_id)
    return _json_response({"items": [endpoint_json(endpoint) for endpoint in endpoints]})


@bp.post("/webhooks")
def create_webhook() -> ResponseReturnValue:
    """Registers an endpoint; the answer carries its signing secret, the only time it is shown."""
    user = _admin()
    body = _json_body()
    url = body.get("url")
    if not isinstance(url, str):
        raise ApiError(422, "missing_field", "The field 'url' (an https:// URL) is required.", "url")
    description = _description(body) or ""
    try:
        created = create_endpoint(
            db.session,
            current_services(),
            organisation_id=user.organisation_id,
            url=url,
            description=description,
            user_id=user.id,
        )
    except InvalidWebhookUrl as exc:
        raise ApiError(422, "invalid_url", str(exc), "url") from None
    db.session.commit()
    response = _json_response(endpoint_json(created.endpoint) | {"secret": created.secret}, 201)
    response.headers["Location"] = url_for("api.get_webhook", endpoint_id=created.endpoint.id)
    return response


@bp.get("/webhooks/<endpoint_id>")
def get_webhook(endpoint_id: str) -> ResponseReturnValue:
    return _json_response(endpoint_json(_own_endpoint(_admin(), endpoint_id)))


@bp.patch("/webhooks/<endpoint_id>")
def update_webhook(endpoint_id: str) -> ResponseReturnValue:
    """Enables or disables the endpoint (`active`), or changes its description."""
    endpoint = _own_endpoint(_admin(), endpoint_id)
    body = _json_body()
    active = body.get("active")
    if active is not None and not isinstance(active, bool):
        raise ApiError(422, "invalid_input", "'active' is true or false.", "active")
    update_endpoint(current_services(), endpoint, active=active, description=_description(body))
    db.session.commit()
    return _json_response(endpoint_json(endpoint))


@bp.delete("/webhooks/<endpoint_id>")
def delete_webhook(endpoint_id: str) -> ResponseReturnValue:
    """Deletes the endpoint with its delivery log."""
    endpoint = _own_endpoint(_admin(), endpoint_id)
    delete_endpoint(db.session, endpoint)
    db.session.commit()
    response = Response(status=204)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/webhooks/<endpoint_id>/rotate-secret")
def rotate_webhook_secret(endpoint_id: str) -> ResponseReturnValue:
    """A new signing secret at once (the old one stops working), shown in this answer only."""
    endpoint = _own_endpoint(_admin(), endpoint_id)
    secret = rotate_secret(current_services(), endpoint)
    db.session.commit()
    return _json_response(endpoint_json(endpoint) | {"secret": secret})


def _delivery_status_arg() -> WebhookDeliveryStatus | None:
    raw = request.args.get("status")
    if raw is None or not raw.strip():
        return None
    try:
        return WebhookDeliveryStatus(raw.strip())
    except ValueError:
        allowed = ", ".join(status.value for status in WebhookDeliveryStatus)
        raise ApiError(422, "invalid_input", f"'status' must be one of {allowed}.", "status") from None


@bp.get("/webhooks/<endpoint_id>/deliveries")
def list_webhook_deliveries(endpoint_id: str) -> ResponseReturnValue:
    """The endpoint's delivery log, newest first, a page at a time (`next_cursor` until null)."""
    endpoint = _own_endpoint(_admin(), endpoint_id)
    limit = limit_arg()
    status = _delivery_status_arg()
    cursor = request.args.get("cursor")
    after = decode_cursor(cursor) if cursor else None
    deliveries, more = delivery_page(db.session, endpoint, limit=limit, status=status, after=after)
    return _json_response(
        {
            "items": [delivery_json(delivery) for delivery in deliveries],
            "next_cursor": encode_cursor(deliveries[-1].created_at, deliveries[-1].id) if more else None,
        }
    )


@bp.post("/webhooks/<endpoint_id>/deliveries/<delivery_id>/retry")
def retry_webhook_delivery(endpoint_id: str, delivery_id: str) -> ResponseReturnValue:
    """Sends the delivery again as soon as a worker is free (202); the endpoint must be enabled."""
    endpoint = _own_endpoint(_admin(), endpoint_id)
    delivery = _own_delivery(endpoint, delivery_id)
    if not endpoint.is_active:
        raise ApiError(409, "endpoint_disabled", "Enable the endpoint before sending to it again.")
    retry_now(db.session, current_services(), delivery)
    db.session.commit()
    return _json_response(delivery_json(delivery), 202)
