"""Evidence records: the hash-chained journal of every legally relevant event."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.types import UTCDateTime


class Evidence(db.Model):  # type: ignore[name-defined,misc]
    """One event, as canonical JSON (RFC 8785) with the hash of the previous record.

    `record_hash` is the SHA-256 of `canonical`, and `canonical` contains
    `previous_hash`, so editing, deleting or reordering a record breaks the chain.
    Each record is also a leaf of the journal's Merkle tree (`webapp.trust.journal`),
    whose signed, timestamped checkpoints seal it.  `seal` holds the individual
    CAdES seal that records appended before the transparency log carried.
    """

    __tablename__ = "evidence"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    letter_id: Mapped[str] = mapped_column(ForeignKey("letters.id"), index=True)
    event: Mapped[str] = mapped_column(String(50))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    canonical: Mapped[str] = mapped_column(Text)
    previous_hash: Mapped[str] = mapped_column(String(64), unique=True)
    record_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Detached CAdES signature of `canonical`, with its RFC 3161 timestamp (DER CMS).
    # Added by a job right after the commit that appended the record.
    seal: Mapped[bytes | None] = mapped_column(LargeBinary)
    sealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)  # indexed: metrics count unsealed

    # What proofs, the API, the portal and /verify show is read from the sealed canonical record,
    # never from the free columns beside it (`occurred_at`, `event` only serve queries, and the
    # journal's checks require them to agree with the record).

    @cached_property
    def record(self) -> dict[str, Any]:
        """The canonical record, parsed (records never change once appended)."""
        parsed = json.loads(self.canonical)
        if not isinstance(parsed, dict):
            raise ValueError(f"evidence record {self.id} is not a JSON object")
        return parsed

    @property
    def at(self) -> datetime:
        """When the event happened, as the sealed record states it (aware UTC)."""
        return datetime.fromisoformat(str(self.record["at"]))

    @property
    def details(self) -> dict[str, Any]:
        details = self.record.get("details")
        return details if isinstance(details, dict) else {}


class ChainCheckpoint(db.Model):  # type: ignore[name-defined,misc]
    """A sealed, timestamped statement of the chain's head at a moment.

    Truncating the chain (deleting its latest records) cannot be hidden from
    the hash links alone; a checkpoint names a record that must still exist.
    """

    __tablename__ = "evidence_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(Integer, index=True)
    record_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    canonical: Mapped[str] = mapped_column(Text)
    seal: Mapped[bytes] = mapped_column(LargeBinary)


class ChainHead(db.Model):  # type: ignore[name-defined,misc]
    """The single row naming the last record; appends serialise on it."""

    __tablename__ = "evidence_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    record_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
