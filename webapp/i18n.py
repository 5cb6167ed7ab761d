"""The languages of the service, in one place: French by default, Arabic (right-to-left) and English.

Pages, emails, SMS and proofs all offer these; which one a web page shows is chosen in
`webapp.web.locale`.  This module imports nothing, so that every layer may use it.
"""

from __future__ import annotations

LANGUAGES = ("fr", "ar", "en")
LANGUAGE_NAMES = {"fr": "Français", "ar": "العربية", "en": "English"}
RTL_LANGUAGES = frozenset({"ar"})


def text_direction(language: str) -> str:
    return "rtl" if language in RTL_LANGUAGES else "ltr"
