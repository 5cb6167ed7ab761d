"""JSON API v1 (contract): deposit and follow letters with a bearer token."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from flask import Response, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from webapp.extensions import db, limiter
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
from webapp.web.api.common import (
    ApiError,
    boolean_field,
    bp,
    current_api_user,
    decode_cursor,
    encode_cursor,
    error_response,
    form_field,
    iso,
)
from webapp.web.api.common import limit_arg as _limit_arg

# 1 to 255 printable ASCII characters (a UUID is the usual choice).
IDEMPOTENCY_KEY = re.compile(r"[\x20-\x7e]{1,255}")


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
        recipient_phone=form_field("recipient_phone", required=True, max_length=40) or "",
        recipient_name=form_field("recipient_name", required=True, max_length=200) or "",
        recipient_email=form_field("recipient_email", max_length=254),
        channel=form_field("channel", max_length=10) or "sms",
        language=form_field("language", max_length=5) or services.settings.default_language,
        sender_reference=form_field("sender_reference", max_length=100),
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
            "sent_at": iso(message.sent_at),
            "delivery": {"status": message.delivery_status, "at": iso(message.delivered_at)}
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
        "notified_at": iso(letter.notified_at),
        "deadline_at": iso(letter.deadline_at),
        "decided_at": iso(letter.decided_at),
        "url": url_for("api.get_letter", letter_id=letter.id, _external=True),
    }


def proofs_json(letter: LetterView) -> list[dict[str, Any]]:
    return [
        {
            "kind": proof.kind.value,
            "status": proof.status.value,
            "url": url_for("api.get_proof", letter_id=letter.id, kind=proof.kind.value, _external=True),
            "issued_at": iso(proof.issued_at),
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
        query = query.where(after_position(*decode_cursor(cursor)))
    letters = list(db.session.execute(query.limit(limit + 1)).scalars())
    more = len(letters) > limit
    letters = letters[:limit]
    response = jsonify(
        items=[letter_summary_json(letter) for letter in letters],
        next_cursor=encode_cursor(letters[-1].deposited_at, letters[-1].id) if more else None,
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
