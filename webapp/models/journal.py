"""The transparency log of the evidence journal: its stored Merkle nodes, checkpoints and refusals.

See `webapp.trust.journal`.  Leaf `i` of the tree is the evidence record of
sequence `i + 1`, hashed from its canonical JSON bytes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, LargeBinary, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.types import UTCDateTime


class JournalNode(db.Model):  # type: ignore[name-defined,misc]
    """The hash of a complete subtree: leaves `[position·2^level, (position+1)·2^level)`.

    Written once, in the transaction of the checkpoint that first covers it; the
    primary key makes two checkpoint writers that raced collide instead of both
    extending the tree.
    """

    __tablename__ = "journal_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class JournalCheckpoint(db.Model):  # type: ignore[name-defined,misc]
    """A signed tree head: the C2SP checkpoint note, its RFC 3161 timestamp and its CAdES seal."""

    __tablename__ = "journal_checkpoints"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[str] = mapped_column(String(64))  # hex, as in the note (there base64)
    note: Mapped[str] = mapped_column(Text)  # the signed note, byte for byte as published
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # RFC 3161 TimeStampToken (DER CMS) over the note's bytes, and the time it states.
    timestamp_token: Mapped[bytes] = mapped_column(LargeBinary)
    timestamped_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Detached CAdES signature of the note's bytes by the seal certificate, with its own timestamp.
    seal: Mapped[bytes] = mapped_column(LargeBinary)


class JournalRefusal(db.Model):  # type: ignore[name-defined,misc]
    """A record the checkpoint writer refused to log because it does not check.

    Nothing after it is logged (so no proof relies on it) until an operator has
    looked; `/metrics` and the operations page count these.
    """

    __tablename__ = "journal_refusals"
    __table_args__ = (UniqueConstraint("evidence_id", "problem"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    evidence_id: Mapped[str] = mapped_column(String(36))  # no foreign key: the row may have been deleted
    seq: Mapped[int] = mapped_column(BigInteger)
    problem: Mapped[str] = mapped_column(String(200))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    times: Mapped[int] = mapped_column(Integer, default=1)
