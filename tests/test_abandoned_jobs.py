"""Work left by a killed worker is enqueued again within seconds, not when RQ's clean-up comes round
(issue 17, finding 7).

RQ keeps a job `started` for as long as its heartbeat's TTL (the job's timeout plus a minute) after its
worker died, and the sweepers used to leave every `started` job alone.  Here a real RQ worker takes
the notification job exactly as it does before running it (RQ's own `prepare_execution` and
`prepare_job_execution`), then dies without a word; the kill -9 of a real process is in
tests/test_faults.py.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from rq import Queue, SimpleWorker

from webapp.extensions import db
from webapp.jobs import requeue_messages
from webapp.letters.states import LetterStatus
from webapp.models import Letter
from webapp.queue import all_queues, every_queue, get_redis, running_job_ids, worker_connection
from worker.app_worker import Heartbeat


def _take_the_next_job(app: Flask) -> tuple[Any, SimpleWorker]:
    """What a worker does up to the first line of the job, then nothing more (its process is gone)."""
    with app.app_context():
        connection = worker_connection()
        queues = all_queues(connection)
    worker = SimpleWorker(queues, connection=connection)
    worker.register_birth()
    job, _queue = Queue.dequeue_any(queues, timeout=None, connection=connection)
    worker.prepare_execution(job)
    worker.prepare_job_execution(job)
    return job, worker


def test_a_job_whose_worker_died_is_enqueued_again_at_the_next_sweep(
    app: Flask, deposit: Any, run_jobs: Any, outbox: Any, clock: Any
) -> None:
    letter_id = deposit().get_json()["id"]
    # The deposit queued the notification and the proof; put the notification back alone.
    with app.app_context():
        every_queue().empty()
        clock.advance(60)
        assert requeue_messages() == 1
    job, worker = _take_the_next_job(app)
    assert job.get_status() == "started"
    with app.app_context():
        # RQ sees it started, by a registered worker; but that worker never beat (killed at once).
        assert any(job.id in queue.started_job_registry.get_job_ids() for queue in all_queues())
        assert job.id not in running_job_ids(get_redis())

        # The next sweep hands it back.
        assert requeue_messages() == 1
        assert job.get_status(refresh=True) == "queued"
        assert job.id not in running_job_ids(get_redis())
        # Nor does RQ's own clean-up, minutes later, find it in the started registry to fail or retry it.
        assert all(job.id not in queue.started_job_registry.get_job_ids() for queue in all_queues())
        run_jobs()
        assert db.session.get_one(Letter, letter_id).status is LetterStatus.NOTIFIED
        db.session.remove()
    assert len([line for line in outbox() if line["to"] == "+212612345678"]) == 1
    worker.connection.close()


def test_a_job_whose_worker_is_alive_is_left_to_it(app: Flask, deposit: Any, clock: Any) -> None:
    deposit()
    with app.app_context():
        every_queue().empty()
        clock.advance(60)
        assert requeue_messages() == 1
    job, worker = _take_the_next_job(app)
    with Heartbeat(app, worker.name), app.app_context():
        assert job.id in running_job_ids(get_redis())
        assert requeue_messages() == 1  # counted as queued, still its worker's
        assert job.get_status(refresh=True) == "started"
        assert every_queue().count == 0
    worker.connection.close()
