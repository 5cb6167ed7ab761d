"""SMS texts and the GSM 03.38 segment rule.

An SMS in the GSM 7-bit alphabet holds 160 characters (153 per part when
concatenated), and characters of the extension table count twice.  One
character outside the alphabet switches the whole message to UCS-2: 70
characters (67 per part).  Every extra part costs money and arrives
out of order on some handsets, so our French texts are written to fit one
GSM-7 part and are checked here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask_babel import force_locale, gettext

MOROCCO = ZoneInfo("Africa/Casablanca")

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


@dataclass(frozen=True)
class SmsLength:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int


def sms_length(text: str) -> SmsLength:
    if is_gsm7(text):
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    segments = 1 if units <= single else -(-units // multi)
    return SmsLength(encoding, units, segments)


def format_local_date(moment: datetime) -> str:
    return moment.astimezone(MOROCCO).strftime("%d/%m/%Y")


def notification_sms(
    *,
    language: str,
    service_name: str,
    reference: str,
    link: str,
    deadline: datetime,
    sender_name: str | None = None,
) -> str:
    """The SMS telling a recipient that a registered letter awaits them.

    The sender is named only when the service is configured to (French law
    asks that the recipient learn who sent the letter only after accepting).
    """
    with force_locale(language):
        if sender_name:
            head = gettext(
                "%(service)s: registered e-letter from %(sender)s (ref. %(reference)s).",
                service=service_name,
                sender=sender_name,
                reference=reference,
            )
        else:
            head = gettext(
                "%(service)s: a registered e-letter awaits you (ref. %(reference)s).",
                service=service_name,
                reference=reference,
            )
        tail = gettext(
            "Open it before %(date)s at %(link)s",
            date=format_local_date(deadline),
            link=link,
        )
    return f"{head} {tail}"


def code_sms(*, language: str, service_name: str, code: str, public_url: str, minutes: int) -> str:
    """The one-time code SMS; its last line lets Android offer the code (WebOTP)."""
    host = urlsplit(public_url).hostname or "localhost"
    with force_locale(language):
        body = gettext(
            "%(service)s: your code is %(code)s. It expires in %(minutes)d min. Never share it.",
            service=service_name,
            code=code,
            minutes=minutes,
        )
    return f"{body}\n\n@{host} #{code}"
