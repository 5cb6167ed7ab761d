"""Accounts in the sender portal: sign-up, own account and two-factor, users and invitations, API tokens."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from webapp.accounts.errors import (
    CodeRejected,
    ConfirmationInvalid,
    ConfirmationThrottled,
    EmailAlreadyConfirmed,
    EmailTaken,
    InvalidIce,
    InvitationInvalid,
    LastAdmin,
    NotSingleLine,
    OrganisationExists,
    TwoFactorError,
    WeakPassword,
)
from webapp.accounts.invitations import (
    accept_invitation,
    invitation_link,
    invite_user,
    organisation_invitation,
    pending_invitation,
    pending_invitations,
    resend_invitation,
)
from webapp.accounts.login import change_password, log_out_everywhere
from webapp.accounts.members import organisation_user, organisation_users, set_active, set_role
from webapp.accounts.signup import confirm_email, pending_email_confirmation, sign_up, start_email_confirmation
from webapp.accounts.tokens import create_api_token, revoke_api_token, visible_api_token, visible_api_tokens
from webapp.accounts.two_factor import confirm_enrolment, disable_two_factor, unused_recovery_codes
from webapp.extensions import db, limiter
from webapp.models import Role, User
from webapp.services import current_services
from webapp.web.forms import (
    ChangePasswordForm,
    ConfirmForm,
    InviteForm,
    RoleForm,
    SecondFactorForm,
    SetPasswordForm,
    SignupForm,
    TokenForm,
    single_line_error,
)
from webapp.web.login_flow import enrolment_in_session
from webapp.web.policies import admins_only, no_store, senders_only

bp = Blueprint("account", __name__)
no_store(bp)

# The secret being enrolled, until the user confirms it with a code.
ENROLLING_SECRET = "enrolling_totp"  # noqa: S105 - a session key's name


def _me() -> User:
    """The logged-in user itself (not the proxy), for what keeps a reference to it."""
    user: User = current_user._get_current_object()
    return user


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit("10/hour", methods=["POST"])
def signup() -> ResponseReturnValue:
    form = SignupForm()
    if form.validate_on_submit():
        try:
            user = sign_up(
                db.session,
                current_services().clock,
                legal_name=form.legal_name.data,
                ice=form.ice.data,
                address=form.address.data,
                email=form.email.data,
                password=form.password.data,
            )
        except InvalidIce:
            form.ice.errors.append(_("The ICE is exactly 15 digits."))
        except WeakPassword:
            form.password.errors.append(_("Choose a password of at least 12 characters that is not your email."))
        except OrganisationExists:
            form.legal_name.errors.append(_("An organisation with this name already has an account."))
        except NotSingleLine:
            form.legal_name.errors.append(single_line_error(form.legal_name))
        except EmailTaken:
            form.email.errors.append(_("This email already has an account: log in instead."))
        else:
            start_email_confirmation(db.session, current_services(), user, language=_language())
            db.session.commit()
            login_user(user)
            flash(
                _(
                    "Your organisation is registered. Confirm your email address with the link we have just sent "
                    "you; we will verify the organisation's identity before it can send."
                ),
                "success",
            )
            return redirect(url_for(".overview"), code=303)
        db.session.rollback()
    status = 422 if request.method == "POST" else 200
    return render_template("portal/account/signup.html", form=form), status


def _language() -> str:
    """The page's language, for the emails written later by a job."""
    return str(get_locale() or current_services().settings.default_language)


@bp.get("/account")
@senders_only
def overview() -> ResponseReturnValue:
    return render_template(
        "portal/account/overview.html",
        password_form=ChangePasswordForm(),
        confirm_form=ConfirmForm(),
        recovery_left=unused_recovery_codes(db.session, current_user),
    )


@bp.post("/account/password")
@senders_only
def password() -> ResponseReturnValue:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            change_password(current_user, current=form.current.data, new=form.password.data)
        except WeakPassword:
            db.session.rollback()
            flash(_("The current password is wrong, or the new one is too weak."), "error")
        else:
            db.session.commit()
            login_user(_me())  # this session carries the new epoch; every other one is logged out
            flash(_("Password changed. Your other sessions are logged out."), "success")
            return redirect(url_for(".overview"), code=303)
    else:
        flash(_("Check the form: the new password needs 12 characters, typed twice."), "error")
    return redirect(url_for(".overview"), code=303)


@bp.post("/account/logout-everywhere")
@senders_only
def logout_everywhere() -> ResponseReturnValue:
    if ConfirmForm().validate_on_submit():
        log_out_everywhere(current_user)
        db.session.commit()
        logout_user()
        session.clear()
    return redirect(url_for("portal.login"), code=303)


@bp.route("/account/two-factor", methods=["GET", "POST"])
@senders_only
def two_factor() -> ResponseReturnValue:
    """Enrolment: a QR code and the secret in text; a code confirms; the recovery codes are shown once."""
    if current_user.has_two_factor:
        return render_template("portal/account/two_factor_on.html", form=SecondFactorForm())
    # A new secret on each visit of the page; a code typed in confirms the one it showed.
    enrolling = enrolment_in_session(ENROLLING_SECRET, _me(), renew=request.method == "GET")
    form = SecondFactorForm()
    if form.validate_on_submit():
        try:
            codes = confirm_enrolment(db.session, current_services(), _me(), enrolling.secret, form.code.data)
        except CodeRejected:
            db.session.rollback()
            form.code.errors.append(_("This code does not match: check your phone's time and try again."))
        else:
            db.session.commit()
            session.pop(ENROLLING_SECRET, None)
            login_user(_me())
            return render_template("portal/account/recovery_codes.html", codes=codes)
    return render_template(
        "portal/account/two_factor_enrol.html",
        form=form,
        secret=enrolling.secret,
        qr_svg=enrolling.qr_svg(),
    )


@bp.post("/account/two-factor/disable")
@senders_only
def two_factor_disable() -> ResponseReturnValue:
    form = SecondFactorForm()
    if form.validate_on_submit():
        try:
            disable_two_factor(db.session, current_services(), _me(), form.code.data)
        except TwoFactorError:
            db.session.commit()  # the failure counts
            flash(_("Wrong or already used code: two-factor stays on."), "error")
        else:
            db.session.commit()
            login_user(_me())
            flash(_("Two-factor authentication is off."), "success")
    return redirect(url_for(".overview"), code=303)


# --- users and invitations ---------------------------------------------------------------------


@bp.get("/account/users")
@admins_only
def users() -> ResponseReturnValue:
    return _users_page(InviteForm())


def _users_page(invite_form: InviteForm, invitation_link: str | None = None, status: int = 200) -> ResponseReturnValue:
    return render_template(
        "portal/account/users.html",
        users=organisation_users(db.session, current_user.organisation_id),
        invitations=pending_invitations(db.session, current_user.organisation_id),
        invite_form=invite_form,
        role_form=RoleForm(),
        confirm_form=ConfirmForm(),
        invitation_link=invitation_link,
        now=current_services().clock.now(),
    ), status


@bp.post("/account/users/invite")
@admins_only
def invite() -> ResponseReturnValue:
    form = InviteForm()
    if not form.validate_on_submit():
        return _users_page(form, status=422)
    services = current_services()
    try:
        new = invite_user(
            db.session,
            services,
            admin=_me(),
            email=form.email.data,
            role=Role(form.role.data),
            language=_language(),
        )
    except EmailTaken:
        db.session.rollback()
        form.email.errors.append(_("This email already has an account."))
        return _users_page(form, status=422)
    db.session.commit()
    flash(_("The invitation is being emailed. You can also pass the link on yourself."), "success")
    return _users_page(InviteForm(formdata=None), invitation_link=invitation_link(services, new.token))


@bp.post("/account/users/invitations/<invitation_id>/resend")
@admins_only
def resend_invitation_email(invitation_id: str) -> ResponseReturnValue:
    """Emails the invitation again with a fresh link (7 days again); the previous link stops working."""
    invitation = organisation_invitation(db.session, current_user.organisation_id, invitation_id)
    if invitation is None:
        abort(404)
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for(".users"), code=303)
    services = current_services()
    try:
        new = resend_invitation(db.session, services, invitation)
    except InvitationInvalid:
        db.session.rollback()
        flash(_("This invitation was already accepted."), "error")
        return redirect(url_for(".users"), code=303)
    db.session.commit()
    flash(_("A new invitation link is being emailed; the previous one no longer works."), "success")
    return _users_page(InviteForm(formdata=None), invitation_link=invitation_link(services, new.token))


def _member(user_id: str) -> Any:
    user = organisation_user(db.session, current_user.organisation_id, user_id)
    if user is None:
        abort(404)
    return user


@bp.post("/account/users/<user_id>/role")
@admins_only
def change_role(user_id: str) -> ResponseReturnValue:
    user = _member(user_id)
    form = RoleForm()
    if form.validate_on_submit():
        try:
            set_role(db.session, user, Role(form.role.data))
        except LastAdmin:
            db.session.rollback()
            flash(_("The organisation needs at least one active admin."), "error")
        else:
            db.session.commit()
            flash(_("Role changed."), "success")
    return redirect(url_for(".users"), code=303)


@bp.post("/account/users/<user_id>/active")
@admins_only
def change_active(user_id: str) -> ResponseReturnValue:
    user = _member(user_id)
    if ConfirmForm().validate_on_submit():
        try:
            set_active(db.session, user, request.form.get("active") == "1")
        except LastAdmin:
            db.session.rollback()
            flash(_("The organisation needs at least one active admin."), "error")
        else:
            db.session.commit()
            flash(_("User updated."), "success")
    return redirect(url_for(".users"), code=303)


@bp.route("/invitations/<token>", methods=["GET", "POST"])
@limiter.limit("20/hour", methods=["POST"])
def accept(token: str) -> ResponseReturnValue:
    """The invitee chooses a password and joins; the link works once, for 7 days."""
    services = current_services()
    try:
        invitation = pending_invitation(db.session, services.clock, token)
    except InvitationInvalid:
        return render_template("portal/account/invitation_invalid.html"), 404
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            user = accept_invitation(db.session, services.clock, token, form.password.data)
        except WeakPassword:
            db.session.rollback()
            form.password.errors.append(_("Choose a password of at least 12 characters that is not your email."))
        except (InvitationInvalid, EmailTaken):
            db.session.rollback()
            return render_template("portal/account/invitation_invalid.html"), 404
        else:
            db.session.commit()
            logout_user()
            login_user(user)
            flash(_("Welcome! You have joined %(name)s.", name=invitation.organisation.legal_name), "success")
            return redirect(url_for("portal.letters"), code=303)
    status = 422 if request.method == "POST" else 200
    return render_template("portal/account/accept.html", form=form, invitation=invitation), status


# --- API tokens --------------------------------------------------------------------------------


@bp.get("/account/tokens")
@senders_only
def tokens() -> ResponseReturnValue:
    return _tokens_page(TokenForm())


def _tokens_page(form: TokenForm, new_token: str | None = None, status: int = 200) -> ResponseReturnValue:
    # An unconfirmed user sees the page (and may revoke) but not the form: see templates/portal/account/tokens.html.
    return render_template(
        "portal/account/tokens.html",
        tokens=visible_api_tokens(db.session, current_user),
        form=form,
        confirm_form=ConfirmForm(),
        new_token=new_token,
    ), status


@bp.post("/account/tokens")
@senders_only
def create_token() -> ResponseReturnValue:
    form = TokenForm()
    if not current_user.email_confirmed:
        flash(_("Confirm your email address first: until then you cannot create API tokens."), "error")
        return _tokens_page(form, status=403)
    if not form.validate_on_submit():
        return _tokens_page(form, status=422)
    token = create_api_token(db.session, current_services().clock, email=current_user.email, name=form.name.data)
    db.session.commit()
    # Shown on this response only: the page is not cached and only the hash is stored.
    return _tokens_page(TokenForm(formdata=None), new_token=token)


@bp.post("/account/tokens/<token_id>/revoke")
@senders_only
def revoke_token(token_id: str) -> ResponseReturnValue:
    token = visible_api_token(db.session, current_user, token_id)
    if token is None:
        abort(404)
    if ConfirmForm().validate_on_submit():
        revoke_api_token(current_services().clock, token)
        db.session.commit()
        flash(_("Token “%(name)s” revoked.", name=token.name), "success")
    return redirect(url_for(".tokens"), code=303)


# --- email confirmation ------------------------------------------------------------------------


@bp.post("/account/confirm-email/resend")
@senders_only
@limiter.limit("5/hour")
def resend_confirmation() -> ResponseReturnValue:
    """Sends a new confirmation link (the previous ones stop working), at most once a minute and 5 a day."""
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for(".overview"), code=303)
    try:
        start_email_confirmation(db.session, current_services(), _me(), language=_language())
    except EmailAlreadyConfirmed:
        db.session.rollback()
        flash(_("Your email address is already confirmed."), "info")
    except ConfirmationThrottled as exc:
        db.session.rollback()
        minutes = max(1, (exc.retry_after + 59) // 60)
        flash(_("A link was sent a moment ago: wait %(minutes)d min before asking again.", minutes=minutes), "error")
    else:
        db.session.commit()
        flash(_("A new confirmation link is on its way to %(email)s.", email=current_user.email), "success")
    return redirect(url_for(".overview"), code=303)


@bp.route("/confirm-email/<token>", methods=["GET", "POST"])
@limiter.limit("20/hour", methods=["POST"])
def confirm_email_address(token: str) -> ResponseReturnValue:
    """The link of the confirmation email: a GET only shows a button (mail scanners open links), a POST confirms."""
    services = current_services()
    try:
        confirmation = pending_email_confirmation(db.session, services.clock, token)
    except ConfirmationInvalid:
        return render_template("portal/account/confirmation_invalid.html"), 404
    form = ConfirmForm()
    if form.validate_on_submit():
        user = confirm_email(db.session, services.clock, token)
        db.session.commit()
        flash(_("Your email address %(email)s is confirmed.", email=user.email), "success")
        if current_user.is_authenticated and current_user.id == user.id:
            return redirect(url_for("portal.letters"), code=303)
        return redirect(url_for("portal.login"), code=303)
    return render_template("portal/account/confirm_email.html", form=form, email=confirmation.email)
