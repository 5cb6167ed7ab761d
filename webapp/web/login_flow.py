"""Logging in with a password, then a second factor: one flow for the portal's senders and the console's agents.

Each blueprint declares a `LoginFlow` (who logs in, its pages and form, where a logged-in account
lands, whether two-factor is mandatory) and routes its own URLs, with their rate limits, to the
flow's steps.  The steps, the half-logged-in state between them, the throttles (`webapp.accounts`)
and the messages are the same for both, so that a fix to one log-in is a fix to the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flask import flash, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import login_user, logout_user

from webapp.accounts.errors import CodeRejected
from webapp.accounts.two_factor import Enrolment, confirm_enrolment, enrolment, verify_second_factor
from webapp.clock import Clock
from webapp.extensions import DbSession, db
from webapp.models import Agent, User
from webapp.services import current_services
from webapp.web.forms import LoginForm

A = TypeVar("A", User, Agent)

PENDING_TTL = 300  # seconds to give the code (or enrol) after the password


def _nothing(account: Any) -> None:
    return None


@dataclass(frozen=True)
class LoginFlow(Generic[A]):
    """The log-in of one kind of account.  Its blueprint routes `login`, `login_code`, `logout` (and
    `enrol` when two-factor is mandatory) to `password_step`, `code_step`, `log_out` (and `enrol_step`)."""

    # The session key of the half-logged-in state: which account, with which session epoch, since when.
    pending_key: str
    authenticate: Callable[[DbSession, Clock, str, str], A | None]  # the password step, throttled
    account_for_session: Callable[[DbSession, str], A | None]
    login_template: str
    code_template: str
    code_form: Callable[[], Any]
    home_endpoint: str  # where a logged-in account lands
    # Set when two-factor is mandatory: an account without it enrols an authenticator before logging in.
    enrol_template: str | None = None
    enrolling_key: str | None = None  # the session key of the secret being enrolled
    # Run once both factors are given, before the commit (e.g. the console's last log-in and idle clock).
    on_login: Callable[[A], None] = _nothing
    logout_keys: tuple[str, ...] = ()  # more session keys that log-out forgets

    def password_step(self) -> ResponseReturnValue:
        form = LoginForm()
        if form.validate_on_submit():
            services = current_services()
            account = self.authenticate(db.session, services.clock, form.email.data, form.password.data)
            db.session.commit()  # failures count, even when the answer is no
            if account is not None and (account.has_two_factor or self.enrol_template is not None):
                logout_user()
                session[self.pending_key] = {"id": account.get_id(), "at": services.clock.now().timestamp()}
                return redirect(url_for(".login_code" if account.has_two_factor else ".enrol"), code=303)
            if account is not None:
                return self._complete(account)
            # The same words for an unknown email, a wrong password and a locked account.
            flash(
                _("Wrong email or password. After 10 failed attempts, logging in is blocked for 15 minutes."), "error"
            )
        return render_template(self.login_template, form=form)

    def code_step(self) -> ResponseReturnValue:
        """The second step: a code of the authenticator app (or, for a sender, a recovery code)."""
        account = self._pending()
        if account is None or not account.has_two_factor:
            return redirect(url_for(".login"), code=303)
        form = self.code_form()
        if form.validate_on_submit():
            try:
                verify_second_factor(db.session, current_services(), account, form.code.data)
            except CodeRejected:
                db.session.commit()  # the failure counts
                flash(
                    _("Wrong or already used code. After 10 failed codes, this step is blocked for 15 minutes."),
                    "error",
                )
            else:
                return self._complete(account)
        return render_template(self.code_template, form=form)

    def enrol_step(self) -> ResponseReturnValue:
        """First log-in where two-factor is mandatory: the account enrols an authenticator before seeing anything."""
        account = self._pending()
        if account is None or account.has_two_factor or self.enrol_template is None or self.enrolling_key is None:
            return redirect(url_for(".login"), code=303)
        services = current_services()
        enrolling = enrolment_in_session(self.enrolling_key, account)
        form = self.code_form()
        if form.validate_on_submit():
            try:
                # Where two-factor is mandatory (the console), accounts have no recovery codes to show.
                confirm_enrolment(db.session, services, account, enrolling.secret, form.code.data)
            except CodeRejected:
                flash(_("This code does not match. Check the time of your phone and try again."), "error")
            else:
                flash(_("Two-factor authentication is on."), "success")
                return self._complete(account)
        return render_template(self.enrol_template, form=form, secret=enrolling.secret, qr_svg=enrolling.qr_svg())

    def log_out(self) -> ResponseReturnValue:
        logout_user()
        for key in (*self._session_keys(), *self.logout_keys):
            session.pop(key, None)
        return redirect(url_for(".login"), code=303)

    def _session_keys(self) -> tuple[str, ...]:
        """The keys of the log-in in progress."""
        return (self.pending_key,) if self.enrolling_key is None else (self.pending_key, self.enrolling_key)

    def _pending(self) -> A | None:
        """The account half logged in (right password, code or enrolment still to come), if still fresh."""
        pending = session.get(self.pending_key)
        if not isinstance(pending, dict):
            return None
        now = current_services().clock.now().timestamp()
        if not isinstance(pending.get("at"), (int, float)) or now - pending["at"] > PENDING_TTL:
            session.pop(self.pending_key, None)
            return None
        return self.account_for_session(db.session, str(pending.get("id", "")))

    def _complete(self, account: A) -> ResponseReturnValue:
        for key in self._session_keys():
            session.pop(key, None)
        self.on_login(account)
        db.session.commit()
        login_user(account)
        return redirect(url_for(self.home_endpoint), code=303)


def enrolment_in_session(key: str, account: User | Agent, *, renew: bool = False) -> Enrolment:
    """The secret `account` is enrolling, kept sealed in the session under `key` until a code confirms it."""
    enrolling = enrolment(current_services(), account, session.get(key), renew=renew)
    if enrolling.sealed is not None:
        session[key] = enrolling.sealed
    return enrolling
