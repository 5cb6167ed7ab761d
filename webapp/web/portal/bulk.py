"""Bulk sending from the portal: a CSV of recipients with a ZIP of PDFs (or one PDF for all).

The upload is checked whole before anything is stored: a file with errors comes back
as a table of them (422) and leaves nothing behind.  A valid one becomes a batch,
deposited by a job while its page shows a progress bar (polled by htmx, refreshed
by the browser without JavaScript).
"""

from __future__ import annotations

from typing import IO

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.datastructures import FileStorage

from webapp.extensions import csrf, db, limiter
from webapp.i18n import LANGUAGE_NAMES
from webapp.letters.bulk import (
    LIMITS,
    BatchNotUnconfirmed,
    BatchRejected,
    RowError,
    SinglePdf,
    batch_for_organisation,
    batch_letters_page,
    batch_summary,
    cancel_batch,
    confirm_batch,
    create_batch,
    csv_template,
    organisation_batches,
)
from webapp.letters.errors import LetterError
from webapp.models import Batch, BatchStatus
from webapp.services import current_services
from webapp.web.forms import ComposeForm, ConfirmForm
from webapp.web.policies import no_store, senders_only
from webapp.web.portal.letters import can_send, deposit_error_message, sending_gate

bp = Blueprint("portal_bulk", __name__, url_prefix="/bulk")
no_store(bp)

PAGE_SIZE = 100
POLL_SECONDS = 2

COLUMN_LABELS = {
    "name": _l("Name"),
    "mobile": _l("Mobile"),
    "email": _l("Email"),
    "reference": _l("Reference"),
    "file": _l("File"),
    "language": _l("Language"),
    "csv": _l("CSV file"),
    "zip": _l("ZIP file"),
    "document": _l("PDF for every row"),
}
STATUS_LABELS = {
    BatchStatus.UNCONFIRMED: _l("Waiting for your confirmation"),
    BatchStatus.READY: _l("Waiting to start"),
    BatchStatus.DEPOSITING: _l("Depositing"),
    BatchStatus.DONE: _l("Done"),
    BatchStatus.FAILED: _l("Stopped"),
}
FAILURE_LABELS = {
    "organisation_not_verified": _l("Your organisation is no longer verified: the remaining rows were not sent."),
}


class BulkForm(FlaskForm):  # type: ignore[misc]
    recipients = FileField(_l("Recipients (CSV file)"), validators=[FileRequired()])
    archive = FileField(_l("The letters (ZIP file of PDFs, named in the file column)"))
    document = FileField(_l("Or one PDF for every row"))
    language = ComposeForm.language
    document_confidential = ComposeForm.document_confidential


def row_error_message(error: RowError) -> str:
    """The error in the page's language; the deposit's own refusals as the single deposit words them."""
    if error.error is not None:
        return deposit_error_message(error.error)
    return str(_(error.message, **error.params))


@bp.app_context_processor
def _helpers() -> dict[str, object]:
    return {
        "bulk_error_message": row_error_message,
        "bulk_column_labels": COLUMN_LABELS,
        "batch_status_labels": STATUS_LABELS,
        "batch_failure_labels": FAILURE_LABELS,
    }


def _own_batch(batch_id: str) -> Batch:
    """A batch of the user's organisation; 404 for anyone else's."""
    batch = batch_for_organisation(db.session, current_user.organisation_id, batch_id)
    if batch is None:
        abort(404)
    return batch


@bp.get("")
@senders_only
def index() -> ResponseReturnValue:
    batches = organisation_batches(db.session, current_user.organisation_id, PAGE_SIZE)
    return render_template("portal/bulk/index.html", batches=batches)


@bp.get("/template.csv")
@senders_only
def template() -> ResponseReturnValue:
    response = make_response(csv_template().encode("utf-8-sig"))  # the BOM tells Excel it is UTF-8
    response.mimetype = "text/csv"
    response.headers.set("Content-Disposition", "attachment", filename="wassit-bulk.csv")
    return response


def _upload(storage: FileStorage | None) -> FileStorage | None:
    return storage if storage is not None and storage.filename else None


# CSRF is checked by the form itself: the app-wide check would parse the body before the view
# raises the size limit for bulk uploads (413 for any ZIP above a single letter's limit).
@bp.route("/new", methods=["GET", "POST"])
@csrf.exempt
@senders_only
@limiter.limit("20/hour", methods=["POST"])
def new() -> ResponseReturnValue:
    if not can_send():
        return sending_gate(_("Send in bulk"))
    request.max_content_length = LIMITS.max_upload_bytes
    form = BulkForm()
    errors: list[RowError] = []
    if form.validate_on_submit():
        services = current_services()
        recipients: FileStorage = form.recipients.data
        archive, document = _upload(form.archive.data), _upload(form.document.data)
        single = None
        if document is not None:
            data = document.read(services.settings.max_document_bytes + 1)
            single = SinglePdf(data, document.filename or "document.pdf")
        stream: IO[bytes] | None = archive.stream if archive is not None else None
        try:
            batch = create_batch(
                db.session,
                services,
                current_user,
                recipients.read(LIMITS.max_csv_bytes + 1),
                csv_name=recipients.filename or "recipients.csv",
                archive=stream,
                single=single,
                language=form.language.data,
                document_confidential=bool(form.document_confidential.data),
                confirmed=False,  # the sender sees the summary, then confirms: nothing is deposited before
            )
        except BatchRejected as exc:
            db.session.rollback()
            errors = exc.errors
        except LetterError as exc:
            db.session.rollback()
            flash(deposit_error_message(exc), "error")
        else:
            db.session.commit()
            return redirect(url_for(".batch", batch_id=batch.id), code=303)
    status = 422 if request.method == "POST" else 200
    return render_template("portal/bulk/new.html", form=form, errors=errors, limits=LIMITS), status


@bp.get("/<batch_id>")
@senders_only
def batch(batch_id: str) -> ResponseReturnValue:
    """The batch and its progress; to htmx, the progress alone (it polls itself until the end)."""
    found = _own_batch(batch_id)
    live = found.status in {BatchStatus.READY, BatchStatus.DEPOSITING}
    # A history restore needs the whole page; only the poll gets the partial.
    polling = request.headers.get("HX-Request") == "true" and "HX-History-Restore-Request" not in request.headers
    template = "portal/bulk/_progress.html" if polling else "portal/bulk/batch.html"
    summary = batch_summary(db.session, current_services(), found) if found.status is BatchStatus.UNCONFIRMED else None
    response = make_response(
        render_template(
            template,
            batch=found,
            live=live,
            poll_seconds=POLL_SECONDS,
            summary=summary,
            confirm_form=ConfirmForm(),
            language_names=LANGUAGE_NAMES,
        )
    )
    response.vary.add("HX-Request")
    return response


@bp.post("/<batch_id>/confirm")
@senders_only
@limiter.limit("30/hour")
def confirm(batch_id: str) -> ResponseReturnValue:
    """The sender read the summary: the batch is deposited now (by a job; the page follows its progress)."""
    found = _own_batch(batch_id)
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for(".batch", batch_id=found.id), code=303)
    try:
        confirm_batch(db.session, current_services(), current_user, found)
    except BatchNotUnconfirmed:
        db.session.rollback()
    except LetterError as exc:
        db.session.rollback()
        flash(deposit_error_message(exc), "error")
    else:
        db.session.commit()
    return redirect(url_for(".batch", batch_id=found.id), code=303)


@bp.post("/<batch_id>/cancel")
@senders_only
def cancel(batch_id: str) -> ResponseReturnValue:
    """Nothing was deposited: the batch, its rows and its PDFs are deleted."""
    found = _own_batch(batch_id)
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for(".batch", batch_id=found.id), code=303)
    try:
        cancel_batch(db.session, found)
    except BatchNotUnconfirmed:
        db.session.rollback()
        flash(_("This batch is already being deposited: it cannot be cancelled."), "error")
        return redirect(url_for(".batch", batch_id=batch_id), code=303)
    db.session.commit()
    flash(_("Cancelled: nothing was sent."), "success")
    return redirect(url_for(".new"), code=303)


@bp.get("/<batch_id>/letters")
@senders_only
def letters(batch_id: str) -> ResponseReturnValue:
    found = _own_batch(batch_id)
    page = request.args.get("page", "1")
    number = int(page) if page.isdigit() and 0 < int(page) < 10_000 else 1
    rows, total = batch_letters_page(db.session, found, page=number, page_size=PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    return render_template("portal/bulk/letters.html", batch=found, rows=rows, page=number, pages=pages)
