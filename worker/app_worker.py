"""RQ workers and the scheduler, bound to an app built by the entry point.

A worker is a long-lived process that never forks: each job runs in a fresh
app context of that app, with its own database session, in a process whose
fonts, keys and pyHanko machinery were warmed up once at start.  It serves the
priority queues in order (`webapp.queue.Priority`): a code SMS never waits
behind a campaign.  `make run` starts `WORKERS` of them.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker, Worker
from rq.cron import CronScheduler

from webapp import jobs, sweepers
from webapp.extensions import db
from webapp.queue import JobFunction, all_queues, get_queue, get_redis, job_name
from webapp.services import current_services
from webapp.trust.journal import checkpoint_journal_job
from webapp.trust.proofs import warm_up_proofs

log = logging.getLogger("worker")
# One line a minute of what a worker did (INFO); each job's own lines are DEBUG (`LOG_LEVEL=debug`).
summary = logging.getLogger("worker.summary")
SUMMARY_SECONDS = 60


@dataclass(frozen=True)
class Periodic:
    job: JobFunction
    seconds: int


# What the scheduler runs, and how often.  Negligence is checked every 15 s so that it is recorded well
# within a minute of the deadline; each sweeper at the interval its registry entry gives.
SCHEDULE: tuple[Periodic, ...] = (
    Periodic(jobs.expire_letters, 15),
    Periodic(jobs.send_reminders, 60),
    Periodic(checkpoint_journal_job, 5),
    Periodic(jobs.requeue_messages, sweepers.MESSAGES.every),
    Periodic(jobs.requeue_proofs, sweepers.PROOFS.every),
    Periodic(jobs.requeue_webhooks, sweepers.WEBHOOKS.every),
    Periodic(jobs.requeue_batches, sweepers.BATCHES.every),
    Periodic(jobs.requeue_account_emails, sweepers.INVITATION_EMAILS.every),  # and CONFIRMATION_EMAILS, as often
    # The CRL is reissued once a day (valid seven); checked hourly so that one missed run costs nothing.
    Periodic(jobs.refresh_trust, 3600),
    Periodic(jobs.renew_archive_timestamps, 3600),
)

# The same as (the dotted name RQ stores, seconds), as earlier releases declared it.
PERIODIC_JOBS = [(job_name(periodic.job), periodic.seconds) for periodic in SCHEDULE]


class AppContextMixin:
    """Runs every job inside a fresh app context, and keeps a summary of what ran for the log."""

    app: Flask
    parent_pid: int = 0
    done: int = 0
    failed: int = 0
    summary_at: float = 0.0

    def perform_job(self, job: Any, queue: Queue) -> bool:
        with self.app.app_context():
            if os.getpid() != self.parent_pid:
                # A forked work horse must not reuse the connections its parent pooled.
                db.engine.dispose(close=False)
            try:
                ok = bool(super().perform_job(job, queue))  # type: ignore[misc]
            finally:
                db.session.remove()
        self.done, self.failed = self.done + ok, self.failed + (not ok)
        now = time.monotonic()
        if now - self.summary_at >= SUMMARY_SECONDS:
            if self.done or self.failed:
                summary.info("%s: %d job(s) done, %d failed in the last minute", self.name, self.done, self.failed)  # type: ignore[attr-defined]
            self.done = self.failed = 0
            self.summary_at = now
        return ok


class AppWorker(AppContextMixin, Worker):
    """Forks a work horse per job (kept for debugging a job that crashes its process)."""


class AppSimpleWorker(AppContextMixin, SimpleWorker):
    """Runs every job in its own long-lived process: fonts, keys and pyHanko stay warm from one job to the
    next.  A job's timeout is still enforced (RQ's death penalty alarm runs in this process's main thread),
    and a worker that dies (kill -9, out of memory) leaves its job in RQ's started registry, where the
    sweepers (`webapp.sweepers`) find it again; `make run` starts the process anew."""


def warm_up(app: Flask) -> None:
    """What the first proof of a cold process would pay: imports, fonts, keys, the TSA, pyHanko's first
    signature; paid once when the worker starts instead."""
    started = time.monotonic()
    with app.app_context():
        try:
            warm_up_proofs(current_services())
        except Exception:
            log.exception("warming up failed; the first proofs will be slower")
        finally:
            db.session.remove()
    log.info("warmed up in %.1f s", time.monotonic() - started)


def run_worker(
    app: Flask, *, burst: bool = False, simple: bool = True, logging_level: str = "INFO", lane: str = "proofs"
) -> bool:
    """Works every priority's queue of the app, most urgent first, in the order of `lane`
    (`webapp.queue.LANES`); `burst` stops when they are empty.

    Without `simple`, RQ's forking worker (a process per job: slow, for debugging only)."""
    with app.app_context():
        connection = get_redis()
        queues = all_queues(connection, lane)
    worker_class = AppSimpleWorker if simple else AppWorker
    worker = worker_class(queues, connection=connection)
    worker.app = app
    worker.parent_pid = os.getpid()
    worker.summary_at = time.monotonic()
    return bool(worker.work(burst=burst, with_scheduler=not burst, logging_level=logging_level))


def serve(app: Flask, *, logging_level: str = "INFO", lane: str = "proofs") -> None:
    """A worker that outlives Redis outages: when Redis goes away mid-job or freezes, log one line, wait
    (1 s, doubling up to 30 s) and work again, instead of exiting.  Returns when told to stop."""
    warm_up(app)
    delay = 1.0
    while True:
        try:
            run_worker(app, logging_level=logging_level, lane=lane)
            return  # a warm shutdown (SIGTERM, SIGINT): the job at hand finished first
        except RedisError as exc:
            log.warning("Redis unavailable (%s); working again in %.0f s", type(exc).__name__, delay)
            time.sleep(delay)
            delay = min(delay * 2, 30.0)


def build_scheduler(app: Flask, logging_level: str = "INFO") -> CronScheduler:
    with app.app_context():
        connection = get_redis()
        queue_name = get_queue(connection).name
    scheduler = CronScheduler(connection=connection, logging_level=logging_level)
    for periodic in SCHEDULE:
        scheduler.register(periodic.job, queue_name, interval=periodic.seconds, job_timeout=300)
    return scheduler


def run_scheduler(app: Flask, *, logging_level: str = "INFO") -> None:
    """The scheduler, outliving Redis outages as `serve` does."""
    delay = 1.0
    while True:
        try:
            build_scheduler(app, logging_level).start()  # type: ignore[no-untyped-call]
            return
        except RedisError as exc:
            log.warning("Redis unavailable (%s); scheduling again in %.0f s", type(exc).__name__, delay)
            time.sleep(delay)
            delay = min(delay * 2, 30.0)


def _import(path: str) -> Any:
    """The function a dotted job name names, as a worker imports it back."""
    module_name, _, attr = path.rpartition(".")
    module = __import__(module_name, fromlist=[attr])
    return getattr(module, attr)
