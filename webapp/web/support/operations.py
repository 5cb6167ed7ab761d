"""The support console's operations view: queues, workers, jobs, providers, error rate.

The page works without JavaScript; htmx refreshes its sections every 10 s (the
same URL answers the sections alone to htmx, hence `Vary: HX-Request`).
Retrying a failed job is recorded in the agents' audit log.
"""

from __future__ import annotations

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from redis.exceptions import RedisError

from webapp.extensions import db, limiter
from webapp.queue import get_redis
from webapp.services import current_services
from webapp.support.audit import AuditAction, record_action
from webapp.support.keys import keys_status
from webapp.support.operations import FailedJobNotFound, failed_job, operations_snapshot, retry_failed_job
from webapp.web.policies import no_store, staff_only
from webapp.web.support.console import current_agent

bp = Blueprint("support_ops", __name__, url_prefix="/support/operations")
no_store(bp, vary=("HX-Request", "Cookie"))

REFRESH_SECONDS = 10


@bp.get("/")
@staff_only
def index() -> ResponseReturnValue:
    services = current_services()
    snapshot = operations_snapshot(db.session, get_redis(), services.settings, services.clock.now())
    db.session.rollback()
    refresh = (
        request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"
    )
    template = "support/_operations_sections.html" if refresh else "support/operations.html"
    keys = keys_status(db.session, services)
    return make_response(render_template(template, snapshot=snapshot, keys=keys, refresh_seconds=REFRESH_SECONDS))


@bp.post("/failed-jobs/<job_id>/retry")
@staff_only
@limiter.limit("60/hour")
def retry_job(job_id: str) -> ResponseReturnValue:
    """Puts a failed job back on the queue; the agent's action is logged (job id and function, no arguments)."""
    services = current_services()
    redis, queue_name = get_redis(), services.settings.queue_name
    try:
        job = failed_job(redis, queue_name, job_id)
        # Logged first: the entry is in the transaction before the job goes back on the queue.
        record_action(
            db.session,
            services.clock,
            current_agent(),
            AuditAction.RETRY,
            details={"job_id": job.id, "function": job.function},
        )
        db.session.flush()
        retry_failed_job(redis, queue_name, job.id)
    except FailedJobNotFound:
        db.session.rollback()
        flash(_("This job is no longer among the failed jobs: it was retried already or has expired."), "error")
        return redirect(url_for(".index"), code=303)
    except RedisError:
        db.session.rollback()
        flash(_("The queue is unavailable: try again in a moment."), "error")
        return redirect(url_for(".index"), code=303)
    db.session.commit()
    flash(_("The job is back on the queue."), "success")
    return redirect(url_for(".index"), code=303)
