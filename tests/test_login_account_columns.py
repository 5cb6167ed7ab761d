"""Senders' users and support agents log in the same way: their credential columns are declared once."""

from __future__ import annotations

import pytest
from sqlalchemy import Column
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import MappedColumn

from webapp.models import Agent, User
from webapp.models.login import LoginAccount

CREDENTIALS = [
    "session_epoch",
    "login_failures",
    "login_failures_since",
    "login_locked_until",
    "totp_enabled_at",
    "totp_key_id",
    "totp_wrapped_key",
    "totp_nonce",
    "totp_ciphertext",
    "totp_last_timestep",
    "totp_failures",
    "totp_failures_since",
    "totp_locked_until",
]


def _definition(column: Column[object], dialect: Dialect) -> tuple[object, ...]:
    server_default = getattr(column.server_default, "arg", None)
    default = getattr(column.default, "arg", None)
    return (column.type.compile(dialect=dialect), column.nullable, str(server_default), default)


def test_the_mixin_declares_every_credential_column() -> None:
    declared = [name for name, value in vars(LoginAccount).items() if isinstance(value, MappedColumn)]
    assert declared == CREDENTIALS


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()], ids=["sqlite", "postgresql"])
def test_users_and_agents_have_the_same_credential_columns(dialect: Dialect) -> None:
    users, agents = User.__table__.columns, Agent.__table__.columns
    assert [_definition(users[name], dialect) for name in CREDENTIALS] == [
        _definition(agents[name], dialect) for name in CREDENTIALS
    ]
    # Each table's own columns first, then the credentials, in the order the migrations created them.
    assert [c.name for c in agents][-len(CREDENTIALS) :] == CREDENTIALS
    assert [c.name for c in users][-len(CREDENTIALS) - 1 : -1] == CREDENTIALS
    assert [c.name for c in users][-1] == "email_confirmed_at"
