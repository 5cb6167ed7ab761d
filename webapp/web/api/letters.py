"""JSON API v1 (contract): deposit and follow letters with a bearer token."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, g, jsonify, request, url_for
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from webapp.accounts.tokens import user_for_api_token
from webapp.extensions import csrf, db, limiter
from webapp.letters.access import OpenedProof, dispute_bundle, open_proof
from webapp.letters.bundle import Bundle
from webapp.letters.deposit import DepositRequest, deposit_letter_once, format_limit
from webapp.letters.errors import (
    AccessDenied,
    DocumentTooLarge,
    EmailNotConfirmed,
    InvalidInput,
    LetterError,
    LetterNotFound,
    OrganisationNotVerified,
    ProofNotAvailable,
    ProofPending,
)
from webapp.letters.queries import SEARCH_MAX_LENGTH, LetterFilter, after_position, organisation_letters
from webapp.letters.read import LetterView, SenderActor, letter_for, visible_letter
from webapp.letters.resend import ResendLimited, resend_notification
from webapp.letters.states import LetterStatus
from webapp.models import Letter, MessageStatus, User
from webapp.services import current_services
from webapp.trust.evidence import EventFacts, isoformat_utc
from webapp.web.api.docs import bp as docs_bp

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

# The contract and the docs page are public (no token): anyone may read how to integrate.
PUBLIC_ENDPOINTS = frozenset({"api.openapi_json"})
# 1 to 255 printable ASCII characters (a UUID is the usual choice).
IDEMPOTENCY_KEY = re.compile(r"[\x20-\x7e]{1,255}")
LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX = 20, 100


@bp.record_once
def _register_docs(state: BlueprintSetupState) -> None:
    # The docs page lives at /api/docs, outside this blueprint's prefix: registered with it.
    state.app.register_blueprint(docs_bp)


class ApiError(Exception):
    """An error answered as `{"error": {"code", "message", "field"?}}`."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def error_response(status: int, code: str, message: str, field: str | None = None) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    response = jsonify(error=body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


HTTP_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "document_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
}


def http_error_response(exc: HTTPException) -> Response:
    """A werkzeug error (unknown route, wrong method, body too large, rate limit) under /api/, as JSON."""
    status = exc.code or 500
    code = HTTP_ERROR_CODES.get(status, "server_error" if status >= 500 else "http_error")
    response = error_response(status, code, exc.description or exc.name, "document" if status == 413 else None)
    for name, value in exc.get_headers():
        if name.lower() in {"allow", "retry-after"}:
            response.headers[name] = value
    return response


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> ResponseReturnValue:
    return error_response(exc.status, exc.code, exc.message, exc.field)


@bp.errorhandler(LetterError)
def _letter_error(exc: LetterError) -> ResponseReturnValue:
    db.session.rollback()
    if isinstance(exc, ResendLimited):
        response = error_response(429, exc.code, exc.message, exc.field)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, ProofPending):
        response = error_response(409, exc.code, "The proof is being produced; retry in a few seconds.")
        response.headers["Retry-After"] = "5"
        return response
    if isinstance(exc, LetterNotFound):
        return error_response(404, exc.code, "No such letter.")
    if isinstance(exc, ProofNotAvailable | AccessDenied):
        return error_response(404, exc.code, exc.message)
    if isinstance(exc, DocumentTooLarge):
        status = 413
    elif isinstance(exc, InvalidInput):
        status = 422
    elif isinstance(exc, OrganisationNotVerified | EmailNotConfirmed):
        status = 403
    else:
        status = 409
    return error_response(status, exc.code, exc.message, exc.field)


@bp.before_request
def _authenticate() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    user = None
    if scheme.lower() == "bearer" and token:
        user = user_for_api_token(db.session, current_services().clock, token.strip())
    if user is None:
        raise ApiError(401, "unauthorized", "A valid API token is required (Authorization: Bearer).")
    g.api_user = user


def current_api_user() -> User:
    user: User = g.api_user
    return user


def _field(name: str, *, required: bool = False, max_length: int = 500) -> str | None:
    value = request.form.get(name)
    if value is None or not value.strip():
        if required:
            raise ApiError(422, "missing_field", f"The field '{name}' is required.", name)
        return None
    if len(value) > max_length:
        raise ApiError(422, "invalid_input", f"The field '{name}' is too long.", name)
    return value


def boolean_field(name: str) -> bool:
    value = (_field(name, max_length=5) or "false").strip().lower()
    if value not in ("true", "false"):
        raise ApiError(422, "invalid_input", f"The field '{name}' must be true or false.", name)
    return value == "true"


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise ApiError(
            422,
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 255 printable ASCII characters.",
            "Idempotency-Key",
        )
    return key


@bp.post("/letters")
@limiter.limit("120/minute")
def create_letter() -> ResponseReturnValue:
    """Deposits a letter.  With an `Idempotency-Key`, a retry answers 201 again with the letter
    the key created (as it is now) and `Idempotent-Replayed: true`, and never deposits twice."""
    if not request.mimetype.startswith("multipart/form-data"):
        raise ApiError(415, "unsupported_media_type", "Send the letter as multipart/form-data.")
    key = _idempotency_key()
    services = current_services()
    upload = request.files.get("document")
    if upload is None or not upload.filename:
        raise ApiError(422, "missing_field", "The field 'document' (a PDF file) is required.", "document")
    limit = services.settings.max_document_bytes
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise DocumentTooLarge(f"The document is larger than {format_limit(limit)}.")
    deposit = DepositRequest(
        document=data,
        document_name=upload.filename,
        recipient_phone=_field("recipient_phone", required=True, max_length=40) or "",
        recipient_name=_field("recipient_name", required=True, max_length=200) or "",
        recipient_email=_field("recipient_email", max_length=254),
        channel=_field("channel", max_length=10) or "sms",
        language=_field("language", max_length=5) or services.settings.default_language,
        sender_reference=_field("sender_reference", max_length=100),
        document_confidential=boolean_field("document_confidential"),
        idempotency_key=key,
    )
    user = current_api_user()
    letter, created = deposit_letter_once(db.session, services, user, deposit)
    db.session.commit()
    response = jsonify(letter_json(letter_for(db.session, SenderActor(user), letter.id)))
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_letter", letter_id=letter.id)
    response.headers["Cache-Control"] = "no-store"
    if key is not None:
        response.headers["Idempotent-Replayed"] = "false" if created else "true"
    return response


def letter_for_user(user: User, letter_id: str) -> Letter:
    """The letter if it belongs to the user's organisation; 404 otherwise (never 403)."""
    return visible_letter(db.session, SenderActor(user), letter_id)


def _event_json(event: EventFacts) -> dict[str, Any]:
    """An event as the API shows it: its type and time, and for notifications their channel and
    any failure reason, all read from the sealed record (which is on the verification page)."""
    entry: dict[str, Any] = {"type": event.event, "at": isoformat_utc(event.at), "evidence_id": event.evidence_id}
    if event.event_uri:
        entry["event_uri"] = event.event_uri
    if event.notification:
        entry["channel"] = event.channel
        if event.reminder is not None:
            entry["reminder"] = event.reminder
        if event.sent_again_by:
            entry["reason"] = event.sent_again_by  # sent again by the sender, or by our support team
    if event.reason:
        entry["reason"] = event.reason
    return entry


def _notifications_json(letter: LetterView) -> list[dict[str, Any]]:
    """The letter's notifications and reminders (codes are the recipient's business), each with
    what the provider and the operator said of it."""
    return [
        {
            "channel": message.channel,
            "purpose": message.purpose.value,
            "reminder": message.reminder_number,
            "status": message.status.value,
            "sent_at": _iso(message.sent_at),
            "delivery": {"status": message.delivery_status, "at": _iso(message.delivered_at)}
            if message.delivery_status
            else None,
            "error": message.last_error
            if message.status is not MessageStatus.SENT or message.delivery_status == "failed"
            else None,
        }
        for message in letter.notifications
    ]


def letter_summary_json(letter: Letter | LetterView) -> dict[str, Any]:
    """A letter as lists show it: its facts and dates, without its timeline."""
    return {
        "id": letter.id,
        "reference": letter.reference,
        "sender_reference": letter.sender_reference,
        "status": letter.status.value,
        "channel": letter.channel,
        "language": letter.language,
        "recipient": letter.recipient_facts(),
        "document": letter.document_facts() | {"confidential": letter.document_confidential},
        "deposited_at": isoformat_utc(letter.deposited_at),
        "notified_at": _iso(letter.notified_at),
        "deadline_at": _iso(letter.deadline_at),
        "decided_at": _iso(letter.decided_at),
        "url": url_for("api.get_letter", letter_id=letter.id, _external=True),
    }


def proofs_json(letter: LetterView) -> list[dict[str, Any]]:
    return [
        {
            "kind": proof.kind.value,
            "status": proof.status.value,
            "url": url_for("api.get_proof", letter_id=letter.id, kind=proof.kind.value, _external=True),
            "issued_at": _iso(proof.issued_at),
            "sha256": proof.sha256,
        }
        for proof in letter.proofs
    ]


def letter_json(letter: LetterView) -> dict[str, Any]:
    return letter_summary_json(letter) | {
        "events": [_event_json(event) for event in letter.timeline],
        "notifications": _notifications_json(letter),
        "proofs": proofs_json(letter),
    }


def _iso(value: Any) -> str | None:
    return isoformat_utc(value) if value is not None else None


@bp.get("/letters/<letter_id>")
def get_letter(letter_id: str) -> ResponseReturnValue:
    response = jsonify(letter_json(letter_for(db.session, SenderActor(current_api_user()), letter_id)))
    response.headers["Cache-Control"] = "no-store"
    return response


def _datetime_arg(name: str) -> datetime | None:
    raw = request.args.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ApiError(422, "invalid_input", f"'{name}' must be an ISO 8601 date or time.", name) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _limit_arg() -> int:
    raw = request.args.get("limit")
    if raw is None or raw == "":
        return LIST_LIMIT_DEFAULT
    if not raw.isdigit() or not 1 <= int(raw) <= LIST_LIMIT_MAX:
        raise ApiError(422, "invalid_input", f"'limit' must be a whole number from 1 to {LIST_LIMIT_MAX}.", "limit")
    return int(raw)


def _encode_cursor(letter: Letter) -> str:
    raw = json.dumps([letter.deposited_at.astimezone(UTC).isoformat(), letter.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position after which the next page starts: the last letter's deposit time and id."""
    try:
        at, letter_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None or not isinstance(letter_id, str):
            raise ValueError(cursor)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ApiError(
            422, "invalid_cursor", "This cursor is not one we gave; start from the first page.", "cursor"
        ) from None
    return moment, letter_id


def _statuses_arg() -> list[LetterStatus]:
    raw = request.args.get("status")
    if raw is None or not raw.strip():
        return []
    try:
        return [LetterStatus(part.strip()) for part in raw.split(",") if part.strip()]
    except ValueError:
        allowed = ", ".join(s.value for s in LetterStatus)
        raise ApiError(422, "invalid_input", f"'status' must be one or more of {allowed}.", "status") from None


@bp.get("/letters")
def list_letters() -> ResponseReturnValue:
    """The organisation's letters, newest first, a page at a time (`next_cursor` until null)."""
    user = current_api_user()
    limit = _limit_arg()
    statuses = tuple(_statuses_arg())
    after, before = _datetime_arg("deposited_after"), _datetime_arg("deposited_before")
    q = (request.args.get("q") or "").strip()
    if len(q) > SEARCH_MAX_LENGTH:
        raise ApiError(422, "invalid_input", f"'q' is at most {SEARCH_MAX_LENGTH} characters.", "q")
    filters = LetterFilter(statuses=statuses, deposited_from=after, deposited_before=before, search=q)
    query = organisation_letters(user.organisation_id, filters)
    cursor = request.args.get("cursor")
    if cursor:
        query = query.where(after_position(*_decode_cursor(cursor)))
    letters = list(db.session.execute(query.limit(limit + 1)).scalars())
    more = len(letters) > limit
    letters = letters[:limit]
    response = jsonify(
        items=[letter_summary_json(letter) for letter in letters],
        next_cursor=_encode_cursor(letters[-1]) if more else None,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/letters/<letter_id>/proofs")
def list_proofs(letter_id: str) -> ResponseReturnValue:
    response = jsonify(items=proofs_json(letter_for(db.session, SenderActor(current_api_user()), letter_id)))
    response.headers["Cache-Control"] = "no-store"
    return response


# No Flask-Limiter limit here: its headers would overwrite the per-letter Retry-After.
@bp.post("/letters/<letter_id>/resend")
def resend_letter(letter_id: str) -> ResponseReturnValue:
    """Sends the notification again with a fresh link (202: the job sends it and records the evidence)."""
    user = current_api_user()
    letter = letter_for_user(user, letter_id)
    messages = resend_notification(db.session, current_services(), letter, user)
    db.session.commit()
    response = jsonify(
        letter_id=letter.id,
        status="queued",
        channels=[message.channel for message in messages],
        requested_at=isoformat_utc(messages[0].created_at),
    )
    response.status_code = 202
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/openapi.json")
def openapi_json() -> ResponseReturnValue:
    from webapp.web.api.openapi import openapi_document

    response = jsonify(openapi_document(current_services().settings.public_url))
    response.headers["Cache-Control"] = "public, max-age=3600"
    response.add_etag()
    return response.make_conditional(request)


@bp.get("/letters/<letter_id>/proofs/<kind>")
def get_proof(letter_id: str, kind: str) -> ResponseReturnValue:
    return proof_response(open_proof(db.session, current_services(), SenderActor(current_api_user()), letter_id, kind))


@bp.get("/letters/<letter_id>/bundle")
def get_bundle(letter_id: str) -> ResponseReturnValue:
    """The dispute bundle: every proof, record, journal proof and certificate, with VERIFY.md (a ZIP)."""
    actor = SenderActor(current_api_user())
    return bundle_response(dispute_bundle(db.session, current_services(), actor, letter_id))


def bundle_response(bundle: Bundle) -> Response:
    response = Response(bundle.data, mimetype="application/zip")
    response.headers.set("Content-Disposition", "attachment", filename=bundle.filename)
    response.headers["Cache-Control"] = "no-store"
    return response


def proof_response(proof: OpenedProof) -> Response:
    response = Response(proof.data, mimetype="application/pdf")
    filename = f"proof-{proof.kind.value}-{proof.reference}.pdf"
    response.headers.set("Content-Disposition", "attachment", filename=filename)
    response.headers["Cache-Control"] = "private, no-store"
    return response


from webapp.web.api import batches, webhooks  # noqa: E402,F401  (routes on this blueprint)
