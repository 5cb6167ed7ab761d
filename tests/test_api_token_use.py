"""A token's last use is noted at most once a minute, after the answer: reading the API writes nothing."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from tests.conftest import Sender
from webapp.accounts.tokens import hash_api_token
from webapp.clock import FrozenClock
from webapp.config import Settings
from webapp.extensions import SQLITE_BUSY_TIMEOUT_MS, db
from webapp.models import ApiToken


def last_used(app: Flask, sender: Sender) -> datetime | None:
    with app.app_context():
        value = db.session.execute(
            select(ApiToken.last_used_at).where(ApiToken.token_hash == hash_api_token(sender.token))
        ).scalar_one()
        db.session.remove()
    return value


def test_a_tokens_use_is_noted_once_a_minute(
    app: Flask, client: FlaskClient, sender: Sender, clock: FrozenClock
) -> None:
    assert client.get("/api/v1/letters", headers=sender.auth).status_code == 200
    first = last_used(app, sender)
    assert first == clock.now()
    updates: list[str] = []
    with app.app_context():
        engine = db.engine

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_TOKENS"):
            updates.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        clock.advance(30)
        for _ in range(5):
            assert client.get("/api/v1/letters", headers=sender.auth).status_code == 200
        assert updates == []  # fresh: not even an attempt
        assert last_used(app, sender) == first
        clock.advance(31)
        assert client.get("/api/v1/letters", headers=sender.auth).status_code == 200
        assert len(updates) == 1
        assert last_used(app, sender) == clock.now()
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_a_note_that_meets_a_busy_writer_leaves_every_connection_waiting_as_long_as_before(
    app: Flask, client: FlaskClient, sender: Sender, clock: FrozenClock, settings: Settings
) -> None:
    """The note waits 200 ms at most for SQLite's lock; no pooled connection keeps that short wait, or a
    deposit made on it later fails with "database is locked" after 200 ms instead of queueing."""
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite's busy timeout")
    with app.app_context():
        engine = db.engine
    # Several connections in the pool, as under a threaded server.
    held = [engine.connect() for _ in range(3)]
    for connection in held:
        connection.close()
    writer = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        clock.advance(120)
        started = time.monotonic()
        assert client.get("/api/v1/letters", headers=sender.auth).status_code == 200  # the note gives up
        assert time.monotonic() - started < 10
    finally:
        writer.rollback()
        writer.close()
    held = [engine.connect() for _ in range(4)]
    try:
        waits = {
            connection.connection.driver_connection.execute("PRAGMA busy_timeout").fetchone()[0] for connection in held
        }
    finally:
        for connection in held:
            connection.close()
    assert waits == {SQLITE_BUSY_TIMEOUT_MS}
