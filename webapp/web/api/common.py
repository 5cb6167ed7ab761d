"""What every route of the JSON API v1 shares: its blueprint, token authentication, JSON errors, paging.

The routes live by resource (`letters`, `batches`, `webhooks`), all on this one blueprint
under `/api/v1`, so that its authentication and error handlers apply to each.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from webapp.accounts import user_for_api_token
from webapp.extensions import csrf, db
from webapp.models import User
from webapp.services import current_services
from webapp.trust.evidence import isoformat_utc
from webapp.web.api.docs import bp as docs_bp

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

# The contract and the docs page are public (no token): anyone may read how to integrate.
PUBLIC_ENDPOINTS = frozenset({"api.openapi_json"})
LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX = 20, 100


@bp.record_once
def _register_docs(state: BlueprintSetupState) -> None:
    # The docs page lives at /api/docs, outside this blueprint's prefix: registered with it.
    state.app.register_blueprint(docs_bp)


class ApiError(Exception):
    """An error answered as `{"error": {"code", "message", "field"?}}`."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def error_response(status: int, code: str, message: str, field: str | None = None) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    response = jsonify(error=body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


HTTP_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "document_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
}


def http_error_response(exc: HTTPException) -> Response:
    """A werkzeug error (unknown route, wrong method, body too large, rate limit) under /api/, as JSON."""
    status = exc.code or 500
    code = HTTP_ERROR_CODES.get(status, "server_error" if status >= 500 else "http_error")
    response = error_response(status, code, exc.description or exc.name, "document" if status == 413 else None)
    for name, value in exc.get_headers():
        if name.lower() in {"allow", "retry-after"}:
            response.headers[name] = value
    return response


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> ResponseReturnValue:
    return error_response(exc.status, exc.code, exc.message, exc.field)


@bp.before_request
def _authenticate() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    user = None
    if scheme.lower() == "bearer" and token:
        user = user_for_api_token(db.session, current_services().clock, token.strip())
    if user is None:
        raise ApiError(401, "unauthorized", "A valid API token is required (Authorization: Bearer).")
    g.api_user = user


def current_api_user() -> User:
    user: User = g.api_user
    return user


def form_field(name: str, *, required: bool = False, max_length: int = 500) -> str | None:
    value = request.form.get(name)
    if value is None or not value.strip():
        if required:
            raise ApiError(422, "missing_field", f"The field '{name}' is required.", name)
        return None
    if len(value) > max_length:
        raise ApiError(422, "invalid_input", f"The field '{name}' is too long.", name)
    return value


def boolean_field(name: str) -> bool:
    value = (form_field(name, max_length=5) or "false").strip().lower()
    if value not in ("true", "false"):
        raise ApiError(422, "invalid_input", f"The field '{name}' must be true or false.", name)
    return value == "true"


def iso(value: Any) -> str | None:
    return isoformat_utc(value) if value is not None else None


def limit_arg() -> int:
    raw = request.args.get("limit")
    if raw is None or raw == "":
        return LIST_LIMIT_DEFAULT
    if not raw.isdigit() or not 1 <= int(raw) <= LIST_LIMIT_MAX:
        raise ApiError(422, "invalid_input", f"'limit' must be a whole number from 1 to {LIST_LIMIT_MAX}.", "limit")
    return int(raw)


def encode_cursor(at: datetime, last_id: str) -> str:
    """The position after which the next page starts: the page's last item's time and id."""
    raw = json.dumps([at.astimezone(UTC).isoformat(), last_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor of ours names; 422 for anything else."""
    try:
        at, last_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None or not isinstance(last_id, str):
            raise ValueError(cursor)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ApiError(
            422, "invalid_cursor", "This cursor is not one we gave; start from the first page.", "cursor"
        ) from None
    return moment, last_id
