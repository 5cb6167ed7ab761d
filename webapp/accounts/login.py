"""Logging in with a password: the password rules, per-account throttling, sessions, log out everywhere.

Senders' users and the service's agents log in the same way; the functions here work on either
(`Account`).  The second factor is `webapp.accounts.two_factor`'s.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypeAlias

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.accounts.errors import WeakPassword
from webapp.clock import Clock
from webapp.extensions import DbSession
from webapp.models import Agent, User

# Who logs in with a password and a second factor: a sender, or one of the service's support agents.
# Both carry the same credential columns (`webapp.models.login.Credentials`); the functions below work on either.
Account: TypeAlias = User | Agent

MIN_PASSWORD_LENGTH = 12
# Per-account throttling: this many failures within the window lock that step for LOCK_DURATION.
MAX_FAILURES = 10
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_DURATION = timedelta(minutes=15)
# Compared against when the email is unknown, so that timing does not reveal accounts.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def check_password_policy(password: str, email: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if password.strip().lower() == normalise_email(email):
        raise WeakPassword("the password must not be the email address")


def normalise_email(email: str) -> str:
    return email.strip().lower()


def user_by_email(session: DbSession, email: str) -> User | None:
    return session.execute(select(User).where(User.email == normalise_email(email))).scalar_one_or_none()


# --- throttling, per account and per step ("login" or "totp") -----------------------------------


def is_locked(until: datetime | None, now: datetime) -> bool:
    return until is not None and until > now


def record_failure(account: Account, now: datetime, *, step: str) -> None:
    """Counts a failure of `step` ("login" or "totp") and locks the step after MAX_FAILURES in the window."""
    since: datetime | None = getattr(account, f"{step}_failures_since")
    failures: int = getattr(account, f"{step}_failures")
    if since is None or now - since > FAILURE_WINDOW:
        since, failures = now, 0
    failures += 1
    setattr(account, f"{step}_failures_since", since)
    setattr(account, f"{step}_failures", failures)
    if failures >= MAX_FAILURES:
        setattr(account, f"{step}_locked_until", now + LOCK_DURATION)
        setattr(account, f"{step}_failures", 0)
        setattr(account, f"{step}_failures_since", None)


def clear_failures(account: Account, *, step: str) -> None:
    setattr(account, f"{step}_failures", 0)
    setattr(account, f"{step}_failures_since", None)


# --- the password step --------------------------------------------------------------------------


def authenticate(session: DbSession, clock: Clock, email: str, password: str) -> User | None:
    """The user if the password is right and their password login is not locked; None otherwise.

    A locked account, a wrong password and an unknown email look alike to the caller,
    and take the same time (a hash is always checked).  Failures are recorded on the
    user: the caller commits even when None is returned.
    """
    user = user_by_email(session, email)
    return user if password_login(clock, user, password) else None


def password_login(clock: Clock, account: Account | None, password: str) -> bool:
    """Whether the password is right, the account active and its password login not locked.

    Always checks a hash (a dummy one for an unknown account), and records a failure on the account.
    """
    if account is None:
        check_password_hash(_DUMMY_HASH, password)
        return False
    now = clock.now()
    password_ok = check_password_hash(account.password_hash, password)
    if is_locked(account.login_locked_until, now):
        return False
    if not account.is_active or not password_ok:
        record_failure(account, now, step="login")
        return False
    clear_failures(account, step="login")
    return True


def change_password(user: User, *, current: str, new: str) -> None:
    if not check_password_hash(user.password_hash, current):
        raise WeakPassword("the current password is wrong")
    check_password_policy(new, user.email)
    user.password_hash = generate_password_hash(new)
    log_out_everywhere(user)


# --- sessions -----------------------------------------------------------------------------------


def log_out_everywhere(account: Account) -> None:
    """Every existing session of the account stops working (they carry the old epoch)."""
    account.session_epoch += 1


def user_for_session(session: DbSession, session_id: str) -> User | None:
    """The user a Flask-Login session id ("<user id>:<epoch>") names, if still valid."""
    user_id, _, epoch = session_id.partition(":")
    user = session.get(User, user_id)
    return user if session_still_valid(user, epoch) else None


def session_still_valid(account: Account | None, epoch: str) -> bool:
    """Whether a session carrying `epoch` still names the (active) account."""
    return account is not None and account.is_active and str(account.session_epoch) == epoch
