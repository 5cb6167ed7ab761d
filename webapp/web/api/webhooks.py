"""JSON API v1: webhook endpoints and their delivery log, as the portal's admins manage them.

The same rules as the portal (webapp/web/portal/webhooks.py): only an admin of the
organisation manages its endpoints (403 `admin_required` for a sender's token),
URLs are checked by `webapp.outgoing_webhooks`, the signing secret is shown once
(on creation and rotation), and another organisation's endpoints are 404.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC
from typing import Any

from flask import Response, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import User, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint
from webapp.outgoing_webhooks import (
    InvalidWebhookUrl,
    create_endpoint,
    delete_endpoint,
    retry_now,
    rotate_secret,
    set_endpoint_active,
)
from webapp.services import current_services
from webapp.trust.evidence import isoformat_utc
from webapp.web.api.letters import ApiError, _decode_cursor, _iso, _limit_arg, bp, current_api_user

DESCRIPTION_MAX = 100


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
    endpoint = db.session.execute(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id, WebhookEndpoint.organisation_id == user.organisation_id
        )
    ).scalar_one_or_none()
    if endpoint is None:
        raise ApiError(404, "not_found", "No such webhook endpoint.")
    return endpoint


def _own_delivery(endpoint: WebhookEndpoint, delivery_id: str) -> WebhookDelivery:
    delivery = db.session.execute(
        select(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint.id)
        .options(selectinload(WebhookDelivery.attempt_log))
    ).scalar_one_or_none()
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
        "secret_rotated_at": _iso(endpoint.secret_rotated_at),
        "disabled_at": _iso(endpoint.disabled_at),
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
        "next_attempt_at": _iso(delivery.next_attempt_at),
        "last_attempt_at": _iso(delivery.last_attempt_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "delivered_at": _iso(delivery.delivered_at),
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
    user = _admin()
    endpoints = db.session.execute(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.organisation_id == user.organisation_id)
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    ).scalars()
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
    description = _description(body)
    if active is not None and active != endpoint.is_active:
        set_endpoint_active(current_services(), endpoint, active)
    if description is not None:
        endpoint.description = description
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


def _encode_delivery_cursor(delivery: WebhookDelivery) -> str:
    # The same form as the letters' cursor, so that `_decode_cursor` reads it.
    raw = json.dumps([delivery.created_at.astimezone(UTC).isoformat(), delivery.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


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
    limit = _limit_arg()
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    status = _delivery_status_arg()
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    cursor = request.args.get("cursor")
    if cursor:
        at, last_id = _decode_cursor(cursor)
        query = query.where(
            or_(WebhookDelivery.created_at < at, and_(WebhookDelivery.created_at == at, WebhookDelivery.id < last_id))
        )
    deliveries = list(
        db.session.execute(
            query.options(selectinload(WebhookDelivery.attempt_log))
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
            .limit(limit + 1)
        ).scalars()
    )
    more = len(deliveries) > limit
    deliveries = deliveries[:limit]
    return _json_response(
        {
            "items": [delivery_json(delivery) for delivery in deliveries],
            "next_cursor": _encode_delivery_cursor(deliveries[-1]) if more else None,
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
