"""Template globals and filters shared by every page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from babel.dates import format_date, format_datetime, format_time
from flask import Flask, g, request
from flask_babel import format_decimal, get_locale, gettext, ngettext
from markupsafe import Markup

from webapp.i18n import LANGUAGE_NAMES, LANGUAGES, format_locale, text_direction
from webapp.labels import (
    DOCUMENT_LABELS,
    IDENTIFICATION_LABELS,
    LEVEL_LABELS,
    PROOF_LABELS,
    STATUS_LABELS,
    VERIFICATION_STATE_LABELS,
    active_content_label,
    event_label,
)
from webapp.notify.texts import MOROCCO
from webapp.services import current_services
from webapp.web.locale import LANG_COOKIE
from webapp.web.recipient.pages import masked_phone

LTR_TAGS = {
    name: (Markup(f'<{name} dir="ltr">'), Markup(f"</{name}>"))  # noqa: S704 - fixed tag names
    for name in ("bdi", "strong", "span")
}


def _wants_partial_page() -> bool:
    """An htmx navigation that will swap `<main>` only: it needs no head, header or footer.
    A history restore (back button after a cache miss) needs the whole page."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Target") == "main"
        and headers.get("HX-History-Restore-Request") != "true"
    )


@dataclass(frozen=True)
class SupportLinks:
    """How a recipient reaches us, as links a phone opens with one tap (`mailto:`, `tel:`, WhatsApp)."""

    email: str
    phone: str
    whatsapp: str

    @property
    def phone_uri(self) -> str:
        return "tel:" + "".join(ch for ch in self.phone if ch == "+" or ch.isdigit())

    @property
    def whatsapp_uri(self) -> str:
        return "https://wa.me/" + "".join(ch for ch in self.whatsapp if ch.isdigit())


def support_links() -> SupportLinks:
    settings = current_services().settings
    return SupportLinks(settings.support_contact, settings.support_phone, settings.support_whatsapp)


def register_template_helpers(app: Flask) -> None:
    # What statuses, events and proofs are called: `webapp.labels`, for the portal, the console and /verify.
    app.jinja_env.globals["status_label"] = lambda code: STATUS_LABELS.get(code, code)
    app.jinja_env.globals["event_label"] = event_label  # (code, details=None): issue 19 names e-ID records
    app.jinja_env.globals["identification_label"] = lambda code: IDENTIFICATION_LABELS.get(code, code)
    app.jinja_env.globals["level_label"] = lambda code: LEVEL_LABELS.get(code, code)
    app.jinja_env.globals["mask_phone"] = masked_phone
    app.jinja_env.globals["proof_label"] = lambda code: PROOF_LABELS.get(code, code)
    app.jinja_env.globals["active_content_label"] = active_content_label
    app.jinja_env.globals["document_label"] = lambda code: DOCUMENT_LABELS.get(code, code)
    app.jinja_env.globals["verification_label"] = lambda code: VERIFICATION_STATE_LABELS.get(code, code)

    @app.context_processor
    def _globals() -> dict[str, Any]:
        language = str(get_locale() or "fr")
        return {
            "lang": language,
            "dir": text_direction(language),
            "languages": [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
            "service_name": current_services().settings.service_name,
            "partial_page": _wants_partial_page(),
            "support": support_links(),
        }

    @app.template_filter("local_time")
    def _local_time(value: datetime | None, fmt: str = "medium") -> str:
        """A moment in Morocco's time zone, in the page's language (Arabic as written in Morocco)."""
        if value is None:
            return ""
        moment = value.astimezone(MOROCCO)
        locale = format_locale(str(get_locale() or "fr"))
        if fmt == "time":  # "15:05": a wait that ends within the hour
            return str(format_time(moment, "short", locale=locale))
        if fmt == "long":
            # The date in words and the time to the minute: "8 décembre 2026 à 10:00", "8 دجنبر 2026 على 10:00".
            return str(
                gettext(
                    "%(date)s at %(time)s",
                    date=format_date(moment, "long", locale=locale),
                    time=format_time(moment, "short", locale=locale),
                )
            )
        return str(format_datetime(moment, fmt, locale=locale))

    @app.template_filter("iso_local_time")
    def _iso_local_time(value: str | None) -> str:
        """An ISO 8601 UTC time from an evidence record, shown in Morocco's time zone."""
        try:
            return _local_time(datetime.fromisoformat((value or "").replace("Z", "+00:00")))
        except ValueError:
            return value or ""

    @app.template_filter("ltr")
    def _ltr(value: object, tag: str = "bdi") -> Markup:
        """A reference, a link or a number isolated left-to-right, so that an Arabic sentence
        around it does not reorder its characters."""
        opening, closing = LTR_TAGS[tag]
        return opening + Markup.escape(value) + closing

    @app.template_filter("filesize")
    def _filesize(size: int) -> str:
        """A size in the page's language: "12 KB", "12 Ko", "1,5 Mo"."""
        if size < 1024:
            return str(ngettext("%(num)d byte", "%(num)d bytes", size))
        if size < 1024 * 1024:
            return str(gettext("%(size)s KB", size=format_decimal(round(size / 1024))))
        return str(gettext("%(size)s MB", size=format_decimal(round(size / (1024 * 1024), 1))))

    @app.template_global()
    def lang_url(code: str) -> str:
        args = request.args.to_dict()
        args["lang"] = code
        return request.path + "?" + urlencode(args)

    @app.after_request
    def _remember_language(response: Any) -> Any:
        chosen = g.get("remember_language")
        if chosen and request.cookies.get(LANG_COOKIE) != chosen:
            response.set_cookie(
                LANG_COOKIE,
                chosen,
                max_age=365 * 24 * 3600,
                samesite="Lax",
                httponly=True,
                secure=request.is_secure,
            )
        return response
