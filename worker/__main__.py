"""`python -m worker [work|scheduler] [--burst]`: the RQ worker, or the periodic scheduler.

The app context comes from here, never from an import side effect: each job
runs in a fresh context of the app built at start-up, with its own database
session, and a forked job process drops the parent's pooled connections.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from flask import Flask
from rq import Queue, Worker
from rq.cron import CronScheduler

from webapp import create_app
from webapp.extensions import db
from webapp.queue import get_redis

# Periodic jobs: (function, seconds).  Negligence is checked every 15 s so that it is
# recorded well within a minute of the deadline.
PERIODIC_JOBS = [
    ("webapp.jobs.expire_letters", 15),
    ("webapp.jobs.requeue_messages", 30),
]


class AppWorker(Worker):
    """An RQ worker that runs every job inside a fresh app context."""

    app: Flask

    def perform_job(self, job: Any, queue: Queue) -> bool:
        with self.app.app_context():
            # After fork, the parent's pooled connections must not be reused by the child.
            db.engine.dispose(close=False)
            try:
                return bool(super().perform_job(job, queue))
            finally:
                db.session.remove()


def run_worker(app: Flask, *, burst: bool = False) -> bool:
    with app.app_context():
        connection = get_redis()
        queue_name = app.extensions["wassit"].settings.queue_name
    worker = AppWorker([Queue(queue_name, connection=connection)], connection=connection)
    worker.app = app
    return bool(worker.work(burst=burst, with_scheduler=True, logging_level="INFO"))


def build_scheduler(app: Flask) -> CronScheduler:
    with app.app_context():
        connection = get_redis()
        queue_name = app.extensions["wassit"].settings.queue_name
    scheduler = CronScheduler(connection=connection, logging_level="INFO")
    for func_name, seconds in PERIODIC_JOBS:
        scheduler.register(_import(func_name), queue_name, interval=seconds, job_timeout=300)
    return scheduler


def _import(path: str) -> Any:
    module_name, _, attr = path.rpartition(".")
    module = __import__(module_name, fromlist=[attr])
    return getattr(module, attr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker")
    parser.add_argument("role", nargs="?", default="work", choices=["work", "scheduler"])
    parser.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app()
    if args.role == "scheduler":
        build_scheduler(app).start()  # type: ignore[no-untyped-call]
        return 0
    run_worker(app, burst=args.burst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
