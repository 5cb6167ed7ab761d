"""`flask evidence audit`: the journal checked as an outside expert would, against itself and others.

The walk recomputes everything from the records' canonical JSON alone and
compares it with what the database and the log claim:

- the hash chain (each record's hash, canonical form, sequence and link), and
  that the columns beside each record say what the record says;
- the transparency log: every Merkle node stored, and the root of every
  signed checkpoint (its Ed25519 note signature, and unless `--skip-seals`,
  its RFC 3161 timestamp and CAdES seal); a record whose stated time is later
  than the timestamp of the checkpoint that logged it;
- the legacy per-record seals and chain checkpoints of earlier versions;
- every letter's row (reference, recipient, document, organisation, deposit
  time: what the API and the portal show) against its sealed deposit record;
- with `--against FILE`, a checkpoint someone else kept (a sender, an
  auditor, the one inside a proof): a journal smaller than it, or whose tree
  at its size has another root, was truncated or rewritten — something the
  database alone can no longer show once its holder deleted the records, the
  nodes and the checkpoints that would have contradicted it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select

from webapp.extensions import DbSession
from webapp.models import (
    ChainCheckpoint,
    ChainHead,
    Evidence,
    JournalCheckpoint,
    JournalNode,
    JournalRefusal,
    Letter,
)
from webapp.trust import tlog
from webapp.trust.canonical import GENESIS_HASH, sha256_hex
from webapp.trust.context import TrustServices
from webapp.trust.evidence import check_chain
from webapp.trust.journal import check_checkpoint, fetch_nodes, parse_checkpoint_note
from webapp.trust.signed_note import NoteError

# A record may state a time up to this much after the timestamp of the checkpoint that logged it
# (the timestamp's accuracy plus clock differences between our hosts and the TSA).
CLOCK_TOLERANCE = timedelta(seconds=5)


@dataclass(frozen=True)
class AuditProblem:
    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


@dataclass
class AuditReport:
    problems: list[AuditProblem] = field(default_factory=list)
    records: int = 0
    checkpoints: int = 0
    unsealed: int = 0  # records appended moments ago wait for the next checkpoint: not a problem
    logged: int = 0  # records covered by the latest checkpoint
    against: str | None = None  # what the outside checkpoint showed, if one was given

    @property
    def intact(self) -> bool:
        return not self.problems


def _records(session: DbSession, batch: int = 1000) -> Iterator[list[Evidence]]:
    last_seq = 0
    while True:
        rows = list(
            session.execute(select(Evidence).where(Evidence.seq > last_seq).order_by(Evidence.seq).limit(batch))
            .scalars()
            .all()
        )
        if not rows:
            return
        yield rows
        last_seq = rows[-1].seq
        session.expunge_all()


def _checkpoints(session: DbSession, batch: int = 200) -> Iterator[JournalCheckpoint]:
    last = 0
    while True:
        rows = list(
            session.execute(
                select(JournalCheckpoint)
                .where(JournalCheckpoint.tree_size > last)
                .order_by(JournalCheckpoint.tree_size)
                .limit(batch)
            ).scalars()
        )
        if not rows:
            return
        yield from rows
        last = rows[-1].tree_size


def _row_problem(record: Evidence) -> str | None:
    """The columns beside a record must say what the sealed record says (proofs read the record)."""
    try:
        stated = json.loads(record.canonical)
        at = datetime.fromisoformat(str(stated.get("at")))
    except (ValueError, TypeError):
        return None  # reported by the chain check
    if at != record.occurred_at:
        return "its time column differs from the time the sealed record states"
    if stated.get("event") != record.event or stated.get("letter_id") != record.letter_id:
        return "its event or letter columns differ from the sealed record"
    return None


def audit_journal(
    session: DbSession, services: TrustServices, *, check_seals: bool = True, against: str | None = None
) -> AuditReport:
    """Walks every record, stored node and checkpoint, and reports every problem found."""
    report = AuditReport()
    problems = report.problems
    verifier = services.trust.journal_signer.verifier

    outside = None
    if against is not None:
        try:
            outside = parse_checkpoint_note(verifier, against)
        except NoteError as exc:
            problems.append(AuditProblem("checkpoint held outside", f"not a checkpoint of this journal: {exc}"))

    accumulator = tlog.RootAccumulator()
    checkpoints = _checkpoints(session)
    pending = next(checkpoints, None)
    stated_times: dict[int, datetime] = {}  # leaf index -> stated time, for records not checkpointed yet
    by_seq: dict[int, str] = {}  # legacy chain checkpoints name records by sequence and hash

    def check_checkpoint_row(checkpoint: JournalCheckpoint, root: bytes | None) -> None:
        report.checkpoints += 1
        where = f"checkpoint of {checkpoint.tree_size} records"
        result = check_checkpoint(
            services, checkpoint.note, checkpoint.timestamp_token, checkpoint.seal, check_seals=check_seals
        )
        if result.checkpoint is None:
            problems.append(AuditProblem(where, f"its note does not verify: {result.problem}"))
            return
        if not result.ok:
            problems.append(AuditProblem(where, result.problem or "its timestamp or seal does not verify"))
        signed = result.checkpoint
        if signed.size != checkpoint.tree_size or signed.root_hash.hex() != checkpoint.root_hash:
            problems.append(AuditProblem(where, "its row does not match its signed note"))
        if root is None:
            problems.append(
                AuditProblem(where, f"the journal has only {accumulator.size} records (truncated?)"),
            )
        elif root != signed.root_hash:
            problems.append(AuditProblem(where, "the journal's tree at this size has another root (rewritten?)"))
        if check_seals and result.timestamped_at is not None:
            limit = result.timestamped_at + CLOCK_TOLERANCE
            for index in [i for i in stated_times if i < checkpoint.tree_size]:
                if stated_times.pop(index) > limit:
                    problems.append(
                        AuditProblem(f"record {index + 1}", "it states a time after the checkpoint that logged it")
                    )
        else:
            for index in [i for i in stated_times if i < checkpoint.tree_size]:
                del stated_times[index]

    def visit(record: Evidence) -> None:
        nonlocal pending
        by_seq[record.seq] = record.record_hash
        where = f"record {record.seq} ({record.id})"
        if (
            record.seal is not None
            and check_seals
            and not services.trust.check(record.canonical.encode("utf-8"), record.seal).ok
        ):
            problems.append(AuditProblem(where, "bad seal"))
        row_problem = _row_problem(record)
        if row_problem:
            problems.append(AuditProblem(where, row_problem))
        formed = accumulator.add(tlog.leaf_hash(record.canonical.encode("utf-8")))
        formed_nodes.extend(formed)
        with contextlib.suppress(ValueError, KeyError, TypeError):  # malformed: reported by the chain check
            stated_times[record.seq - 1] = record.at
        while pending is not None and pending.tree_size == accumulator.size:
            check_checkpoint_row(pending, accumulator.root())
            pending = next(checkpoints, None)
        if outside is not None and outside.size == accumulator.size and accumulator.root() != outside.root_hash:
            problems.append(
                AuditProblem(
                    "checkpoint held outside",
                    f"the journal's tree of {outside.size} records has another root: it was rewritten",
                )
            )

    formed_nodes: list[tuple[tlog.Node, bytes]] = []

    def records_checked() -> Iterator[Evidence]:
        for batch in _records(session):
            formed_nodes.clear()
            for record in batch:
                visit(record)
                yield record
            _compare_nodes(session, formed_nodes, problems)

    head = session.execute(select(ChainHead).where(ChainHead.id == 1)).scalar_one_or_none()
    for problem in check_chain(records_checked(), head):
        problems.append(AuditProblem(f"record {problem.seq} ({problem.evidence_id})", problem.problem))
    report.records = accumulator.size

    while pending is not None:  # checkpoints of records that are no longer there
        check_checkpoint_row(pending, None)
        pending = next(checkpoints, None)

    latest_size = session.execute(select(func.max(JournalCheckpoint.tree_size))).scalar_one() or 0
    report.logged = min(latest_size, report.records)
    report.unsealed = max(report.records - latest_size, 0)
    stray = session.execute(
        select(func.count()).where(JournalNode.level == 0, JournalNode.position >= report.records)
    ).scalar_one()
    if stray:
        problems.append(AuditProblem("transparency log", f"it holds {stray} leaves of records that are gone"))
    for refusal in session.execute(select(JournalRefusal).order_by(JournalRefusal.seq)).scalars():
        problems.append(
            AuditProblem(
                f"record {refusal.seq} ({refusal.evidence_id})",
                f"refused by the checkpoint writer since {refusal.first_seen_at:%Y-%m-%d %H:%M} UTC: {refusal.problem}",
            )
        )

    if outside is not None:
        if outside.size > report.records:
            problems.append(
                AuditProblem(
                    "checkpoint held outside",
                    f"it covers {outside.size} records but the journal holds {report.records}: records were deleted",
                )
            )
        elif session.get(JournalCheckpoint, outside.size) is None:
            problems.append(
                AuditProblem("checkpoint held outside", "the journal no longer holds this checkpoint (deleted?)")
            )
        report.against = f"{outside.size} records, root {outside.root_hash.hex()}"

    _check_legacy_checkpoints(session, services, by_seq, problems, check_seals=check_seals)
    _check_letters(session, problems)
    return report


def _check_letters(session: DbSession, problems: list[AuditProblem], batch: int = 1000) -> None:
    """What the API and the portal show of a letter from its row must be what its deposit record states."""
    last = ""
    while True:
        rows = session.execute(
            select(Letter, Evidence.canonical)
            .outerjoin(Evidence, (Evidence.letter_id == Letter.id) & (Evidence.event == "SubmissionAcceptance"))
            .where(Letter.id > last)
            .order_by(Letter.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        for letter, canonical in rows:
            if canonical is None:
                problems.append(
                    AuditProblem(f"letter {letter.reference} ({letter.id})", "it has no deposit record (deleted?)")
                )
                continue
            try:
                stated = json.loads(canonical)
                deposited_at = datetime.fromisoformat(str(stated.get("at")))
            except (ValueError, TypeError):
                continue  # reported by the chain check
            shown = {
                "reference": letter.reference,
                "recipient": letter.recipient_facts(),
                "document": letter.document_facts(),
                "organisation": letter.organisation_id,
                "deposited_at": letter.deposited_at,
            }
            sealed = {
                "reference": stated.get("reference"),
                "recipient": stated.get("recipient"),
                "document": stated.get("document"),
                "organisation": (stated.get("sender") or {}).get("organisation_id"),
                "deposited_at": deposited_at,
            }
            changed = sorted(key for key in shown if shown[key] != sealed[key])
            if changed:
                problems.append(
                    AuditProblem(
                        f"letter {letter.reference} ({letter.id})",
                        f"its {', '.join(changed)} differ from its sealed deposit record",
                    )
                )
        last = rows[-1][0].id
        session.expunge_all()


def _compare_nodes(session: DbSession, formed: list[tuple[tlog.Node, bytes]], problems: list[AuditProblem]) -> None:
    """Stored nodes of the leaves just walked must be what the leaves make (absent: not logged yet)."""
    stored = fetch_nodes(session, [node for node, _ in formed])
    for node, digest in formed:
        found = stored.get(node)
        if found is not None and found != digest:
            level, position = node
            what = f"record {position + 1}" if level == 0 else f"node {level}/{position}"
            problems.append(AuditProblem("transparency log", f"the stored hash of {what} does not match the journal"))


def _check_legacy_checkpoints(
    session: DbSession,
    services: TrustServices,
    by_seq: dict[int, str],
    problems: list[AuditProblem],
    *,
    check_seals: bool,
) -> None:
    """Chain checkpoints written before the transparency log: each still names a record that exists."""
    previous_hash = GENESIS_HASH
    for checkpoint in session.execute(select(ChainCheckpoint).order_by(ChainCheckpoint.id)).scalars():
        where = f"chain checkpoint {checkpoint.id} (record {checkpoint.seq})"
        body = checkpoint.canonical.encode()
        statement = json.loads(body)
        if check_seals and not services.trust.check(body, checkpoint.seal).ok:
            problems.append(AuditProblem(where, "bad seal"))
        if (statement.get("sequence"), statement.get("head_hash")) != (checkpoint.seq, checkpoint.record_hash):
            problems.append(AuditProblem(where, "statement does not match its row"))
        if statement.get("previous_checkpoint_hash") != previous_hash:
            problems.append(AuditProblem(where, "broken link to the previous checkpoint"))
        if by_seq.get(checkpoint.seq) != checkpoint.record_hash:
            problems.append(AuditProblem(where, "the checkpointed record is missing or changed (truncated chain?)"))
        previous_hash = sha256_hex(body)
