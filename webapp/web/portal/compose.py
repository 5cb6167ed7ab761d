"""The compose page's preview of the exact SMS the recipient will get, and what it costs.

The preview is rendered into the compose page (so it shows without JavaScript) and
re-rendered by htmx when the sender picks another language.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import current_user

from webapp.i18n import LANGUAGES
from webapp.letters.notifications import preview_notification
from webapp.notify.texts import SmsLength, sms_length
from webapp.services import current_services
from webapp.web.policies import senders_only

bp = Blueprint("compose", __name__)


@dataclass(frozen=True)
class SmsPreview:
    language: str
    text: str
    length: SmsLength


def sms_preview(language: str | None) -> SmsPreview:
    chosen = language if language in LANGUAGES else current_services().settings.default_language
    text = preview_notification(current_services(), current_user.organisation, chosen)
    return SmsPreview(language=chosen, text=text, length=sms_length(text))


@bp.app_context_processor
def _preview_helper() -> dict[str, object]:
    return {"sms_preview": sms_preview}


@bp.get("/letters/new/sms-preview")
@senders_only
def preview() -> ResponseReturnValue:
    response = render_template("portal/_sms_preview.html", preview=sms_preview(request.args.get("language")))
    return response, 200, {"Cache-Control": "private, no-store", "Vary": "HX-Request, Cookie"}
