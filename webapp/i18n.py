"""Language choice: French by default, Arabic (right-to-left) and English."""

from __future__ import annotations

from flask import g, request

LANGUAGES = ("fr", "ar", "en")
LANGUAGE_NAMES = {"fr": "Français", "ar": "العربية", "en": "English"}
RTL_LANGUAGES = frozenset({"ar"})
LANG_COOKIE = "lang"


def select_locale() -> str:
    """`?lang=` (then remembered in a cookie), the cookie, Accept-Language, or French."""
    chosen = request.args.get("lang") or request.form.get("lang")
    if chosen in LANGUAGES:
        g.remember_language = chosen
        return chosen
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in LANGUAGES:
        return cookie
    return request.accept_languages.best_match(LANGUAGES, default="fr") or "fr"


def text_direction(language: str) -> str:
    return "rtl" if language in RTL_LANGUAGES else "ltr"
