"""API tokens: bearer tokens for the JSON API, shown once and stored only as a hash."""

from __future__ import annotations

import base64
import hashlib
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from webapp.accounts.errors import NotSingleLine, NotVerified, UserNotFound
from webapp.accounts.login import user_by_email
from webapp.clock import Clock
from webapp.extensions import SQLITE_BUSY_TIMEOUT_MS, DbSession, writing
from webapp.models import ApiToken, User
from webapp.textinput import control_character
from webapp.vault import Sealed, Vault, VaultError

TOKEN_PREFIX = "lre_"  # noqa: S105 - a public marker, not a secret


def hash_api_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(session: DbSession, clock: Clock, *, email: str, name: str = "cli") -> str:
    """Creates a token for the user and returns it; only its hash is stored.  The organisation must be
    verified (`NotVerified`): a token is a way to send."""
    found = control_character(name)
    if found is not None:
        raise NotSingleLine("name", found)
    user = user_by_email(session, email)
    if user is None:
        raise UserNotFound(f"no user with the email {email}")
    if user.organisation.verified_at is None:
        raise NotVerified("the organisation's identity is not verified yet")
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


def _reveal_context(user: User) -> str:
    return f"api-token-reveal:{user.id}"


def seal_for_reveal(vault: Vault, user: User, token: str) -> str:
    """The new token sealed (AES-GCM under the master key) for the one page that shows it after the
    redirect: the session cookie then carries only ciphertext, bound to this user."""
    sealed = vault.encrypt(token.encode(), context=_reveal_context(user))
    return (
        ".".join(
            base64.urlsafe_b64encode(part).decode() for part in (sealed.wrapped_key, sealed.nonce, sealed.ciphertext)
        )
        + f".{sealed.key_id}"
    )


def open_reveal(vault: Vault, user: User, sealed_text: str) -> str | None:
    """The token sealed by `seal_for_reveal`, or None if it is not this user's or cannot be read."""
    try:
        wrapped, nonce, ciphertext, key_id = sealed_text.split(".")
        sealed = Sealed(
            key_id,
            base64.urlsafe_b64decode(wrapped),
            base64.urlsafe_b64decode(nonce),
            base64.urlsafe_b64decode(ciphertext),
        )
        return vault.decrypt(sealed, context=_reveal_context(user)).decode()
    except (ValueError, VaultError):
        return None


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
    own (the caller's work, committed already or not to be, is ended first); best effort: a busy or
    unreachable database only delays the note, and never turns the answer already made into an error.

    On SQLite the note waits 200 ms at most for a busy writer (a later request notes it), on one
    connection held from the shorter wait to its reset: a session may take another pooled connection
    after each commit, and a connection given back with the short wait made later deposits fail with
    "database is locked" after 200 ms instead of queueing (found by the campaign benchmark)."""
    now = clock.now()
    session.rollback()
    engine = session.get_bind()
    if not isinstance(engine, Engine):  # a session bound to one connection: nothing to note beside it
        return
    note = (
        update(ApiToken)
        .where(
            ApiToken.token_hash == hash_api_token(token),
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - LAST_USE_PRECISION),
        )
        .values(last_used_at=now)
    )
    try:
        with writing(), engine.connect() as connection:
            raw = connection.connection.driver_connection if engine.dialect.name == "sqlite" else None
            if raw is not None:
                raw.execute("PRAGMA busy_timeout = 200")  # outside any transaction: it takes no lock
            try:
                connection.execute(note)
                connection.commit()
            finally:
                if raw is not None:
                    try:
                        raw.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
                    except sqlite3.Error:
                        connection.invalidate()  # never back to the pool with the short wait
    except (SQLAlchemyError, sqlite3.Error):
        pass


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
