"""The journal's own checks: chain checkpoints, and `flask evidence audit`.

The hash links catch an edited, deleted or reordered record, except at the
end: deleting the latest records (and resetting the head) leaves a shorter
chain that still links.  A checkpoint is a sealed, timestamped statement
"record N has hash H at time T", written at a configurable interval; the audit
requires every checkpointed record to still be there, unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from webapp.extensions import DbSession
from webapp.models import ChainCheckpoint, ChainHead, Evidence
from webapp.services import Services
from webapp.trust.evidence import GENESIS_HASH, canonical_json, check_chain, isoformat_utc, sha256_hex


@dataclass(frozen=True)
class AuditProblem:
    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


def write_checkpoint(session: DbSession, services: Services, *, force: bool = False) -> ChainCheckpoint | None:
    """Seals the chain head if it moved since the last checkpoint and the interval has passed."""
    now = services.clock.now()
    head = session.execute(select(ChainHead).where(ChainHead.id == 1)).scalar_one_or_none()
    if head is None or head.seq == 0:
        return None
    last = session.execute(select(ChainCheckpoint).order_by(ChainCheckpoint.id.desc()).limit(1)).scalar_one_or_none()
    if last is not None and not force:
        if last.seq == head.seq:
            return None
        if now - last.created_at < timedelta(seconds=services.settings.checkpoint_interval):
            return None
    statement = {
        "type": "ChainCheckpoint",
        "issuer": services.issuer,
        "at": isoformat_utc(now),
        "sequence": head.seq,
        "head_hash": head.record_hash,
        "previous_checkpoint_hash": sha256_hex(last.canonical.encode()) if last else GENESIS_HASH,
    }
    canonical = canonical_json(statement)
    checkpoint = ChainCheckpoint(
        seq=head.seq,
        record_hash=head.record_hash,
        created_at=now,
        canonical=canonical.decode(),
        seal=services.trust.seal(canonical),
    )
    session.add(checkpoint)
    session.commit()
    return checkpoint


def _records(session: DbSession, batch: int = 1000) -> Iterator[Evidence]:
    last_seq = 0
    while True:
        rows = (
            session.execute(select(Evidence).where(Evidence.seq > last_seq).order_by(Evidence.seq).limit(batch))
            .scalars()
            .all()
        )
        if not rows:
            return
        yield from rows
        last_seq = rows[-1].seq
        session.expunge_all()


@dataclass
class AuditReport:
    problems: list[AuditProblem]
    records: int
    checkpoints: int
    unsealed: int  # records appended moments ago wait for their seal: not a problem

    @property
    def intact(self) -> bool:
        return not self.problems


def audit_journal(session: DbSession, services: Services, *, check_seals: bool = True) -> AuditReport:
    """Walks every record and checkpoint and reports every problem found."""
    problems: list[AuditProblem] = []
    by_seq: dict[int, str] = {}
    unsealed = 0
    checkpoints = 0

    def records_with_seals() -> Iterator[Evidence]:
        nonlocal unsealed
        for record in _records(session):
            by_seq[record.seq] = record.record_hash
            if record.seal is None:
                unsealed += 1
            elif check_seals:
                seal = services.trust.check(record.canonical.encode("utf-8"), record.seal)
                if not seal.ok:
                    problems.append(AuditProblem(f"record {record.seq} ({record.id})", "bad seal"))
            yield record

    head = session.execute(select(ChainHead).where(ChainHead.id == 1)).scalar_one_or_none()
    for problem in check_chain(records_with_seals(), head):
        problems.append(AuditProblem(f"record {problem.seq} ({problem.evidence_id})", problem.problem))

    previous_hash = GENESIS_HASH
    for checkpoint in session.execute(select(ChainCheckpoint).order_by(ChainCheckpoint.id)).scalars():
        checkpoints += 1
        where = f"checkpoint {checkpoint.id} (record {checkpoint.seq})"
        body = checkpoint.canonical.encode()
        statement = json.loads(body)
        if check_seals and not services.trust.check(body, checkpoint.seal).ok:
            problems.append(AuditProblem(where, "bad seal"))
        if (statement.get("sequence"), statement.get("head_hash")) != (
            checkpoint.seq,
            checkpoint.record_hash,
        ):
            problems.append(AuditProblem(where, "statement does not match its row"))
        if statement.get("previous_checkpoint_hash") != previous_hash:
            problems.append(AuditProblem(where, "broken link to the previous checkpoint"))
        if by_seq.get(checkpoint.seq) != checkpoint.record_hash:
            problems.append(AuditProblem(where, "the checkpointed record is missing or changed (truncated chain?)"))
        previous_hash = sha256_hex(body)
    return AuditReport(problems, len(by_seq), checkpoints, unsealed)
