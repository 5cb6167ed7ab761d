"""The sender portal: log in, deposit a letter, follow its timeline."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, Response, abort, flash, make_response, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_date, format_decimal, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from webapp.accounts import CodeRejected, authenticate, check_second_factor, user_for_session
from webapp.extensions import db, limiter, login_manager
from webapp.i18n import text_direction
from webapp.labels import EVENT_LABELS, STATUS_LABELS
from webapp.letters.deposit import DepositRequest, deposit_letter
from webapp.letters.errors import DocumentTooLarge, LetterError
from webapp.letters.queries import SEARCH_MAX_LENGTH, LetterFilter, count_letters, organisation_letters
from webapp.letters.resend import ResendLimited, resend_notification
from webapp.letters.states import FINAL_STATES, LetterStatus
from webapp.letters.stats import OUTCOMES, delivery_funnel, monthly_volume
from webapp.models import (
    Agent,
    Evidence,
    Letter,
    MessagePurpose,
    OutboundMessage,
    Proof,
    ProofKind,
    ProofStatus,
    User,
)
from webapp.notify.texts import MOROCCO
from webapp.services import current_services
from webapp.trust.bundle import dispute_bundle
from webapp.trust.proofs import ProofNotReady, read_proof
from webapp.web.api.letters import bundle_response, proof_response
from webapp.web.forms import ComposeForm, LoginForm, SecondFactorForm
from webapp.web.portal.charts import Bar, Column, funnel_svg, stacked_columns_svg

bp = Blueprint("portal", __name__)

login_manager.login_view = "portal.login"
login_manager.login_message = None
login_manager.session_protection = "strong"


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
    "organisation_not_verified": _l("Your organisation has not been verified yet: it cannot send letters."),
    "email_not_confirmed": _l("Confirm your email address first: until then you cannot send letters."),
}


def deposit_error_message(exc: LetterError) -> str:
    """The deposit's refusal, in the page's language."""
    if isinstance(exc, DocumentTooLarge):
        megabytes = current_services().settings.max_document_bytes // (1024 * 1024)
        return str(_("The document is larger than %(size)d MB.", size=megabytes))
    translated = str(_(exc.message))
    if translated != exc.message or str(get_locale()) == "en":
        return translated
    return str(DEPOSIT_ERRORS.get(exc.code, _l("Check the form: a field is missing or not valid.")))


@login_manager.user_loader
def _load_user(session_id: str) -> User | Agent | None:
    """Senders outside the support console, agents inside it, never the other way round."""
    from webapp.support.agents import agent_for_session
    from webapp.web.support.console import SUPPORT_BLUEPRINTS

    if request.blueprint in SUPPORT_BLUEPRINTS:
        return agent_for_session(db.session, session_id)
    return user_for_session(db.session, session_id)


# Between the password and the second factor: who, with which session epoch, since when.
PENDING_2FA = "pending_2fa"
PENDING_2FA_TTL = 300  # seconds to type the code


def _pending_user() -> User | None:
    """The user half logged in (right password, code still to give), if that state is still fresh."""
    pending = session.get(PENDING_2FA)
    if not isinstance(pending, dict):
        return None
    now = current_services().clock.now().timestamp()
    if not isinstance(pending.get("at"), (int, float)) or now - pending["at"] > PENDING_2FA_TTL:
        session.pop(PENDING_2FA, None)
        return None
    user = user_for_session(db.session, str(pending.get("id", "")))
    return user if user is not None and user.has_two_factor else None


@bp.after_request
def _private(response: ResponseReturnValue) -> ResponseReturnValue:
    from flask import Response

    if isinstance(response, Response):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.get("/")
def home() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for(".letters"))
    return render_template("portal/home.html")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
def login() -> ResponseReturnValue:
    form = LoginForm()
    if form.validate_on_submit():
        services = current_services()
        user = authenticate(db.session, services.clock, form.email.data, form.password.data)
        db.session.commit()  # failures count, even when the answer is no
        if user is not None and user.has_two_factor:
            logout_user()
            session[PENDING_2FA] = {"id": user.get_id(), "at": services.clock.now().timestamp()}
            return redirect(url_for(".login_code"), code=303)
        if user is not None:
            session.pop(PENDING_2FA, None)
            login_user(user)
            return redirect(url_for(".letters"), code=303)
        # The same words for an unknown email, a wrong password and a locked account.
        flash(_("Wrong email or password. After 10 failed attempts, logging in is blocked for 15 minutes."), "error")
    return render_template("portal/login.html", form=form)


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
def login_code() -> ResponseReturnValue:
    """The second step of logging in: a code of the authenticator app, or a recovery code."""
    user = _pending_user()
    if user is None:
        return redirect(url_for(".login"), code=303)
    form = SecondFactorForm()
    if form.validate_on_submit():
        services = current_services()
        try:
            check_second_factor(db.session, services.clock, services.vault, user, form.code.data)
        except CodeRejected:
            db.session.commit()
            flash(_("Wrong or already used code. After 10 failed codes, this step is blocked for 15 minutes."), "error")
        else:
            db.session.commit()
            session.pop(PENDING_2FA, None)
            login_user(user)
            return redirect(url_for(".letters"), code=303)
    return render_template("portal/login_code.html", form=form)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    logout_user()
    session.pop(PENDING_2FA, None)
    return redirect(url_for(".login"), code=303)


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
    month_names = [str(format_date(volume.month, "MMMM yyyy")) for volume in months]
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
                Column(str(format_date(volume.month, "LLL")), [(key, volume.counts[key]) for key in OUTCOMES])
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
@login_required
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
    rows = list(
        db.session.execute(
            organisation_letters(organisation_id, query.filters).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
        ).scalars()
    )
    context: dict[str, Any] = {
        "letters": rows,
        # Poll while a letter shown may still change; the rows answered without it stop the polling.
        "live": any(letter.status not in FINAL_STATES for letter in rows),
        "rows_url": _dashboard_url(query, page),
    }
    if _htmx_refresh():
        return _answer(render_template("portal/_dash_rows.html", **context))
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


@bp.route("/letters/new", methods=["GET", "POST"])
@login_required
def compose() -> ResponseReturnValue:
    form = ComposeForm()
    error_field = None
    if form.validate_on_submit():
        services = current_services()
        upload = form.document.data
        data = upload.read(services.settings.max_document_bytes + 1)
        request_ = DepositRequest(
            document=data,
            document_name=upload.filename or "document.pdf",
            recipient_phone=form.recipient_phone.data,
            recipient_name=form.recipient_name.data,
            recipient_email=form.recipient_email.data or None,
            channel="email" if form.recipient_email.data else "sms",
            language=form.language.data,
            sender_reference=form.sender_reference.data or None,
            document_confidential=bool(form.document_confidential.data),
        )
        try:
            letter = deposit_letter(db.session, services, current_user, request_)
        except LetterError as exc:
            db.session.rollback()
            error_field = exc.field
            flash(deposit_error_message(exc), "error")
        else:
            db.session.commit()
            flash(
                _(
                    "Letter %(reference)s deposited. The recipient is being notified.",
                    reference=letter.reference,
                ),
                "success",
            )
            return redirect(url_for(".letter_detail", letter_id=letter.id), code=303)
    status = 422 if request.method == "POST" else 200
    return render_template("portal/compose.html", form=form, error_field=error_field), status


def _own_letter(letter_id: str) -> Letter:
    """A letter of the user's organisation; 404 for anyone else's."""
    letter = db.session.execute(
        select(Letter).where(Letter.id == letter_id, Letter.organisation_id == current_user.organisation_id)
    ).scalar_one_or_none()
    if letter is None:
        abort(404)
    return letter


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


def timeline(events: Sequence[Evidence]) -> list[TimelineEntry]:
    entries = []
    for event in events:
        details = event.details
        notification = details.get("notification")
        if not isinstance(notification, dict):
            notification = {}
        label = _timeline_label(
            event.event, notification.get("channel"), notification.get("reminder"), notification.get("reason")
        )
        reason = details.get("reason") if event.event == "ConsignmentNotificationFailure" else None
        entries.append(TimelineEntry(event.id, event.at, label, reason))
    return entries


def _letter_context(letter: Letter) -> dict[str, Any]:
    """What the letter's page shows of it: its notifications, proofs and timeline."""
    events = (
        db.session.execute(select(Evidence).where(Evidence.letter_id == letter.id).order_by(Evidence.seq))
        .scalars()
        .all()
    )
    proofs = list(
        db.session.execute(select(Proof).where(Proof.letter_id == letter.id).order_by(Proof.created_at)).scalars()
    )
    notifications = db.session.execute(
        select(OutboundMessage)
        .where(OutboundMessage.letter_id == letter.id, OutboundMessage.purpose != MessagePurpose.CODE)
        .order_by(OutboundMessage.created_at, OutboundMessage.channel)
    ).scalars()
    return {
        "letter": letter,
        "events": timeline(events),
        "proofs": proofs,
        "notifications": [(message, _notification_label(message)) for message in notifications],
        "channel_names": CHANNEL_NAMES,
        "message_status_labels": MESSAGE_STATUS_LABELS,
        # Poll while the letter may still change or a proof is still being produced.
        "live": letter.status not in FINAL_STATES or any(proof.status is not ProofStatus.READY for proof in proofs),
    }


def _notification_label(message: OutboundMessage) -> str:
    """Which notification this was: the first, a scheduled reminder, or one sent again by hand."""
    # `requested_by_agent_id` comes with the support console; read it only where it exists.
    if getattr(message, "requested_by_agent_id", None):
        return str(_("Sent again by our support team"))
    if message.requested_by_user_id:
        return str(_("Sent again at your request"))
    if message.reminder_number:
        return str(_("Reminder %(number)s", number=message.reminder_number))
    return str(_("Notification"))


@bp.get("/letters/<letter_id>")
@login_required
def letter_detail(letter_id: str) -> ResponseReturnValue:
    """The letter's page; to htmx, only its live part (status, notifications, proofs, timeline)."""
    letter = _own_letter(letter_id)
    template = "portal/_letter_live.html" if _htmx_refresh() else "portal/letter.html"
    return _answer(render_template(template, **_letter_context(letter)))


@bp.post("/letters/<letter_id>/resend")
@login_required
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


@bp.get("/letters/<letter_id>/bundle")
@login_required
def download_bundle(letter_id: str) -> ResponseReturnValue:
    """The dispute bundle a lawyer hands to a court expert (see `trust.bundle`)."""
    letter = _own_letter(letter_id)
    return bundle_response(dispute_bundle(db.session, current_services(), letter))


@bp.get("/letters/<letter_id>/proofs/<kind>")
@login_required
def download_proof(letter_id: str, kind: str) -> ResponseReturnValue:
    letter = _own_letter(letter_id)
    try:
        proof_kind = ProofKind(kind)
        data = read_proof(db.session, current_services(), letter, proof_kind)
    except (ValueError, ProofNotReady):
        abort(404)
    return proof_response(data, letter, proof_kind)
