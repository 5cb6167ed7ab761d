"""`GET /healthz`: 200 when the database and Redis answer (contract)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from webapp.extensions import db, limiter
from webapp.queue import get_redis
from webapp.support.operations import database_answers, redis_answers

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@limiter.exempt
def healthz() -> ResponseReturnValue:
    checks = {
        "database": "ok" if database_answers(db.session) else "unavailable",
        "redis": "ok" if redis_answers(get_redis()) else "unavailable",
    }
    healthy = all(v == "ok" for v in checks.values())
    response = jsonify(status="ok" if healthy else "unavailable", checks=checks)
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response
