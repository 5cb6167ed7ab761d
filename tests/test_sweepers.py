"""The sweeper registry: every sweep is scheduled at its interval, a lost proof job is found again,
and jobs queued under the names of earlier releases still run."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from typing import Any

import redis
from flask import Flask
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq.utils import import_attribute
from sqlalchemy import select

from webapp import jobs, sweepers
from webapp.accounts.invitations import email_invitation_job
from webapp.accounts.signup import email_confirmation_job
from webapp.clock import FrozenClock
from webapp.extensions import db
from webapp.hooks.delivery import deliver_webhook_job
from webapp.letters.bulk import deposit_batch_job
from webapp.letters.notifications import send_message_job
from webapp.letters.proofs import issue_proof_job, proof_job_id
from webapp.models import Proof, ProofKind, ProofStatus
from webapp.queue import every_queue, job_name
from webapp.trust.journal import checkpoint_journal_job
from worker.app_worker import SCHEDULE


def _sweepers_run_by(job: Callable[..., Any]) -> set[sweepers.Sweeper]:
    """The registry entries a periodic job's body names (`sweepers.MESSAGES`, …)."""
    tree = ast.parse(inspect.getsource(job))
    names = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "sweepers"
    }
    return {getattr(sweepers, name) for name in names if isinstance(getattr(sweepers, name), sweepers.Sweeper)}


def test_every_sweeper_is_run_by_one_scheduled_job_at_its_interval() -> None:
    run: list[sweepers.Sweeper] = []
    for periodic in SCHEDULE:
        entries = _sweepers_run_by(periodic.job)
        assert all(entry.every == periodic.seconds for entry in entries), periodic
        run.extend(entries)
    assert sorted(entry.name for entry in run) == sorted(entry.name for entry in sweepers.SWEEPERS)
    # Every 30 s: work a killed worker left is enqueued again within a minute (issue 17).
    assert {entry.name: entry.every for entry in sweepers.SWEEPERS} == {
        "messages": 30,
        "proofs": 30,
        "webhooks": 30,
        "batches": 30,
        "invitation emails": 30,
        "confirmation emails": 30,
        "orphan objects": 3600,  # object storage: an hour, the grace an object is given to be committed
        "key rewrap": 300,
        "verification emails": 30,
    }


def test_jobs_queued_under_the_names_of_earlier_releases_still_resolve() -> None:
    """A worker imports a queued job by its dotted name, as `rq.utils.import_attribute` does."""
    moved = {
        "webapp.jobs.send_message": send_message_job,
        "webapp.jobs.issue_proof": issue_proof_job,
        "webapp.jobs.checkpoint_journal": checkpoint_journal_job,
        "webapp.jobs.seal_evidence": checkpoint_journal_job,
        "webapp.jobs.deliver_webhook": deliver_webhook_job,
        "webapp.jobs.deposit_batch": deposit_batch_job,
        "webapp.jobs.email_invitation": email_invitation_job,
        "webapp.jobs.email_confirmation_link": email_confirmation_job,
    }
    for old, job in moved.items():
        assert import_attribute(old) is job, old
        assert import_attribute(job_name(job)) is job  # and the name RQ stores from now on
    assert callable(import_attribute("webapp.jobs.checkpoint_chain"))


def test_a_proof_whose_job_was_lost_is_issued_after_the_sweep(
    app: Flask, deposit: Any, run_jobs: Callable[[], None], clock: FrozenClock
) -> None:
    real_redis = app.extensions["wassit.redis"]
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    app.extensions["wassit.redis"] = dead
    try:
        response = deposit()
    finally:
        app.extensions["wassit.redis"] = real_redis
        dead.close()
    assert response.status_code == 201, response.json
    letter_id = response.json["id"]

    def deposit_proof() -> Proof:
        with app.app_context():
            proof = db.session.execute(
                select(Proof).where(Proof.letter_id == letter_id, Proof.kind == ProofKind.DEPOSIT)
            ).scalar_one()
            db.session.expunge(proof)
            db.session.remove()
            return proof

    proof = deposit_proof()
    assert proof.status is ProofStatus.PENDING
    with app.app_context():
        assert every_queue().count == 0
        assert jobs.requeue_proofs() == 0  # its own job is given a minute first
        clock.advance(61)
        assert jobs.requeue_proofs() == 1
        assert jobs.requeue_proofs() == 1  # swept again before a worker runs: still one job
        assert [job.id for job in every_queue().jobs if job.func_name == job_name(issue_proof_job)] == [
            proof_job_id(proof.id)
        ]
        db.session.remove()
    run_jobs()
    assert deposit_proof().status is ProofStatus.READY
    with app.app_context():
        assert jobs.requeue_proofs() == 0
