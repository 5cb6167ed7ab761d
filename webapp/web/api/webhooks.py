"""JSON API v1: webhook endpoints and their delivery log, as the portal's admins manage them.

The same rules as the portal (webapp/web/portal/webhooks.py): only an admin of the
organisation manages its endpoints (403 `admin_required` for a sender's token, before anything
else is read), URLs are checked by `webapp.hooks.endpoints`, the signing secret is shown once
(on creation and rotation), and another organisation's endpoints are 404.  Payloads are
declared in `webapp.web.api.schemas`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Response, url_for

from webapp.extensions import db
from webapp.hooks.delivery import retry_now
from webapp.hooks.endpoints import (
    CreatedEndpoint,
    InvalidWebhookDescription,
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
from webapp.models import User, WebhookEndpoint
from webapp.services import current_services
from webapp.web.api.common import ApiError, bp, current_api_user, path_id
from webapp.web.api.fields import position_cursor
from webapp.web.api.schemas import (
    DeliveriesQuery,
    DeliveriesQuerySchema,
    EndpointChange,
    NewEndpoint,
    WebhookCreateSchema,
    WebhookDeliveryPageSchema,
    WebhookDeliverySchema,
    WebhookEndpointListSchema,
    WebhookEndpointSchema,
    WebhookEndpointWithSecretSchema,
    WebhookUpdateSchema,
    page,
)

ENDPOINT_ID = path_id("endpoint_id", "The endpoint's id, as returned on creation.")
DELIVERY_ID = {"in": "path", "name": "delivery_id", "schema": {"type": "string", "maxLength": 36}}
JSON_BODY = "Send a JSON object (Content-Type: application/json)."
BAD_BODY = "Bad input (`invalid_json`, `missing_field`, `invalid_url`, `invalid_input`), with `field`."


def _admin() -> User:
    user = current_api_user()
    if not user.is_admin:
        raise ApiError(403, "admin_required", "Only an admin of the organisation manages its webhooks.")
    return user


def for_admins(view: Callable[..., Any]) -> Callable[..., Any]:
    """Only the organisation's admins, checked before the request is read (403 `admin_required`)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _admin()
        return view(*args, **kwargs)

    forbidden = bp.fails(403, "Your token's user is not an admin of the organisation (`admin_required`).")
    return forbidden(bp.fails(404, "No such endpoint (or delivery) in your organisation.")(wrapper))


def with_endpoint(view: Callable[..., Any]) -> Callable[..., Any]:
    """For admins, the organisation's endpoint named in the path (404 otherwise), before the request is read."""

    @functools.wraps(view)
    def wrapper(*args: Any, endpoint_id: str, **kwargs: Any) -> Any:
        endpoint = organisation_endpoint(db.session, current_api_user().organisation_id, endpoint_id)
        if endpoint is None:
            raise ApiError(404, "not_found", "No such webhook endpoint.")
        return view(*args, endpoint=endpoint, **kwargs)

    return for_admins(wrapper)


@bp.get("/webhooks")
@bp.doc(operationId="listWebhooks")
@for_admins
@bp.response(200, WebhookEndpointListSchema, description="The endpoints, oldest first.")
def list_webhooks() -> Any:
    """List your organisation's webhook endpoints

    Admins only, as in the portal.
    """
    return {"items": organisation_endpoints(db.session, current_api_user().organisation_id)}


@bp.post("/webhooks")
@bp.doc(operationId="createWebhook")
@for_admins
@bp.accepts("application/json", JSON_BODY)
@bp.arguments(
    WebhookCreateSchema,
    location="json_object",
    examples={"erp": {"value": {"url": "https://erp.example.ma/hooks/wassit", "description": "ERP production"}}},
)
@bp.response(
    201,
    WebhookEndpointWithSecretSchema,
    description="The endpoint, with its signing secret (shown this once).",
    headers={"Location": {"schema": {"type": "string"}, "description": "The endpoint's URL."}},
)
@bp.fails(422, BAD_BODY)
def create_webhook(new: NewEndpoint) -> tuple[CreatedEndpoint, int, dict[str, str]]:
    """Register a webhook endpoint

    Every status change of your letters and every proof once ready is then POSTed to the URL (see
    `webhooks` in this document). The answer carries the signing secret: it is shown once.
    """
    user = current_api_user()
    try:
        created = create_endpoint(
            db.session,
            current_services(),
            organisation_id=user.organisation_id,
            url=new.url,
            description=new.description or "",
            user_id=user.id,
        )
    except InvalidWebhookUrl as exc:
        raise ApiError(422, "invalid_url", str(exc), "url") from None
    except InvalidWebhookDescription as exc:
        raise ApiError(422, "control_characters", str(exc), "description") from None
    db.session.commit()
    return created, 201, {"Location": url_for("api.get_webhook", endpoint_id=created.endpoint.id)}


@bp.get("/webhooks/<endpoint_id>", parameters=[ENDPOINT_ID])
@bp.doc(operationId="getWebhook")
@with_endpoint
@bp.response(200, WebhookEndpointSchema, description="The endpoint.")
def get_webhook(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A webhook endpoint (without its secret)"""
    return endpoint


@bp.patch("/webhooks/<endpoint_id>", parameters=[ENDPOINT_ID])
@bp.doc(operationId="updateWebhook")
@with_endpoint
@bp.accepts("application/json", JSON_BODY)
@bp.arguments(WebhookUpdateSchema, location="json_object", examples={"disable": {"value": {"active": False}}})
@bp.response(200, WebhookEndpointSchema, description="The endpoint.")
@bp.fails(422, BAD_BODY)
def update_webhook(change: EndpointChange, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Enable or disable an endpoint, or change its description

    A disabled endpoint receives no events; its pending deliveries fail.
    """
    try:
        update_endpoint(current_services(), endpoint, active=change.active, description=change.description)
    except InvalidWebhookDescription as exc:
        raise ApiError(422, "control_characters", str(exc), "description") from None
    db.session.commit()
    return endpoint


@bp.delete("/webhooks/<endpoint_id>", parameters=[ENDPOINT_ID])
@bp.doc(operationId="deleteWebhook")
@with_endpoint
@bp.response(204, description="Deleted.")
def delete_webhook(endpoint: WebhookEndpoint) -> Response:
    """Delete an endpoint and its delivery log"""
    delete_endpoint(db.session, endpoint)
    db.session.commit()
    return Response(status=204)


@bp.post("/webhooks/<endpoint_id>/rotate-secret", parameters=[ENDPOINT_ID])
@bp.doc(operationId="rotateWebhookSecret")
@with_endpoint
@bp.response(200, WebhookEndpointWithSecretSchema, description="The endpoint, with its new secret.")
def rotate_webhook_secret(endpoint: WebhookEndpoint) -> CreatedEndpoint:
    """Renew the signing secret

    The old secret stops working at once; the new one is in this answer only.
    """
    secret = rotate_secret(current_services(), endpoint)
    db.session.commit()
    return CreatedEndpoint(endpoint, secret)


@bp.get("/webhooks/<endpoint_id>/deliveries", parameters=[ENDPOINT_ID])
@bp.doc(operationId="listWebhookDeliveries")
@with_endpoint
@bp.arguments(DeliveriesQuerySchema, location="query")
@bp.response(200, WebhookDeliveryPageSchema, description="A page of deliveries.")
@bp.fails(422, "A bad filter or cursor.")
def list_webhook_deliveries(query: DeliveriesQuery, endpoint: WebhookEndpoint) -> Any:
    """The endpoint's delivery log

    Newest first, with every attempt and what your endpoint answered. Follow `next_cursor`.
    """
    deliveries, more = delivery_page(db.session, endpoint, limit=query.limit, status=query.status, after=query.after)
    last = deliveries[-1] if more else None
    return page(deliveries, position_cursor(last.created_at, last.id) if last else None)


@bp.post("/webhooks/<endpoint_id>/deliveries/<delivery_id>/retry", parameters=[ENDPOINT_ID, DELIVERY_ID])
@bp.doc(operationId="retryWebhookDelivery")
@with_endpoint
@bp.response(202, WebhookDeliverySchema, description="Queued.")
@bp.fails(409, "The endpoint is disabled (`endpoint_disabled`): enable it first.")
def retry_webhook_delivery(delivery_id: str, endpoint: WebhookEndpoint) -> Any:
    """Send a delivery again now

    The same body, freshly signed, as soon as a worker is free.
    """
    delivery = endpoint_delivery(db.session, endpoint, delivery_id)
    if delivery is None:
        raise ApiError(404, "not_found", "No such delivery for this endpoint.")
    if not endpoint.is_active:
        raise ApiError(409, "endpoint_disabled", "Enable the endpoint before sending to it again.")
    retry_now(db.session, current_services(), delivery)
    db.session.commit()
    return delivery
