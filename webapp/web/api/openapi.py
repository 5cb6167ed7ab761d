"""The OpenAPI 3.1 document of the JSON API v1 (contract), and the docs page's source.

Kept as Python data next to the views it describes; `tests/test_openapi.py` checks
it against the routes and fuzzes the API against it.
"""

from __future__ import annotations

import copy
from typing import Any

from webapp.config import Settings
from webapp.hooks.delivery import EVENT_ID_HEADER, RETRY_DELAYS, SIGNATURE_HEADER, USER_AGENT
from webapp.hooks.endpoints import MAX_URL_LENGTH
from webapp.letters.states import Event
from webapp.models import ProofKind

NULLABLE_TIME: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}
LETTER_STATUSES = ["deposited", "notified", "accepted", "refused", "neglected", "undeliverable"]
PROOF_KINDS = [kind.value for kind in ProofKind]
EVENT_TYPES = [event.value for event in Event]


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(description: str, schema: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }
    if headers:
        response["headers"] = headers
    return response


def _path_id(name: str, description: str) -> dict[str, Any]:
    """A path parameter holding one of our ids."""
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "maxLength": 36},
    }


LETTER_ID = _path_id("letter_id", "The letter's id, as returned on deposit.")

COMMON_ERRORS: dict[str, Any] = {
    "401": {
        **_error("No valid API token."),
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": 'Bearer realm="api"'}},
    },
    "404": _error("No such letter in your organisation (letters of other organisations are never shown)."),
    "429": _error("Too many requests; retry later."),
    "500": _error("Unexpected error on our side; it has been logged."),
    "default": _error("Any other error, in the same shape."),
}

CREATE_FIELDS: dict[str, Any] = {
    "document": {"type": "string", "contentMediaType": "application/pdf", "description": "The PDF to send."},
    "recipient_phone": {
        "type": "string",
        "maxLength": 40,
        "description": "The recipient's mobile number, local (0612345678) or international (+212612345678).",
        "examples": ["0612345678"],
    },
    "recipient_name": {"type": "string", "maxLength": 200, "examples": ["Youssef Alami"]},
    "recipient_email": {
        "type": "string",
        "maxLength": 254,
        "description": "Required for the email channel.",
        "examples": ["youssef@example.ma"],
    },
    "channel": {"type": "string", "enum": ["sms", "email"], "default": "sms"},
    "language": {
        "type": "string",
        "enum": ["fr", "ar", "en"],
        "default": "fr",
        "description": "Language of the notification.",
    },
    "sender_reference": {
        "type": "string",
        "maxLength": 100,
        "description": "Your own reference (a file or invoice number): stored, returned, searchable with `q`.",
        "examples": ["DOSSIER-2026-0042"],
    },
    "document_confidential": {
        "type": "string",
        "enum": ["true", "false"],
        "default": "false",
        "description": "`true` hides the document's name from our support agents (they never see its content).",
    },
}


# `limit` and `cursor` of a list answered by pages (`_page_of`).
PAGE_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
    },
    {
        "name": "cursor",
        "in": "query",
        "description": "`next_cursor` of the previous page.",
        "schema": {"type": "string"},
    },
]


def _page_of(item_schema: str) -> dict[str, Any]:
    """A page of a cursor-paginated list."""
    return {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{item_schema}"}},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "Pass as `cursor` for the next page; null on the last page.",
            },
        },
    }


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "description": "`code` for programs, `message` for people, `field` when one input is at fault.",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "description": "Stable, for programs.", "examples": ["invalid_phone"]},
                    "message": {"type": "string", "description": "For people, in English."},
                    "field": {"type": "string", "description": "The input at fault, when there is one."},
                },
            }
        },
    },
    "Recipient": {
        "type": "object",
        "required": ["name", "phone", "email"],
        "properties": {
            "name": {"type": "string"},
            "phone": {"type": "string", "description": "E.164.", "examples": ["+212612345678"]},
            "email": {"type": ["string", "null"]},
        },
    },
    "Document": {
        "type": "object",
        "required": ["name", "size", "sha256"],
        "properties": {
            "name": {"type": "string"},
            "size": {"type": "integer", "description": "Bytes."},
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "confidential": {"type": "boolean", "description": "Its name is hidden from our support agents."},
        },
    },
    "Event": {
        "type": "object",
        "required": ["type", "at", "evidence_id"],
        "properties": {
            "type": {
                "type": "string",
                "enum": EVENT_TYPES,
                "description": (
                    "Evidence event, after ETSI EN 319 522. `ConsignmentReminder`, `RecipientCodeSent`, "
                    "`RecipientIdentification`, `RecipientIdentificationFailure` and `RecipientUnlock` are "
                    "our extensions."
                ),
                "examples": ["SubmissionAcceptance", "ConsignmentNotification", "ConsignmentReminder"],
            },
            "event_uri": {
                "type": "string",
                "format": "uri",
                "description": "The ETSI EN 319 522-2 event identifier; absent for our extensions.",
                "examples": ["http://uri.etsi.org/19522/Event/SubmissionAcceptance"],
            },
            "at": {"type": "string", "format": "date-time"},
            "evidence_id": {"type": "string", "description": "Checkable at /verify/{evidence_id}."},
            "channel": {"type": ["string", "null"], "enum": ["sms", "email", None]},
            "reminder": {"type": "integer"},
            "reason": {
                "type": "string",
                "description": (
                    "Why a negative event happened; for a notification sent again, `resend` (by you) or "
                    "`support` (by our support team, at your or the recipient's request)."
                ),
            },
        },
    },
    "Notification": {
        "type": "object",
        "required": ["channel", "purpose", "status"],
        "properties": {
            "channel": {"type": "string", "enum": ["sms", "email"]},
            "purpose": {"type": "string", "enum": ["notification", "reminder"]},
            "reminder": {"type": ["integer", "null"]},
            "status": {
                "type": "string",
                "enum": ["pending", "submitting", "sent", "failed", "uncertain", "cancelled"],
            },
            "sent_at": NULLABLE_TIME,
            "delivery": {
                "type": ["object", "null"],
                "properties": {"status": {"type": "string"}, "at": NULLABLE_TIME},
            },
            "error": {"type": ["string", "null"]},
        },
    },
    "Proof": {
        "type": "object",
        "required": ["kind", "status", "url"],
        "properties": {
            "kind": {
                "type": "string",
                "enum": PROOF_KINDS,
                "description": (
                    "`deposit` at once; one outcome (`reception`, `refusal`, `negligence`, `non_delivery`); and "
                    "`handover` when the recipient first downloaded the document after the proof of reception "
                    "was issued (a download before it is listed in the proof of reception itself)."
                ),
            },
            "status": {"type": "string", "enum": ["pending", "ready"]},
            "url": {"type": "string", "format": "uri", "description": "The signed PDF (GET with your token)."},
            "issued_at": NULLABLE_TIME,
            "sha256": {"type": ["string", "null"]},
        },
    },
    "LetterSummary": {
        "type": "object",
        "required": ["id", "reference", "status", "channel", "language", "recipient", "document", "deposited_at"],
        "properties": {
            "id": {"type": "string"},
            "reference": {
                "type": "string",
                "description": "Our reference, shown to the recipient.",
                "examples": ["K7QX-M3PA"],
            },
            "sender_reference": {"type": ["string", "null"]},
            "status": {"type": "string", "enum": LETTER_STATUSES},
            "channel": {"type": "string", "enum": ["sms", "email"]},
            "language": {"type": "string", "enum": ["fr", "ar", "en"]},
            "recipient": {"$ref": "#/components/schemas/Recipient"},
            "document": {"$ref": "#/components/schemas/Document"},
            "deposited_at": {"type": "string", "format": "date-time"},
            "notified_at": NULLABLE_TIME,
            "deadline_at": {**NULLABLE_TIME, "description": "Without a decision by then, the letter is neglected."},
            "decided_at": NULLABLE_TIME,
            "url": {"type": "string", "format": "uri"},
        },
    },
    "Letter": {
        "allOf": [
            {"$ref": "#/components/schemas/LetterSummary"},
            {
                "type": "object",
                "required": ["events", "proofs"],
                "properties": {
                    "events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
                    "notifications": {"type": "array", "items": {"$ref": "#/components/schemas/Notification"}},
                    "proofs": {"type": "array", "items": {"$ref": "#/components/schemas/Proof"}},
                },
            },
        ]
    },
    "LetterPage": _page_of("LetterSummary"),
    "ProofList": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Proof"}}},
    },
    "ResendQueued": {
        "type": "object",
        "required": ["letter_id", "status", "channels", "requested_at"],
        "properties": {
            "letter_id": {"type": "string"},
            "status": {"type": "string", "enum": ["queued"]},
            "channels": {"type": "array", "items": {"type": "string", "enum": ["sms", "email"]}},
            "requested_at": {"type": "string", "format": "date-time"},
        },
    },
}

PATHS: dict[str, Any] = {
    "/api/v1/letters": {
        "post": {
            "operationId": "createLetter",
            "summary": "Deposit a letter",
            "description": (
                "Stores the PDF, issues the proof of deposit and queues the notification. "
                "With an `Idempotency-Key`, retrying the same request returns the letter the key created "
                "(201 again, `Idempotent-Replayed: true`) and never deposits a second one; the same key with "
                "a different request is refused (422 `idempotency_key_reused`). Keys are per organisation."
            ),
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": "1 to 255 printable ASCII characters, e.g. a UUID you generate per letter.",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7e]+$"},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["document", "recipient_phone", "recipient_name"],
                            "properties": CREATE_FIELDS,
                        },
                    }
                },
            },
            "responses": {
                "201": _json(
                    "The letter, deposited (or, for a retried idempotency key, the letter it created).",
                    "Letter",
                    {
                        "Location": {"schema": {"type": "string"}, "description": "The letter's URL."},
                        "Idempotent-Replayed": {
                            "schema": {"type": "string", "enum": ["true", "false"]},
                            "description": "Sent with an Idempotency-Key: true when no new letter was made.",
                        },
                    },
                ),
                "403": _error(
                    "Your organisation is not verified yet (`organisation_not_verified`), or your email address "
                    "is not confirmed (`email_not_confirmed`)."
                ),
                "413": _error("The document is too large (`document_too_large`)."),
                "415": _error("The body is not multipart/form-data."),
                "422": _error("Bad input (`missing_field`, `invalid_phone`, `invalid_document`, …); nothing stored."),
                **COMMON_ERRORS,
            },
        },
        "get": {
            "operationId": "listLetters",
            "summary": "List your organisation's letters",
            "description": "Newest first. Follow `next_cursor` until it is null.",
            "parameters": [
                *PAGE_PARAMETERS,
                {
                    "name": "status",
                    "in": "query",
                    "description": "One status, or several separated by commas.",
                    "schema": {"type": "string", "examples": ["notified", "accepted,refused"]},
                },
                {
                    "name": "deposited_after",
                    "in": "query",
                    "description": "ISO 8601; inclusive. Without a zone, UTC.",
                    "schema": {"type": "string", "format": "date-time"},
                },
                {
                    "name": "deposited_before",
                    "in": "query",
                    "description": "ISO 8601; exclusive. Without a zone, UTC.",
                    "schema": {"type": "string", "format": "date-time"},
                },
                {
                    "name": "q",
                    "in": "query",
                    "description": (
                        "Our reference, your `sender_reference` (exact), the recipient's mobile number "
                        "(any usual form), or part of the recipient's name."
                    ),
                    "schema": {"type": "string", "maxLength": 200},
                },
            ],
            "responses": {
                "200": _json("A page of letters.", "LetterPage"),
                "422": _error("A bad filter or cursor."),
                **COMMON_ERRORS,
            },
        },
    },
    "/api/v1/letters/{letter_id}": {
        "get": {
            "operationId": "getLetter",
            "summary": "A letter, its timeline and its proofs",
            "parameters": [LETTER_ID],
            "responses": {"200": _json("The letter.", "Letter"), **COMMON_ERRORS},
        }
    },
    "/api/v1/letters/{letter_id}/proofs": {
        "get": {
            "operationId": "listProofs",
            "summary": "The letter's proofs, ready or being produced",
            "parameters": [LETTER_ID],
            "responses": {"200": _json("The proofs.", "ProofList"), **COMMON_ERRORS},
        }
    },
    "/api/v1/letters/{letter_id}/proofs/{kind}": {
        "get": {
            "operationId": "getProof",
            "summary": "A proof, as a signed and timestamped PDF",
            "parameters": [
                LETTER_ID,
                {"name": "kind", "in": "path", "required": True, "schema": {"type": "string", "enum": PROOF_KINDS}},
            ],
            "responses": {
                "200": {
                    "description": "The signed PDF (PAdES); check it in any PDF reader or at the QR code's page.",
                    "content": {
                        "application/pdf": {"schema": {"type": "string", "contentMediaType": "application/pdf"}}
                    },
                },
                "409": {
                    **_error("The proof is being produced (`proof_pending`); retry after `Retry-After` seconds."),
                    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                },
                **COMMON_ERRORS,
            },
        }
    },
    "/api/v1/letters/{letter_id}/bundle": {
        "get": {
            "operationId": "getDisputeBundle",
            "summary": "The dispute bundle: every proof and record of the letter, checkable offline",
            "description": (
                "A ZIP with every proof PDF, every evidence record of the letter (JSON) with its RFC 9162 "
                "inclusion proof, the journal checkpoint with its RFC 3161 timestamp and CAdES seal, the journal "
                "key, the CA, seal and TSA certificates, a standard-library `verify_bundle.py`, and a `VERIFY.md` "
                "(French and English) giving the exact `openssl` and `pyhanko` commands to run."
            ),
            "parameters": [LETTER_ID],
            "responses": {
                "200": {
                    "description": "The ZIP.",
                    "content": {
                        "application/zip": {"schema": {"type": "string", "contentMediaType": "application/zip"}}
                    },
                },
                **COMMON_ERRORS,
            },
        }
    },
    "/api/v1/letters/{letter_id}/resend": {
        "post": {
            "operationId": "resendNotification",
            "summary": "Send the notification again",
            "description": (
                "For a notified letter not yet decided: a new SMS (and email on the email channel) with a fresh "
                "link, recorded as a `ConsignmentReminder` event with `reason: resend`. At most one every "
                "10 minutes and 3 a day per letter."
            ),
            "parameters": [LETTER_ID],
            "responses": {
                "202": _json("Queued; the event appears on the letter once handed over.", "ResendQueued"),
                "409": _error(
                    "Nothing to send again: the letter is not notified yet, decided, expired, locked, "
                    "or the recipient already identified."
                ),
                "429": {
                    **_error("Sent again too recently (`resend_rate_limited`)."),
                    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}},
                },
                **{k: v for k, v in COMMON_ERRORS.items() if k != "429"},
            },
        }
    },
    "/api/v1/openapi.json": {
        "get": {
            "operationId": "getOpenApi",
            "summary": "This document",
            "security": [],
            "responses": {
                "200": {"description": "OpenAPI 3.1.", "content": {"application/json": {"schema": {"type": "object"}}}}
            },
        }
    },
}


def openapi_document(public_url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document, with the service's own address as server."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Wassit API",
            "version": "1.0.0",
            "summary": "Electronic registered letters by SMS and email.",
            "description": (
                "Deposit registered letters, follow them, and download their signed proofs. "
                "Authenticate with `Authorization: Bearer <token>` (tokens are made in the portal). "
                'Every error is JSON: `{"error": {"code", "message", "field"?}}`.'
            ),
        },
        "servers": [{"url": public_url.rstrip("/")}],
        "security": [{"bearerToken": []}],
        "paths": copy.deepcopy(PATHS),
        "components": {
            "securitySchemes": {
                "bearerToken": {"type": "http", "scheme": "bearer", "description": "An API token from the portal."}
            },
            "schemas": copy.deepcopy(SCHEMAS),
        },
        "webhooks": copy.deepcopy(WEBHOOK_EVENTS),
    }


# --- Webhook endpoints and the events we POST to them (webapp/web/api/webhooks.py) -----------------


WEBHOOK_TIMEOUT_DEFAULT: int = Settings.webhook_timeout


def _webhook_retry_schedule() -> str:
    def human(seconds: int) -> str:
        return f"{seconds // 3600} h" if seconds >= 3600 else f"{seconds // 60} min"

    return ", ".join(human(delay) for delay in RETRY_DELAYS)


WEBHOOK_ERRORS: dict[str, Any] = {
    **COMMON_ERRORS,
    "403": _error("Your token's user is not an admin of the organisation (`admin_required`)."),
    "404": _error("No such endpoint (or delivery) in your organisation."),
}

ENDPOINT_ID = _path_id("endpoint_id", "The endpoint's id, as returned on creation.")

WEBHOOK_SCHEMAS: dict[str, Any] = {
    "WebhookEndpoint": {
        "type": "object",
        "required": ["id", "url", "description", "active", "secret_hint", "created_at"],
        "properties": {
            "id": {"type": "string"},
            "url": {"type": "string", "format": "uri", "examples": ["https://erp.example.ma/hooks/wassit"]},
            "description": {"type": "string"},
            "active": {"type": "boolean", "description": "A disabled endpoint receives no events."},
            "secret_hint": {
                "type": "string",
                "description": "The secret's first characters, to tell secrets apart.",
                "examples": ["whsec_Ab3x"],
            },
            "created_at": {"type": "string", "format": "date-time"},
            "secret_rotated_at": NULLABLE_TIME,
            "disabled_at": NULLABLE_TIME,
            "deliveries_url": {"type": "string", "format": "uri"},
        },
    },
    "WebhookEndpointWithSecret": {
        "allOf": [
            {"$ref": "#/components/schemas/WebhookEndpoint"},
            {
                "type": "object",
                "required": ["secret"],
                "properties": {
                    "secret": {
                        "type": "string",
                        "description": (
                            "The signing secret, shown in this answer only (we keep it encrypted and never show it "
                            "again): store it to check the `Wassit-Signature` header."
                        ),
                        "examples": ["whsec_Ab3xQm9…"],
                    }
                },
            },
        ]
    },
    "WebhookEndpointList": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/WebhookEndpoint"}}},
    },
    "WebhookAttempt": {
        "type": "object",
        "required": ["number", "attempted_at", "duration_ms"],
        "properties": {
            "number": {"type": "integer", "minimum": 1},
            "attempted_at": {"type": "string", "format": "date-time"},
            "duration_ms": {"type": "integer"},
            "status_code": {"type": ["integer", "null"], "description": "What your endpoint answered, if it did."},
            "error": {"type": ["string", "null"], "examples": ["HTTP 500", "timed out"]},
        },
    },
    "WebhookDelivery": {
        "type": "object",
        "description": "One event for one endpoint, with every attempt to POST it.",
        "required": ["id", "event_id", "event_type", "letter_id", "status", "attempts", "created_at", "payload"],
        "properties": {
            "id": {"type": "string"},
            "event_id": {"type": "string", "description": "The `Wassit-Event-Id` header, the same on every retry."},
            "event_type": {"type": "string", "enum": ["letter.status_changed", "letter.proof_ready"]},
            "letter_id": {"type": "string"},
            "status": {
                "type": "string",
                "enum": ["pending", "delivered", "failed"],
                "description": "`pending` until your endpoint answers 2xx (`delivered`) or every retry failed.",
            },
            "attempts": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "next_attempt_at": NULLABLE_TIME,
            "last_attempt_at": NULLABLE_TIME,
            "last_status_code": {"type": ["integer", "null"]},
            "last_error": {"type": ["string", "null"]},
            "delivered_at": NULLABLE_TIME,
            "payload": {"$ref": "#/components/schemas/WebhookEvent"},
            "attempt_log": {"type": "array", "items": {"$ref": "#/components/schemas/WebhookAttempt"}},
        },
    },
    "WebhookDeliveryPage": _page_of("WebhookDelivery"),
    "WebhookEvent": {
        "type": "object",
        "description": "The JSON body we POST (fixed when the event happens: every retry sends the same bytes).",
        "required": ["id", "type", "created_at", "data"],
        "properties": {
            "id": {"type": "string", "description": "The event's id, also in `Wassit-Event-Id`: deduplicate on it."},
            "type": {"type": "string", "enum": ["letter.status_changed", "letter.proof_ready"]},
            "created_at": {"type": "string", "format": "date-time"},
            "data": {
                "type": "object",
                "required": ["letter_id", "reference", "status"],
                "properties": {
                    "letter_id": {"type": "string"},
                    "reference": {"type": "string", "examples": ["K7PM-4XQ2"]},
                    "sender_reference": {"type": ["string", "null"]},
                    "status": {"type": "string", "enum": LETTER_STATUSES},
                    "previous_status": {
                        "type": ["string", "null"],
                        "enum": [*LETTER_STATUSES, None],
                        "description": "`letter.status_changed` only; null for the deposit.",
                    },
                    "proof": {
                        "type": "object",
                        "description": "`letter.proof_ready` only: fetch the PDF with your token.",
                        "required": ["kind", "url"],
                        "properties": {
                            "kind": {"type": "string", "enum": PROOF_KINDS},
                            "url": {"type": "string", "format": "uri"},
                        },
                    },
                },
            },
        },
        "examples": [
            {
                "id": "6f1c2d0e-4b6a-4c1e-9a7d-2f0b5e8c3a11",
                "type": "letter.status_changed",
                "created_at": "2026-11-23T10:00:00+00:00",
                "data": {
                    "letter_id": "0b6e…",
                    "reference": "K7PM-4XQ2",
                    "sender_reference": "DOSSIER-2291",
                    "status": "notified",
                    "previous_status": "deposited",
                },
            }
        ],
    },
}

_WEBHOOK_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["url"],
                "properties": {
                    "url": {
                        "type": "string",
                        "maxLength": MAX_URL_LENGTH,
                        "description": "https:// to a public host, without user name, password or fragment.",
                        "examples": ["https://erp.example.ma/hooks/wassit"],
                    },
                    "description": {"type": "string", "maxLength": 100, "examples": ["ERP production"]},
                },
            },
            "examples": {
                "erp": {"value": {"url": "https://erp.example.ma/hooks/wassit", "description": "ERP production"}}
            },
        }
    },
}

_JSON_BODY_ERRORS: dict[str, Any] = {
    "415": _error("The body is not JSON (`unsupported_media_type`)."),
    "422": _error("Bad input (`invalid_json`, `missing_field`, `invalid_url`, `invalid_input`), with `field`."),
}

WEBHOOK_PATHS: dict[str, Any] = {
    "/api/v1/webhooks": {
        "get": {
            "operationId": "listWebhooks",
            "summary": "List your organisation's webhook endpoints",
            "description": "Admins only, as in the portal.",
            "responses": {"200": _json("The endpoints, oldest first.", "WebhookEndpointList"), **WEBHOOK_ERRORS},
        },
        "post": {
            "operationId": "createWebhook",
            "summary": "Register a webhook endpoint",
            "description": (
                "Every status change of your letters and every proof once ready is then POSTed to the URL "
                "(see `webhooks` in this document). The answer carries the signing secret: it is shown once."
            ),
            "requestBody": _WEBHOOK_BODY,
            "responses": {
                "201": _json(
                    "The endpoint, with its signing secret (shown this once).",
                    "WebhookEndpointWithSecret",
                    {"Location": {"schema": {"type": "string"}, "description": "The endpoint's URL."}},
                ),
                **_JSON_BODY_ERRORS,
                **WEBHOOK_ERRORS,
            },
        },
    },
    "/api/v1/webhooks/{endpoint_id}": {
        "get": {
            "operationId": "getWebhook",
            "summary": "A webhook endpoint (without its secret)",
            "parameters": [ENDPOINT_ID],
            "responses": {"200": _json("The endpoint.", "WebhookEndpoint"), **WEBHOOK_ERRORS},
        },
        "patch": {
            "operationId": "updateWebhook",
            "summary": "Enable or disable an endpoint, or change its description",
            "description": "A disabled endpoint receives no events; its pending deliveries fail.",
            "parameters": [ENDPOINT_ID],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "active": {"type": "boolean"},
                                "description": {"type": "string", "maxLength": 100},
                            },
                        },
                        "examples": {"disable": {"value": {"active": False}}},
                    }
                },
            },
            "responses": {"200": _json("The endpoint.", "WebhookEndpoint"), **_JSON_BODY_ERRORS, **WEBHOOK_ERRORS},
        },
        "delete": {
            "operationId": "deleteWebhook",
            "summary": "Delete an endpoint and its delivery log",
            "parameters": [ENDPOINT_ID],
            "responses": {"204": {"description": "Deleted."}, **WEBHOOK_ERRORS},
        },
    },
    "/api/v1/webhooks/{endpoint_id}/rotate-secret": {
        "post": {
            "operationId": "rotateWebhookSecret",
            "summary": "Renew the signing secret",
            "description": "The old secret stops working at once; the new one is in this answer only.",
            "parameters": [ENDPOINT_ID],
            "responses": {
                "200": _json("The endpoint, with its new secret.", "WebhookEndpointWithSecret"),
                **WEBHOOK_ERRORS,
            },
        }
    },
    "/api/v1/webhooks/{endpoint_id}/deliveries": {
        "get": {
            "operationId": "listWebhookDeliveries",
            "summary": "The endpoint's delivery log",
            "description": "Newest first, with every attempt and what your endpoint answered. Follow `next_cursor`.",
            "parameters": [
                ENDPOINT_ID,
                *PAGE_PARAMETERS,
                {
                    "name": "status",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["pending", "delivered", "failed"]},
                },
            ],
            "responses": {
                "200": _json("A page of deliveries.", "WebhookDeliveryPage"),
                "422": _error("A bad filter or cursor."),
                **WEBHOOK_ERRORS,
            },
        }
    },
    "/api/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}/retry": {
        "post": {
            "operationId": "retryWebhookDelivery",
            "summary": "Send a delivery again now",
            "description": "The same body, freshly signed, as soon as a worker is free.",
            "parameters": [
                ENDPOINT_ID,
                {"name": "delivery_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 36}},
            ],
            "responses": {
                "202": _json("Queued.", "WebhookDelivery"),
                "409": _error("The endpoint is disabled (`endpoint_disabled`): enable it first."),
                **WEBHOOK_ERRORS,
            },
        }
    },
}


def _webhook_event(operation_id: str, summary: str, example: dict[str, Any]) -> dict[str, Any]:
    return {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "description": (
                "POSTed to each active endpoint of your organisation, at least once: deduplicate on "
                f"`{EVENT_ID_HEADER}`. Check `{SIGNATURE_HEADER}` against the raw body before parsing it: "
                '`t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`; the timestamp is inside the '
                "signed content, so refuse one older than a few minutes (replays). Answer 2xx within "
                f"{WEBHOOK_TIMEOUT_DEFAULT} s; redirects are not followed. Any other answer is retried after "
                f"{_webhook_retry_schedule()}, then the delivery fails (see its log, and retry it, with "
                "`GET /api/v1/webhooks/{endpoint_id}/deliveries`)."
            ),
            "security": [],
            "parameters": [
                {
                    "name": SIGNATURE_HEADER,
                    "in": "header",
                    "required": True,
                    "description": "HMAC-SHA256 of `<t>.<raw body>` with the endpoint's secret, and `t`.",
                    "schema": {"type": "string", "pattern": "^t=[0-9]+,v1=[0-9a-f]{64}$"},
                    "example": "t=1795420800,v1=5f2c…",
                },
                {
                    "name": EVENT_ID_HEADER,
                    "in": "header",
                    "required": True,
                    "description": "The event's id (the body's `id`), the same on every retry.",
                    "schema": {"type": "string"},
                },
                {
                    "name": "User-Agent",
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string", "const": USER_AGENT},
                },
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/WebhookEvent"},
                        "example": example,
                    }
                },
            },
            "responses": {
                "2XX": {"description": "Received. Any other answer, or none in time, is retried."},
            },
        }
    }


WEBHOOK_EVENTS: dict[str, Any] = {
    "letter.status_changed": _webhook_event(
        "letterStatusChanged",
        "A letter changed status",
        WEBHOOK_SCHEMAS["WebhookEvent"]["examples"][0],
    ),
    "letter.proof_ready": _webhook_event(
        "letterProofReady",
        "A proof of a letter is ready",
        {
            "id": "9a2e7c41-0d3b-4f7e-8c52-6b1d9e0a4f37",
            "type": "letter.proof_ready",
            "created_at": "2026-11-30T16:20:00+00:00",
            "data": {
                "letter_id": "0b6e…",
                "reference": "K7PM-4XQ2",
                "sender_reference": "DOSSIER-2291",
                "status": "accepted",
                "proof": {"kind": "reception", "url": "https://wassit.ma/api/v1/letters/0b6e…/proofs/reception"},
            },
        },
    ),
}

PATHS.update(WEBHOOK_PATHS)
SCHEMAS.update(WEBHOOK_SCHEMAS)


# --- Bulk sending (webapp/web/api/batches.py) ---

BATCH_ID = _path_id("batch_id", "The batch's id, as returned on upload.")

BATCH_SCHEMAS: dict[str, Any] = {
    "Batch": {
        "type": "object",
        "required": ["id", "status", "total_rows", "deposited_rows", "progress", "created_at", "url", "letters_url"],
        "properties": {
            "id": {"type": "string"},
            "status": {
                "type": "string",
                "enum": ["ready", "depositing", "done", "failed"],
                "description": "`ready` (queued), `depositing`, `done` (every row is a letter), or `failed` "
                "(stopped, e.g. the organisation lost its verification; `error` says why).",
            },
            "csv_name": {"type": "string"},
            "language": {"type": "string", "enum": ["fr", "ar", "en"]},
            "document_confidential": {
                "type": "boolean",
                "description": "Its letters' document names are hidden from our support agents.",
            },
            "total_rows": {"type": "integer", "minimum": 0},
            "deposited_rows": {"type": "integer", "minimum": 0},
            "progress": {"type": "number", "minimum": 0, "maximum": 1},
            "error": {"type": ["string", "null"], "examples": ["organisation_not_verified"]},
            "created_at": {"type": "string", "format": "date-time"},
            "started_at": NULLABLE_TIME,
            "finished_at": NULLABLE_TIME,
            "url": {"type": "string", "format": "uri"},
            "letters_url": {"type": "string", "format": "uri"},
        },
    },
    "BatchLetterPage": {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "allOf": [
                        {"$ref": "#/components/schemas/LetterSummary"},
                        {
                            "type": "object",
                            "required": ["row"],
                            "properties": {"row": {"type": "integer", "description": "The CSV line."}},
                        },
                    ]
                },
            },
            "next_cursor": {"type": ["string", "null"], "description": "Pass as `cursor`; null on the last page."},
        },
    },
}

BATCH_PATHS: dict[str, Any] = {
    "/api/v1/batches": {
        "post": {
            "operationId": "createBatch",
            "summary": "Send letters in bulk",
            "description": (
                "A CSV file (UTF-8, `,` or `;` separated) with one row per letter and the columns `name`, `mobile`, "
                "and optionally `email` (the letter then goes by email and SMS), `reference`, `file` and `language` "
                "(French names work too: `nom`, `téléphone`, `référence`, `fichier`, `langue`); and either `zip`, a "
                "ZIP of the PDFs named in the `file` column, or `document`, one PDF for every row. At most 10,000 "
                "rows. Every row is checked first: one bad row and nothing is stored (422, every error listed in "
                "`rows`). Otherwise the batch is stored and deposited by a job: follow it with `GET "
                "/api/v1/batches/{batch_id}`. Two rows with the same mobile number and the same file are an error."
            ),
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["csv"],
                            "properties": {
                                "csv": {"type": "string", "contentMediaType": "text/csv"},
                                "zip": {"type": "string", "contentMediaType": "application/zip"},
                                "document": {"type": "string", "contentMediaType": "application/pdf"},
                                "language": {
                                    "type": "string",
                                    "enum": ["fr", "ar", "en"],
                                    "default": "fr",
                                    "description": "For the rows without a language.",
                                },
                                "document_confidential": CREATE_FIELDS["document_confidential"],
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": _json(
                    "The batch, stored; its letters are being deposited.",
                    "Batch",
                    {"Location": {"schema": {"type": "string"}, "description": "The batch's URL."}},
                ),
                "403": _error("Your organisation is not verified yet (`organisation_not_verified`)."),
                "413": _error("The upload is too large."),
                "415": _error("The body is not multipart/form-data."),
                "422": _error(
                    "The file has errors (`invalid_batch`); nothing stored. `rows` lists each one: "
                    "`{row, field, code, message}` (`row` 1 is the header, null for the whole file)."
                ),
                **COMMON_ERRORS,
            },
        }
    },
    "/api/v1/batches/{batch_id}": {
        "get": {
            "operationId": "getBatch",
            "summary": "A batch and its progress",
            "parameters": [BATCH_ID],
            "responses": {"200": _json("The batch.", "Batch"), **COMMON_ERRORS},
        }
    },
    "/api/v1/batches/{batch_id}/letters": {
        "get": {
            "operationId": "listBatchLetters",
            "summary": "The letters of a batch, in the CSV's order",
            "parameters": [
                BATCH_ID,
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                },
                {
                    "name": "cursor",
                    "in": "query",
                    "description": "`next_cursor` of the previous page.",
                    "schema": {"type": "string", "pattern": "^[0-9]{1,6}$"},
                },
            ],
            "responses": {
                "200": _json("A page of the batch's letters.", "BatchLetterPage"),
                "422": _error("A bad `limit` or `cursor`."),
                **COMMON_ERRORS,
            },
        }
    },
}

# A refused batch's error also lists every bad row.
SCHEMAS["Error"]["properties"]["rows"] = {
    "type": "array",
    "description": "Bulk uploads only: every error of the file.",
    "items": {
        "type": "object",
        "required": ["row", "field", "code", "message"],
        "properties": {
            "row": {"type": ["integer", "null"]},
            "field": {"type": ["string", "null"]},
            "code": {"type": "string"},
            "message": {"type": "string"},
        },
    },
}
PATHS.update(BATCH_PATHS)
SCHEMAS.update(BATCH_SCHEMAS)
