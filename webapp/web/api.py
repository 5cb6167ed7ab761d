"""JSON API v1 (contract): deposit and follow letters with a bearer token."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, g, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from webapp.accounts import user_for_api_token
from webapp.extensions import csrf, db, limiter
from webapp.letters.deposit import DepositRequest, deposit_letter, format_limit
from webapp.letters.errors import (
    DocumentTooLarge,
    InvalidInput,
    LetterError,
    OrganisationNotVerified,
)
from webapp.models import Evidence, Letter, MessagePurpose, MessageStatus, OutboundMessage, Proof, ProofKind, User
from webapp.services import current_services
from webapp.trust.evidence import isoformat_utc
from webapp.trust.proofs import ProofNotReady, read_proof

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


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
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> ResponseReturnValue:
    return error_response(exc.status, exc.code, exc.message, exc.field)


@bp.errorhandler(LetterError)
def _letter_error(exc: LetterError) -> ResponseReturnValue:
    db.session.rollback()
    if isinstance(exc, DocumentTooLarge):
        status = 413
    elif isinstance(exc, InvalidInput):
        status = 422
    elif isinstance(exc, OrganisationNotVerified):
        status = 403
    else:
        status = 409
    return error_response(status, exc.code, exc.message, exc.field)


@bp.before_request
def _authenticate() -> None:
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


@bp.post("/letters")
@limiter.limit("120/minute")
def create_letter() -> ResponseReturnValue:
    if not request.mimetype.startswith("multipart/form-data"):
        raise ApiError(415, "unsupported_media_type", "Send the letter as multipart/form-data.")
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
    )
    letter = deposit_letter(db.session, services, current_api_user(), deposit)
    db.session.commit()
    response = jsonify(letter_json(letter))
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_letter", letter_id=letter.id)
    return response


def letter_for_user(user: User, letter_id: str) -> Letter:
    """The letter if it belongs to the user's organisation; 404 otherwise (never 403)."""
    letter = db.session.execute(
        select(Letter).where(Letter.id == letter_id, Letter.organisation_id == user.organisation_id)
    ).scalar_one_or_none()
    if letter is None:
        raise ApiError(404, "not_found", "No such letter.")
    return letter


def _event_json(evidence_id: str, event: str, at: Any, canonical: str) -> dict[str, Any]:
    """An event as the API shows it: its type and time, and for notifications their channel and
    any failure reason (the evidence record itself is on the verification page)."""
    entry: dict[str, Any] = {"type": event, "at": isoformat_utc(at), "evidence_id": evidence_id}
    details = json.loads(canonical).get("details") or {}
    notification = details.get("notification")
    if isinstance(notification, dict):
        entry["channel"] = notification.get("channel")
        if notification.get("reminder") is not None:
            entry["reminder"] = notification["reminder"]
    if details.get("reason"):
        entry["reason"] = details["reason"]
    return entry


def _notifications_json(letter: Letter) -> list[dict[str, Any]]:
    """The letter's notifications and reminders (codes are the recipient's business), each with
    what the provider and the operator said of it."""
    messages = db.session.execute(
        select(OutboundMessage)
        .where(OutboundMessage.letter_id == letter.id, OutboundMessage.purpose != MessagePurpose.CODE)
        .order_by(OutboundMessage.created_at, OutboundMessage.channel)
    ).scalars()
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
        for message in messages
    ]


def letter_json(letter: Letter) -> dict[str, Any]:
    events = db.session.execute(
        select(Evidence.id, Evidence.event, Evidence.occurred_at, Evidence.canonical)
        .where(Evidence.letter_id == letter.id)
        .order_by(Evidence.seq)
    ).all()
    return {
        "id": letter.id,
        "reference": letter.reference,
        "status": letter.status.value,
        "channel": letter.channel,
        "language": letter.language,
        "recipient": letter.recipient_facts(),
        "document": letter.document_facts(),
        "deposited_at": isoformat_utc(letter.deposited_at),
        "notified_at": _iso(letter.notified_at),
        "deadline_at": _iso(letter.deadline_at),
        "decided_at": _iso(letter.decided_at),
        "events": [_event_json(*row) for row in events],
        "notifications": _notifications_json(letter),
        "proofs": [
            {
                "kind": proof.kind.value,
                "status": proof.status.value,
                "url": url_for("api.get_proof", letter_id=letter.id, kind=proof.kind.value, _external=True),
                "issued_at": _iso(proof.issued_at),
                "sha256": proof.sha256,
            }
            for proof in db.session.execute(
                select(Proof).where(Proof.letter_id == letter.id).order_by(Proof.created_at)
            ).scalars()
        ],
    }


def _iso(value: Any) -> str | None:
    return isoformat_utc(value) if value is not None else None


@bp.get("/letters/<letter_id>")
def get_letter(letter_id: str) -> ResponseReturnValue:
    letter = letter_for_user(current_api_user(), letter_id)
    response = jsonify(letter_json(letter))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/letters/<letter_id>/proofs/<kind>")
def get_proof(letter_id: str, kind: str) -> ResponseReturnValue:
    letter = letter_for_user(current_api_user(), letter_id)
    try:
        proof_kind = ProofKind(kind)
    except ValueError:
        raise ApiError(404, "not_found", f"Unknown proof kind {kind!r}.") from None
    try:
        data = read_proof(db.session, current_services(), letter, proof_kind)
    except ProofNotReady:
        exists = db.session.execute(
            select(Proof.id).where(Proof.letter_id == letter.id, Proof.kind == proof_kind)
        ).first()
        if exists is None:
            raise ApiError(404, "proof_not_available", f"This letter has no {kind} proof.") from None
        response = error_response(409, "proof_pending", "The proof is being produced; retry in a few seconds.")
        response.headers["Retry-After"] = "5"
        return response
    return proof_response(data, letter, proof_kind)


def proof_response(data: bytes, letter: Letter, kind: ProofKind) -> Response:
    response = Response(data, mimetype="application/pdf")
    response.headers.set("Content-Disposition", "attachment", filename=f"proof-{kind.value}-{letter.reference}.pdf")
    response.headers["Cache-Control"] = "private, no-store"
    return response
