"""Flask extensions, created unbound and initialised by `create_app`."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar, Token
from typing import Any, TypeAlias, TypeVar

from flask import Response, request
from flask_babel import Babel
from flask_compress import Compress
from flask_htmx import HTMX
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session

# Stable constraint names, so that Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True, compare_type=True)
csrf = CSRFProtect()
login_manager = LoginManager()
babel = Babel()
htmx = HTMX()


class ErrorPagesCompress(Compress):
    """Flask-Compress, for 4xx answers too.

    Flask-Compress compresses 2xx answers only, so a recipient's "wrong code", "locked" or
    "link not found" page crossed a slow network at three times its compressed size. A 4xx
    answer is compressed as if it were a 200 (never with a Range header: no partial error page).
    """

    def after_request(self, response: Response | None) -> Response:
        if response is None or not 400 <= response.status_code < 500 or "Range" in request.headers:
            return super().after_request(response)
        status = response.status
        response.status_code = 200
        try:
            return super().after_request(response)
        finally:
            response.status = status


compress = ErrorPagesCompress()
limiter = Limiter(key_func=get_remote_address, default_limits=[])

# What domain functions accept as a session: a plain Session, or Flask-SQLAlchemy's scoped one.
DbSession: TypeAlias = Session | scoped_session[Any]

# What the driver raises when the database cannot be reached (refused, reset, closed by a restarting
# server, a locked SQLite file) and what the pool raises when it had no connection to give in time: an
# outage, not a wrong query (`web/outage.py` answers 503).
DATABASE_OUTAGES: tuple[type[Exception], ...] = (OperationalError, InterfaceError, PoolTimeoutError)


def rollback_quietly() -> None:
    """Ends the session's transaction, whatever state its connection is in (a dead one included)."""
    with contextlib.suppress(SQLAlchemyError):
        db.session.rollback()


F = TypeVar("F", bound=Callable[..., Any])

# How long SQLite waits for another connection's write lock before giving up (`PRAGMA busy_timeout`).
SQLITE_BUSY_TIMEOUT_MS = 30_000

# Whether the transactions of the work at hand will write.  On SQLite a writing transaction takes the
# write lock at BEGIN (IMMEDIATE), so that read-then-write never fails halfway; a reading one begins
# DEFERRED and takes no lock at all (WAL lets it read beside the writer).  Jobs and commands write;
# a GET or HEAD request reads, unless its view is marked `@writes`.
# An execution option for a connection that runs one read statement and nothing else: on SQLite it
# begins no transaction (the statement is atomic by itself), which saves two round trips.
SINGLE_READ = "wassit_single_read"

_writes: ContextVar[bool] = ContextVar("wassit_sqlite_writes", default=True)


def transactions_write() -> bool:
    return _writes.get()


def set_transactions_write(writes: bool) -> Token[bool]:
    return _writes.set(writes)


def reset_transactions_write(token: Token[bool]) -> None:
    _writes.reset(token)


@contextlib.contextmanager
def _transactions(writes: bool) -> Iterator[None]:
    token = set_transactions_write(writes)
    try:
        yield
    finally:
        reset_transactions_write(token)


def reading() -> contextlib.AbstractContextManager[None]:
    """The transactions begun inside only read: on SQLite they begin DEFERRED, read a snapshot and
    never queue behind another process's write lock (a job's read phase, before it renders or signs).
    A write inside must begin a transaction of its own inside `writing()`: a deferred transaction
    that read first cannot always take the lock later."""
    return _transactions(False)


def writing() -> contextlib.AbstractContextManager[None]:
    """The transactions begun inside write: on SQLite they take the write lock at BEGIN (IMMEDIATE)."""
    return _transactions(True)


def writes(view: F) -> F:
    """Marks a view answering GET whose work writes (a checkpoint, say): its transactions take the lock."""
    view.writes = True  # type: ignore[attr-defined]
    return view
