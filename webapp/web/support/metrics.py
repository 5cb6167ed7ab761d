"""`GET /metrics` (Prometheus text format) and `GET /metrics.json`, for monitoring; bearer token METRICS_TOKEN.

Without METRICS_TOKEN both answer 404: the counts say how busy the service is,
which is nobody's business but its operators'.  The database counts are SQL
aggregates over indexed columns; the Redis part reads "down" (`wassit_redis_up 0`)
instead of failing when Redis does not answer.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from webapp.extensions import db, limiter
from webapp.queue import get_redis
from webapp.services import current_services
from webapp.support.operations import (
    DatabaseCounts,
    DatabaseUnavailable,
    RedisSnapshot,
    readable_database_counts,
    redis_snapshot,
)

bp = Blueprint("metrics", __name__)


@dataclass(frozen=True)
class Readings:
    database: DatabaseCounts
    redis: RedisSnapshot


class ReadingsCollector(Collector):
    """The readings of one scrape as Prometheus gauges."""

    def __init__(self, readings: Readings) -> None:
        self.readings = readings

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts, redis = self.readings.database, self.readings.redis
        yield _by_label("wassit_letters", "Letters by status.", "status", counts.letters_by_status)
        yield _by_label("wassit_messages", "SMS and email messages by status.", "status", counts.messages_by_status)
        recent = GaugeMetricFamily(
            "wassit_messages_last_hour", "Messages created in the last hour, by channel and status.",
            labels=["channel", "status"],
        )  # fmt: skip
        for (channel, status), count in sorted(counts.recent_messages.items()):
            recent.add_metric([channel, status], count)
        yield recent
        yield _by_label(
            "wassit_webhook_deliveries", "Outgoing webhook deliveries by status.", "status",
            counts.webhook_deliveries_by_status,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "wassit_evidence_unsealed", "Evidence records not sealed yet.", value=counts.evidence_unsealed
        )
        yield GaugeMetricFamily("wassit_proofs_pending", "Proofs not issued yet.", value=counts.proofs_pending)
        yield GaugeMetricFamily(
            "wassit_journal_refused_records",
            "Evidence records the checkpoint writer refused to log because they do not check (alert on > 0).",
            value=counts.journal_refused,
        )
        yield GaugeMetricFamily(
            "wassit_journal_logged_records", "Evidence records covered by the latest checkpoint.",
            value=counts.journal_logged,
        )  # fmt: skip
        yield GaugeMetricFamily("wassit_redis_up", "1 if Redis answered this scrape.", value=int(redis.available))
        if not redis.available:
            return
        jobs = GaugeMetricFamily("wassit_queue_jobs", "RQ jobs by queue and state.", labels=["queue", "state"])
        for queue in redis.queues:
            for state, count in (
                ("queued", queue.queued),
                ("started", queue.started),
                ("scheduled", queue.scheduled),
                ("failed", queue.failed),
            ):
                jobs.add_metric([queue.name, state], count)
        yield jobs
        workers = GaugeMetricFamily("wassit_workers", "RQ workers by state.", labels=["state"])
        states: dict[str, int] = {"busy": 0, "idle": 0}
        for worker in redis.workers:
            states[worker.state] = states.get(worker.state, 0) + 1
        for state, count in sorted(states.items()):
            workers.add_metric([state], count)
        yield workers
        yield GaugeMetricFamily(
            "wassit_cron_schedulers", "Running periodic-job schedulers.", value=redis.cron_schedulers
        )


def _by_label(name: str, documentation: str, label: str, values: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key, count in sorted(values.items()):
        family.add_metric([key], count)
    return family


def _authorised() -> None:
    """404 when no token is configured; 401 unless the request carries it as a bearer token."""
    token = current_services().settings.metrics_token
    if not token:
        abort(404)
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        response = jsonify(error={"code": "unauthorized", "message": "A valid bearer token is required."})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        abort(response)


def _readings() -> Readings:
    services = current_services()
    try:
        counts = readable_database_counts(db.session, services.clock.now())
    except DatabaseUnavailable:
        abort(503)
    return Readings(counts, redis_snapshot(get_redis(), services.settings.queue_name))


@bp.get("/metrics")
@limiter.exempt
def metrics() -> ResponseReturnValue:
    _authorised()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ReadingsCollector(_readings()))
    response = Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/metrics.json")
@limiter.exempt
def metrics_json() -> ResponseReturnValue:
    _authorised()
    readings = _readings()
    counts, redis = readings.database, readings.redis
    body: dict[str, Any] = {
        "letters": counts.letters_by_status,
        "messages": counts.messages_by_status,
        "messages_last_hour": [
            {"channel": channel, "status": status, "count": count}
            for (channel, status), count in sorted(counts.recent_messages.items())
        ],
        "webhook_deliveries": counts.webhook_deliveries_by_status,
        "evidence_unsealed": counts.evidence_unsealed,
        "proofs_pending": counts.proofs_pending,
        "journal": {"refused_records": counts.journal_refused, "logged_records": counts.journal_logged},
        "redis": {"available": redis.available},
    }
    if redis.available:
        body["redis"].update(
            queues=[vars(queue) for queue in redis.queues],
            workers=[{"name": w.name, "state": w.state} for w in redis.workers],
            cron_schedulers=redis.cron_schedulers,
        )
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response
