"""Workers serve what a person waits for first, and no lane starves the other (`webapp.queue.LANES`)."""

from __future__ import annotations

import pytest
from flask import Flask

from webapp.queue import LANES, PRIORITIES, PendingJob, Priority, enqueue_all, get_redis
from worker.app_worker import run_worker

ORDER_KEY = "test:order-of-jobs"


def record(label: str) -> None:
    """A job that notes when it ran."""
    get_redis().rpush(ORDER_KEY, label)


def ran(app: Flask) -> list[str]:
    with app.app_context():
        return [item.decode() for item in get_redis().lrange(ORDER_KEY, 0, -1)]


def enqueue_one_of_each_backwards(app: Flask) -> None:
    """The least urgent first, so that first-in-first-out alone would get the order wrong."""
    with app.app_context():
        get_redis().delete(ORDER_KEY)
        jobs = [
            PendingJob(record, (f"{priority.value}-{n}",), None, False, priority)
            for priority in reversed(PRIORITIES)
            for n in range(2)
        ]
        assert enqueue_all(jobs) == len(jobs)


@pytest.mark.parametrize("lane", sorted(LANES))
def test_a_worker_serves_its_lane_in_order(app: Flask, lane: str) -> None:
    enqueue_one_of_each_backwards(app)
    run_worker(app, burst=True, logging_level="WARNING", lane=lane)
    expected = [f"{priority.value}-{n}" for priority in LANES[lane] for n in range(2)]
    assert ran(app) == expected


def test_every_lane_serves_people_then_notifications_first() -> None:
    for order in LANES.values():
        assert order[:2] == (Priority.URGENT, Priority.NOTIFY)
        assert sorted(order) == sorted(PRIORITIES)
    # One lane puts proofs before bulk deposits, the other the reverse: together, neither starves.
    firsts = {order[2] for order in LANES.values()}
    assert firsts == {Priority.NORMAL, Priority.BULK}


def test_make_run_alternates_the_lanes() -> None:
    from worker.run_all import lane_of

    assert [lane_of(n) for n in range(1, 5)] == ["proofs", "deposits", "proofs", "deposits"]
