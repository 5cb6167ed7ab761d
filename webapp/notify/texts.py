"""SMS texts and the GSM 03.38 segment rule.

An SMS in the GSM 7-bit alphabet holds 160 characters (153 per part when
concatenated), and characters of the extension table count twice.  One
character outside the alphabet switches the whole message to UCS-2: 70
characters (67 per part).  Every extra part costs money and arrives
out of order on some handsets, so our French texts are written to fit one
GSM-7 part and are checked here.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask_babel import force_locale, gettext, ngettext

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


# What a notification may cost: one GSM-7 part, or two UCS-2 parts for Arabic.
GSM7_BUDGET = 160
UCS2_BUDGET = 2 * 67
# A sender's name is shortened (with an ellipsis) to fit, but never below this.
MIN_SENDER_CHARS = 12

_GSM7_LOOKALIKES = {
    "’": "'",
    "‘": "'",
    "‛": "'",
    "`": "'",
    "´": "'",
    "«": '"',
    "»": '"',
    "“": '"',
    "”": '"',
    "„": '"',
    "–": "-",
    "—": "-",
    "‐": "-",
    "‑": "-",
    "…": "...",
    "œ": "oe",
    "Œ": "OE",
}


def _fits(text: str, *, gsm7: bool) -> bool:
    length = sms_length(text)
    if gsm7:
        return length.encoding == "GSM-7" and length.units <= GSM7_BUDGET
    return length.units <= UCS2_BUDGET


def gsm7_name(name: str) -> str | None:
    """`name` written with GSM 03.38 characters only (ç → c, ’ → '), or None if it cannot be.

    Letters and digits that have no GSM-7 form (Arabic script, for example)
    make the name unusable in a GSM-7 text; stray symbols (®, ™…) are dropped.
    """
    out: list[str] = []
    for ch in name:
        if is_gsm7(ch):
            out.append(ch)
            continue
        if ch in _GSM7_LOOKALIKES:
            out.append(_GSM7_LOOKALIKES[ch])
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        if base and is_gsm7(base):
            out.append(base)
        elif unicodedata.category(ch)[0] in "LN":
            return None
    result = " ".join("".join(out).split())
    return result or None


def _sender_variants(name: str, ellipsis: str) -> list[str]:
    """The name, then ever shorter cuts of it ending with an ellipsis: whole words first."""
    cuts = [name[:i] for i in range(len(name) - 1, 0, -1) if name[i] == " "]
    cuts += [name[:size] for size in range(len(name) - 1, 0, -1)]
    variants = [name]
    for cut in cuts:
        cut = cut.rstrip(" .,;:-")
        if len(cut) >= MIN_SENDER_CHARS and cut + ellipsis not in variants:
            variants.append(cut + ellipsis)
    return variants


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

    The sender is named only when `sender_name` is given (French law asks
    that the recipient learn who sent the letter only after accepting, so the
    service does it only when configured to).  The text keeps to one GSM-7
    part (two UCS-2 parts in Arabic): a long sender's name is shortened, and
    one that cannot be written in the text's alphabet is left out.
    """
    fields = {
        "service": service_name,
        "reference": reference,
        "date": format_local_date(deadline),
        "link": link,
    }
    with force_locale(language):
        anonymous: str = gettext(
            "%(service)s: a registered electronic letter awaits you (ref. %(reference)s). "
            "Open it before %(date)s: %(link)s",
            **fields,
        )
        gsm7 = is_gsm7(anonymous)
        name = " ".join((sender_name or "").split())[:80]
        if gsm7 and name:
            name = gsm7_name(name) or ""
        if not name:
            return anonymous
        for candidate in _sender_variants(name, "..." if gsm7 else "…"):
            text: str = gettext(
                "%(service)s: registered letter from %(sender)s (ref. %(reference)s). "
                "Open it before %(date)s: %(link)s",
                sender=candidate,
                **fields,
            )
            if _fits(text, gsm7=gsm7):
                return text
    return anonymous


def code_sms(*, language: str, service_name: str, code: str, public_url: str, minutes: int) -> str:
    """The one-time code SMS; its last line lets Android offer the code (WebOTP)."""
    host = urlsplit(public_url).hostname or "localhost"
    with force_locale(language):
        body = ngettext(
            "%(service)s: your code is %(code)s. It is valid for %(num)d minute. Never share it.",
            "%(service)s: your code is %(code)s. It is valid for %(num)d minutes. Never share it.",
            minutes,
            service=service_name,
            code=code,
        )
    return f"{body}\n\n@{host} #{code}"


def reminder_sms(*, language: str, service_name: str, reference: str, link: str, deadline: datetime) -> str:
    """The reminder SMS for a letter still waiting to be opened; never names the sender."""
    with force_locale(language):
        text: str = gettext(
            "%(service)s reminder: a registered letter awaits you (ref. %(reference)s). "
            "Open it before %(date)s: %(link)s",
            service=service_name,
            reference=reference,
            date=format_local_date(deadline),
            link=link,
        )
    return text
