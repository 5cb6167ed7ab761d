"""The OpenAPI 3.1 document of the JSON API v1 (contract), and the docs page's source.

Kept as Python data next to the views it describes; `tests/test_openapi.py` checks
it against the routes and fuzzes the API against it.
"""

from __future__ import annotations

import copy
from typing import Any

NULLABLE_TIME: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}
LETTER_STATUSES = ["deposited", "notified", "accepted", "refused", "neglected", "undeliverable"]
PROOF_KINDS = ["deposit", "reception", "refusal", "negligence", "non_delivery"]


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


LETTER_ID: dict[str, Any] = {
    "name": "letter_id",
    "in": "path",
    "required": True,
    "description": "The letter's id, as returned on deposit.",
    "schema": {"type": "string", "maxLength": 36},
}

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
        },
    },
    "Event": {
        "type": "object",
        "required": ["type", "at", "evidence_id"],
        "properties": {
            "type": {
                "type": "string",
                "description": "Evidence event, after ETSI EN 319 522.",
                "examples": ["SubmissionAcceptance", "ConsignmentNotification", "ConsignmentReminder"],
            },
            "at": {"type": "string", "format": "date-time"},
            "evidence_id": {"type": "string", "description": "Checkable at /verify/{evidence_id}."},
            "channel": {"type": ["string", "null"], "enum": ["sms", "email", None]},
            "reminder": {"type": "integer"},
            "reason": {"type": "string", "description": "Why a negative event happened, or `resend`."},
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
            "kind": {"type": "string", "enum": PROOF_KINDS},
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
    "LetterPage": {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/LetterSummary"}},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "Pass as `cursor` for the next page; null on the last page.",
            },
        },
    },
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
                "403": _error("Your organisation is not verified yet (`organisation_not_verified`)."),
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
    }
