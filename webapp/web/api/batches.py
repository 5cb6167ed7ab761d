"""JSON API v1, bulk sending: upload a CSV with a ZIP of PDFs (or one PDF), then follow the batch.

Routes of the API's blueprint (`webapp.web.api.common`: its authentication and errors apply);
payloads in `webapp.web.api.schemas`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import url_for
from flask.typing import ResponseReturnValue

from webapp.extensions import db, limiter
from webapp.letters.bulk import LIMITS, BatchRejected, SinglePdf, batch_for_organisation, create_batch
from webapp.letters.queries import batch_letters_page
from webapp.letters.read import SenderActor
from webapp.models import Batch
from webapp.services import current_services
from webapp.web.api.common import ApiError, bp, current_api_user, error_response, path_id
from webapp.web.api.schemas import (
    BatchFormSchema,
    BatchLetterPageSchema,
    BatchLettersQuery,
    BatchLettersQuerySchema,
    BatchSchema,
    BatchUpload,
    page,
)

BATCH_ID = path_id("batch_id", "The batch's id, as returned on upload.")
NO_SUCH_BATCH = "No such batch in your organisation."


@bp.errorhandler(BatchRejected)
def _rejected(exc: BatchRejected) -> ResponseReturnValue:
    db.session.rollback()
    message = f"{len(exc.errors)} error(s) in the file; nothing was stored."
    return error_response(422, "invalid_batch", message, exc.errors[0].field, rows=exc.errors)


def _own_batch(batch_id: str) -> Batch:
    batch = batch_for_organisation(db.session, current_api_user().organisation_id, batch_id)
    if batch is None:
        raise ApiError(404, "not_found", "No such batch.")
    return batch


def with_batch(view: Callable[..., Any]) -> Callable[..., Any]:
    """Gives the view the organisation's batch named in the path (404 otherwise), before its query is read."""

    @functools.wraps(view)
    def wrapper(*args: Any, batch_id: str, **kwargs: Any) -> Any:
        return view(*args, batch=_own_batch(batch_id), **kwargs)

    return bp.fails(404, NO_SUCH_BATCH)(wrapper)


@bp.post("/batches")
@limiter.limit("20/hour")
@bp.doc(operationId="createBatch")
@bp.accepts("multipart/form-data", "Send the batch as multipart/form-data.", max_bytes=LIMITS.max_upload_bytes)
@bp.arguments(BatchFormSchema, location="multipart")
@bp.response(
    201,
    BatchSchema,
    description="The batch, stored; its letters are being deposited.",
    headers={"Location": {"schema": {"type": "string"}, "description": "The batch's URL."}},
)
@bp.fails(403, "Your organisation is not verified yet (`organisation_not_verified`).")
@bp.fails(413, "The upload is too large.")
@bp.fails(
    422,
    "The file has errors (`invalid_batch`); nothing stored. `rows` lists each one: `{row, field, code, message}` "
    "(`row` 1 is the header, null for the whole file).",
)
def create_batch_(upload: BatchUpload) -> tuple[Batch, int, dict[str, str]]:
    """Send letters in bulk

    A CSV file (UTF-8 with or without BOM, UTF-16 with BOM, or Windows-1252; `,` or `;` separated) with
    one row per letter and the columns `name`, `mobile`, and
    optionally `email` (the letter then goes by email and SMS), `reference`, `file` and `language` (French
    names work too: `nom`, `téléphone`, `référence`, `fichier`, `langue`); and either `zip`, a ZIP of the
    PDFs named in the `file` column, or `document`, one PDF for every row. At most 10,000 rows. Every row
    is checked first: one bad row and nothing is stored (422, every error listed in `rows`). Otherwise the
    batch is stored and deposited by a job: follow it with `GET /api/v1/batches/{batch_id}`. Two rows with
    the same mobile number and the same file are an error.
    """
    services = current_services()
    single = None
    if upload.document is not None:
        data = upload.document.read(services.settings.max_document_bytes + 1)
        single = SinglePdf(data, upload.document.filename or "")
    batch = create_batch(
        db.session,
        services,
        current_api_user(),
        upload.csv.read(LIMITS.max_csv_bytes + 1),
        csv_name=upload.csv.filename or "",
        archive=upload.zip.stream if upload.zip is not None else None,
        single=single,
        language=upload.language,
        document_confidential=upload.document_confidential,
    )
    db.session.commit()
    return batch, 201, {"Location": url_for("api.get_batch", batch_id=batch.id)}


@bp.get("/batches/<batch_id>", parameters=[BATCH_ID])
@bp.doc(operationId="getBatch")
@with_batch
@bp.response(200, BatchSchema, description="The batch.")
def get_batch(batch: Batch) -> Batch:
    """A batch and its progress"""
    return batch


@bp.get("/batches/<batch_id>/letters", parameters=[BATCH_ID])
@bp.doc(operationId="listBatchLetters")
@with_batch
@bp.arguments(BatchLettersQuerySchema, location="query")
@bp.response(200, BatchLetterPageSchema, description="A page of the batch's letters.")
@bp.fails(422, "A bad `limit` or `cursor`.")
def list_batch_letters(query: BatchLettersQuery, batch: Batch) -> Any:
    """The letters of a batch, in the CSV's order"""
    actor = SenderActor(current_api_user())
    found = batch_letters_page(db.session, actor, batch, limit=query.limit, after_row=query.after_row)
    return page(found.items, str(found.items[-1].row) if found.more else None)
