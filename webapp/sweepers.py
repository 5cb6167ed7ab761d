"""The sweepers: one registry of the work a lost RQ job would strand, and one way to hand it back.

A job is enqueued after the commit that makes its work visible; if Redis is down at
that moment, or a worker dies and RQ gives up, the work waits in the database with no
job to do it.  Each `Sweeper` below says once where such work waits (`lost`), how long
its own job is given first (`older_than`), and which job to enqueue again under which
id (`job`, `job_id`: the same id as the first enqueue, so that a job still queued or
running is not doubled).  A job RQ still calls started whose worker stopped beating
(`queue.abandoned_jobs`: killed, or cut from Redis) is enqueued again at the next sweep,
seconds later, not when RQ's own clean-up comes round.  `sweep` runs one; the
scheduler runs each every `every` seconds (`webapp.jobs.requeue_*`, scheduled by
`worker.app_worker`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeAlias

from redis.exceptions import RedisError
from sqlalchemy import Row, Select, literal, or_, select

from webapp.accounts.invitations import email_invitation_job
from webapp.accounts.links import confirmation_email_job_id, erase_stale_link_tokens, invitation_email_job_id
from webapp.accounts.signup import email_confirmation_job
from webapp.accounts.verification import decision_email_job_id, verification_email_job
from webapp.extensions import DbSession
from webapp.hooks.delivery import deliver_webhook_job, delivery_job_id
from webapp.letters.bulk import deposit_batch_job, deposit_job_id
from webapp.letters.notifications import message_job_id, message_priority, send_message_job
from webapp.letters.proofs import issue_proof_job, proof_job_id
from webapp.models import (
    Batch,
    BatchStatus,
    KeyRotation,
    MessageStatus,
    Organisation,
    OutboundMessage,
    Proof,
    ProofStatus,
    WebhookDelivery,
    WebhookDeliveryStatus,
)
from webapp.models.organisation import AccountEmailStatus, EmailConfirmation, Invitation
from webapp.queue import JobFunction, PendingJob, Priority, enqueue_all, get_redis, running_job_ids
from webapp.services import Services
from webapp.storage import ORPHAN_GRACE, sweep_orphans_job
from webapp.support.keys import MASTER, rewrap_job

# Queries and rows of any columns (each sweeper selects its own).
LostQuery: TypeAlias = Select[*tuple[Any, ...]]
LostRow: TypeAlias = Row[*tuple[Any, ...]]


@dataclass(frozen=True)
class Sweeper:
    """One kind of work a lost job strands, and how to hand it back to a worker."""

    name: str
    every: int  # seconds between two sweeps (the scheduler's interval)
    older_than: int  # seconds a row is left to the job its own commit enqueued
    # (now, cutoff) → the rows whose job may be lost; the first column is the id the job takes.
    lost: Callable[[datetime, datetime], LostQuery]
    job: JobFunction
    job_id: Callable[[LostRow], str]
    retry: bool = True  # RQ's retries with backoff (`queue.RETRY_INTERVALS`), as at the first enqueue
    # A job id prefix: a started job of the same family is still at work on the row (a batch's job moves on).
    family: Callable[[LostRow], str] | None = None
    # What the sweep tidies first, in the same transaction.
    tidy: Callable[[DbSession, datetime], None] | None = None
    # The queue the job waits in (`queue.Priority`), as at the first enqueue.
    priority: Callable[[LostRow], Priority] = lambda row: Priority.NORMAL


def _unsent_links(model: type[Invitation] | type[EmailConfirmation], still_open: Any, now: datetime) -> LostQuery:
    """Links whose email is not sent yet, with their token still sealed, neither expired nor used."""
    return (
        select(model.id, model.token_hash)
        .where(
            model.email_status.in_((AccountEmailStatus.PENDING, AccountEmailStatus.SENDING)),
            model.token_key_id.is_not(None),
            model.expires_at > now,
            still_open,
        )
        .limit(200)
    )


# Notification, reminder and code messages still pending (Redis down at the deposit, RQ's retries exhausted).
MESSAGES = Sweeper(
    name="messages",
    every=30,
    older_than=20,
    lost=lambda now, cutoff: (
        select(OutboundMessage.id, OutboundMessage.purpose, OutboundMessage.reminder_number)
        .where(
            OutboundMessage.status == MessageStatus.PENDING,
            OutboundMessage.next_attempt_at <= now,
            OutboundMessage.created_at <= cutoff,
        )
        .limit(500)
    ),
    job=send_message_job,
    job_id=lambda row: message_job_id(row.id),
    priority=lambda row: message_priority(row.purpose, row.reminder_number),
)

# Proofs still pending: their job was lost, or failed (a TSA or seal outage outlasting RQ's retries).
PROOFS = Sweeper(
    name="proofs",
    every=30,
    older_than=20,
    lost=lambda now, cutoff: (
        select(Proof.id).where(Proof.status == ProofStatus.PENDING, Proof.created_at <= cutoff).limit(500)
    ),
    job=issue_proof_job,
    job_id=lambda row: proof_job_id(row.id),
)

# Webhook deliveries whose attempt is due: every retry after `RETRY_DELAYS` comes this way (the job is
# never retried by RQ), and so does a delivery whose job was lost.
WEBHOOKS = Sweeper(
    name="webhooks",
    every=30,
    older_than=0,
    lost=lambda now, cutoff: (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.status == WebhookDeliveryStatus.PENDING, WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(500)
    ),
    job=deliver_webhook_job,
    job_id=lambda row: delivery_job_id(row.id),
    retry=False,
    priority=lambda row: Priority.NOTIFY,
)

# Batches left unfinished with no job at work (Redis down when the upload or a hand-over committed, a
# worker killed).  A run's id names the progress it started from, so a run that has moved on since is
# recognised by its family of ids.
BATCHES = Sweeper(
    name="batches",
    every=30,
    older_than=0,
    lost=lambda now, cutoff: select(Batch.id, Batch.deposited_rows).where(
        Batch.status.in_((BatchStatus.READY, BatchStatus.DEPOSITING))
    ),
    job=deposit_batch_job,
    job_id=lambda row: deposit_job_id(row.id, row.deposited_rows),
    family=lambda row: f"batch-{row.id}-",
    priority=lambda row: Priority.BULK,
)

# Invitation and sign-up confirmation emails whose job was lost (Redis down at the commit, a worker
# killed mid-send).  The sweep first erases the sealed tokens of links used or expired (of both kinds).
INVITATION_EMAILS = Sweeper(
    name="invitation emails",
    every=30,
    older_than=0,
    lost=lambda now, cutoff: _unsent_links(Invitation, Invitation.accepted_at.is_(None), now),
    job=email_invitation_job,
    job_id=lambda row: invitation_email_job_id(row.id, row.token_hash),
    tidy=erase_stale_link_tokens,
    priority=lambda row: Priority.URGENT,
)
CONFIRMATION_EMAILS = Sweeper(
    name="confirmation emails",
    every=30,
    older_than=0,
    lost=lambda now, cutoff: _unsent_links(EmailConfirmation, EmailConfirmation.used_at.is_(None), now),
    job=email_confirmation_job,
    job_id=lambda row: confirmation_email_job_id(row.id, row.token_hash),
    priority=lambda row: Priority.URGENT,
)

# Objects no committed row references (a transaction rolled back after its object was written, a crash
# between the write and the commit, a deletion that failed after its commit).  There is no row to find:
# the one "row" names the scope, and the job lists the store's recent partitions itself, leaving objects
# younger than `storage.ORPHAN_GRACE` to the transactions that may still commit them.
ORPHAN_OBJECTS = Sweeper(
    name="orphan objects",
    every=int(ORPHAN_GRACE.total_seconds()),
    older_than=0,
    lost=lambda now, cutoff: select(literal("recent")),
    job=sweep_orphans_job,
    job_id=lambda row: "storage-orphans",
    retry=False,
)

# Master key rotations not finished: their re-wrapping job was lost or stopped (it resumes where it was).
KEY_REWRAP = Sweeper(
    name="key rewrap",
    every=300,
    older_than=300,
    lost=lambda now, cutoff: select(KeyRotation.id).where(
        KeyRotation.kind == MASTER, KeyRotation.finished_at.is_(None), KeyRotation.started_at <= cutoff
    ),
    job=rewrap_job,
    job_id=lambda row: f"rewrap-{row.id}",
    retry=False,
)

# The email telling an organisation's admins of the operators' decision on its verification.
VERIFICATION_EMAILS = Sweeper(
    name="verification emails",
    every=30,
    older_than=60,
    lost=lambda now, cutoff: (
        select(Organisation.id, Organisation.verified_at, Organisation.refused_at)
        .where(
            Organisation.decision_email_status.in_((AccountEmailStatus.PENDING, AccountEmailStatus.SENDING)),
            or_(Organisation.verified_at <= cutoff, Organisation.refused_at <= cutoff),
        )
        .limit(200)
    ),
    job=verification_email_job,
    job_id=lambda row: decision_email_job_id(row.id, row.verified_at or row.refused_at),
    priority=lambda row: Priority.URGENT,
)

SWEEPERS: tuple[Sweeper, ...] = (
    MESSAGES,
    PROOFS,
    WEBHOOKS,
    BATCHES,
    INVITATION_EMAILS,
    CONFIRMATION_EMAILS,
    ORPHAN_OBJECTS,
    KEY_REWRAP,
    VERIFICATION_EMAILS,
)


def sweep(session: DbSession, services: Services, sweeper: Sweeper, *, older_than: int | None = None) -> int:
    """Enqueues the sweeper's job for each row whose job may be lost; returns how many rows have one queued
    now (enqueued here, or still waiting under the same id).

    Reads (and tidies) in one transaction, commits, then enqueues: a row whose job is still queued,
    scheduled or running keeps it (same job id), and a row of a started family is left alone.
    """
    now = services.clock.now()
    cutoff = now - timedelta(seconds=sweeper.older_than if older_than is None else older_than)
    if sweeper.tidy is not None:
        sweeper.tidy(session, now)
    rows = session.execute(sweeper.lost(now, cutoff)).all()
    session.commit()
    if not rows:
        return 0
    started: set[str] = set()
    if sweeper.family is not None:
        try:
            started = running_job_ids(get_redis())  # a job whose worker died is no longer at work
        except RedisError:
            return 0
    jobs = [
        PendingJob(sweeper.job, (row[0],), sweeper.job_id(row), sweeper.retry, sweeper.priority(row))
        for row in rows
        if sweeper.family is None or not any(job_id.startswith(sweeper.family(row)) for job_id in started)
    ]
    return enqueue_all(jobs)


# Two sweeps by name: `flask letters requeue` sweeps every pending message at once (older_than=0).


def requeue_stalled_messages(session: DbSession, services: Services, *, older_than: int = MESSAGES.older_than) -> int:
    return sweep(session, services, MESSAGES, older_than=older_than)


def requeue_due_deliveries(session: DbSession, services: Services) -> int:
    return sweep(session, services, WEBHOOKS)
