"""Error pages for people and JSON errors for the API."""

from __future__ import annotations

from flask import Flask, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from webapp.extensions import db


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        from webapp.web.api import error_response

        db.session.rollback()
        status = exc.code or 500
        if _wants_json():
            code = {
                413: "document_too_large",
                404: "not_found",
                405: "method_not_allowed",
                429: "too_many_requests",
            }.get(status, "http_error")
            field = "document" if status == 413 else None
            return error_response(status, code, exc.description or exc.name, field)
        messages = {
            400: _("The request could not be understood. Go back and try again."),
            404: _("This page does not exist. Check the link you received."),
            405: _("This page does not exist. Check the link you received."),
            413: _("The file is too large."),
            429: _("Too many attempts. Wait a few minutes, then try again."),
        }
        message = messages.get(status, _("Something went wrong on our side. Try again in a moment."))
        return render_template("errors/error.html", status=status, message=message), status

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception) -> ResponseReturnValue:
        from webapp.web.api import error_response

        app.logger.exception("unexpected error on %s %s", request.method, request.endpoint)
        db.session.rollback()
        if _wants_json():
            return error_response(500, "server_error", "Unexpected error; it has been logged.")
        message = _("Something went wrong on our side. Try again in a moment.")
        return render_template("errors/error.html", status=500, message=message), 500
