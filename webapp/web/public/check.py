"""Public pages for anyone who received one of our SMS: "is this message really from Wassit?"

The check says only whether we notified a letter with that reference, and when.
It never tells the sender, the recipient, the document or the answer, and it is
throttled so that references cannot be enumerated (30**8 of them, 10 tries a minute).
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from flask.typing import ResponseReturnValue

from webapp.extensions import db, limiter
from webapp.letters.recipient import check_reference, normalise_reference
from webapp.services import current_services

bp = Blueprint("public", __name__)

MAX_REFERENCE_INPUT = 40


@bp.after_request
def _headers(response: Response) -> Response:
    response.vary.add("HX-Request")
    if request.method == "POST":
        response.headers["Cache-Control"] = "no-store"
    return response


def _page(status: int = 200, **context: object) -> ResponseReturnValue:
    services = current_services()
    settings = services.settings
    return render_template(
        "public/check.html",
        link_prefix=settings.public_url.rstrip("/") + "/l/",
        support_contact=settings.support_contact,
        disclosure=services.trust.disclosure,
        **context,
    ), status


@bp.get("/check")
def check_form() -> ResponseReturnValue:
    return _page()


@bp.post("/check")
@limiter.limit("10/minute;100/hour")
def check() -> ResponseReturnValue:
    raw = (request.form.get("reference") or "")[:MAX_REFERENCE_INPUT]
    if normalise_reference(raw) is None:
        return _page(422, entered=raw, error="malformed")
    found = check_reference(db.session, raw)
    db.session.rollback()
    return _page(200 if found else 404, entered=raw, found=found, checked=True)
