"""Object storage: documents, proofs and batch files live outside the database, encrypted.

One small interface, `ObjectStore`, with two implementations: the local filesystem
(`instance/objects`, the embedded default) and any S3-compatible store
(`STORAGE_URL=s3://bucket/prefix`, through boto3).  An object is written once and never
overwritten (`put_new` refuses an existing key: `O_EXCL`-style links on disk,
`If-None-Match: *` on S3), always before the commit of the row that references it.

`EncryptedObjects` is what the domain uses: it encrypts with the vault's envelope
(one data key per object, wrapped by the master key, bound to its owner by associated
data), writes the ciphertext as an object under a fresh key, and gives back what the
row keeps: the wrapped key, the nonce, the object's key and its SHA-256.  Reading checks
the object against that SHA-256 before decrypting.  Rows written before object storage
keep their ciphertext in the database until `flask storage migrate` moves it
(`migrate_row`, idempotent: a second run finds nothing to move).

An object whose row never committed (a rolled-back transaction, a crash between the
write and the commit) or whose row let it go (a renewed proof, a deleted document, a
finished batch) is an orphan: `sweep_orphans` deletes the objects no committed row
references, once they are older than a grace period that outlasts any transaction.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy import select

from webapp.config import Settings
from webapp.extensions import DbSession
from webapp.models import BatchDocument, Proof, StoredDocument
from webapp.vault import Sealed, Vault

log = logging.getLogger(__name__)

# The kinds of objects, each under its own prefix (and its own table).
DOCUMENTS = "documents"
PROOFS = "proofs"
BATCH_DOCUMENTS = "batch-documents"
KINDS = (DOCUMENTS, PROOFS, BATCH_DOCUMENTS)

_KEY = re.compile(r"^[a-z0-9-]+(/[A-Za-z0-9._-]+)+$")

# An object younger than this may belong to a transaction still under way: the sweeper leaves it.
ORPHAN_GRACE = timedelta(hours=1)
# How many days of recent partitions the periodic sweep lists (orphans of failed writes are recent);
# `flask storage sweep --all` lists everything.
RECENT_DAYS = 3


class StorageError(Exception):
    """The object store failed, or an object is not what its row says."""


class ObjectExists(StorageError):
    """A write would have overwritten an object: objects are written once."""


class ObjectMissing(StorageError):
    """No object under that key."""


class ObjectCorrupt(StorageError):
    """The object's bytes do not have the SHA-256 its row recorded."""


class ObjectStore(Protocol):
    """Where encrypted objects live.  Keys are `kind/yyyy/mm/dd/name`."""

    @property
    def description(self) -> str: ...

    def put_new(self, key: str, data: bytes) -> None:
        """Writes a new object; raises `ObjectExists` rather than overwrite one."""

    def get(self, key: str) -> bytes:
        """The object's bytes; raises `ObjectMissing`."""

    def delete(self, key: str) -> None:
        """Deletes the object; a missing one is not an error."""

    def list(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        """Every key under `prefix`, with when it was written (UTC)."""


def _check_key(key: str) -> str:
    if not _KEY.match(key) or ".." in key:
        raise StorageError(f"invalid object key {key!r}")
    return key


class LocalStore:
    """Objects as files under a directory (the embedded default: `instance/objects`)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    @property
    def description(self) -> str:
        return f"file://{self.root}"

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def put_new(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        with temporary.open("xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)  # atomic, and fails if the key exists: never an overwrite
        except FileExistsError as exc:
            raise ObjectExists(key) from exc
        finally:
            temporary.unlink()
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise ObjectMissing(key) from exc

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def list(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        base = self.root / prefix.rstrip("/") if prefix else self.root
        if not base.exists():
            return
        for path in sorted(base.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
                yield path.relative_to(self.root).as_posix(), written


class S3Store:
    """Objects in an S3-compatible bucket, under an optional prefix (`s3://bucket/prefix`).

    The endpoint, region and credentials come from the settings (`STORAGE_ENDPOINT_URL`,
    `STORAGE_REGION`) and boto3's usual chain (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    instance roles, …).
    """

    def __init__(
        self,
        bucket: str,
        prefix: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        client: Any = None,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._endpoint = endpoint_url
        self.client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=Config(
                retries={"max_attempts": 5, "mode": "standard"},
                connect_timeout=5,
                read_timeout=60,
                s3={"addressing_style": "path"},
            ),
        )

    @property
    def description(self) -> str:
        where = f" at {self._endpoint}" if self._endpoint else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"

    def _key(self, key: str) -> str:
        return self.prefix + _check_key(key)

    def put_new(self, key: str, data: bytes) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(key),
                Body=data,
                IfNoneMatch="*",
                ContentType="application/octet-stream",
                ChecksumAlgorithm="SHA256",
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "412"):
                raise ObjectExists(key) from exc
            raise StorageError(f"could not write {key}: {code}") from exc

    def get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            data: bytes = response["Body"].read()
            return data
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404"):
                raise ObjectMissing(key) from exc
            raise StorageError(f"could not read {key}: {code}") from exc

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def list(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            for item in page.get("Contents", []):
                yield item["Key"][len(self.prefix) :], item["LastModified"].astimezone(UTC)


def make_store(settings: Settings) -> ObjectStore:
    """The store STORAGE_URL names: `s3://bucket/prefix`, `file:///path`, or (unset) `instance/objects`."""
    url = settings.storage_url
    if not url:
        return LocalStore(settings.instance_path / "objects")
    parts = urlsplit(url)
    if parts.scheme == "file":
        return LocalStore(Path(parts.path))
    if parts.scheme == "s3":
        return S3Store(
            parts.netloc,
            parts.path,
            endpoint_url=settings.storage_endpoint_url or None,
            region=settings.storage_region or None,
            access_key_id=settings.storage_access_key_id or None,
            secret_access_key=settings.storage_secret_access_key or None,
        )
    raise StorageError(f"STORAGE_URL must be s3://bucket/prefix or file:///path, got {url!r}")


@dataclass(frozen=True)
class StoredObject:
    """What a row keeps of an encrypted object: the envelope's key, the nonce, where, and its hash."""

    key_id: str
    wrapped_key: bytes
    nonce: bytes
    object_key: str
    object_sha256: str

    def apply(self, row: Any) -> None:
        """Points `row` (a document, a proof, a batch file) at this object, and drops any inline ciphertext."""
        row.key_id, row.wrapped_key, row.nonce = self.key_id, self.wrapped_key, self.nonce
        row.object_key, row.object_sha256 = self.object_key, self.object_sha256
        row.ciphertext = None


class EncryptedRow(Protocol):
    """A row that holds an encrypted object: in the store (`object_key`) or, before migration, inline."""

    @property
    def key_id(self) -> str | None: ...
    @property
    def wrapped_key(self) -> bytes | None: ...
    @property
    def nonce(self) -> bytes | None: ...
    @property
    def ciphertext(self) -> bytes | None: ...
    @property
    def object_key(self) -> str | None: ...
    @property
    def object_sha256(self) -> str | None: ...


def object_key_for(kind: str, owner_id: str, now: datetime) -> str:
    """A fresh key under the day's partition: `proofs/2026/12/03/<id>.<random>`."""
    return f"{kind}/{now:%Y/%m/%d}/{owner_id}.{secrets.token_hex(8)}"


class EncryptedObjects:
    """Envelope-encrypted objects in a store: what the domain writes and reads."""

    def __init__(self, vault: Vault, store: ObjectStore) -> None:
        self.vault = vault
        self.store = store

    def put(self, plaintext: bytes, *, context: str, kind: str, owner_id: str, now: datetime) -> StoredObject:
        """Encrypts and writes a new object (call it before the commit of the row that will reference it)."""
        sealed = self.vault.encrypt(plaintext, context=context)
        key = object_key_for(kind, owner_id, now)
        self.store.put_new(key, sealed.ciphertext)
        return StoredObject(
            sealed.key_id, sealed.wrapped_key, sealed.nonce, key, hashlib.sha256(sealed.ciphertext).hexdigest()
        )

    def ciphertext(self, row: EncryptedRow) -> bytes:
        """The row's ciphertext: from the store, checked against the row's SHA-256, or inline."""
        if row.object_key is not None:
            data = self.store.get(row.object_key)
            if hashlib.sha256(data).hexdigest() != row.object_sha256:
                raise ObjectCorrupt(f"object {row.object_key} does not match its SHA-256")
            return data
        if row.ciphertext is None:
            raise ObjectMissing("the row holds no object")
        return bytes(row.ciphertext)

    def read(self, row: EncryptedRow, *, context: str) -> bytes:
        """Decrypts the row's object (a `VaultError` if it was tampered with or bound to another owner)."""
        if row.key_id is None or row.wrapped_key is None or row.nonce is None:
            raise ObjectMissing("the row holds no object")
        sealed = Sealed(row.key_id, bytes(row.wrapped_key), bytes(row.nonce), self.ciphertext(row))
        return self.vault.decrypt(sealed, context=context)

    def discard(self, keys: Iterable[str | None]) -> None:
        """Deletes objects no row references any more (after the commit that let them go); the orphan
        sweep deletes whatever a failure here leaves."""
        for key in keys:
            if key is None:
                continue
            try:
                self.store.delete(key)
            except Exception:
                log.warning("could not delete object %s; the orphan sweep will", key)

    def migrate_row(self, row: Any, kind: str, owner_id: str) -> bool:
        """Moves a row's inline ciphertext to the store; False if it was already there.

        The key is derived from the row and its ciphertext's hash, so a run interrupted between the write
        and the commit finds its object again (same bytes) instead of writing another.
        """
        if row.object_key is not None or row.ciphertext is None:
            return False
        data = bytes(row.ciphertext)
        digest = hashlib.sha256(data).hexdigest()
        key = f"{kind}/migrated/{owner_id}.{digest[:16]}"
        try:
            self.store.put_new(key, data)
        except ObjectExists:
            if hashlib.sha256(self.store.get(key)).hexdigest() != digest:
                raise ObjectCorrupt(f"object {key} exists with other bytes") from None
        row.object_key, row.object_sha256, row.ciphertext = key, digest, None
        return True


# Where each kind's rows name their objects.
_REFERENCES: dict[str, Any] = {
    DOCUMENTS: StoredDocument.object_key,
    PROOFS: Proof.object_key,
    BATCH_DOCUMENTS: BatchDocument.object_key,
}


@dataclass
class SweepResult:
    listed: int = 0
    deleted: int = 0


def sweep_orphans(
    session: DbSession, store: ObjectStore, now: datetime, *, everything: bool = False, days: int = RECENT_DAYS
) -> SweepResult:
    """Deletes the objects that no committed row references and that are older than `ORPHAN_GRACE`.

    Lists the last `days` days' partitions of each kind (orphans of failed writes are recent; objects let
    go later are deleted at once by `discard`), or the whole store with `everything`.  Each key is looked
    up in a fresh transaction after listing, so a row committed meanwhile keeps its object.
    """
    result = SweepResult()
    cutoff = now - ORPHAN_GRACE
    for kind in KINDS:
        recent = [f"{kind}/{now - timedelta(days=d):%Y/%m/%d}/" for d in range(days)]
        prefixes = [f"{kind}/"] if everything else recent
        for prefix in prefixes:
            batch: list[str] = []
            for key, written in store.list(prefix):
                result.listed += 1
                if written <= cutoff:
                    batch.append(key)
                if len(batch) >= 500:
                    result.deleted += _delete_unreferenced(session, store, kind, batch)
                    batch = []
            if batch:
                result.deleted += _delete_unreferenced(session, store, kind, batch)
    return result


def _delete_unreferenced(session: DbSession, store: ObjectStore, kind: str, keys: list[str]) -> int:
    column = _REFERENCES[kind]
    referenced = set(session.execute(select(column).where(column.in_(keys))).scalars())
    session.commit()
    orphans = [key for key in keys if key not in referenced]
    for key in orphans:
        store.delete(key)
        log.info("deleted orphan object %s", key)
    return len(orphans)


def sweep_orphans_job(scope: str = "recent") -> int:
    """The orphan sweep as a job (`sweepers.ORPHAN_OBJECTS`): `recent` partitions, or `all`."""
    from flask import current_app

    from webapp.extensions import db

    services = current_app.extensions["wassit"]
    result = sweep_orphans(db.session, services.objects.store, services.clock.now(), everything=scope == "all")
    return result.deleted


# --- moving database blobs to the store (`flask storage migrate`) ----------------------------------------

# Each kind's rows, how a row names its owner (in its object's key and its vault context).
_TABLES: tuple[tuple[str, Any, str], ...] = (
    (DOCUMENTS, StoredDocument, "letter_id"),
    (PROOFS, Proof, "id"),
    (BATCH_DOCUMENTS, BatchDocument, "id"),
)


@dataclass
class MigrationResult:
    moved: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.moved.values())


def migrate_inline(session: DbSession, objects: EncryptedObjects, *, batch: int = 100) -> MigrationResult:
    """Moves every ciphertext still held in the database to the store, `batch` rows per transaction.

    Resumable and idempotent: each batch commits on its own, a row already moved is not selected again,
    and a row whose object was written by an interrupted run finds it again (`migrate_row`).  The data
    keys and nonces stay as they are (the same ciphertext, elsewhere).
    """
    moved = {kind: 0 for kind, _, _ in _TABLES}
    for kind, model, owner in _TABLES:
        while True:
            rows = list(
                session.execute(
                    select(model)
                    .where(model.ciphertext.is_not(None), model.object_key.is_(None))
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                ).scalars()
            )
            if not rows:
                session.commit()
                break
            for row in rows:
                if objects.migrate_row(row, kind, getattr(row, owner)):
                    moved[kind] += 1
            session.commit()
            log.info("moved %d %s to the object store", len(rows), kind)
    return MigrationResult(moved)


@dataclass(frozen=True)
class StorageStatus:
    store: str
    in_store: dict[str, int]
    inline: dict[str, int]


def storage_status(session: DbSession, objects: EncryptedObjects) -> StorageStatus:
    """Where each kind's objects are: how many in the store, how many still in the database."""
    from sqlalchemy import func

    in_store: dict[str, int] = {}
    inline: dict[str, int] = {}
    for kind, model, _ in _TABLES:
        in_store[kind] = session.execute(select(func.count()).where(model.object_key.is_not(None))).scalar_one()
        inline[kind] = session.execute(select(func.count()).where(model.ciphertext.is_not(None))).scalar_one()
    session.commit()
    return StorageStatus(objects.store.description, in_store, inline)
