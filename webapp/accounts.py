"""Sender organisations, users and API tokens: the operations the CLI and the portal share."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.clock import Clock
from webapp.extensions import DbSession
from webapp.models import ApiToken, Organisation, Role, User

TOKEN_PREFIX = "lre_"  # noqa: S105 - a public marker, not a secret
# Compared against when the email is unknown, so that timing does not reveal accounts.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class AccountError(Exception):
    """An account operation was refused."""


class UserNotFound(AccountError):
    """No user has this email address."""


class WeakPassword(AccountError):
    """The password is too short."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def create_sender(
    session: DbSession,
    clock: Clock,
    *,
    org_name: str,
    email: str,
    password: str,
    role: Role = Role.ADMIN,
    verified: bool = True,
) -> User:
    """Creates the organisation if needed (verified: the CLI is the operator) and a user in it."""
    if len(password) < 10:
        raise WeakPassword("the password must have at least 10 characters")
    now = clock.now()
    org = session.execute(select(Organisation).where(Organisation.name == org_name)).scalar_one_or_none()
    if org is None:
        org = Organisation(
            name=org_name,
            legal_name=org_name,
            created_at=now,
            verified_at=now if verified else None,
        )
        session.add(org)
    email = normalise_email(email)
    if session.execute(select(User).where(User.email == email)).scalar_one_or_none() is not None:
        raise AccountError(f"a user with the email {email} already exists")
    user = User(
        organisation=org,
        email=email,
        password_hash=generate_password_hash(password),
        role=role,
        created_at=now,
    )
    session.add(user)
    return user


def authenticate(session: DbSession, email: str, password: str) -> User | None:
    user = session.execute(select(User).where(User.email == normalise_email(email))).scalar_one_or_none()
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not user.is_active or not check_password_hash(user.password_hash, password):
        return None
    return user


def hash_api_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(session: DbSession, clock: Clock, *, email: str, name: str = "cli") -> str:
    """Creates a token for the user and returns it; only its hash is stored."""
    user = session.execute(select(User).where(User.email == normalise_email(email))).scalar_one_or_none()
    if user is None:
        raise UserNotFound(f"no user with the email {email}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            user_id=user.id,
            name=name,
            token_hash=hash_api_token(token),
            prefix=token[:12],
            created_at=clock.now(),
        )
    )
    return token


def user_for_api_token(session: DbSession, clock: Clock, token: str) -> User | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    api_token = session.execute(
        select(ApiToken).where(ApiToken.token_hash == hash_api_token(token), ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    if api_token is None or not api_token.user.is_active:
        return None
    api_token.last_used_at = clock.now()
    return api_token.user
