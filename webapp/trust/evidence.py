"""Appending and checking hash-chained evidence records (DESIGN.md §4).

The chain is global, across letters, so that deleting a whole letter's records
shows too.  Appends serialise on the single `evidence_chain_head` row: a row
lock on PostgreSQL, and its version counter everywhere, so that two concurrent
appends can never both link to the same predecessor.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from webapp.extensions import DbSession
from webapp.models.evidence import ChainHead, Evidence
from webapp.queue import enqueue_after_commit
from webapp.trust.canonical import GENESIS_HASH, canonical_json, sha256_hex
from webapp.trust.journal import CHECKPOINT_JOB_ID, checkpoint_journal_job

__all__ = [
    "GENESIS_HASH",
    "RECORD_VERSION",
    "ChainProblem",
    "append_evidence",
    "canonical_json",
    "check_chain",
    "isoformat_utc",
    "sha256_hex",
]

RECORD_VERSION = 1


def isoformat_utc(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: evidence times must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def append_evidence(
    session: DbSession,
    *,
    letter_id: str,
    event: str,
    occurred_at: datetime,
    issuer: str,
    facts: Mapping[str, Any],
) -> Evidence:
    """Adds one record to the chain, in the caller's transaction (it does not commit)."""
    head = session.execute(select(ChainHead).where(ChainHead.id == 1).with_for_update()).scalar_one_or_none()
    if head is None:
        head = ChainHead(id=1, seq=0, record_hash=GENESIS_HASH)
        session.add(head)
    evidence_id = str(uuid.uuid4())
    record = {
        "version": RECORD_VERSION,
        "evidence_id": evidence_id,
        "sequence": head.seq + 1,
        "event": event,
        "at": isoformat_utc(occurred_at),
        "issuer": issuer,
        "letter_id": letter_id,
        **facts,
        "previous_hash": head.record_hash,
    }
    canonical = canonical_json(record)
    evidence = Evidence(
        id=evidence_id,
        seq=head.seq + 1,
        letter_id=letter_id,
        event=event,
        occurred_at=occurred_at,
        canonical=canonical.decode("utf-8"),
        previous_hash=head.record_hash,
        record_hash=sha256_hex(canonical),
    )
    session.add(evidence)
    # Logged (and so sealed) by the next checkpoint of the transparency log: a job right after
    # commit, every CHECKPOINT_INTERVAL seconds at most; a periodic sweep catches any it misses.
    enqueue_after_commit(session, checkpoint_journal_job, job_id=CHECKPOINT_JOB_ID, retry=False)
    head.seq = evidence.seq
    head.record_hash = evidence.record_hash
    return evidence


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    evidence_id: str
    problem: str


def check_chain(records: Iterable[Evidence], head: ChainHead | None) -> list[ChainProblem]:
    """Walks records in sequence order and reports every broken link or altered record."""

    problems: list[ChainProblem] = []
    expected_previous = GENESIS_HASH
    expected_seq = 1
    last: Evidence | None = None
    for record in records:
        if record.seq != expected_seq:
            problems.append(ChainProblem(record.seq, record.id, f"expected record {expected_seq}"))
        body = record.canonical.encode("utf-8")
        if sha256_hex(body) != record.record_hash:
            problems.append(ChainProblem(record.seq, record.id, "record hash does not match"))
        parsed = json.loads(body)
        if canonical_json(parsed) != body:
            problems.append(ChainProblem(record.seq, record.id, "record is not canonical"))
        if parsed.get("previous_hash") != expected_previous or record.previous_hash != expected_previous:
            problems.append(ChainProblem(record.seq, record.id, "broken link to previous record"))
        if parsed.get("evidence_id") != record.id or parsed.get("sequence") != record.seq:
            problems.append(ChainProblem(record.seq, record.id, "record content does not match its row"))
        expected_previous = record.record_hash
        expected_seq = record.seq + 1
        last = record
    # An empty chain is intact while its head is still the genesis (no record ever appended).
    expected_head = last.record_hash if last is not None else GENESIS_HASH
    if head is not None and head.record_hash != expected_head:
        problems.append(ChainProblem(head.seq, "-", "chain head does not match the last record"))
    return problems


@dataclass(frozen=True)
class EventFacts:
    """One evidence record as every reader shows it, parsed once from the sealed canonical JSON.

    The API, the portal, the support console, the proof renderer and the verifier all read events
    through this: none of them reads the free columns beside a record, nor parses its JSON itself.
    """

    evidence_id: str
    seq: int
    event: str
    event_uri: str | None
    at: datetime
    details: Mapping[str, Any]
    record_hash: str
    stated: Mapping[str, Any]  # the whole record: the letter facts every record repeats

    @classmethod
    def of(cls, record: Evidence) -> EventFacts:
        stated = record.record
        return cls(
            evidence_id=record.id,
            seq=record.seq,
            event=str(stated["event"]),
            event_uri=stated.get("event_uri"),
            at=datetime.fromisoformat(str(stated["at"])),
            details=record.details,
            record_hash=record.record_hash,
            stated=stated,
        )

    def fact(self, key: str) -> Mapping[str, Any]:
        """One of the letter facts the record states: `sender`, `recipient`, `document`."""
        value = self.stated.get(key)
        return value if isinstance(value, dict) else {}

    def section(self, key: str) -> Mapping[str, Any]:
        value = self.details.get(key)
        return value if isinstance(value, dict) else {}

    @property
    def notification(self) -> Mapping[str, Any]:
        return self.section("notification")

    @property
    def channel(self) -> str | None:
        channel = self.notification.get("channel")
        return channel if isinstance(channel, str) else None

    @property
    def reminder(self) -> int | None:
        reminder = self.notification.get("reminder")
        return reminder if isinstance(reminder, int) else None

    @property
    def sent_again_by(self) -> str | None:
        """ "resend" (the sender asked) or "support" (our support team) for a notification sent again."""
        reason = self.notification.get("reason")
        return reason if reason in ("resend", "support") else None

    @property
    def reason(self) -> str | None:
        """A negative event's reason (a refusal's words, a failure's cause)."""
        reason = self.details.get("reason")
        return reason if isinstance(reason, str) and reason else None
