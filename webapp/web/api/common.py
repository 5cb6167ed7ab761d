"""What every route of the JSON API v1 shares: its blueprint, bearer-token authentication, the one
error shape `{"error": {"code", "message", "field"?}}`, and the parsing of requests by the
payload declarations of `webapp.web.api.schemas` (flask-smorest, webargs).

The routes live in `letters`, `batches` and `webhooks`, which import this module and never each
other; `document` turns them into the OpenAPI document.
"""

from __future__ import annotations

import functools
import http
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, NoReturn

import flask_smorest
from flask import Response, g, jsonify, request
from flask.typing import ResponseReturnValue
from limits import parse as parse_limit
from marshmallow import Schema, ValidationError
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from webapp.accounts.tokens import hash_api_token, note_api_token_use, user_for_api_token
from webapp.extensions import csrf, db, limiter
from webapp.letters.errors import (
    AccessDenied,
    DocumentTooLarge,
    EmailNotConfirmed,
    InvalidInput,
    LetterError,
    LetterNotFound,
    OrganisationNotVerified,
    ProofNotAvailable,
    ProofPending,
)
from webapp.letters.resend import ResendLimited
from webapp.models import User
from webapp.services import current_services
from webapp.web.api.fields import File, Problem
from webapp.web.api.schemas import ErrorSchema

# The contract is public (no token): anyone may read how to integrate.
PUBLIC_ENDPOINTS = frozenset({"api.openapi_json"})


class ApiError(Exception):
    """An error answered as `{"error": {"code", "message", "field"?}}`."""

    def __init__(
        self, status: int, code: str, message: str, field: str | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.retry_after = retry_after


ERROR = ErrorSchema()


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    detail = {"code": code, "message": message} | ({"field": field} if field else {})
    body: dict[str, Any] = ERROR.dump({"error": detail, **extra})
    return body


def error_response(status: int, code: str, message: str, field: str | None = None, **extra: Any) -> Response:
    response = jsonify(error_body(code, message, field, **extra))
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


# --- request parsing ---------------------------------------------------------------------------------


class ApiParser(FlaskParser):
    """webargs' Flask parser with two body locations of ours: `multipart` (each field from the form,
    each `File` from the uploaded files) and `json_object` (a JSON object, else `invalid_json`)."""

    DEFAULT_UNKNOWN_BY_LOCATION = {  # noqa: RUF012  (webargs' own class attributes, extended)
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "multipart": None,
        "json_object": None,
    }
    __location_map__ = {  # noqa: RUF012
        **FlaskParser.__location_map__,
        "multipart": "load_multipart",
        "json_object": "load_json_object",
    }

    def load_multipart(self, req: Any, schema: Schema) -> MultiDict[str, Any]:
        data: MultiDict[str, Any] = MultiDict()
        for name, field in schema.fields.items():
            key = field.data_key or name
            source = req.files if isinstance(field, File) else req.form
            if key in source:
                data[key] = source[key]
        return data

    def load_json_object(self, req: Any, schema: Schema) -> Any:
        body = req.get_json(silent=True)
        if not isinstance(body, dict):
            raise ApiError(422, "invalid_json", "The body must be a JSON object.")
        return body

    def handle_error(
        self,
        error: ValidationError,
        req: Any,
        schema: Schema,
        *,
        error_status_code: int | None,
        error_headers: Mapping[str, str] | None,
    ) -> NoReturn:
        """The first refused input, in the order the schema declares its fields, as a 422."""
        for by_field in _mapping(error.messages).values():
            for key, found in _mapping(by_field).items():
                field = None if key == "_schema" else str(key)
                refused = _first_problem(found)
                message = refused["message"].replace("{field}", field or "input")
                raise ApiError(422, refused["code"], message, field)
        raise ApiError(422, "invalid_input", "The request is not valid.")


def _mapping(messages: Any) -> Mapping[Any, Any]:
    return messages if isinstance(messages, Mapping) else {"_schema": messages}


def _first_problem(found: Any) -> Problem:
    if isinstance(found, Mapping) and "code" in found:
        return found
    if isinstance(found, Mapping) and found:
        return _first_problem(next(iter(found.values())))
    if isinstance(found, list | tuple) and found:
        return _first_problem(found[0])
    return {"code": "invalid_input", "message": str(found)}


# --- the blueprint -----------------------------------------------------------------------------------

COMMON_ERRORS: dict[int | str, tuple[str, dict[str, Any] | None]] = {
    401: (
        "No valid API token.",
        {"WWW-Authenticate": {"schema": {"type": "string"}, "description": 'Bearer realm="api"'}},
    ),
    404: ("No such letter in your organisation (letters of other organisations are never shown).", None),
    429: (
        "Too many requests for this token or your organisation (`rate_limited`); retry after `Retry-After`.",
        {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}},
    ),
    500: ("Unexpected error on our side; it has been logged.", None),
    "default": ("Any other error, in the same shape.", None),
}


def error_answer(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """An error answer in the document (the `Error` schema)."""
    answer: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": ErrorSchema}}}
    if headers:
        answer["headers"] = headers
    return answer


class ApiBlueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    """flask-smorest's blueprint, with our parser, our body locations, and every error answer of an
    operation written with the `Error` schema: those it declares (`fails`, `accepts`), and those
    every operation behind a token may give (401, 404, 429, 500, and any other)."""

    ARGUMENTS_PARSER = ApiParser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING: ClassVar[dict[str, str]] = {
        **flask_smorest.Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "multipart": "multipart/form-data",
        "json_object": "application/json",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._prepare_doc_cbks.append(self._prepare_error_doc)

    def _store_endpoint_docs(self, endpoint: str, obj: Any, parameters: Any, tags: Any, **options: Any) -> None:
        # A view's docstring is its summary and description: its lines, wrapped for the source, are joined.
        super()._store_endpoint_docs(endpoint, obj, parameters, tags, **options)
        for doc in self._docs[endpoint].values():
            if isinstance(doc, dict) and "description" in doc.get("docstring", {}):
                paragraphs = doc["docstring"]["description"].split("\n\n")
                doc["docstring"]["description"] = "\n\n".join(" ".join(p.split()) for p in paragraphs)

    def fails(
        self, status: int, description: str, *, headers: dict[str, Any] | None = None
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Documents an error answer of the operation."""
        decorator: Callable[[Callable[..., Any]], Callable[..., Any]] = self.alt_response(
            status, schema=ErrorSchema, description=description, headers=headers
        )
        return decorator

    def accepts(
        self, media_type: str, message: str, *, max_bytes: int | None = None
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """The body must be `media_type` (else 415 `unsupported_media_type` with `message`), checked
        before anything is read; `max_bytes` bounds the body (413)."""

        def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(view)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                if max_bytes is not None:
                    request.max_content_length = max_bytes
                accepted = (
                    request.is_json if media_type == "application/json" else request.mimetype.startswith(media_type)
                )
                if not accepted:
                    raise ApiError(415, "unsupported_media_type", message)
                return view(*args, **kwargs)

            named = "JSON" if media_type == "application/json" else media_type
            return self.fails(415, f"The body is not {named} (`unsupported_media_type`).")(wrapper)

        return decorator

    @staticmethod
    def _prepare_error_doc(doc: dict[str, Any], doc_info: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        responses: dict[Any, Any] = doc.setdefault("responses", {})
        for status, answer in list(responses.items()):
            if isinstance(answer, str):  # smorest names its answer to bad arguments: ours instead
                responses[status] = error_answer(http.HTTPStatus(int(status)).phrase)
        if doc_info.get("manual_doc", {}).get("security") != []:
            for status, (description, headers) in COMMON_ERRORS.items():
                if status not in responses:
                    responses[status] = error_answer(description, headers)
        return doc


log = logging.getLogger(__name__)

bp = ApiBlueprint("api", __name__, url_prefix="/api/v1", description="Registered letters, bulk sending, webhooks.")
csrf.exempt(bp)


@bp.after_request
def _no_store(response: Response) -> Response:
    # Every answer is about one organisation's letters, unless its route says otherwise.
    response.headers.setdefault("Cache-Control", "no-store")
    token = g.pop("api_token", None)
    if token is not None:
        note_api_token_use(db.session, current_services().clock, token)
    return response


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> ResponseReturnValue:
    response = error_response(exc.status, exc.code, exc.message, exc.field)
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


@bp.errorhandler(LetterError)
def _letter_error(exc: LetterError) -> ResponseReturnValue:
    db.session.rollback()
    if isinstance(exc, ResendLimited):
        response = error_response(429, exc.code, exc.message, exc.field)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, ProofPending):
        response = error_response(409, exc.code, "The proof is being produced; retry in a few seconds.")
        response.headers["Retry-After"] = "5"
        return response
    if isinstance(exc, LetterNotFound):
        return error_response(404, exc.code, "No such letter.")
    if isinstance(exc, ProofNotAvailable | AccessDenied):
        return error_response(404, exc.code, exc.message)
    if isinstance(exc, DocumentTooLarge):
        status = 413
    elif isinstance(exc, InvalidInput):
        status = 422
    elif isinstance(exc, OrganisationNotVerified | EmailNotConfirmed):
        status = 403
    else:
        status = 409
    return error_response(status, exc.code, exc.message, exc.field)


@bp.before_request
def _authenticate() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    caller = None
    if scheme.lower() == "bearer" and token:
        caller = user_for_api_token(db.session, current_services().clock, token.strip())
    if caller is None:
        raise ApiError(401, "unauthorized", "A valid API token is required (Authorization: Bearer).")
    user = caller.user
    g.api_user = user
    if caller.note_use:
        g.api_token = token.strip()  # its use is noted after the answer (`_no_store`)
    _rate_limit(user, token.strip())
    # The token was read; the view's own transaction begins with its first query, after any parsing.
    db.session.commit()


def _rate_limit(user: User, token: str) -> None:
    """Integrators are limited per token and per organisation (`API_TOKEN_RATE_LIMIT`,
    `API_ORGANISATION_RATE_LIMIT`), never per address: a bank's servers share one, and a carrier's NAT
    shares one between strangers.  Over a limit: `429` with `Retry-After`."""
    settings = current_services().settings
    for limit, key, whose in (
        (settings.api_token_rate_limit, f"api-token:{hash_api_token(token)[:24]}", "this token"),
        (settings.api_organisation_rate_limit, f"api-organisation:{user.organisation_id}", "your organisation"),
    ):
        item = parse_limit(limit)
        try:
            allowed = limiter.limiter.hit(item, key)
        except Exception:
            log.warning("the API rate limit store is unavailable; requests are not limited")
            return
        if not allowed:
            reset, _remaining = limiter.limiter.get_window_stats(item, key)
            retry_after = max(1, math.ceil(reset - time.time()))
            raise ApiError(429, "rate_limited", f"Too many requests for {whose} (at most {limit}).", None, retry_after)


def current_api_user() -> User:
    user: User = g.api_user
    return user


def path_id(name: str, description: str) -> dict[str, Any]:
    """The document's entry for a path parameter holding one of our ids."""
    return {"in": "path", "name": name, "description": description, "schema": {"type": "string", "maxLength": 36}}
