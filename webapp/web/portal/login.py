"""The portal's log-in: a password, then a code when the sender turned two-factor on (`LoginFlow`)."""

from __future__ import annotations

from flask.typing import ResponseReturnValue

from webapp.accounts.login import authenticate, user_for_session
from webapp.extensions import limiter
from webapp.models import User
from webapp.web.forms import SecondFactorForm
from webapp.web.login_flow import LoginFlow
from webapp.web.portal import bp

SENDER_LOGIN: LoginFlow[User] = LoginFlow(
    pending_key="pending_2fa",
    authenticate=authenticate,
    account_for_session=user_for_session,
    login_template="portal/login.html",
    code_template="portal/login_code.html",
    code_form=SecondFactorForm,
    home_endpoint=".letters",
)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
def login() -> ResponseReturnValue:
    return SENDER_LOGIN.password_step()


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
def login_code() -> ResponseReturnValue:
    """The second step of logging in: a code of the authenticator app, or a recovery code."""
    return SENDER_LOGIN.code_step()


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    return SENDER_LOGIN.log_out()
