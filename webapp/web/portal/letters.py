"""The sender portal: deposit a letter, follow its timeline (log-in is `webapp.web.portal.login`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from babel.dates import format_date
from flask import Response, abort, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_decimal, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from webapp.extensions import db, limiter, writes
from webapp.i18n import format_locale, text_direction
from webapp.labels import EID_FAILURE_LABELS, EVENT_LABELS, STATUS_LABELS, active_content_label, event_label
from webapp.letters.access import dispute_bundle, open_proof
from webapp.letters.deposit import DepositRequest, deposit_letter
from webapp.letters.drafts import discard_draft, keep_draft, open_draft, user_draft
from webapp.letters.eid import clean_requirement
from webapp.letters.errors import (
    ActiveContentRefused,
    DocumentTooLarge,
    HoldForbidden,
    HoldRefused,
    LetterError,
    LetterNotFound,
    ProofNotAvailable,
    ProofPending,
)
from webapp.letters.queries import (
    SEARCH_MAX_LENGTH,
    LetterFilter,
    count_letters,
    dashboard_page,
    opened_letter_ids,
)
from webapp.letters.read import LetterView, MessageView, SenderActor, letter_for, visible_letter
from webapp.letters.resend import ResendLimited, resend_notification
from webapp.letters.retention import change_hold_as_sender
from webapp.letters.states import FINAL_STATES, LetterStatus
from webapp.letters.stats import OUTCOMES, delivery_funnel, monthly_volume
from webapp.models import (
    DraftDocument,
    Evidence,
    Letter,
    OutboundMessage,
)
from webapp.notify.texts import MOROCCO
from webapp.services import current_services
from webapp.trust.evidence import EventFacts
from webapp.web.api.letters import bundle_response, proof_response
from webapp.web.forms import ComposeForm
from webapp.web.policies import senders_only
from webapp.web.portal import bp
from webapp.web.portal.charts import Bar, Column, funnel_svg, stacked_columns_svg


def N_(message: str) -> str:
    """Marks a message for the catalogs without translating it here."""
    return message


# The deposit's own messages (webapp/letters/deposit.py), listed so that the
# catalogs carry them: the portal shows them in the sender's language.
DEPOSIT_MESSAGES = (
    N_("A mobile phone number is required."),
    N_("A phone number has only digits, spaces and + - . ( )."),
    N_("This is not a phone number."),
    N_("This phone number does not exist."),
    N_("This is not a mobile number: it cannot receive SMS."),
    N_("The document is empty."),
    N_("The document is not a PDF."),
    N_("The PDF is encrypted or password-protected."),
    N_("The PDF has no pages."),
    N_("The PDF is damaged and cannot be read."),
    N_("The recipient's name is required."),
    N_("The recipient's name is not valid."),
    N_("The recipient's email address is not valid."),
    N_("The sender's organisation has not been verified yet and cannot send."),
    N_("The sender has not confirmed their email address yet and cannot send."),
)

# When the deposit says something the catalogs do not know yet: a message per error code.
DEPOSIT_ERRORS = {
    "invalid_phone": _l("This is not a valid mobile phone number."),
    "invalid_document": _l("The document must be a readable PDF that is not password-protected."),
    "control_characters": _l("A name or a reference may not contain line breaks or control characters."),
    "organisation_not_verified": _l("Your organisation has not been verified yet: it cannot send letters."),
    "email_not_confirmed": _l("Confirm your email address first: until then you cannot send letters."),
}


# Issue 19: what the identification fields' refusals say.
EID_FIELD_ERRORS: dict[str, Any] = {
    "identification": _l(
        "Identification by national digital identity is not available, or an expected identity was given "
        "without it: choose national digital identity to have an identity checked."
    ),
    "expected_cin": _l("The expected identity number must be 4 to 20 letters and digits."),
    "expected_name": _l("The expected name is not valid."),
    "expected_birth_date": _l("The expected date of birth must be a real date, written YYYY-MM-DD."),
}


def deposit_error_message(exc: LetterError) -> str:
    """The deposit's refusal, in the page's language."""
    if exc.field in EID_FIELD_ERRORS:  # issue 19
        return str(EID_FIELD_ERRORS[exc.field])
    if isinstance(exc, DocumentTooLarge):
        megabytes = current_services().settings.max_document_bytes // (1024 * 1024)
        return str(_("The document is larger than %(size)d MB.", size=megabytes))
    if isinstance(exc, ActiveContentRefused):
        return str(
            _(
                "The PDF contains active content, which registered letters may not carry: %(found)s. Remove it "
                "(print the document to a new PDF, for instance) and send it again.",
                found=active_content_label(exc.found),
            )
        )
    translated = str(_(exc.message))
    if translated != exc.message or str(get_locale()) == "en":
        return translated
    return str(DEPOSIT_ERRORS.get(exc.code, _l("Check the form: a field is missing or not valid.")))


@bp.get("/")
def home() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for(".letters"))
    return render_template("portal/home.html")


def _htmx_refresh() -> bool:
    """An htmx request polling a page's live part (not a history restore, which needs the page)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"


def _answer(html: str, status: int = 200) -> Response:
    """A page or its live part: the same URL answers both, so caches must tell them apart."""
    response = make_response(html, status)
    response.vary.add("HX-Request")
    return response


PAGE_SIZE = 50
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y")


@dataclass(frozen=True)
class DashboardQuery:
    """The dashboard's GET form, read and checked: the filters, the page, and what was wrong."""

    filters: LetterFilter
    page: int
    args: dict[str, str]  # the form's values, as typed (for links and the form itself)
    errors: dict[str, str]


def _local_date(raw: str) -> date:
    for fmt in DATE_FORMATS:
        with contextlib.suppress(ValueError):
            return datetime.strptime(raw, fmt).date()  # noqa: DTZ007 - a calendar date, no time
    raise ValueError(raw)


def _local_midnight(day: date) -> datetime:
    """The start of a day in Morocco, where our senders are, as an aware time."""
    return datetime.combine(day, time(), tzinfo=MOROCCO)


def _dashboard_query() -> DashboardQuery:
    args = {name: (request.args.get(name) or "").strip() for name in ("status", "from", "to", "q")}
    errors: dict[str, str] = {}
    statuses: tuple[LetterStatus, ...] = ()
    if args["status"]:
        try:
            statuses = (LetterStatus(args["status"]),)
        except ValueError:
            errors["status"] = str(_("Choose a status from the list."))
    days: dict[str, date | None] = {"from": None, "to": None}
    for name in days:
        if args[name]:
            try:
                days[name] = _local_date(args[name])
            except ValueError:
                errors[name] = str(_("Enter a date as YYYY-MM-DD, for example 2026-03-31."))
    start, end = days["from"], days["to"]
    if start is not None and end is not None and start > end:
        errors["to"] = str(_("The end date is before the start date."))
    if len(args["q"]) > SEARCH_MAX_LENGTH:
        errors["q"] = str(_("Search for at most %(num)d characters.", num=SEARCH_MAX_LENGTH))
    page = request.args.get("page", "")
    try:
        filters = LetterFilter(
            statuses=statuses,
            deposited_from=_local_midnight(start) if start else None,
            deposited_before=_local_midnight(end + timedelta(days=1)) if end else None,
            search=args["q"],
        )
    except OverflowError:  # the last day of year 9999
        errors["to"] = str(_("Enter a date as YYYY-MM-DD, for example 2026-03-31."))
        filters = LetterFilter()
    return DashboardQuery(
        filters=filters,
        page=int(page) if page.isdigit() and 0 < int(page) < 100_000 else 1,
        args={name: value for name, value in args.items() if value},
        errors=errors,
    )


FUNNEL_LABELS = {
    "deposited": _l("Deposited"),
    "delivered": _l("Delivered to the phone"),
    "opened": _l("Opened (recipient identified)"),
    "accepted": STATUS_LABELS["accepted"],
    "refused": STATUS_LABELS["refused"],
    "neglected": STATUS_LABELS["neglected"],
    "undeliverable": STATUS_LABELS["undeliverable"],
}
OUTCOME_LABELS = {
    "in_progress": _l("In progress"),
    "accepted": STATUS_LABELS["accepted"],
    "refused": STATUS_LABELS["refused"],
    "neglected": STATUS_LABELS["neglected"],
    "undeliverable": STATUS_LABELS["undeliverable"],
}


def _number(value: int) -> str:
    return str(format_decimal(value))


def _dashboard_charts(filters: LetterFilter) -> dict[str, Any]:
    """The funnel and the monthly volume of the period the sender chose (status and search aside)."""
    organisation_id = current_user.organisation_id
    period = filters.dates_only()
    rtl = text_direction(str(get_locale())) == "rtl"
    funnel = delivery_funnel(db.session, organisation_id, period)
    months = monthly_volume(db.session, organisation_id, period, now=current_services().clock.now(), zone=MOROCCO)
    funnel_rows = [(str(FUNNEL_LABELS[stage]), value) for stage, value in funnel.stages()]
    locale = format_locale(str(get_locale()))  # Arabic month names as written in Morocco
    month_names = [str(format_date(volume.month, "MMMM yyyy", locale=locale)) for volume in months]
    outcome_labels = {key: str(label) for key, label in OUTCOME_LABELS.items()}
    return {
        "funnel_svg": funnel_svg(
            [Bar(stage, label, value) for (stage, _), (label, value) in zip(funnel.stages(), funnel_rows, strict=True)],
            title=str(_("Delivery funnel")),
            chart_id="chart-funnel",
            rtl=rtl,
            number=_number,
        ),
        "funnel_rows": funnel_rows,
        "monthly_svg": stacked_columns_svg(
            [
                Column(
                    str(format_date(volume.month, "LLL", locale=locale)),
                    [(key, volume.counts[key]) for key in OUTCOMES],
                )
                for volume in months
            ],
            outcome_labels,
            title=str(
                _("Letters deposited per month, %(first)s to %(last)s", first=month_names[0], last=month_names[-1])
            ),
            chart_id="chart-monthly",
            rtl=rtl,
            number=_number,
        ),
        "monthly_rows": list(zip(month_names, months, strict=True)),
        "outcomes": OUTCOMES,
        "outcome_labels": outcome_labels,
    }


def _dashboard_url(query: DashboardQuery, page: int) -> str:
    """The dashboard with the same filters, at `page`."""
    values: dict[str, Any] = {**query.args, "page": page}
    return url_for(".letters", **values)


@bp.get("/letters")
@senders_only
def letters() -> ResponseReturnValue:
    """The dashboard: the organisation's letters, filtered and searched, a page at a time, with
    the charts of the period.  To htmx, only the table's rows (their statuses change live)."""
    query = _dashboard_query()
    if query.errors:
        return _answer(render_template("portal/letters.html", query=query, statuses=LetterStatus), 422)
    organisation_id = current_user.organisation_id
    total = count_letters(db.session, organisation_id, query.filters)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(query.page, pages)
    rows = dashboard_page(db.session, organisation_id, query.filters, page=page, size=PAGE_SIZE)
    context: dict[str, Any] = {
        "letters": rows,
        "opened": opened_letter_ids(db.session, [letter.id for letter in rows]),
        # Poll while a letter shown may still change; the rows answered without it stop the polling.
        "live": any(letter.status not in FINAL_STATES for letter in rows),
        "rows_url": _dashboard_url(query, page),
    }
    if _htmx_refresh():
        # The rows, and the charts out of band: the funnel's counts move with the rows' statuses.
        return _answer(
            render_template("portal/_dash_rows.html", **context)
            + render_template("portal/_dash_charts.html", query=query, oob=True, **_dashboard_charts(query.filters))
        )
    return _answer(
        render_template(
            "portal/letters.html",
            query=query,
            statuses=LetterStatus,
            total=total,
            page=page,
            pages=pages,
            page_url=lambda number: _dashboard_url(query, number),
            **context,
            **_dashboard_charts(query.filters),
        )
    )


def can_send() -> bool:
    """The user may deposit: their address is confirmed and their organisation verified."""
    return bool(current_user.email_confirmed and current_user.organisation.is_verified)


def sending_gate(what: str) -> ResponseReturnValue:
    """What the organisation must do before it can send, instead of a form it could not use (403 to a POST)."""
    status = 403 if request.method == "POST" else 200
    return render_template("portal/sending_gate.html", what=what), status


@bp.route("/letters/new", methods=["GET", "POST"])
@senders_only
def compose() -> ResponseReturnValue:
    if not can_send():
        return sending_gate(_("Send a registered letter"))
    form = ComposeForm()
    services = current_services()
    draft = user_draft(db.session, services, _me(), form.draft.data) if request.method == "POST" else None
    if form.is_submitted():
        valid = form.validate()  # first: it resets every field's errors
        upload = form.document.data if form.document.data and form.document.data.filename else None
        data = upload.read(services.settings.max_document_bytes + 1) if upload is not None else None
        if data is not None and upload is not None:
            draft = _keep(upload.filename or "document.pdf", data, form) or draft
        elif draft is None:
            form.document.errors.append(_("Choose the PDF to send."))
        if valid and draft is not None and not form.document.errors:
            document = open_draft(services, draft) if data is None else data
            if document is None:
                form.document.errors.append(_("Choose the PDF to send."))
            else:
                letter = _deposit(form, draft, document)
                if letter is not None:
                    return redirect(url_for(".letter_detail", letter_id=letter.id), code=303)
        db.session.commit()  # the kept PDF stays for the corrected submission
    if draft is not None:
        form.draft.data = draft.id
    status = 422 if request.method == "POST" else 200
    # Issue 19: the identification choice shows only where an identity provider is configured.
    eid_available = bool(services.settings.identity_providers)
    return render_template("portal/compose.html", form=form, draft=draft, eid_available=eid_available), status


def _me() -> Any:
    return current_user._get_current_object()


def _keep(filename: str, data: bytes, form: ComposeForm) -> DraftDocument | None:
    """Keeps a newly chosen PDF for the corrected submission; a PDF that is itself wrong is refused beside
    its field instead (and not kept)."""
    try:
        draft = keep_draft(db.session, current_services(), _me(), filename, data)
    except LetterError as exc:
        form.document.errors.append(deposit_error_message(exc))
        return None
    db.session.commit()  # kept even if this submission fails on another field
    return draft


# A deposit error's field, as the compose form names it.
COMPOSE_FIELDS = {
    "document": "document",
    "recipient_phone": "recipient_phone",
    "recipient_name": "recipient_name",
    "recipient_email": "recipient_email",
    "channel": "recipient_email",
    "language": "language",
    "sender_reference": "sender_reference",
    "identification": "identification",
    "expected_cin": "expected_cin",
    "expected_name": "expected_name",
    "expected_birth_date": "expected_birth_date",
}


def _refused_beside_its_field(form: ComposeForm, exc: LetterError | None) -> None:
    """Shows a deposit's refusal beside the field it is about (at the top when it is about none)."""
    if exc is None:
        return
    field = COMPOSE_FIELDS.get(exc.field or "")
    if field is not None:
        form[field].errors.append(deposit_error_message(exc))
    else:
        flash(deposit_error_message(exc), "error")


def _deposit(form: ComposeForm, draft: DraftDocument, document: bytes) -> Letter | None:
    """Deposits the letter; a refusal goes beside its field (None), the kept PDF with it."""
    try:
        identity = clean_requirement(  # issue 19: the identification required, and the identity expected
            current_services().settings,
            form.identification.data,
            cin=form.expected_cin.data,
            name=form.expected_name.data,
            birth_date=form.expected_birth_date.data,
        )
    except LetterError as exc:
        _refused_beside_its_field(form, exc)
        return None
    request_ = DepositRequest(
        identity=identity,
        document=document,
        document_name=draft.filename,
        recipient_phone=form.recipient_phone.data,
        recipient_name=form.recipient_name.data,
        recipient_email=form.recipient_email.data or None,
        channel="email" if form.recipient_email.data else "sms",
        language=form.language.data,
        sender_reference=form.sender_reference.data or None,
        document_confidential=bool(form.document_confidential.data),
    )
    draft_id = draft.id
    try:
        letter = deposit_letter(db.session, current_services(), current_user, request_)
    except LetterError as exc:
        db.session.rollback()
        _refused_beside_its_field(form, exc)
        return None
    discard_draft(db.session, draft_id)
    db.session.commit()
    flash(_("Letter %(reference)s deposited. The recipient is being notified.", reference=letter.reference), "success")
    return letter


def _own_letter(letter_id: str) -> Letter:
    """A letter of the user's organisation; 404 for anyone else's."""
    try:
        return visible_letter(db.session, SenderActor(current_user), letter_id)
    except LetterNotFound:
        abort(404)


CHANNEL_NAMES = {"sms": _l("SMS"), "email": _l("Email")}
MESSAGE_STATUS_LABELS = {
    "pending": _l("Waiting to be sent"),
    "submitting": _l("Being sent"),
    "sent": _l("Sent"),
    "failed": _l("Failed"),
    "uncertain": _l("Sending could not be confirmed"),
    "cancelled": _l("Not sent: no longer needed"),
}


@dataclass(frozen=True)
class TimelineEntry:
    evidence_id: str
    at: datetime
    label: str
    detail: str | None = None


def _timeline_label(event: str, channel: str | None, reminder: int | None, reason: str | None = None) -> str:
    """What happened, naming the channel when a letter has more than one."""
    if event == "ConsignmentReminder" and reason == "resend":
        if channel == "email":
            return str(_("Notification sent again by email, at the sender's request"))
        return str(_("Notification sent again by SMS, at the sender's request"))
    if event == "ConsignmentReminder" and reason == "support":
        if channel == "email":
            return str(_("Notification sent again by email by our support team"))
        return str(_("Notification sent again by SMS by our support team"))
    if event == "ConsignmentNotification" and channel == "email":
        return str(_("Recipient notified by email"))
    if event == "ConsignmentReminder":
        if channel == "email":
            return str(_("Reminder %(number)s sent by email", number=reminder or ""))
        return str(_("Reminder %(number)s sent by SMS", number=reminder or ""))
    if event == "ConsignmentNotificationFailure" and channel == "email":
        return str(_("Email notification failed"))
    if event == "ConsignmentNotificationFailure" and channel == "sms":
        return str(_("SMS notification failed"))
    return str(EVENT_LABELS.get(event, event))


def timeline(events: Iterable[EventFacts | Evidence]) -> list[TimelineEntry]:
    entries = []
    for item in events:
        event = item if isinstance(item, EventFacts) else EventFacts.of(item)
        label = _timeline_label(event.event, event.channel, event.reminder, event.sent_again_by)
        reason = event.reason if event.event == "ConsignmentNotificationFailure" else None
        if event.details.get("method") == "eid":  # issue 19: identification by national digital identity
            label = str(event_label(event.event, event.details))
            failure = event.details.get("reason") if event.event == "RecipientIdentificationFailure" else None
            reason = str(EID_FAILURE_LABELS.get(failure, failure)) if isinstance(failure, str) else None
        entries.append(TimelineEntry(event.evidence_id, event.at, label, reason))
    return entries


def _letter_context(letter: LetterView) -> dict[str, Any]:
    """What the letter's page shows of it: its notifications, proofs and timeline."""
    return {
        "letter": letter,
        "events": timeline(letter.timeline),
        "proofs": letter.proofs,
        "notifications": [(message, _notification_label(message)) for message in letter.notifications],
        "channel_names": CHANNEL_NAMES,
        "message_status_labels": MESSAGE_STATUS_LABELS,
        # Poll while the letter may still change or a proof is still being produced.
        "live": letter.live,
        "retention_years": current_services().settings.document_retention_years,
    }


def _notification_label(message: MessageView | OutboundMessage) -> str:
    """Which notification this was: the first, a scheduled reminder, or one sent again by hand."""
    if isinstance(message, OutboundMessage):
        by_agent, by_user = bool(message.requested_by_agent_id), bool(message.requested_by_user_id)
    else:
        by_agent, by_user = message.requested_by == "support", message.requested_by == "sender"
    if by_agent:
        return str(_("Sent again by our support team"))
    if by_user:
        return str(_("Sent again at your request"))
    if message.reminder_number:
        return str(_("Reminder %(number)s", number=message.reminder_number))
    return str(_("Notification"))


@bp.get("/letters/<letter_id>")
@senders_only
def letter_detail(letter_id: str) -> ResponseReturnValue:
    """The letter's page; to htmx, only its live part (status, notifications, proofs, timeline)."""
    try:
        letter = letter_for(db.session, SenderActor(current_user), letter_id)
    except LetterNotFound:
        abort(404)
    template = "portal/_letter_live.html" if _htmx_refresh() else "portal/letter.html"
    return _answer(render_template(template, **_letter_context(letter)))


@bp.post("/letters/<letter_id>/resend")
@senders_only
@limiter.limit("30/hour")
def resend(letter_id: str) -> ResponseReturnValue:
    """ "Send the notification again" (relance): a fresh link, recorded as evidence, limited per letter."""
    letter = _own_letter(letter_id)
    try:
        resend_notification(db.session, current_services(), letter, current_user)
    except ResendLimited as exc:
        db.session.rollback()
        minutes = max(1, -(-exc.retry_after // 60))
        flash(
            _("The notification was sent again recently. You can send it again in %(num)d min.", num=minutes), "error"
        )
    except LetterError:
        db.session.rollback()
        flash(
            _("This letter cannot be sent again: the recipient has answered, identified, or the deadline passed."),
            "error",
        )
    else:
        db.session.commit()
        flash(_("The notification is being sent again, with a new link."), "success")
    return redirect(url_for(".letter_detail", letter_id=letter.id), code=303)


@bp.post("/letters/<letter_id>/legal-hold")
@senders_only
def legal_hold(letter_id: str) -> ResponseReturnValue:
    """The organisation's admin places or lifts a legal hold on the letter's document, with a reason."""
    place = request.form.get("action") != "lift"
    try:
        change_hold_as_sender(
            db.session, current_services(), current_user, letter_id, place=place, reason=request.form.get("reason", "")
        )
    except LetterNotFound:
        abort(404)
    except HoldForbidden:
        db.session.rollback()
        abort(403)
    except HoldRefused:
        db.session.rollback()
        flash(_("The legal hold could not be changed: give a reason of at least 5 characters."), "error")
    else:
        flash(_("Legal hold placed.") if place else _("Legal hold lifted."), "success")
    return redirect(url_for(".letter_detail", letter_id=letter_id), code=303)


@bp.get("/letters/<letter_id>/bundle")
@senders_only
@writes  # its work writes (a checkpoint, a download's evidence): its transactions take the lock
def download_bundle(letter_id: str) -> ResponseReturnValue:
    """The dispute bundle a lawyer hands to a court expert (see `trust.bundle`)."""
    try:
        bundle = dispute_bundle(db.session, current_services(), SenderActor(current_user), letter_id)
    except LetterNotFound:
        abort(404)
    return bundle_response(bundle)


@bp.get("/letters/<letter_id>/proofs/<kind>")
@senders_only
def download_proof(letter_id: str, kind: str) -> ResponseReturnValue:
    try:
        proof = open_proof(db.session, current_services(), SenderActor(current_user), letter_id, kind)
    except (LetterNotFound, ProofNotAvailable, ProofPending):
        abort(404)
    return proof_response(proof)
