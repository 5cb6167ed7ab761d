"""JSON API v1 (contract): deposit and follow letters with a bearer token.

Each view's docstring is its summary (first line) and description in the OpenAPI document; its
payloads are declared in `webapp.web.api.schemas`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Response, url_for
from flask.typing import ResponseReturnValue

from webapp.extensions import db, writes
from webapp.letters.access import OpenedProof, dispute_bundle, open_proof
from webapp.letters.bundle import Bundle
from webapp.letters.deposit import DepositRequest, deposit_letter_once
from webapp.letters.queries import letters_page
from webapp.letters.read import LetterView, SenderActor, letter_for, visible_letter
from webapp.letters.resend import resend_notification
from webapp.models import ProofKind
from webapp.services import current_services
from webapp.web.api.common import bp, current_api_user, path_id
from webapp.web.api.fields import position_cursor
from webapp.web.api.schemas import (
    IdempotencyHeadersSchema,
    LetterFormSchema,
    LetterListQuery,
    LetterListQuerySchema,
    LetterPageSchema,
    LetterSchema,
    ProofListSchema,
    ResendQueuedSchema,
    page,
)

LETTER_ID = path_id("letter_id", "The letter's id, as returned on deposit.")
PROOF_KIND = {"in": "path", "name": "kind", "schema": {"type": "string", "enum": [kind.value for kind in ProofKind]}}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}}


def _sender() -> SenderActor:
    return SenderActor(current_api_user())


@bp.post("/letters")
@bp.doc(operationId="createLetter")
@bp.accepts("multipart/form-data", "Send the letter as multipart/form-data.")
@bp.arguments(IdempotencyHeadersSchema, location="headers")
@bp.arguments(LetterFormSchema, location="multipart")
@bp.response(
    201,
    LetterSchema,
    description="The letter, deposited (or, for a retried idempotency key, the letter it created).",
    headers={
        "Location": {"schema": {"type": "string"}, "description": "The letter's URL."},
        "Idempotent-Replayed": {
            "schema": {"type": "string", "enum": ["true", "false"]},
            "description": "Sent with an Idempotency-Key: true when no new letter was made.",
        },
    },
)
@bp.fails(
    403,
    "Your organisation is not verified yet (`organisation_not_verified`), or your email address is not "
    "confirmed (`email_not_confirmed`).",
)
@bp.fails(413, "The document is too large (`document_too_large`).")
@bp.fails(
    422,
    "Bad input (`missing_field`, `invalid_phone`, `invalid_document`, `active_content`, `control_characters`, …); "
    "nothing stored.",
)
def create_letter(key: str | None, deposit: DepositRequest) -> tuple[LetterView, int, dict[str, str]]:
    """Deposit a letter

    Stores the PDF, issues the proof of deposit and queues the notification. With an `Idempotency-Key`,
    retrying the same request returns the letter the key created (201 again, `Idempotent-Replayed: true`)
    and never deposits a second one; the same key with a different request is refused (422
    `idempotency_key_reused`). Keys are per organisation.
    """
    user = current_api_user()
    letter, created = deposit_letter_once(db.session, current_services(), user, replace(deposit, idempotency_key=key))
    db.session.commit()
    headers = {"Location": url_for("api.get_letter", letter_id=letter.id)}
    if key is not None:
        headers["Idempotent-Replayed"] = "false" if created else "true"
    return letter_for(db.session, SenderActor(user), letter.id), 201, headers


@bp.get("/letters/<letter_id>", parameters=[LETTER_ID])
@bp.doc(operationId="getLetter")
@bp.response(200, LetterSchema, description="The letter.")
def get_letter(letter_id: str) -> LetterView:
    """A letter, its timeline and its proofs"""
    return letter_for(db.session, _sender(), letter_id)


def _limit_arg(query: LetterListQuery) -> int:
    """The page size asked for (checked by `LetterListQuerySchema`)."""
    return query.limit


@bp.get("/letters")
@bp.doc(operationId="listLetters")
@bp.arguments(LetterListQuerySchema, location="query")
@bp.response(200, LetterPageSchema, description="A page of letters.")
@bp.fails(422, "A bad filter or cursor.")
def list_letters(query: LetterListQuery) -> Any:
    """List your organisation's letters

    Newest first. Follow `next_cursor` until it is null.
    """
    found = letters_page(db.session, _sender(), query.filters, limit=_limit_arg(query), after=query.after)
    last = found.items[-1] if found.more else None
    return page(found.items, position_cursor(last.deposited_at, last.id) if last else None)


@bp.get("/letters/<letter_id>/proofs", parameters=[LETTER_ID])
@bp.doc(operationId="listProofs")
@bp.response(200, ProofListSchema, description="The proofs.")
def list_proofs(letter_id: str) -> LetterView:
    """The letter's proofs, ready or being produced"""
    return letter_for(db.session, _sender(), letter_id)


# No Flask-Limiter limit here: its headers would overwrite the per-letter Retry-After.
@bp.post("/letters/<letter_id>/resend", parameters=[LETTER_ID])
@bp.doc(operationId="resendNotification")
@bp.response(202, ResendQueuedSchema, description="Queued; the event appears on the letter once handed over.")
@bp.fails(
    409,
    "Nothing to send again: the letter is not notified yet, decided, expired, locked, or the recipient "
    "already identified.",
)
@bp.fails(429, "Sent again too recently (`resend_rate_limited`).", headers=RETRY_AFTER)
def resend_letter(letter_id: str) -> Any:
    """Send the notification again

    For a notified letter not yet decided: a new SMS (and email on the email channel) with a fresh link,
    recorded as a `ConsignmentReminder` event with `reason: resend`. At most one every 10 minutes and 3 a
    day per letter.
    """
    user = current_api_user()
    letter = visible_letter(db.session, SenderActor(user), letter_id)
    messages = resend_notification(db.session, current_services(), letter, user)
    db.session.commit()
    channels = [message.channel for message in messages]
    return {"letter_id": letter.id, "channels": channels, "requested_at": messages[0].created_at}


@bp.get("/letters/<letter_id>/proofs/<kind>", parameters=[LETTER_ID, PROOF_KIND])
@bp.doc(operationId="getProof")
@bp.response(
    200,
    {"type": "string", "contentMediaType": "application/pdf"},
    content_type="application/pdf",
    description="The signed PDF (PAdES); check it in any PDF reader or at the QR code's page.",
)
@bp.fails(
    409,
    "The proof is being produced (`proof_pending`); retry after `Retry-After` seconds.",
    headers={"Retry-After": {"schema": {"type": "integer"}}},
)
def get_proof(letter_id: str, kind: str) -> ResponseReturnValue:
    """A proof, as a signed and timestamped PDF"""
    return proof_response(open_proof(db.session, current_services(), _sender(), letter_id, kind))


@bp.get("/letters/<letter_id>/bundle", parameters=[LETTER_ID])
@bp.doc(operationId="getDisputeBundle")
@bp.response(
    200,
    {"type": "string", "contentMediaType": "application/zip"},
    content_type="application/zip",
    description="The ZIP.",
)
@writes  # its work writes (a checkpoint, a download's evidence): its transactions take the lock
def get_bundle(letter_id: str) -> ResponseReturnValue:
    """The dispute bundle: every proof and record of the letter, checkable offline

    A ZIP with every proof PDF, every evidence record of the letter (JSON) with its RFC 9162 inclusion
    proof, the journal checkpoint with its RFC 3161 timestamp and CAdES seal, the journal key, the CA,
    seal and TSA certificates, a standard-library `verify_bundle.py`, and a `VERIFY.md` (French and
    English) giving the exact `openssl` and `pyhanko` commands to run.
    """
    return bundle_response(dispute_bundle(db.session, current_services(), _sender(), letter_id))


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
