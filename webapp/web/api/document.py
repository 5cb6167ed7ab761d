"""The OpenAPI 3.1 document of the JSON API v1 (contract), generated from the routes and their
payload declarations (`webapp.web.api.schemas`) by flask-smorest and apispec.

Nothing here describes a payload: it sets what the document says of the API as a whole (title,
server, bearer tokens) and of the events we POST to an integrator's endpoints (OpenAPI
`webhooks`), builds the document once per process, and serves it at `/api/v1/openapi.json`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, cast

import flask_smorest
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from flask_smorest.spec.plugins import FlaskPlugin
from marshmallow import Schema

from webapp.config import Settings
from webapp.hooks.delivery import EVENT_ID_HEADER, RETRY_DELAYS, SIGNATURE_HEADER
from webapp.hooks.events import IDENTIFICATION_FAILED, PROOF_READY, STATUS_CHANGED
from webapp.web.api.common import bp
from webapp.web.api.fields import component_name, const2properties, file2properties
from webapp.web.api.schemas import WebhookEventSchema, WebhookHeadersSchema

EXTENSION, DOCUMENT = "wassit.api", "wassit.api.document"
INFO = {
    "summary": "Electronic registered letters by SMS and email.",
    "description": (
        "Deposit registered letters, follow them, and download their signed proofs. "
        "Authenticate with `Authorization: Bearer <token>` (tokens are made in the portal). "
        'Every error is JSON: `{"error": {"code", "message", "field"?}}`.'
    ),
}
BEARER = {"type": "http", "scheme": "bearer", "description": "An API token from the portal."}

STATUS_CHANGED_EXAMPLE = {
    "id": "6f1c2d0e-4b6a-4c1e-9a7d-2f0b5e8c3a11",
    "type": STATUS_CHANGED,
    "created_at": "2026-11-23T10:00:00+00:00",
    "data": {
        "letter_id": "0b6e…",
        "reference": "K7PM-4XQ2",
        "sender_reference": "DOSSIER-2291",
        "status": "notified",
        "previous_status": "deposited",
    },
}
PROOF_READY_EXAMPLE = {
    "id": "9a2e7c41-0d3b-4f7e-8c52-6b1d9e0a4f37",
    "type": PROOF_READY,
    "created_at": "2026-11-30T16:20:00+00:00",
    "data": {
        "letter_id": "0b6e…",
        "reference": "K7PM-4XQ2",
        "sender_reference": "DOSSIER-2291",
        "status": "accepted",
        "proof": {"kind": "reception", "url": "https://wassit.ma/api/v1/letters/0b6e…/proofs/reception"},
    },
}

IDENTIFICATION_FAILED_EXAMPLE = {
    "id": "3c5d8e2a-7f41-4b09-a6d2-1e9f0b7c5a20",
    "type": IDENTIFICATION_FAILED,
    "created_at": "2026-11-24T09:12:00+00:00",
    "data": {
        "letter_id": "0b6e…",
        "reference": "K7PM-4XQ2",
        "sender_reference": "DOSSIER-2291",
        "status": "notified",
        "method": "eid",
        "reason": "identity_mismatch",
        "fields": ["cin"],
        "locked": False,
    },
}


class PathParametersInOperations(FlaskPlugin):  # type: ignore[misc]
    """flask-smorest's plugin, writing a route's path parameters into each of its operations
    (where readers, our docs page and code generators look), not beside them."""

    def path_helper(self, rule: Any, operations: dict[str, Any], parameters: list[Any], **kwargs: Any) -> str:
        path: str = super().path_helper(rule=rule, operations=operations, parameters=parameters, **kwargs)
        in_path = [parameter for parameter in parameters if parameter.get("in") == "path"]
        parameters[:] = [parameter for parameter in parameters if parameter not in in_path]
        for operation in operations.values():
            operation["parameters"] = [*copy.deepcopy(in_path), *operation.get("parameters", [])]
        return path


class Api(flask_smorest.Api):  # type: ignore[misc]
    """flask-smorest's `Api`, leaving error answers to `webapp.web.errors` and the blueprint (it would
    answer every error of the application, pages included, in its own JSON)."""

    DEFAULT_ERROR_RESPONSE_NAME = None  # our blueprint documents every error answer itself

    def _register_error_handlers(self) -> None:
        pass


def _retry_schedule() -> str:
    return ", ".join(f"{delay // 3600} h" if delay >= 3600 else f"{delay // 60} min" for delay in RETRY_DELAYS)


def _webhook(
    operation_id: str, summary: str, example: dict[str, Any], headers: list[Any], body: dict[str, str]
) -> dict[str, Any]:
    """One event we POST to each active endpoint of the organisation (OpenAPI 3.1 `webhooks`)."""
    return {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "description": (
                "POSTed to each active endpoint of your organisation, at least once: deduplicate on "
                f"`{EVENT_ID_HEADER}`. Check `{SIGNATURE_HEADER}` against the raw body before parsing it: "
                '`t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`; the timestamp is inside the '
                "signed content, so refuse one older than a few minutes (replays). Answer 2xx within "
                f"{Settings.webhook_timeout} s; redirects are not followed. Any other answer is retried after "
                f"{_retry_schedule()}, then the delivery fails (see its log, and retry it, with "
                "`GET /api/v1/webhooks/{endpoint_id}/deliveries`)."
            ),
            "security": [],
            "parameters": headers,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": body, "example": example}},
            },
            "responses": {"2XX": {"description": "Received. Any other answer, or none in time, is retried."}},
        }
    }


def init_api(app: Flask) -> Api:
    """The API's blueprint registered on `app` with its document (one per application)."""
    settings: Settings = app.extensions["wassit"].settings
    # Components are named; a resolver answering None writes the schema inline (apispec's contract,
    # which its annotation does not say).
    marshmallow = MarshmallowPlugin(schema_name_resolver=cast(Callable[[type[Schema]], str], component_name))
    api = Api(
        app,
        spec_kwargs={
            "title": "Wassit API",
            "version": "1.0.0",
            "openapi_version": "3.1.0",
            "flask_plugin": PathParametersInOperations(),
            "marshmallow_plugin": marshmallow,
            "info": INFO,
            "servers": [{"url": settings.public_url.rstrip("/")}],
            "security": [{"bearerToken": []}],
        },
    )
    converter = marshmallow.converter
    if converter is None:  # set when the Api initialised the spec
        raise RuntimeError("apispec's marshmallow plugin has no converter")
    converter.add_attribute_function(file2properties)  # type: ignore[no-untyped-call]
    converter.add_attribute_function(const2properties)  # type: ignore[no-untyped-call]
    api.spec.components.security_scheme("bearerToken", BEARER)
    api.spec.components.schema("WebhookEvent", {"examples": [STATUS_CHANGED_EXAMPLE]}, schema=WebhookEventSchema)
    headers = converter.schema2parameters(WebhookHeadersSchema, location="header")
    body = api.spec.components.get_ref("schema", "WebhookEvent")
    api.spec.options["webhooks"] = {
        STATUS_CHANGED: _webhook(
            "letterStatusChanged", "A letter changed status", STATUS_CHANGED_EXAMPLE, headers, body
        ),
        PROOF_READY: _webhook("letterProofReady", "A proof of a letter is ready", PROOF_READY_EXAMPLE, headers, body),
        IDENTIFICATION_FAILED: _webhook(
            "letterIdentificationFailed",
            "The recipient proved an identity that is not the one you expect (the letter stays closed)",
            IDENTIFICATION_FAILED_EXAMPLE,
            headers,
            body,
        ),
    }
    api.register_blueprint(bp)
    app.extensions[EXTENSION] = api
    return api


def openapi_document() -> dict[str, Any]:
    """The document, generated on first use and kept for the life of the process."""
    document: dict[str, Any] | None = current_app.extensions.get(DOCUMENT)
    if document is None:
        document = current_app.extensions[EXTENSION].spec.to_dict()
        current_app.extensions[DOCUMENT] = document
    return document


@bp.get("/openapi.json")
@bp.doc(operationId="getOpenApi", security=[])
@bp.response(200, {"type": "object"}, description="OpenAPI 3.1.", content_type="application/json")
def openapi_json() -> ResponseReturnValue:
    """This document"""
    response = jsonify(openapi_document())
    response.headers["Cache-Control"] = "public, max-age=3600"
    response.add_etag()
    return response.make_conditional(request)
