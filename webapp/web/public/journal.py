"""The evidence journal's transparency log, in public: checkpoints, the key, and RFC 9162 proofs.

Anyone — a sender, an auditor, a court expert — can fetch the latest signed
checkpoint, keep it, and later ask for a consistency proof that today's log
extends it, or for the inclusion proof of a record a proof lists.  Nothing
here reveals more than `/verify` does: hashes, sizes and signed notes.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from webapp.extensions import db
from webapp.services import current_services
from webapp.trust.journal import (
    JournalError,
    LogMismatch,
    NotLoggedYet,
    checkpoint_of_size,
    consistency_proof,
    inclusion_proof,
    latest_checkpoint,
)
from webapp.trust.tsa import timestamp_response

bp = Blueprint("journal", __name__, url_prefix="/journal")

# A checkpoint is replaced every few seconds while records are added; one of a given size never changes.
LATEST_MAX_AGE = 5
IMMUTABLE = "public, max-age=31536000, immutable"


def _error(status: int, code: str, message: str, retry_after: int | None = None) -> ResponseReturnValue:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _text(body: str | bytes, cache: str, mimetype: str = "text/plain") -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Cache-Control"] = cache
    return response


@bp.get("/checkpoint")
def checkpoint() -> ResponseReturnValue:
    """The latest signed tree head, as a C2SP tlog-checkpoint signed note (contract)."""
    latest = latest_checkpoint(db.session)
    db.session.rollback()
    if latest is None:
        return _error(404, "empty_journal", "The journal has no checkpoint yet.", retry_after=LATEST_MAX_AGE)
    return _text(latest.note, f"public, max-age={LATEST_MAX_AGE}")


@bp.get("/checkpoint/<int:size>")
def checkpoint_by_size(size: int) -> ResponseReturnValue:
    """An earlier checkpoint, by its tree size."""
    found = checkpoint_of_size(db.session, size)
    db.session.rollback()
    if found is None:
        return _error(404, "no_such_checkpoint", "No checkpoint of that size.")
    return _text(found.note, IMMUTABLE)


@bp.get("/checkpoint/<int:size>.tsr")
def checkpoint_timestamp(size: int) -> ResponseReturnValue:
    """The RFC 3161 timestamp of a checkpoint's note (`openssl ts -reply -in N.tsr -text`)."""
    found = checkpoint_of_size(db.session, size)
    db.session.rollback()
    if found is None:
        return _error(404, "no_such_checkpoint", "No checkpoint of that size.")
    return _text(timestamp_response(found.timestamp_token), IMMUTABLE, "application/timestamp-reply")


@bp.get("/checkpoint/<int:size>.p7s")
def checkpoint_seal(size: int) -> ResponseReturnValue:
    """The CAdES seal of a checkpoint's note by our seal certificate (`openssl cms -verify`)."""
    found = checkpoint_of_size(db.session, size)
    db.session.rollback()
    if found is None:
        return _error(404, "no_such_checkpoint", "No checkpoint of that size.")
    return _text(found.seal, IMMUTABLE, "application/pkcs7-signature")


@bp.get("/key")
def key() -> ResponseReturnValue:
    """The note verifier key of our checkpoints: `<name>+<hex key id>+<base64 key>` (C2SP signed-note)."""
    return _text(f"{current_services().trust.journal_signer.verifier}\n", "public, max-age=3600")


@bp.get("/inclusion/<evidence_id>")
def inclusion(evidence_id: str) -> ResponseReturnValue:
    """RFC 9162 inclusion proof of one evidence record in the latest checkpoint's tree (contract)."""
    if len(evidence_id) > 64:
        return _error(404, "no_such_record", "No such evidence record.")
    size = request.args.get("tree_size", type=int)
    try:
        pinned = None
        if size is not None:
            pinned = checkpoint_of_size(db.session, size)
            if pinned is None:
                return _error(404, "no_such_checkpoint", "No checkpoint of that size.")
        proof = inclusion_proof(db.session, evidence_id, checkpoint=pinned)
    except NotLoggedYet:
        return _error(404, "not_logged_yet", "The record is not in a checkpoint yet; ask again shortly.", 5)
    except LogMismatch:
        return _error(409, "log_mismatch", "The record does not match the log.")
    except JournalError:
        return _error(404, "no_such_record", "No such evidence record.")
    finally:
        db.session.rollback()
    body = proof.as_json()
    del body["evidence_id"]
    response = jsonify(body)
    response.headers["Cache-Control"] = f"public, max-age={LATEST_MAX_AGE}"
    return response


@bp.get("/consistency")
def consistency() -> ResponseReturnValue:
    """RFC 9162 consistency proof between two tree sizes (contract): `?from=M&to=N`."""
    old_size = request.args.get("from", type=int)
    new_size = request.args.get("to", type=int)
    if old_size is None or new_size is None:
        return _error(400, "invalid_input", "'from' and 'to' are tree sizes (whole numbers).")
    try:
        hashes = consistency_proof(db.session, old_size, new_size)
    except LogMismatch:
        return _error(409, "log_mismatch", "The stored tree is incomplete.")
    except JournalError as exc:
        return _error(400, "invalid_input", str(exc))
    finally:
        db.session.rollback()
    response = jsonify({"hashes": [h.hex() for h in hashes]})
    response.headers["Cache-Control"] = IMMUTABLE
    return response
