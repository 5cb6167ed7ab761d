"""The sender portal: log in, deposit a letter, follow its timeline."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from webapp.accounts import CodeRejected, authenticate, check_second_factor, user_for_session
from webapp.extensions import db, limiter, login_manager
from webapp.letters.deposit import DepositRequest, deposit_letter
from webapp.letters.errors import DocumentTooLarge, LetterError
from webapp.letters.resend import ResendLimited, resend_notification
from webapp.models import Evidence, Letter, MessagePurpose, OutboundMessage, Proof, ProofKind, User
from webapp.services import current_services
from webapp.trust.proofs import ProofNotReady, read_proof
from webapp.web.api import proof_response
from webapp.web.forms import ComposeForm, LoginForm, SecondFactorForm
from webapp.web.templating import EVENT_LABELS

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
)

# When the deposit says something the catalogs do not know yet: a message per error code.
DEPOSIT_ERRORS = {
    "invalid_phone": _l("This is not a valid mobile phone number."),
    "invalid_document": _l("The document must be a readable PDF that is not password-protected."),
    "organisation_not_verified": _l("Your organisation has not been verified yet: it cannot send letters."),
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
def _load_user(session_id: str) -> User | None:
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


@bp.get("/letters")
@login_required
def letters() -> ResponseReturnValue:
    rows = (
        db.session.execute(
            select(Letter)
            .where(Letter.organisation_id == current_user.organisation_id)
            .order_by(Letter.deposited_at.desc())
            .limit(100)
        )
        .scalars()
        .all()
    )
    return render_template("portal/letters.html", letters=rows)


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
        details = json.loads(event.canonical).get("details") or {}
        notification = details.get("notification")
        if not isinstance(notification, dict):
            notification = {}
        label = _timeline_label(
            event.event, notification.get("channel"), notification.get("reminder"), notification.get("reason")
        )
        reason = details.get("reason") if event.event == "ConsignmentNotificationFailure" else None
        entries.append(TimelineEntry(event.id, event.occurred_at, label, reason))
    return entries


@bp.get("/letters/<letter_id>")
@login_required
def letter_detail(letter_id: str) -> ResponseReturnValue:
    letter = _own_letter(letter_id)
    events = (
        db.session.execute(select(Evidence).where(Evidence.letter_id == letter.id).order_by(Evidence.seq))
        .scalars()
        .all()
    )
    proofs = db.session.execute(select(Proof).where(Proof.letter_id == letter.id).order_by(Proof.created_at)).scalars()
    notifications = db.session.execute(
        select(OutboundMessage)
        .where(OutboundMessage.letter_id == letter.id, OutboundMessage.purpose != MessagePurpose.CODE)
        .order_by(OutboundMessage.created_at, OutboundMessage.channel)
    ).scalars()
    return render_template(
        "portal/letter.html",
        letter=letter,
        events=timeline(events),
        proofs=list(proofs),
        notifications=list(notifications),
        channel_names=CHANNEL_NAMES,
        message_status_labels=MESSAGE_STATUS_LABELS,
    )


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
