"""The operations view (agents only), retrying failed jobs, Redis down, and /metrics with its token."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from rq import Queue
from sqlalchemy import select

from tests.conftest import Sender
from tests.portal_helpers import ENGLISH, csrf_token, log_in
from tests.support_helpers import log_in_agent, make_agent
from webapp.extensions import db
from webapp.models import AgentAuditEntry
from webapp.queue import connect_redis, get_redis
from webapp.services import current_services
from webapp.support.operations import FailedJobNotFound, operations_snapshot, retry_failed_job

PAGE = "/support/operations/"
TOKEN = "metrics-token-" + "m" * 24
SECRET_ARGUMENT = "0612345678 must never be shown"


@pytest.fixture
def agent_client(app: Flask, client: FlaskClient) -> FlaskClient:
    agent_id, secret = make_agent(app)
    log_in_agent(client, app, agent_id, secret)
    return client


@pytest.fixture
def failed_job(app: Flask, run_jobs: Callable[[], None]) -> str:
    """A job that failed in the worker (`int("0612345678 …")` raises ValueError); returns its id."""
    with app.app_context():
        queue = Queue(current_services().settings.queue_name, connection=get_redis())
        job = queue.enqueue("builtins.int", SECRET_ARGUMENT)
    run_jobs()
    return str(job.id)


@pytest.fixture
def redis_down(app: Flask) -> Iterator[None]:
    """Redis stops answering (a port nobody listens on), from now on."""
    working: Redis = app.extensions["wassit.redis"]
    app.extensions["wassit.redis"] = connect_redis("redis://127.0.0.1:1/0")
    yield
    app.extensions["wassit.redis"].close()
    app.extensions["wassit.redis"] = working


@pytest.fixture
def metrics_token(app: Flask) -> str:
    services = app.extensions["wassit"]
    services.settings = services.settings.replace(metrics_token=TOKEN)
    return TOKEN


def test_the_operations_view_is_for_agents_only(app: Flask, client: FlaskClient, sender: Sender) -> None:
    response = client.get(PAGE, headers=ENGLISH)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/support/login")
    assert client.get(PAGE, headers={"HX-Request": "true"}).status_code == 404
    log_in(client, sender)  # a sender's session is not an agent's
    response = client.get(PAGE, headers=ENGLISH)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/support/login")
    assert client.post(f"{PAGE}failed-jobs/x/retry", data={}).status_code in {303, 400}


def test_the_view_shows_queues_providers_and_errors_and_refreshes_its_sections(
    app: Flask, agent_client: FlaskClient, deposit: Callable[..., Any], run_jobs: Callable[[], None]
) -> None:
    assert deposit().status_code == 201
    run_jobs()
    page = agent_client.get(PAGE, headers=ENGLISH)
    assert page.status_code == 200, page.text[-3000:]
    assert page.headers["Cache-Control"] == "no-store"
    assert "HX-Request" in page.headers["Vary"]
    assert "<html" in page.text
    assert 'hx-trigger="every 10s"' in page.text
    sms = re.search(r'<tr id="provider-sms">(.*?)</tr>', page.text, re.S)
    assert sms
    assert "console" in sms.group(1)
    assert "1 / 0 / 1" in sms.group(1)
    assert "No worker is running" in page.text  # the burst worker has left
    assert 'id="redis-unavailable"' not in page.text
    # The keys in use and how far a rotation has gone (issue 18).
    keys = re.search(r'<dl class="facts" id="keys">(.*?)</dl>', page.text, re.S)
    assert keys
    assert "Master key in use" in keys.group(1)
    assert "Data keys left to re-wrap</dt><dd>0" in keys.group(1)
    assert "seal" in page.text
    sections = agent_client.get(PAGE, headers={**ENGLISH, "HX-Request": "true"})
    assert sections.status_code == 200
    assert "<html" not in sections.text
    assert sections.text.lstrip().startswith('<div id="ops-sections"')


def test_a_failed_job_is_listed_without_its_arguments_and_retried_into_the_queue(
    app: Flask, agent_client: FlaskClient, failed_job: str
) -> None:
    page = agent_client.get(PAGE, headers=ENGLISH)
    row = re.search(rf'<tr id="failed-{failed_job}">(.*?)</tr>', page.text, re.S)
    assert row, page.text
    assert "builtins.int" in row.group(1)
    assert "ValueError" in row.group(1)
    assert "0612345678" not in page.text  # neither the job's argument nor the exception's message
    response = agent_client.post(
        f"{PAGE}failed-jobs/{failed_job}/retry", data={"csrf_token": csrf_token(page.text)}, headers=ENGLISH
    )
    assert response.status_code == 303
    with app.app_context():
        queue = Queue(current_services().settings.queue_name, connection=get_redis())
        assert queue.job_ids == [failed_job]
        assert failed_job not in queue.failed_job_registry
        entry = db.session.execute(select(AgentAuditEntry)).scalar_one()
        assert (entry.action, entry.details) == ("retry", {"job_id": failed_job, "function": "builtins.int"})
    after = agent_client.get(PAGE, headers=ENGLISH)
    assert "The job is back on the queue." in after.text
    assert f'id="failed-{failed_job}"' not in after.text
    # Twice: the job is no longer a failed one, and nothing more is logged.
    again = agent_client.post(
        f"{PAGE}failed-jobs/{failed_job}/retry", data={"csrf_token": csrf_token(after.text)}, headers=ENGLISH
    )
    assert again.status_code == 303
    with app.app_context():
        assert len(db.session.execute(select(AgentAuditEntry)).all()) == 1


def test_retrying_needs_the_csrf_token(app: Flask, agent_client: FlaskClient, failed_job: str) -> None:
    assert agent_client.post(f"{PAGE}failed-jobs/{failed_job}/retry", data={}).status_code == 400
    with app.app_context():
        assert failed_job in Queue(current_services().settings.queue_name, connection=get_redis()).failed_job_registry


def test_retry_refuses_a_job_that_did_not_fail(app: Flask) -> None:
    with app.app_context():
        queue = Queue(current_services().settings.queue_name, connection=get_redis())
        job = queue.enqueue("builtins.int", "1")
        with pytest.raises(FailedJobNotFound):
            retry_failed_job(get_redis(), queue.name, job.id)
        with pytest.raises(FailedJobNotFound):
            retry_failed_job(get_redis(), queue.name, "no-such-job")


def test_with_redis_down_the_page_says_unavailable_instead_of_failing(
    app: Flask, agent_client: FlaskClient, redis_down: None
) -> None:
    page = agent_client.get(PAGE, headers=ENGLISH)
    assert page.status_code == 200, page.text[-3000:]
    assert 'id="redis-unavailable"' in page.text
    errors = re.search(r'class="support-table ops-errors">(.*?)</table>', page.text, re.S)
    assert errors
    assert "unavailable" in errors.group(1)
    with app.app_context():
        snapshot = operations_snapshot(
            db.session, get_redis(), current_services().settings, current_services().clock.now()
        )
        assert not snapshot.redis.available
        assert [error.failed_jobs for error in snapshot.errors] == [None, None]


def scrape(client: FlaskClient, token: str = TOKEN) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_need_the_configured_token(app: Flask, client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 404  # no METRICS_TOKEN: no metrics
    services = app.extensions["wassit"]
    services.settings = services.settings.replace(metrics_token=TOKEN)
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    assert client.get("/metrics.json").status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_metrics_count_letters_messages_proofs_and_jobs(
    app: Flask,
    client: FlaskClient,
    metrics_token: str,
    deposit: Callable[..., Any],
    run_jobs: Callable[[], None],
    failed_job: str,
) -> None:
    for _ in range(2):
        assert deposit().status_code == 201
    assert deposit(channel="email", recipient_email="jane@example.ma").status_code == 201
    before = scrape(client)
    assert before[("wassit_letters", (("status", "deposited"),))] == 3
    assert before[("wassit_letters", (("status", "accepted"),))] == 0
    assert before[("wassit_messages", (("status", "pending"),))] == 4  # 3 SMS and 1 email
    assert before[("wassit_messages_last_hour", (("channel", "email"), ("status", "pending")))] == 1
    assert before[("wassit_messages_last_hour", (("channel", "sms"), ("status", "pending")))] == 3
    assert before[("wassit_proofs_pending", ())] == 3
    assert before[("wassit_evidence_unsealed", ())] == 3
    assert before[("wassit_redis_up", ())] == 1
    assert before[("wassit_queue_jobs", (("queue", "default"), ("state", "failed")))] == 1
    assert before[("wassit_queue_jobs", (("queue", "default"), ("state", "queued")))] >= 4  # messages, proofs
    run_jobs()
    after = scrape(client)
    assert after[("wassit_letters", (("status", "notified"),))] == 3
    assert after[("wassit_letters", (("status", "deposited"),))] == 0
    assert after[("wassit_messages", (("status", "sent"),))] == 4
    assert after[("wassit_proofs_pending", ())] == 0
    assert after[("wassit_queue_jobs", (("queue", "default"), ("state", "queued")))] == 0
    body = client.get("/metrics.json", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    assert body["letters"]["notified"] == 3
    assert body["redis"]["available"] is True


def test_metrics_report_redis_down_instead_of_failing(
    app: Flask, client: FlaskClient, metrics_token: str, redis_down: None
) -> None:
    samples = scrape(client)
    assert samples[("wassit_redis_up", ())] == 0
    assert not any(name == "wassit_queue_jobs" for name, _ in samples)


def test_healthz_is_unchanged(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}
