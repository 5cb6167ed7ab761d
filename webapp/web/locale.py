"""Which language a page is shown in: the visitor's choice, remembered in a cookie, or their browser's."""

from __future__ import annotations

from flask import g, request

from webapp.i18n import LANGUAGES
from webapp.web.requests import WassitRequest

LANG_COOKIE = "lang"


def select_locale() -> str:
    """`?lang=` or a form's `lang` (then remembered in a cookie), the language our SMS link carries
    (`/l/<token>/ar`: the letter's language first), the cookie, Accept-Language, the language the
    letter was sent in (on a recipient's page, when the browser names none of ours), or French."""
    form_language = request.form_value_or_none("lang") if isinstance(request, WassitRequest) else None
    chosen = request.args.get("lang") or form_language
    if chosen in LANGUAGES:
        g.remember_language = chosen
        return chosen
    link_language = g.get("link_language")
    if link_language in LANGUAGES:
        # Not remembered here: the landing page sets no cookie (it stays cacheable); its form carries
        # the language on to the next page, which remembers it.
        return str(link_language)
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in LANGUAGES:
        return cookie
    preferred = request.accept_languages.best_match(LANGUAGES)
    if preferred:
        return preferred
    letter_language = g.get("letter_language")
    return letter_language if letter_language in LANGUAGES else "fr"
