"""API tokens: bearer tokens for the JSON API, shown once and stored only as a hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from webapp.accounts.errors import NotSingleLine, UserNotFound
from webapp.accounts.login import user_by_email
from webapp.clock import Clock
from webapp.extensions import SQLITE_BUSY_TIMEOUT_MS, DbSession, reset_transactions_write, set_transactions_write
from webapp.models import ApiToken, User
from webapp.textinput import control_character

TOKEN_PREFIX = "lre_"  # noqa: S105 - a public marker, not a secret


def hash_api_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(session: DbSession, clock: Clock, *, email: str, name: str = "cli") -> str:
    """Creates a token for the user and returns it; only its hash is stored."""
    found = control_character(name)
    if found is not None:
        raise NotSingleLine("name", found)
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


# How stale "last used" may be on the tokens page: a token's use is written at most once a minute, in its
# own short transaction, so that reading the API never writes and a campaign does not rewrite one row
# for every request.
LAST_USE_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class ApiCaller:
    user: User
    note_use: bool  # its `last_used_at` is older than LAST_USE_PRECISION: `note_api_token_use` after the answer


def user_for_api_token(session: DbSession, clock: Clock, token: str) -> ApiCaller | None:
    """The active user a token belongs to; its use is noted by `note_api_token_use`, not here, and only
    when `note_use` says the note is stale (so that nearly every request writes nothing)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    api_token = session.execute(
        select(ApiToken).where(ApiToken.token_hash == hash_api_token(token), ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    if api_token is None or not api_token.user.is_active:
        return None
    last = api_token.last_used_at
    return ApiCaller(api_token.user, note_use=last is None or last < clock.now() - LAST_USE_PRECISION)


def note_api_token_use(session: DbSession, clock: Clock, token: str) -> None:
    """Sets the token's `last_used_at` if it is older than `LAST_USE_PRECISION`, in a transaction of its
    own (the caller's work, committed already or not to be, is ended first); best effort: a busy
    database only delays the note."""
    now = clock.now()
    session.rollback()
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite:  # a note is not worth waiting for a busy writer: try briefly, then let a later request note
        session.execute(text("PRAGMA busy_timeout = 200"))
        session.commit()
    writing = set_transactions_write(True)
    try:
        session.execute(
            update(ApiToken)
            .where(
                ApiToken.token_hash == hash_api_token(token),
                or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - LAST_USE_PRECISION),
            )
            .values(last_used_at=now)
        )
        session.commit()
    except SQLAlchemyError:
        session.rollback()
    finally:
        reset_transactions_write(writing)
        if sqlite:
            session.execute(text(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}"))
            session.commit()


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
