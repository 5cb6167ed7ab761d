"""Redis connection, RQ queue, and enqueueing jobs after the commit that makes their work visible.

`enqueue_after_commit` only remembers the job in the session; once the
transaction commits, the jobs are pushed to Redis.  If Redis is down at that
moment the commit stands (the deposit succeeded) and the periodic sweeper
(`webapp.sweepers`) enqueues the work once Redis is back.

A job is named by its function object, never by a dotted string, so that a
reader (or a tool) follows a letter from the deposit to its SMS; RQ stores the
function's dotted name (`job_name`), which a worker imports back.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeAlias

from flask import Flask, current_app
from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry as RedisRetry
from rq import Queue, Retry
from sqlalchemy import event
from sqlalchemy.orm import Session

from webapp.extensions import DbSession

log = logging.getLogger(__name__)

_PENDING_KEY = "wassit.after_commit_jobs"

# Backoff for jobs that fail transiently (provider throttled, timeout, server error).
RETRY_INTERVALS = [10, 30, 90, 270, 810]

# An RQ job: a module-level function that takes ids only and runs in the worker's app context.
JobFunction: TypeAlias = Callable[..., object]

# The states of a job that is still going to run (or running): enqueueing it again under its id is a no-op.
LIVE_STATES = frozenset({"queued", "started", "scheduled", "deferred"})


class Priority(enum.StrEnum):
    """Which queue a job waits in; workers serve them in this order, so no campaign delays a person.

    URGENT: a person is waiting for it (a code SMS, a notification sent again by an agent or a sender, an
    account email).  NOTIFY: notifications, reminders and webhooks.  NORMAL: proofs, checkpoints and the
    scheduler's periodic work.  BULK: a batch's deposits, which make all of the above.
    """

    URGENT = "urgent"
    NOTIFY = "notify"
    NORMAL = "default"
    BULK = "bulk"


PRIORITIES: tuple[Priority, ...] = (Priority.URGENT, Priority.NOTIFY, Priority.NORMAL, Priority.BULK)

# The orders ("lanes") in which a worker may serve the queues.  Every lane serves what a person waits
# for, then notifications, first.  Strictly in PRIORITIES order, a campaign's deposits would wait for
# every proof already queued (a proof costs about ten deposits), so its SMS would wait too: the
# `deposits` lane serves bulk deposits before proofs.  `make run` gives every other worker that lane
# (`WORKER_LANE`), so with two workers or more the campaign's letters and the earlier letters' proofs
# both move on, neither waiting for the other to drain.
LANES: dict[str, tuple[Priority, ...]] = {
    "proofs": PRIORITIES,
    "deposits": (Priority.URGENT, Priority.NOTIFY, Priority.BULK, Priority.NORMAL),
}


def queue_name(base: str, priority: Priority) -> str:
    """The RQ queue of a priority: `QUEUE_NAME` itself for NORMAL (what earlier releases used), else suffixed."""
    return base if priority is Priority.NORMAL else f"{base}-{priority.value}"


def job_name(func: JobFunction) -> str:
    """The dotted name RQ stores for a job function (and imports back in the worker)."""
    return f"{func.__module__}.{func.__qualname__}"


@dataclass(frozen=True)
class PendingJob:
    func: JobFunction
    args: tuple[Any, ...]
    job_id: str | None
    retry: bool
    priority: Priority = Priority.NORMAL


def connect_redis(url: str) -> Redis:
    # Fail fast: a web request must not hang on a dead Redis (the sweeper catches up later).
    return Redis.from_url(
        url,
        socket_connect_timeout=2,
        socket_timeout=10,
        health_check_interval=30,
        retry=RedisRetry(NoBackoff(), 1),
    )


def init_app(app: Flask, redis_url: str) -> None:
    app.extensions["wassit.redis"] = connect_redis(redis_url)
    app.extensions["wassit.redis_url"] = redis_url


def get_redis() -> Redis:
    redis: Redis = current_app.extensions["wassit.redis"]
    return redis


def get_queue(redis: Redis | None = None, priority: Priority = Priority.NORMAL) -> Queue:
    return Queue(
        queue_name(current_app.extensions["wassit"].settings.queue_name, priority),
        connection=redis or get_redis(),
    )


def all_queues(redis: Redis | None = None, lane: str = "proofs") -> list[Queue]:
    """Every priority's queue, in the order a worker of `lane` (LANES) serves them."""
    return [get_queue(redis, priority) for priority in LANES[lane]]


class EveryQueue:
    """All the priorities' queues read as one (the operations view, the CLI, tests)."""

    def __init__(self, queues: list[Queue]) -> None:
        self.queues = queues

    @property
    def jobs(self) -> list[Any]:
        return [job for queue in self.queues for job in queue.jobs]

    @property
    def job_ids(self) -> list[str]:
        return [job_id for queue in self.queues for job_id in queue.job_ids]

    @property
    def count(self) -> int:
        return sum(queue.count for queue in self.queues)

    def empty(self) -> None:
        for queue in self.queues:
            queue.empty()  # type: ignore[no-untyped-call]

    def fetch_job(self, job_id: str) -> Any:
        for queue in self.queues:
            job = queue.fetch_job(job_id)
            if job is not None:
                return job
        return None

    def enqueue(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        """A job on the NORMAL queue (`get_queue()`), as earlier releases enqueued everything."""
        return self.queues[PRIORITIES.index(Priority.NORMAL)].enqueue(func, *args, **kwargs)

    def scheduled_job_ids(self) -> list[str]:
        return [job_id for queue in self.queues for job_id in queue.scheduled_job_registry.get_job_ids()]

    def requeue_scheduled(self) -> int:
        """Moves every scheduled job (an RQ retry waiting for its delay) to its queue now."""
        moved = 0
        for queue in self.queues:
            registry = queue.scheduled_job_registry
            for job_id in registry.get_job_ids():
                registry.requeue(job_id)
                moved += 1
        return moved


def every_queue(redis: Redis | None = None) -> EveryQueue:
    return EveryQueue(all_queues(redis))


def enqueue_after_commit(
    session: DbSession,
    func: JobFunction,
    *args: Any,
    job_id: str | None = None,
    retry: bool = True,
    priority: Priority = Priority.NORMAL,
) -> None:
    """Enqueues `func(*args)` once the session's transaction commits; forgotten on rollback."""
    session.info.setdefault(_PENDING_KEY, []).append(PendingJob(func, args, job_id, retry, priority))


def enqueue_now(job: PendingJob, queue: Queue | None = None) -> bool:
    """Pushes one job; returns False (and logs) when Redis cannot be reached."""
    return enqueue_all([job], queue.connection if queue is not None else None) == 1


def enqueue_all(jobs: Iterable[PendingJob], redis: Redis | None = None) -> int:
    """Pushes jobs in two round trips to Redis whatever their number: one pipeline reads which of them are
    still live under their id (those are left alone), one enqueues the others.  Returns how many are queued
    now (enqueued here or still live); 0 and a log line when Redis cannot be reached."""
    jobs = list(jobs)
    if not jobs:
        return 0
    connection = redis or get_redis()
    try:
        with connection.pipeline(transaction=False) as pipe:
            for job in jobs:
                pipe.hget(f"rq:job:{job.job_id or ''}", "status")
            statuses = pipe.execute()
        live = {
            job.job_id
            for job, status in zip(jobs, statuses, strict=True)
            if job.job_id is not None and status and status.decode() in LIVE_STATES
        }
        fresh = [job for job in jobs if job.job_id not in live]
        if fresh:
            with connection.pipeline() as pipe:
                for job in fresh:
                    get_queue(connection, job.priority).enqueue_many(
                        [
                            Queue.prepare_data(
                                job.func,
                                args=job.args,
                                job_id=job.job_id,
                                retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS) if job.retry else None,
                                failure_ttl=7 * 24 * 3600,
                                result_ttl=3600,
                            )
                        ],
                        pipeline=pipe,
                    )
                pipe.execute()
    except RedisError as exc:
        names = sorted({job_name(job.func) for job in jobs})
        log.warning("Redis unavailable, %s will be enqueued by the sweeper: %s", ", ".join(names), exc)
        return 0
    return len(jobs)


@event.listens_for(Session, "after_commit")
def _enqueue_pending_jobs(session: Session) -> None:
    jobs: list[PendingJob] = session.info.pop(_PENDING_KEY, [])
    if jobs:
        enqueue_all(jobs)


@event.listens_for(Session, "after_soft_rollback")
def _forget_pending_jobs(session: Session, previous_transaction: Any) -> None:
    # Only the outermost transaction's rollback forgets them; a savepoint's does not.
    if previous_transaction.parent is None:
        session.info.pop(_PENDING_KEY, None)
