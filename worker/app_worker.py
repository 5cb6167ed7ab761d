"""RQ workers and the scheduler, bound to an app built by the entry point.

Each job runs in a fresh app context of that app, with its own database
session; a forked job process first drops the connections it inherited.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from flask import Flask
from rq import Queue, SimpleWorker, Worker
from rq.cron import CronScheduler

from webapp import jobs, sweepers
from webapp.extensions import db
from webapp.queue import JobFunction, get_redis, job_name
from webapp.trust.journal import checkpoint_journal_job


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
    """Runs every job inside a fresh app context."""

    app: Flask
    parent_pid: int = 0

    def perform_job(self, job: Any, queue: Queue) -> bool:
        with self.app.app_context():
            if os.getpid() != self.parent_pid:
                # A forked work horse must not reuse the connections its parent pooled.
                db.engine.dispose(close=False)
            try:
                return bool(super().perform_job(job, queue))  # type: ignore[misc]
            finally:
                db.session.remove()


class AppWorker(AppContextMixin, Worker):
    """Forks a work horse per job: a crashing job cannot take the worker down."""


class AppSimpleWorker(AppContextMixin, SimpleWorker):
    """Runs jobs in its own process (tests, and debugging)."""


def run_worker(app: Flask, *, burst: bool = False, simple: bool = False, logging_level: str = "INFO") -> bool:
    """Works the app's queue; `burst` stops when it is empty."""
    with app.app_context():
        connection = get_redis()
        queue_name = app.extensions["wassit"].settings.queue_name
    worker_class = AppSimpleWorker if simple else AppWorker
    worker = worker_class([Queue(queue_name, connection=connection)], connection=connection)
    worker.app = app
    worker.parent_pid = os.getpid()
    return bool(worker.work(burst=burst, with_scheduler=not burst, logging_level=logging_level))


def build_scheduler(app: Flask) -> CronScheduler:
    with app.app_context():
        connection = get_redis()
        queue_name = app.extensions["wassit"].settings.queue_name
    scheduler = CronScheduler(connection=connection, logging_level="INFO")
    for periodic in SCHEDULE:
        scheduler.register(periodic.job, queue_name, interval=periodic.seconds, job_timeout=300)
    return scheduler


def _import(path: str) -> Any:
    """The function a dotted job name names, as a worker imports it back."""
    module_name, _, attr = path.rpartition(".")
    module = __import__(module_name, fromlist=[attr])
    return getattr(module, attr)
