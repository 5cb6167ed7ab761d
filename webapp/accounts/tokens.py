"""API tokens: bearer tokens for the JSON API, shown once and stored only as a hash."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select

from webapp.accounts.errors import UserNotFound
from webapp.accounts.login import user_by_email
from webapp.clock import Clock
from webapp.extensions import DbSession
from webapp.models import ApiToken, User

TOKEN_PREFIX = "lre_"  # noqa: S105 - a public marker, not a secret


def hash_api_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(session: DbSession, clock: Clock, *, email: str, name: str = "cli") -> str:
    """Creates a token for the user and returns it; only its hash is stored."""
    user = user_by_email(session, email)
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


def visible_api_tokens(session: DbSession, user: User) -> list[ApiToken]:
    """The user's own tokens; an admin sees the whole organisation's."""
    query = select(ApiToken).join(User, ApiToken.user_id == User.id)
    if user.is_admin:
        query = query.where(User.organisation_id == user.organisation_id)
    else:
        query = query.where(ApiToken.user_id == user.id)
    return list(session.execute(query.order_by(ApiToken.created_at.desc())).scalars())


def visible_api_token(session: DbSession, user: User, token_id: str) -> ApiToken | None:
    """A token the user may manage; None for anyone else's (the caller answers 404)."""
    return next((t for t in visible_api_tokens(session, user) if t.id == token_id), None)


def revoke_api_token(clock: Clock, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = clock.now()
