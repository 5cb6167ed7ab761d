"""The support console at /support, for the service's own agents: find a letter, follow it, act, never read it.

Only agents reach it (`webapp.web.policies`: sessions name agents only on the staff blueprints, and
`staff_only` guards each page); an agent logs in with a password and a mandatory TOTP code, enrolled at
the first log-in (`LoginFlow`), and the session ends after SUPPORT_IDLE_MINUTES without a request.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length

from webapp.accounts.errors import AccountError
from webapp.extensions import db, limiter
from webapp.letters.errors import LetterError, LetterNotFound
from webapp.letters.read import AgentActor, visible_letter
from webapp.letters.resend import ResendLimited
from webapp.models import Agent, Letter
from webapp.services import current_services
from webapp.support.actions import (
    MIN_REASON_LENGTH,
    MessageNotFound,
    NoChannelChosen,
    ReasonRequired,
    resend_for_agent,
    retry_message,
    unlock_recipient,
)
from webapp.support.agents import (
    AgentError,
    agent_by_id,
    agent_for_session,
    all_agents,
    authenticate_agent,
    create_agent,
    record_agent_login,
    reset_agent_two_factor,
    set_agent_active,
)
from webapp.support.audit import AuditAction, audit_entries, letter_references, record_action
from webapp.support.casefile import attention_queue, letter_case
from webapp.web.forms import SingleLine
from webapp.web.login_flow import LoginFlow
from webapp.web.policies import STAFF_LAST_SEEN, no_store, staff_now, staff_only

bp = Blueprint("support", __name__, url_prefix="/support")
no_store(bp, vary=("HX-Request", "Cookie"))


class AgentCodeForm(FlaskForm):  # type: ignore[misc]
    code = StringField(
        _l("Code from your authenticator app"), validators=[SingleLine(), DataRequired(), Length(max=20)]
    )


def _reason_field() -> TextAreaField:
    return TextAreaField(
        _l("Reason (who asked, what for): kept in the audit log"),
        validators=[
            DataRequired(),
            Length(
                min=MIN_REASON_LENGTH,
                max=500,
                message=_l("Write a reason of at least %(num)d characters.", num=MIN_REASON_LENGTH),
            ),
        ],
    )


class ReasonForm(FlaskForm):  # type: ignore[misc]
    reason = _reason_field()


class ResendForm(FlaskForm):  # type: ignore[misc]
    sms = BooleanField(_l("By SMS, to the number on record"), default=True)
    email = BooleanField(_l("By email, to the address on record"))
    reason = _reason_field()


class NewAgentForm(FlaskForm):  # type: ignore[misc]
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField(
        _l("Password (at least 12 characters)"),
        validators=[DataRequired(), Length(min=12, max=200, message=_l("At least 12 characters."))],
    )
    operator_admin = BooleanField(_l("Operator admin: also manages agents"))


def current_agent() -> Agent:
    """The agent of this console request (only call it under `staff_only`)."""
    agent = current_user._get_current_object()  # the proxied object, to check its type
    if not isinstance(agent, Agent):
        abort(404)
    return agent


@bp.app_context_processor
def _console_links() -> dict[str, Any]:
    """The operations view's address for the console's menu, once its blueprint exists."""

    def operations_url() -> str | None:
        return url_for("support_ops.index") if "support_ops.index" in current_app.view_functions else None

    return {"support_operations_url": operations_url}


def _start_console_session(agent: Agent) -> None:
    record_agent_login(current_services().clock, agent)
    session[STAFF_LAST_SEEN] = staff_now()


AGENT_LOGIN: LoginFlow[Agent] = LoginFlow(
    pending_key="support_pending",
    authenticate=authenticate_agent,
    account_for_session=agent_for_session,
    login_template="support/login.html",
    code_template="support/login_code.html",
    code_form=AgentCodeForm,
    home_endpoint=".search",
    enrol_template="support/enrol.html",
    enrolling_key="support_enrolling_totp",
    on_login=_start_console_session,
    logout_keys=(STAFF_LAST_SEEN,),
)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
def login() -> ResponseReturnValue:
    return AGENT_LOGIN.password_step()


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
def login_code() -> ResponseReturnValue:
    return AGENT_LOGIN.code_step()


@bp.route("/login/enrol", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
def enrol() -> ResponseReturnValue:
    """First log-in: two-factor is mandatory, so the agent enrols an authenticator before seeing anything."""
    return AGENT_LOGIN.enrol_step()


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    return AGENT_LOGIN.log_out()


@bp.get("/")
@staff_only
def search() -> ResponseReturnValue:
    from webapp.support.search import search_letters

    query = request.args.get("q", "").strip()[:254]
    results = search_letters(db.session, query) if query else []
    return render_template("support/search.html", query=query, results=results)


def _letter(letter_id: str) -> Letter:
    try:
        return visible_letter(db.session, AgentActor(current_agent()), letter_id)
    except LetterNotFound:
        abort(404)


def _letter_page(letter: Letter, *, resend_form: ResendForm | None = None, status: int = 200) -> ResponseReturnValue:
    page = render_template(
        "support/letter.html",
        case=letter_case(db.session, current_agent(), letter.id),
        audit=audit_entries(db.session, letter_id=letter.id, limit=50),
        resend_form=resend_form or ResendForm(sms=True, email=letter.channel == "email"),
        reason_form=ReasonForm(),
    )
    return page, status


def _back_to(letter: Letter) -> ResponseReturnValue:
    target = request.form.get("next")
    if target == "attention":
        return redirect(url_for(".attention"), code=303)
    return redirect(url_for(".letter", letter_id=letter.id), code=303)


@bp.get("/letters/<letter_id>")
@staff_only
def letter(letter_id: str) -> ResponseReturnValue:
    """Metadata, timeline, messages, codes and proofs' status; never the document or a key."""
    return _letter_page(_letter(letter_id))


@bp.post("/letters/<letter_id>/resend")
@staff_only
@limiter.limit("30/hour")
def resend(letter_id: str) -> ResponseReturnValue:
    letter = _letter(letter_id)
    form = ResendForm()
    if not form.validate_on_submit():
        flash(_("Write a reason of at least %(num)d characters.", num=MIN_REASON_LENGTH), "error")
        return _back_to(letter)
    channels = [name for name, chosen in (("sms", form.sms.data), ("email", form.email.data)) if chosen]
    try:
        resend_for_agent(
            db.session, current_services(), current_agent(), letter, channels=channels, reason=form.reason.data
        )
    except ResendLimited as exc:
        db.session.rollback()
        minutes = max(1, -(-exc.retry_after // 60))
        flash(
            _("The notification was sent again recently. You can send it again in %(num)d min.", num=minutes), "error"
        )
    except NoChannelChosen:
        db.session.rollback()
        flash(_("Choose SMS, email or both."), "error")
    except ReasonRequired:
        db.session.rollback()
        flash(_("Write a reason of at least %(num)d characters.", num=MIN_REASON_LENGTH), "error")
    except LetterError:
        db.session.rollback()
        flash(
            _(
                "This letter cannot be sent again: it is not waiting for the recipient, the recipient has "
                "identified or is locked out, the deadline passed, or no chosen channel is left."
            ),
            "error",
        )
    else:
        db.session.commit()
        flash(_("The notification is being sent again, with a new link. The sender sees it on the letter."), "success")
    return _back_to(letter)


@bp.post("/letters/<letter_id>/unlock")
@staff_only
@limiter.limit("30/hour")
def unlock(letter_id: str) -> ResponseReturnValue:
    letter = _letter(letter_id)
    form = ReasonForm()
    if not form.validate_on_submit():
        flash(_("Write a reason of at least %(num)d characters.", num=MIN_REASON_LENGTH), "error")
        return _back_to(letter)
    try:
        unlock_recipient(db.session, current_services(), current_agent(), letter, reason=form.reason.data)
    except (LetterError, ReasonRequired):
        db.session.rollback()
        flash(_("This letter is not locked, or is closed: there is nothing to unlock."), "error")
    else:
        db.session.commit()
        flash(_("The recipient can ask for a code again."), "success")
    return _back_to(letter)


@bp.post("/letters/<letter_id>/messages/<message_id>/retry")
@staff_only
@limiter.limit("30/hour")
def retry(letter_id: str, message_id: str) -> ResponseReturnValue:
    letter = _letter(letter_id)
    form = ReasonForm()
    if not form.validate_on_submit():
        flash(_("Write a reason of at least %(num)d characters.", num=MIN_REASON_LENGTH), "error")
        return _back_to(letter)
    try:
        retry_message(db.session, current_services(), current_agent(), letter, message_id, reason=form.reason.data)
    except MessageNotFound:
        db.session.rollback()
        abort(404)
    except (LetterError, ReasonRequired):
        db.session.rollback()
        flash(_("This message cannot be retried: it was sent, failed for good, or its letter is closed."), "error")
    else:
        db.session.commit()
        flash(_("The message is being sent again."), "success")
    return _back_to(letter)


@bp.get("/attention")
@staff_only
def attention() -> ResponseReturnValue:
    """Letters needing a person: locked out, repeated wrong codes, failed or stuck messages, undeliverable."""
    rows = attention_queue(db.session, current_services().clock, current_agent())
    return render_template("support/attention.html", rows=rows, reason_form=ReasonForm())


@bp.get("/audit")
@staff_only
def audit_log() -> ResponseReturnValue:
    """Read-only: the log has no edit or delete path, and the database refuses both."""
    agent_id = request.args.get("agent", "").strip()[:36] or None
    letter_id = request.args.get("letter", "").strip()[:36] or None
    agents = {agent.id: agent.email for agent in all_agents(db.session)}
    entries = audit_entries(db.session, agent_id=agent_id, letter_id=letter_id)
    return render_template(
        "support/audit.html",
        entries=entries,
        agents=agents,
        references=letter_references(db.session, entries),
        agent_id=agent_id,
        letter_id=letter_id,
    )


def _operator_admin() -> Agent:
    agent = current_agent()
    if not agent.is_operator_admin:
        abort(404)
    return agent


def _agents_page(form: NewAgentForm, status: int = 200) -> ResponseReturnValue:
    return render_template("support/agents.html", agents=all_agents(db.session), form=form), status


@bp.get("/agents")
@staff_only
def agents() -> ResponseReturnValue:
    _operator_admin()
    return _agents_page(NewAgentForm())


@bp.post("/agents")
@staff_only
def create_agent_view() -> ResponseReturnValue:
    admin = _operator_admin()
    form = NewAgentForm()
    if not form.validate_on_submit():
        return _agents_page(form, 422)
    services = current_services()
    try:
        agent = create_agent(
            db.session,
            services.clock,
            email=form.email.data,
            password=form.password.data,
            operator_admin=form.operator_admin.data,
        )
        db.session.flush()
    except AccountError:
        db.session.rollback()
        flash(_("This agent cannot be created: the email is taken, or the password is too weak."), "error")
        return _agents_page(form, 422)
    record_action(
        db.session,
        services.clock,
        admin,
        AuditAction.CREATE_AGENT,
        details={"agent_id": agent.id, "operator_admin": agent.is_operator_admin},
    )
    db.session.commit()
    flash(_("Agent created. Two-factor authentication will be set up at their first log-in."), "success")
    return redirect(url_for(".agents"), code=303)


@bp.post("/agents/<agent_id>/<any(deactivate, reactivate, reset_two_factor):operation>")
@staff_only
def change_agent(agent_id: str, operation: str) -> ResponseReturnValue:
    admin = _operator_admin()
    agent = agent_by_id(db.session, agent_id)
    if agent is None:
        abort(404)
    form = ReasonForm()
    if not form.validate_on_submit():
        flash(_("Write a reason of at least %(num)d characters.", num=MIN_REASON_LENGTH), "error")
        return redirect(url_for(".agents"), code=303)
    try:
        if operation == "reset_two_factor":
            reset_agent_two_factor(admin, agent)
            action = AuditAction.RESET_AGENT_TWO_FACTOR
        else:
            set_agent_active(admin, agent, operation == "reactivate")
            action = AuditAction.REACTIVATE_AGENT if operation == "reactivate" else AuditAction.DEACTIVATE_AGENT
    except AgentError:
        db.session.rollback()
        flash(_("You cannot deactivate yourself."), "error")
        return redirect(url_for(".agents"), code=303)
    record_action(
        db.session, current_services().clock, admin, action, reason=form.reason.data, details={"agent_id": agent.id}
    )
    db.session.commit()
    flash(_("Done."), "success")
    return redirect(url_for(".agents"), code=303)
