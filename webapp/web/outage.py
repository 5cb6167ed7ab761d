"""When the database cannot be reached: `503 Service Unavailable` with `Retry-After`, on every route.

A database that is restarting, down or saturated is not a bug in the request:
the visitor gets a page (or the API a JSON error) that says to try again in a
moment, and the log gets one line per request, not a traceback.  What counts
is what the driver reports as the connection's failure (`OperationalError`:
refused, reset, closed by a restarting server, a locked SQLite file;
`InterfaceError`) and a pool that had no connection to give within its
timeout.
"""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from flask_login.utils import _user_context_processor

from webapp.extensions import DATABASE_OUTAGES, rollback_quietly

log = logging.getLogger("webapp.outage")

# Seconds a client is told to wait: about what a database restart or a fail-over takes.
RETRY_AFTER_SECONDS = 15


def _reason(exc: BaseException) -> str:
    """The driver's own first line (never the statement nor its parameters, which may carry personal data)."""
    origin = getattr(exc, "orig", None) or exc
    first = (str(origin).strip().splitlines() or [""])[0]
    return f"{type(origin).__name__}: {first[:200]}"


def _lazy_current_user() -> dict[str, object]:
    return {"current_user": current_user}


def register_outage_handlers(app: Flask) -> None:
    # Flask-Login loads the signed-in account for every template, even a page that never names it: with
    # the database down, every error page (this one, a 404's) would then fail in turn.  Templates get
    # the lazy proxy instead: the account is loaded when a template uses it.
    processors = app.template_context_processors[None]
    if _user_context_processor in processors:
        processors[processors.index(_user_context_processor)] = _lazy_current_user

    def database_unavailable(exc: Exception) -> ResponseReturnValue:
        # One line: which route (by name: a path may carry a link's token), and what the driver said.
        log.warning("database unavailable, 503 on %s %s (%s)", request.method, request.endpoint, _reason(exc))
        rollback_quietly()
        if request.path.startswith("/api/"):
            from webapp.web.api.common import error_response

            response = error_response(
                503, "unavailable", "The service is unavailable for a moment; nothing was stored. Try again shortly."
            )
        else:
            page = render_template(
                "errors/error.html",
                status=503,
                title=_("Service unavailable for a moment"),
                message=_("We cannot answer right now. Try again in a minute."),
                next_step=_("Nothing was lost: your letter and its deadline are safe."),
            )
            response = app.make_response((page, 503))
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        response.headers["Cache-Control"] = "no-store"
        return response

    for kind in DATABASE_OUTAGES:
        app.register_error_handler(kind, database_unavailable)
