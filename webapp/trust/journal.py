"""The evidence journal as a transparency log (RFC 9162 §2.1 Merkle tree, C2SP checkpoints).

Every evidence record is a leaf: leaf `i` is the canonical JSON of the record
of sequence `i + 1`, exactly the bytes attached to proofs.  Every few seconds
when records were added (and whenever a proof needs it), `write_checkpoint`
extends the tree and publishes a **checkpoint**: a C2SP signed note (origin,
tree size, root hash) signed with the journal's Ed25519 key, RFC 3161
timestamped, and sealed (CAdES) with the service's seal certificate.  One
seal and one timestamp per checkpoint replace the per-record seals of
earlier versions: a record's proof of time and origin is its inclusion proof
into a checkpoint whose timestamp and seal verify.

Whoever holds the database cannot rewrite a logged record without
contradicting every checkpoint that covers it — checkpoints a sender keeps
inside each proof, fetches from `/journal/checkpoint`, or hands to an
auditor (`flask evidence audit --against`).  And the checkpoint writer
re-checks every record before logging it (canonical JSON, its hash, the link
to its predecessor, its place in the sequence, the columns beside it): a
record that does not check is refused, counted and logged, never sealed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from webapp.extensions import DbSession, db, writing
from webapp.models import Evidence, JournalCheckpoint, JournalNode, JournalRefusal
from webapp.trust import tlog
from webapp.trust.canonical import GENESIS_HASH, canonical_json, sha256_hex
from webapp.trust.context import TrustServices, current_trust_services
from webapp.trust.signed_note import Checkpoint, NoteError, NoteVerifier

log = logging.getLogger(__name__)

# Records logged by one checkpoint at most; the next checkpoint takes the rest.
MAX_RECORDS_PER_CHECKPOINT = 20_000
WRITE_ATTEMPTS = 3
# One job id: appends made while a checkpoint job waits in the queue join it instead of adding more.
CHECKPOINT_JOB_ID = "journal-checkpoint"


class JournalError(Exception):
    """The journal cannot answer: a record is not logged yet, or does not match the log."""


class NotLoggedYet(JournalError):
    """The record is not covered by a checkpoint yet (it will be within seconds)."""


class LogMismatch(JournalError):
    """What the database holds contradicts the log: a record or a stored hash was changed."""


# --- reading the stored tree --------------------------------------------------------------------


def fetch_nodes(session: DbSession, nodes: Iterable[tlog.Node]) -> dict[tlog.Node, bytes]:
    wanted = sorted(set(nodes))
    found: dict[tlog.Node, bytes] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = session.execute(
            select(JournalNode.level, JournalNode.position, JournalNode.hash).where(
                tuple_(JournalNode.level, JournalNode.position).in_(chunk)
            )
        )
        found.update({(level, position): bytes(digest) for level, position, digest in rows})
    return found


def _compute(session: DbSession, compute: Any) -> Any:
    try:
        return tlog.read_twice(compute, lambda nodes: fetch_nodes(session, nodes))
    except tlog.MissingNode as exc:
        raise LogMismatch(f"the stored tree lacks node {exc.args[0]}") from exc


def latest_checkpoint(session: DbSession) -> JournalCheckpoint | None:
    return session.execute(
        select(JournalCheckpoint).order_by(JournalCheckpoint.tree_size.desc()).limit(1)
    ).scalar_one_or_none()


def checkpoint_of_size(session: DbSession, size: int) -> JournalCheckpoint | None:
    return session.get(JournalCheckpoint, size)


@dataclass(frozen=True)
class InclusionProof:
    """RFC 9162 inclusion proof of one record in the tree a checkpoint signs."""

    evidence_id: str
    leaf_index: int
    tree_size: int
    hashes: tuple[bytes, ...]
    checkpoint: str  # the signed note

    def as_json(self) -> dict[str, Any]:
        return {
            "evidence_id": self.evidence_id,
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "hashes": [h.hex() for h in self.hashes],
            "checkpoint": self.checkpoint,
        }


def inclusion_proof(
    session: DbSession, evidence_id: str, *, checkpoint: JournalCheckpoint | None = None
) -> InclusionProof:
    """Proves the record is in the tree of `checkpoint` (default: the latest); checked before it is given."""
    record = session.get(Evidence, evidence_id)
    if record is None:
        raise JournalError("no such record")
    checkpoint = checkpoint or latest_checkpoint(session)
    if checkpoint is None or checkpoint.tree_size < record.seq:
        raise NotLoggedYet("the record is not covered by a checkpoint yet")
    index, size = record.seq - 1, checkpoint.tree_size
    leaf = tlog.leaf_hash(record.canonical.encode("utf-8"))
    hashes = _compute(session, lambda read: tlog.inclusion_path(index, size, read))
    if fetch_nodes(session, [(0, index)]).get((0, index)) != leaf:
        raise LogMismatch(f"record {record.seq} differs from the leaf the log holds")
    if not tlog.verify_inclusion(index, size, leaf, hashes, bytes.fromhex(checkpoint.root_hash)):
        raise LogMismatch(f"record {record.seq} does not match the log")
    return InclusionProof(record.id, index, size, tuple(hashes), checkpoint.note)


def consistency_proof(session: DbSession, old_size: int, new_size: int) -> list[bytes]:
    """RFC 9162 consistency proof between two tree sizes the log has signed up to."""
    latest = latest_checkpoint(session)
    if latest is None or not 0 < old_size <= new_size <= latest.tree_size:
        raise JournalError("sizes must satisfy 0 < from <= to <= the latest checkpoint's size")
    hashes: list[bytes] = _compute(session, lambda read: tlog.consistency_path(old_size, new_size, read))
    return hashes


# --- writing checkpoints ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    id: str
    seq: int
    letter_id: str
    event: str
    occurred_at: datetime
    canonical: str
    previous_hash: str
    record_hash: str


def record_problem(row: _Row, expected_seq: int, previous_hash: str) -> str | None:
    """Why a record may not be logged after a predecessor whose content hashes to `previous_hash`."""
    body = row.canonical.encode("utf-8")
    if row.seq != expected_seq:
        return f"out of order: expected record {expected_seq}"
    if sha256_hex(body) != row.record_hash:
        return "record hash does not match its content"
    try:
        parsed = json.loads(body)
    except ValueError:
        return "record is not JSON"
    if not isinstance(parsed, dict) or canonical_json(parsed) != body:
        return "record is not canonical JSON"
    if parsed.get("previous_hash") != previous_hash or row.previous_hash != previous_hash:
        return "broken link to the previous record"
    if parsed.get("sequence") != row.seq or parsed.get("evidence_id") != row.id:
        return "record content does not match its row"
    try:
        at = datetime.fromisoformat(str(parsed.get("at")))
    except ValueError:
        return "record time is malformed"
    if parsed.get("event") != row.event or parsed.get("letter_id") != row.letter_id or at != row.occurred_at:
        return "row columns differ from the sealed record"
    return None


def _refuse(session: DbSession, services: TrustServices, row: _Row, problem: str) -> None:
    """Notes a refused record (once per record and problem; later sightings are counted)."""
    now = services.clock.now()
    existing = session.execute(
        select(JournalRefusal).where(JournalRefusal.evidence_id == row.id, JournalRefusal.problem == problem)
    ).scalar_one_or_none()
    if existing is None:
        log.error("evidence journal: record %s (%s) refused, not logged: %s", row.seq, row.id, problem)
        session.add(
            JournalRefusal(
                evidence_id=row.id, seq=row.seq, problem=problem, first_seen_at=now, last_seen_at=now, times=1
            )
        )
    else:
        existing.times += 1
        existing.last_seen_at = now
    try:
        session.commit()
    except IntegrityError:  # another writer noted it at the same moment
        session.rollback()


def _rows_after(session: DbSession, size: int, limit: int) -> list[_Row]:
    result = session.execute(
        select(
            Evidence.id,
            Evidence.seq,
            Evidence.letter_id,
            Evidence.event,
            Evidence.occurred_at,
            Evidence.canonical,
            Evidence.previous_hash,
            Evidence.record_hash,
        )
        .where(Evidence.seq > size)
        .order_by(Evidence.seq)
        .limit(limit)
    )
    return [_Row(*row) for row in result]


def write_checkpoint(
    session: DbSession, services: TrustServices, *, force: bool = False, limit: int = MAX_RECORDS_PER_CHECKPOINT
) -> JournalCheckpoint | None:
    """Logs the records appended since the last checkpoint and publishes a new one.

    Without `force`, does nothing within `CHECKPOINT_INTERVAL` seconds of the last
    checkpoint.  Reads, then signs outside any transaction, then writes in one short
    transaction; two writers that raced collide on the stored nodes' keys and the loser
    tries again from the new checkpoint.  Returns the new checkpoint, or None.
    """
    for _ in range(WRITE_ATTEMPTS):
        try:
            return _extend(session, services, force=force, limit=limit)
        except IntegrityError:
            session.rollback()
            force = True  # someone else checkpointed: catch up with what is left, if anything
    return None


def checkpoint_journal_job() -> int:
    """RQ job (after each append, and every few seconds): logs new records and publishes a checkpoint;
    its size, or 0 when there was nothing to do yet."""
    checkpoint = write_checkpoint(db.session, current_trust_services())
    return checkpoint.tree_size if checkpoint is not None else 0


def _extend(session: DbSession, services: TrustServices, *, force: bool, limit: int) -> JournalCheckpoint | None:
    now = services.clock.now()
    latest = latest_checkpoint(session)
    if (
        latest is not None
        and not force
        and now - latest.created_at < timedelta(seconds=services.settings.checkpoint_interval)
    ):
        session.commit()
        return None
    size = latest.tree_size if latest is not None else 0
    rows = _rows_after(session, size, limit)
    if not rows:
        session.commit()
        return None
    previous_hash = GENESIS_HASH
    if size > 0:
        last = _rows_after(session, size - 1, 1)
        stored_leaf = fetch_nodes(session, [(0, size - 1)]).get((0, size - 1))
        if not last or last[0].seq != size:
            session.commit()
            _refuse(session, services, rows[0], f"record {size}, the last one logged, is missing")
            return None
        body = last[0].canonical.encode("utf-8")
        if stored_leaf != tlog.leaf_hash(body):
            session.commit()
            _refuse(session, services, last[0], "record changed after it was logged")
            return None
        previous_hash = sha256_hex(body)
    frontier = fetch_nodes(session, tlog.frontier(size))
    session.commit()  # nothing is held while checking and signing

    accepted: list[_Row] = []
    for row in rows:
        problem = record_problem(row, size + len(accepted) + 1, previous_hash)
        if problem is not None:
            _refuse(session, services, row, problem)
            break
        accepted.append(row)
        previous_hash = row.record_hash
    if not accepted:
        return None

    made = dict(
        tlog.new_nodes(size, (tlog.leaf_hash(r.canonical.encode("utf-8")) for r in accepted), frontier.__getitem__)
    )
    new_size = size + len(accepted)
    root = tlog.tree_hash(new_size, lambda node: made[node] if node in made else frontier[node])
    trust = services.trust
    signer = trust.journal_signer
    note = signer.sign(Checkpoint(signer.name, new_size, root).text())
    token = trust.timestamp_token(note.encode("utf-8"))
    seal = trust.seal(note.encode("utf-8"))

    checkpoint = JournalCheckpoint(
        tree_size=new_size,
        root_hash=root.hex(),
        note=note,
        created_at=now,
        timestamp_token=token,
        timestamped_at=trust.token_time(token),
        seal=seal,
    )
    session.add(checkpoint)
    session.flush()  # the checkpoint's key first: a racing writer fails here, before the bulk insert
    session.execute(
        insert(JournalNode), [{"level": lv, "position": pos, "hash": digest} for (lv, pos), digest in made.items()]
    )
    session.execute(
        update(Evidence).where(Evidence.seq > size, Evidence.seq <= new_size).values(sealed_at=checkpoint.created_at)
    )
    session.commit()
    log.debug("evidence journal: checkpoint of %s records", new_size)
    return checkpoint


def ensure_logged(session: DbSession, services: TrustServices, seq: int) -> JournalCheckpoint:
    """The latest checkpoint, once it covers record `seq` (writing one if needed)."""
    latest = latest_checkpoint(session)
    if latest is None or latest.tree_size < seq:
        with writing():  # called from a job's read phase: the checkpoint's own transactions write
            write_checkpoint(session, services, force=True)
        latest = latest_checkpoint(session)
    if latest is None or latest.tree_size < seq:
        raise NotLoggedYet(f"record {seq} cannot be logged yet (see the journal refusals)")
    return latest


# --- checking -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointCheck:
    """A signed checkpoint checked: its note signature and, unless skipped, its timestamp and seal."""

    checkpoint: Checkpoint | None  # None when the note is not a checkpoint signed by our journal key
    problem: str | None = None
    timestamped_at: datetime | None = None  # from a valid RFC 3161 token over the note
    sealed: bool = False  # the seal certificate's CAdES seal over the note verifies and is trusted
    seals_checked: bool = True
    sealed_by: str | None = None

    @property
    def ok(self) -> bool:
        if self.checkpoint is None:
            return False
        return not self.seals_checked or (self.timestamped_at is not None and self.sealed)


def check_checkpoint(
    services: TrustServices, note: str, token: bytes | None, seal: bytes | None, *, check_seals: bool = True
) -> CheckpointCheck:
    try:
        parsed = parse_checkpoint_note(services.trust.journal_signer.verifier, note)
    except NoteError as exc:
        return CheckpointCheck(None, str(exc))
    if not check_seals:
        return CheckpointCheck(parsed, seals_checked=False)
    data = note.encode("utf-8")
    timestamped_at = services.trust.check_timestamp(data, token) if token else None
    seal_check = services.trust.check(data, seal) if seal else None
    sealed = seal_check is not None and seal_check.intact and seal_check.trusted
    problem = None if timestamped_at and sealed else "the checkpoint's timestamp or seal does not verify"
    return CheckpointCheck(parsed, problem, timestamped_at, sealed, sealed_by=seal_check.signer if seal_check else None)


def parse_checkpoint_note(verifier: NoteVerifier, note: str) -> Checkpoint:
    """The checkpoint a note signs, if our journal key signed it (raises `NoteError`)."""
    parsed = Checkpoint.parse(verifier.open(note))
    if parsed.origin != verifier.name:
        raise NoteError(f"the checkpoint is of the log {parsed.origin!r}, not {verifier.name!r}")
    return parsed
