"""Which language a page is shown in: the visitor's choice, remembered in a cookie, or their browser's."""

from __future__ import annotations

from flask import g, request

from webapp.i18n import LANGUAGES

LANG_COOKIE = "lang"


def select_locale() -> str:
    """`?lang=` (then remembered in a cookie), the language our SMS link carries (`/l/<token>/ar`,
    remembered too: the letter's language first), the cookie, Accept-Language, the language the
    letter was sent in (on a recipient's page, when the browser names none of ours), or French."""
    chosen = request.args.get("lang") or request.form.get("lang")
    if chosen not in LANGUAGES:
        chosen = g.get("link_language")
    if chosen in LANGUAGES:
        g.remember_language = chosen
        return str(chosen)
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in LANGUAGES:
        return cookie
    preferred = request.accept_languages.best_match(LANGUAGES)
    if preferred:
        return preferred
    letter_language = g.get("letter_language")
    return letter_language if letter_language in LANGUAGES else "fr"
