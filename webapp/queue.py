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

import logging
from collections.abc import Callable
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


def job_name(func: JobFunction) -> str:
    """The dotted name RQ stores for a job function (and imports back in the worker)."""
    return f"{func.__module__}.{func.__qualname__}"


@dataclass(frozen=True)
class PendingJob:
    func: JobFunction
    args: tuple[Any, ...]
    job_id: str | None
    retry: bool


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


def get_queue(redis: Redis | None = None) -> Queue:
    return Queue(
        current_app.extensions["wassit"].settings.queue_name,
        connection=redis or get_redis(),
    )


def enqueue_after_commit(
    session: DbSession, func: JobFunction, *args: Any, job_id: str | None = None, retry: bool = True
) -> None:
    """Enqueues `func(*args)` once the session's transaction commits; forgotten on rollback."""
    session.info.setdefault(_PENDING_KEY, []).append(PendingJob(func, args, job_id, retry))


def enqueue_now(job: PendingJob, queue: Queue) -> bool:
    """Pushes one job; returns False (and logs) when Redis cannot be reached."""
    try:
        if job.job_id is not None:
            existing = queue.fetch_job(job.job_id)
            if existing is not None and existing.get_status(refresh=False) in {
                "queued",
                "started",
                "scheduled",
                "deferred",
            }:
                return True
        queue.enqueue(
            job.func,
            *job.args,
            job_id=job.job_id,
            retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS) if job.retry else None,
            failure_ttl=7 * 24 * 3600,
            result_ttl=3600,
        )
    except RedisError as exc:
        log.warning("Redis unavailable, %s will be enqueued by the sweeper: %s", job_name(job.func), exc)
        return False
    return True


@event.listens_for(Session, "after_commit")
def _enqueue_pending_jobs(session: Session) -> None:
    jobs: list[PendingJob] = session.info.pop(_PENDING_KEY, [])
    if not jobs:
        return
    queue = get_queue()
    for job in jobs:
        enqueue_now(job, queue)


@event.listens_for(Session, "after_soft_rollback")
def _forget_pending_jobs(session: Session, previous_transaction: Any) -> None:
    # Only the outermost transaction's rollback forgets them; a savepoint's does not.
    if previous_transaction.parent is None:
        session.info.pop(_PENDING_KEY, None)
