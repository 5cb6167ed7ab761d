"""JSON API v1, bulk sending: upload a CSV with a ZIP of PDFs (or one PDF), then follow the batch.

Routes of the API's blueprint (`webapp.web.api.common`: its authentication and errors apply).
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from webapp.extensions import db, limiter
from webapp.letters.bulk import LIMITS, BatchRejected, SinglePdf, batch_for_organisation, create_batch
from webapp.models import Batch, BatchRow, Letter
from webapp.services import current_services
from webapp.trust.evidence import isoformat_utc
from webapp.web.api.common import ApiError, boolean_field, bp, current_api_user, error_response, limit_arg
from webapp.web.api.letters import letter_summary_json


def batch_json(batch: Batch) -> dict[str, Any]:
    return {
        "id": batch.id,
        "status": batch.status.value,
        "csv_name": batch.csv_name,
        "language": batch.language,
        "document_confidential": batch.document_confidential,
        "total_rows": batch.total_rows,
        "deposited_rows": batch.deposited_rows,
        "progress": round(batch.progress, 4),
        "error": batch.error,
        "created_at": isoformat_utc(batch.created_at),
        "started_at": isoformat_utc(batch.started_at) if batch.started_at else None,
        "finished_at": isoformat_utc(batch.finished_at) if batch.finished_at else None,
        "url": url_for("api.get_batch", batch_id=batch.id, _external=True),
        "letters_url": url_for("api.list_batch_letters", batch_id=batch.id, _external=True),
    }


def _no_store(response: Response, status: int = 200) -> Response:
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _own_batch(batch_id: str) -> Batch:
    batch = batch_for_organisation(db.session, current_api_user().organisation_id, batch_id)
    if batch is None:
        raise ApiError(404, "not_found", "No such batch.")
    return batch


@bp.post("/batches")
@limiter.limit("20/hour")
def create_batch_() -> ResponseReturnValue:
    """Checks every row, then stores the batch and queues its deposit (201); any bad row: 422, nothing stored."""
    request.max_content_length = LIMITS.max_upload_bytes
    if not request.mimetype.startswith("multipart/form-data"):
        raise ApiError(415, "unsupported_media_type", "Send the batch as multipart/form-data.")
    services = current_services()
    recipients = request.files.get("csv")
    if recipients is None or not recipients.filename:
        raise ApiError(422, "missing_field", "The field 'csv' (a CSV file) is required.", "csv")
    archive, document = request.files.get("zip"), request.files.get("document")
    archive = archive if archive is not None and archive.filename else None
    single = None
    if document is not None and document.filename:
        single = SinglePdf(document.read(services.settings.max_document_bytes + 1), document.filename)
    language = request.form.get("language") or None
    if language is not None and len(language) > 5:
        raise ApiError(422, "invalid_input", "The language must be one of fr, ar, en.", "language")
    try:
        batch = create_batch(
            db.session,
            services,
            current_api_user(),
            recipients.read(LIMITS.max_csv_bytes + 1),
            csv_name=recipients.filename,
            archive=archive.stream if archive is not None else None,
            single=single,
            language=language,
            document_confidential=boolean_field("document_confidential"),
        )
    except BatchRejected as exc:
        db.session.rollback()
        response = error_response(
            422, "invalid_batch", f"{len(exc.errors)} error(s) in the file; nothing was stored.", exc.errors[0].field
        )
        body = response.get_json()
        body["rows"] = [
            {"row": error.row, "field": error.field, "code": error.code, "message": error.text} for error in exc.errors
        ]
        return _no_store(jsonify(body), 422)
    db.session.commit()
    response = _no_store(jsonify(batch_json(batch)), 201)
    response.headers["Location"] = url_for("api.get_batch", batch_id=batch.id)
    return response


@bp.get("/batches/<batch_id>")
def get_batch(batch_id: str) -> ResponseReturnValue:
    return _no_store(jsonify(batch_json(_own_batch(batch_id))))


@bp.get("/batches/<batch_id>/letters")
def list_batch_letters(batch_id: str) -> ResponseReturnValue:
    """The batch's letters in the CSV's order, each with its row; `next_cursor` until null."""
    batch = _own_batch(batch_id)
    limit = limit_arg()
    cursor = request.args.get("cursor") or "0"
    if not cursor.isdigit() or len(cursor) > 6:
        raise ApiError(422, "invalid_cursor", "This cursor is not one we gave; start from the first page.", "cursor")
    rows = db.session.execute(
        select(BatchRow.row_number, Letter)
        .join(Letter, Letter.id == BatchRow.letter_id)
        .where(BatchRow.batch_id == batch.id, BatchRow.row_number > int(cursor))
        .order_by(BatchRow.row_number)
        .limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return _no_store(
        jsonify(
            items=[{"row": number, **letter_summary_json(letter)} for number, letter in rows],
            next_cursor=str(rows[-1][0]) if more else None,
        )
    )
