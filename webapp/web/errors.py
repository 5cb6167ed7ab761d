"""Error pages for people and JSON errors for the API."""

from __future__ import annotations

from flask import Flask, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from webapp.extensions import db


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _error_page(status: int, exc: HTTPException | None) -> ResponseReturnValue:
    """A page that says what happened and what to do next, in the visitor's language."""
    if isinstance(exc, CSRFError):
        title = _("This page has expired")
        message = _("The page stayed open too long, or your browser blocked our cookie.")
        next_step = _("Go back, reload the page, and try again. For a letter, open the link in the SMS again.")
    elif status in (404, 405):
        title = _("Page not found")
        message = _("This page does not exist. Check the link you received.")
        next_step = _("If you copied the link from an SMS, copy the whole link.")
    elif status == 413:
        title = _("File too large")
        message = _("The file is too large.")
        next_step = None
    elif status == 429 and _letter_url():
        title = _("Too many attempts")
        message = _(
            "Too many attempts came from your internet connection for this letter. Wait a few minutes, then go "
            "back to your letter: nothing is lost and your deadline does not change."
        )
        next_step = _("Phones on the same mobile network often share one address; this limit protects your letter.")
    elif status == 429:
        title = _("Too many attempts")
        message = _("Too many attempts. Wait a few minutes, then try again.")
        next_step = _("This limit protects your letters from people trying to guess codes.")
    elif status < 500:
        title = _("Request not understood")
        message = _("The request could not be understood. Go back and try again.")
        next_step = None
    else:
        title = _("Something went wrong")
        message = _("Something went wrong on our side. Try again in a moment.")
        next_step = _("Nothing was lost: your letter and its deadline are safe.")
    page = render_template(
        "errors/error.html",
        status=status,
        title=title,
        message=message,
        next_step=next_step,
        letter_url=_letter_url(),
    )
    return page, status


def _letter_url() -> str | None:
    """On a recipient's page (a letter's link), the way back to that letter's first page."""
    token = (request.view_args or {}).get("token")
    if request.blueprint != "recipient" or not isinstance(token, str):
        return None
    return url_for("recipient.landing", token=token)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        from webapp.web.api.common import http_error_response

        db.session.rollback()
        status = exc.code or 500
        if _wants_json():
            return http_error_response(exc)
        return _error_page(status, exc)

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception) -> ResponseReturnValue:
        from webapp.web.api.common import error_response

        app.logger.exception("unexpected error on %s %s", request.method, request.endpoint)
        db.session.rollback()
        if _wants_json():
            return error_response(500, "server_error", "Unexpected error; it has been logged.")
        return _error_page(500, None)
