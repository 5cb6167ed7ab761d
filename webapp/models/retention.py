"""Keeping documents as long as promised and no longer: legal holds, and key rotations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.types import UTCDateTime, new_id


class LegalHold(db.Model):  # type: ignore[name-defined,misc]
    """A hold on a letter's document (a lawsuit, an inquiry): while one is active, retention never deletes it.

    Placed and lifted by an operator's agent or the sender's admin, each time with a reason; both are
    recorded as evidence of the letter (and, for agents, in their audit log).  A lifted hold stays.
    """

    __tablename__ = "legal_holds"
    __table_args__ = (Index("ix_legal_holds_letter_id_lifted_at", "letter_id", "lifted_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    letter_id: Mapped[str] = mapped_column(ForeignKey("letters.id"))
    reason: Mapped[str] = mapped_column(String(500))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    placed_by: Mapped[str] = mapped_column(String(80))  # "agent:<id>" or "user:<id>"
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_by: Mapped[str | None] = mapped_column(String(80))
    lift_reason: Mapped[str | None] = mapped_column(String(500))


class KeyRotation(db.Model):  # type: ignore[name-defined,misc]
    """One rotation of a key (the master key, the seal, the TSA's or the journal's): from which to which,
    when, by whom, and, for the master key, how far the re-wrapping of data keys has gone."""

    __tablename__ = "key_rotations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(20), index=True)  # master, seal, tsa, journal
    old_key_id: Mapped[str | None] = mapped_column(String(100))
    new_key_id: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_by: Mapped[str] = mapped_column(String(80))  # "agent:<id>"
    rewrapped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The rotation as evidence: its canonical record (RFC 8785 JSON: kind, keys, when, by whom) and the
    # detached CAdES seal of that record with its RFC 3161 timestamp (`trust.seal`), made when it started.
    record: Mapped[str | None] = mapped_column(Text)
    seal: Mapped[bytes | None] = mapped_column(LargeBinary)
