"""What the support console's operations view and `/metrics` show: queues, workers, jobs, providers, errors.

Everything read from Redis degrades to "unavailable" when Redis does not
answer; everything read from the database is a SQL aggregate over indexed
columns (cheap on a million letters, see `bench/support_search.py`).  Jobs
are shown by id, function and exception type only: never their arguments,
and never an exception's message, which may quote a phone number or address.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.cron import CronScheduler
from rq.exceptions import DeserializationError, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from webapp.config import Settings
from webapp.extensions import DbSession
from webapp.letters.states import LetterStatus
from webapp.models import (
    Evidence,
    JournalCheckpoint,
    JournalRefusal,
    Letter,
    MessageStatus,
    OutboundMessage,
    Proof,
    ProofStatus,
    WebhookDelivery,
    WebhookDeliveryStatus,
)
from webapp.queue import PRIORITIES
from webapp.queue import queue_name as priority_queue_name

JOBS_SHOWN = 50  # per registry: the view lists the newest, and counts them all
ERROR_WINDOWS = (timedelta(minutes=15), timedelta(hours=1))
PROVIDER_WINDOW = timedelta(hours=1)
LAST_SENT_WINDOW = timedelta(hours=24)


class FailedJobNotFound(Exception):
    """The job is not among the queue's failed jobs (retried already, expired, or never failed)."""


@dataclass(frozen=True)
class QueueInfo:
    name: str
    queued: int
    started: int
    scheduled: int
    failed: int


@dataclass(frozen=True)
class WorkerInfo:
    name: str
    state: str
    current_job_id: str | None
    last_heartbeat_at: datetime | None


@dataclass(frozen=True)
class JobInfo:
    id: str
    function: str
    at: datetime | None  # failed: when it ended; scheduled: when it will run; started: when it started
    error: str | None = None  # the exception's type, never its message


@dataclass(frozen=True)
class PeriodicJob:
    function: str
    interval: int | None
    last_enqueued_at: datetime | None
    next_enqueue_at: datetime | None


@dataclass(frozen=True)
class RedisSnapshot:
    available: bool
    queues: list[QueueInfo] = field(default_factory=list)
    workers: list[WorkerInfo] = field(default_factory=list)
    scheduled: list[JobInfo] = field(default_factory=list)
    started: list[JobInfo] = field(default_factory=list)
    failed: list[JobInfo] = field(default_factory=list)
    periodic: list[PeriodicJob] = field(default_factory=list)
    cron_schedulers: int = 0

    def failed_since(self, since: datetime) -> int | None:
        if not self.available:
            return None
        return sum(1 for job in self.failed if job.at is not None and job.at >= since)


@dataclass(frozen=True)
class ProviderHealth:
    channel: str
    configured: str  # the provider named by the settings
    providers: list[str]  # the providers seen on the window's messages
    last_sent_at: datetime | None  # within the last 24 h
    window_total: int
    window_sent: int
    window_failed: int
    uncertain: int  # all time: a worker died mid-submission, someone must check with the provider

    @property
    def failure_rate(self) -> float | None:
        decided = self.window_sent + self.window_failed
        return self.window_failed / decided if decided else None


@dataclass(frozen=True)
class ErrorRate:
    minutes: int
    messages: int
    failed_messages: int
    failed_webhooks: int
    failed_jobs: int | None  # None: Redis unavailable

    @property
    def message_failure_rate(self) -> float | None:
        return self.failed_messages / self.messages if self.messages else None


@dataclass(frozen=True)
class RefusedRecord:
    seq: int
    evidence_id: str
    problem: str
    first_seen_at: datetime
    times: int


@dataclass(frozen=True)
class JournalHealth:
    """The transparency log: how far it goes, and any record its checkpoint writer refused."""

    records: int
    logged: int  # covered by the latest checkpoint
    last_checkpoint_at: datetime | None
    refused: list[RefusedRecord]

    @property
    def waiting(self) -> int:
        return max(self.records - self.logged, 0)


def journal_health(session: DbSession) -> JournalHealth:
    latest = session.execute(
        select(JournalCheckpoint.tree_size, JournalCheckpoint.created_at)
        .order_by(JournalCheckpoint.tree_size.desc())
        .limit(1)
    ).first()
    refused = session.execute(
        select(
            JournalRefusal.seq,
            JournalRefusal.evidence_id,
            JournalRefusal.problem,
            JournalRefusal.first_seen_at,
            JournalRefusal.times,
        )
        .order_by(JournalRefusal.seq)
        .limit(20)
    ).all()
    return JournalHealth(
        records=session.execute(select(func.coalesce(func.max(Evidence.seq), 0))).scalar_one(),
        logged=latest[0] if latest else 0,
        last_checkpoint_at=latest[1] if latest else None,
        refused=[RefusedRecord(*row) for row in refused],
    )


@dataclass(frozen=True)
class OperationsSnapshot:
    at: datetime
    redis: RedisSnapshot
    providers: list[ProviderHealth]
    errors: list[ErrorRate]
    journal: JournalHealth


@dataclass(frozen=True)
class DatabaseCounts:
    """The totals `/metrics` exposes, each one SQL aggregate."""

    letters_by_status: dict[str, int]
    messages_by_status: dict[str, int]
    recent_messages: dict[tuple[str, str], int]  # (channel, status) → messages created in the last hour
    webhook_deliveries_by_status: dict[str, int]
    evidence_unsealed: int
    proofs_pending: int
    journal_refused: int  # records the checkpoint writer refused: someone changed the journal
    journal_logged: int  # records covered by the latest checkpoint


# --- Redis ------------------------------------------------------------------------------------------------


def priority_queue_names(base: str) -> list[str]:
    return [priority_queue_name(base, priority) for priority in PRIORITIES]


def redis_snapshot(redis: Redis, queue_name: str) -> RedisSnapshot:
    """Every priority's queue, their registries, the workers and the periodic jobs; `available=False` if
    Redis is down."""
    try:
        queues = [Queue(name, connection=redis) for name in priority_queue_names(queue_name)]
        infos = [
            QueueInfo(
                name=queue.name,
                queued=queue.count,
                started=queue.started_job_registry.count,
                scheduled=queue.scheduled_job_registry.count,
                failed=queue.failed_job_registry.count,
            )
            for queue in queues
        ]
        workers = [
            WorkerInfo(
                name=worker.name,
                state=str(worker.get_state()),
                current_job_id=worker.get_current_job_id(),
                last_heartbeat_at=_aware(worker.last_heartbeat),
            )
            for worker in Worker.all(connection=redis)
        ]
        scheduled = [
            JobInfo(job.id, _function(job), _scheduled_time(queue.scheduled_job_registry, job.id))
            for queue in queues
            for job in _jobs(redis, queue.scheduled_job_registry.get_job_ids(0, JOBS_SHOWN - 1))
        ][:JOBS_SHOWN]
        started = [
            JobInfo(job.id, _function(job), _aware(job.started_at))
            for queue in queues
            for job in _jobs(redis, queue.started_job_registry.get_job_ids(0, JOBS_SHOWN - 1))
        ][:JOBS_SHOWN]
        # A registry is ordered by expiry (failure time + TTL): the newest failures come last.
        failed_jobs = [
            job for queue in queues for job in _jobs(redis, queue.failed_job_registry.get_job_ids(-JOBS_SHOWN, -1))
        ]
        failed = sorted(
            (JobInfo(job.id, _function(job), _aware(job.ended_at), _exception_type(job)) for job in failed_jobs),
            key=lambda job: (job.at is not None, job.at),
            reverse=True,
        )[:JOBS_SHOWN]
        schedulers = CronScheduler.all(redis)
        periodic = [
            PeriodicJob(
                function=job.func_name,
                interval=job.interval,
                last_enqueued_at=_aware(job.latest_enqueue_time),
                next_enqueue_at=_aware(job.next_enqueue_time),
            )
            for scheduler in schedulers
            for job in scheduler.get_jobs()
        ]
    except RedisError:
        return RedisSnapshot(available=False)
    return RedisSnapshot(
        available=True,
        queues=infos,
        workers=workers,
        scheduled=scheduled,
        started=started,
        failed=failed,
        periodic=sorted(periodic, key=lambda job: job.function),
        cron_schedulers=len(schedulers),
    )


def _jobs(redis: Redis, job_ids: list[str]) -> list[Job]:
    return [job for job in Job.fetch_many(job_ids, connection=redis) if job is not None]


def _function(job: Job) -> str:
    try:
        return job.func_name or "?"
    except DeserializationError:  # a job whose data cannot be read is still listed
        return "?"


def _exception_type(job: Job) -> str | None:
    """`ProviderUnavailable` from the traceback's last line `webapp.notify.errors.ProviderUnavailable: …`."""
    result = job.latest_result()
    text = result.exc_string if result is not None else None
    if not text:
        return None
    last = text.strip().splitlines()[-1]
    return last.split(":", 1)[0].rsplit(".", 1)[-1].strip()[:100] or None


def _scheduled_time(registry: object, job_id: str) -> datetime | None:
    try:
        at: datetime = registry.get_scheduled_time(job_id)  # type: ignore[attr-defined]
    except NoSuchJobError:
        return None
    return _aware(at)


def _aware(moment: datetime | None) -> datetime | None:
    """RQ's times are UTC, some of them naive."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _failed_registry(redis: Redis, queue_name: str, job_id: str) -> FailedJobRegistry:
    """The failed-job registry (of one of the priorities' queues) that holds the job."""
    for name in priority_queue_names(queue_name):
        registry = FailedJobRegistry(name, connection=redis)
        if job_id in registry:
            return registry
    raise FailedJobNotFound(job_id)


def failed_job(redis: Redis, queue_name: str, job_id: str) -> JobInfo:
    """One of the queues' failed jobs; raises FailedJobNotFound if it is not (or no longer) one."""
    _failed_registry(redis, queue_name, job_id)
    job = Job.fetch_many([job_id], connection=redis)[0]
    if job is None:
        raise FailedJobNotFound(job_id)
    return JobInfo(job.id, _function(job), _aware(job.ended_at), _exception_type(job))


def retry_failed_job(redis: Redis, queue_name: str, job_id: str) -> None:
    """Puts a failed job back on its queue; raises FailedJobNotFound unless it is one of the queue's failed jobs."""
    registry = _failed_registry(redis, queue_name, job_id)
    try:
        registry.requeue(job_id)
    except NoSuchJobError as exc:  # expired between the check and the requeue
        raise FailedJobNotFound(job_id) from exc


# --- the database -----------------------------------------------------------------------------------------


def provider_health(session: DbSession, settings: Settings, now: datetime) -> list[ProviderHealth]:
    """Per channel: the last hour's messages by outcome, the last success, the messages left uncertain."""
    since = now - PROVIDER_WINDOW
    window = session.execute(
        select(OutboundMessage.channel, OutboundMessage.provider, OutboundMessage.status, func.count())
        .where(OutboundMessage.created_at >= since)
        .group_by(OutboundMessage.channel, OutboundMessage.provider, OutboundMessage.status)
    ).all()
    last_sent = dict(
        session.execute(
            select(OutboundMessage.channel, func.max(OutboundMessage.sent_at))
            .where(OutboundMessage.created_at >= now - LAST_SENT_WINDOW, OutboundMessage.status == MessageStatus.SENT)
            .group_by(OutboundMessage.channel)
        ).all()
    )
    uncertain = dict(
        session.execute(
            select(OutboundMessage.channel, func.count())
            .where(OutboundMessage.status == MessageStatus.UNCERTAIN)
            .group_by(OutboundMessage.channel)
        ).all()
    )
    result = []
    for channel, configured in (("sms", settings.sms_provider), ("email", settings.email_provider)):
        rows = [row for row in window if row.channel == channel]
        result.append(
            ProviderHealth(
                channel=channel,
                configured=configured,
                providers=sorted({row.provider for row in rows if row.provider}),
                last_sent_at=last_sent.get(channel),
                window_total=sum(row[3] for row in rows),
                window_sent=sum(row[3] for row in rows if row.status == MessageStatus.SENT),
                window_failed=sum(row[3] for row in rows if row.status == MessageStatus.FAILED),
                uncertain=uncertain.get(channel, 0),
            )
        )
    return result


def error_rates(session: DbSession, redis: RedisSnapshot, now: datetime) -> list[ErrorRate]:
    """Failed messages, webhook deliveries and jobs over the last 15 minutes and the last hour."""
    rates = []
    for window in ERROR_WINDOWS:
        since = now - window
        messages = dict(
            session.execute(
                select(OutboundMessage.status, func.count())
                .where(OutboundMessage.created_at >= since)
                .group_by(OutboundMessage.status)
            ).all()
        )
        failed_webhooks = session.execute(
            select(func.count()).where(
                WebhookDelivery.status == WebhookDeliveryStatus.FAILED, WebhookDelivery.last_attempt_at >= since
            )
        ).scalar_one()
        rates.append(
            ErrorRate(
                minutes=int(window.total_seconds() // 60),
                messages=sum(messages.values()),
                failed_messages=messages.get(MessageStatus.FAILED, 0),
                failed_webhooks=failed_webhooks,
                failed_jobs=redis.failed_since(since),
            )
        )
    return rates


class DatabaseUnavailable(Exception):
    """The database did not answer."""


def readable_database_counts(session: DbSession, now: datetime) -> DatabaseCounts:
    """`database_counts`, or `DatabaseUnavailable`; the transaction is ended either way."""
    try:
        counts = database_counts(session, now)
    except SQLAlchemyError as exc:
        session.rollback()
        raise DatabaseUnavailable() from exc
    session.rollback()
    return counts


def database_counts(session: DbSession, now: datetime) -> DatabaseCounts:
    def grouped(column: object, *conditions: object) -> dict[str, int]:
        statement = select(column, func.count()).group_by(column)  # type: ignore[call-overload]
        if conditions:
            statement = statement.where(*conditions)
        return {str(getattr(key, "value", key)): count for key, count in session.execute(statement).all()}

    recent = session.execute(
        select(OutboundMessage.channel, OutboundMessage.status, func.count())
        .where(OutboundMessage.created_at >= now - PROVIDER_WINDOW)
        .group_by(OutboundMessage.channel, OutboundMessage.status)
    ).all()
    return DatabaseCounts(
        # Every status, at 0 when none: a series that vanishes would break rate() and alerts.
        letters_by_status={s.value: 0 for s in LetterStatus} | grouped(Letter.status),
        messages_by_status={s.value: 0 for s in MessageStatus} | grouped(OutboundMessage.status),
        recent_messages={(row[0], str(row[1].value)): row[2] for row in recent},
        webhook_deliveries_by_status={s.value: 0 for s in WebhookDeliveryStatus} | grouped(WebhookDelivery.status),
        evidence_unsealed=session.execute(select(func.count()).where(Evidence.sealed_at.is_(None))).scalar_one(),
        proofs_pending=session.execute(select(func.count()).where(Proof.status == ProofStatus.PENDING)).scalar_one(),
        journal_refused=session.execute(select(func.count(JournalRefusal.id))).scalar_one(),
        journal_logged=session.execute(select(func.coalesce(func.max(JournalCheckpoint.tree_size), 0))).scalar_one(),
    )


def operations_snapshot(session: DbSession, redis: Redis, settings: Settings, now: datetime) -> OperationsSnapshot:
    """Everything the operations view shows, read once."""
    redis_part = redis_snapshot(redis, settings.queue_name)
    return OperationsSnapshot(
        at=now,
        redis=redis_part,
        providers=provider_health(session, settings, now),
        errors=error_rates(session, redis_part, now),
        journal=journal_health(session),
    )


def health_checks(session: DbSession, redis: Redis) -> dict[str, str]:
    """`/healthz`: "ok" or "unavailable" for the database and for Redis (the session is left clean)."""
    checks = {"database": "ok", "redis": "ok"}
    try:
        session.execute(text("SELECT 1"))
        session.rollback()
    except SQLAlchemyError:
        session.rollback()
        checks["database"] = "unavailable"
    try:
        redis.ping()
    except RedisError:
        checks["redis"] = "unavailable"
    return checks
