"""The languages of the service, in one place: French by default, Arabic (right-to-left) and English.

Pages, emails, SMS and proofs all offer these; which one a web page shows is chosen in
`webapp.web.locale`.  This module imports nothing, so that every layer may use it.
"""

from __future__ import annotations

LANGUAGES = ("fr", "ar", "en")
LANGUAGE_NAMES = {"fr": "Français", "ar": "العربية", "en": "English"}
RTL_LANGUAGES = frozenset({"ar"})
# The CLDR locale that formats dates and times in each language: Arabic as written in Morocco
# (`ar_MA`: "دجنبر", "غشت", 24-hour times), not the Middle East's "ديسمبر" and "3:05 م".
FORMAT_LOCALES = {"fr": "fr", "ar": "ar_MA", "en": "en"}


def format_locale(language: str) -> str:
    """The locale to format dates, times and numbers with, for a page or message in `language`."""
    return FORMAT_LOCALES.get(language, language)


def text_direction(language: str) -> str:
    return "rtl" if language in RTL_LANGUAGES else "ltr"
