"""SMS texts: the GSM 03.38 segment rule, and notification / code SMS that fit it in every language.

Hard limits: in French and English the notification and the code SMS are one
GSM-7 part (160 septets, GSM 03.38 characters only); in Arabic (UCS-2) the
notification takes at most two parts (2 x 67 code units).
"""

from __future__ import annotations

import base64
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from webapp.config import Settings
from webapp.notify.texts import (
    GSM7_BUDGET,
    UCS2_BUDGET,
    SmsLength,
    code_sms,
    format_local_date,
    gsm7_name,
    is_gsm7,
    notification_sms,
    sms_length,
)

TRANSLATIONS = Path(__file__).resolve().parent.parent / "webapp" / "translations"

PUBLIC_URLS = ("https://wassit.ma", "https://lre.wassit.ma")
REFERENCE = "K7PM-4XQ2"
SERVICE = "Wassit"
DEADLINE = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
SENDER_30 = "Cabinet Idrissi & Associés SAR"  # 30 characters, one of them (&) plain GSM-7
# A link token has the length of secrets.token_urlsafe(16); these use every character it can hold.
# Random ones too, from a seed: every run (and every pytest-xdist worker) collects the same tests.
_RANDOM = random.Random(20261123)
TOKENS = (
    "Zz_-09AaBbCcDdEeFfGg_-",
    "-_" * 11,
    *(base64.urlsafe_b64encode(_RANDOM.randbytes(16)).rstrip(b"=").decode() for _ in range(8)),
)


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


def _notification(language: str, public_url: str, token: str, sender_name: str | None = None) -> str:
    return notification_sms(
        language=language,
        service_name=SERVICE,
        reference=REFERENCE,
        link=f"{public_url}/l/{token}",
        deadline=DEADLINE,
        sender_name=sender_name,
    )


def _code(language: str, public_url: str = "https://lre.wassit.ma", minutes: int = 10) -> str:
    return code_sms(language=language, service_name=SERVICE, code="123456", public_url=public_url, minutes=minutes)


def _assert_one_gsm7_part(text: str) -> None:
    non_gsm = sorted({ch for ch in text if not is_gsm7(ch)})
    assert not non_gsm, f"not GSM 03.38: {non_gsm!r} in {text!r}"
    length = sms_length(text)
    assert length.encoding == "GSM-7"
    assert length.units <= 160, (length, text)
    assert length.segments == 1


# --- the segment rule itself ------------------------------------------------------------------


def test_160_gsm7_characters_are_one_part_and_161_are_two() -> None:
    assert sms_length("a" * 160) == SmsLength("GSM-7", 160, 1)
    assert sms_length("a" * 161) == SmsLength("GSM-7", 161, 2)


def test_concatenated_gsm7_parts_hold_153_septets() -> None:
    assert sms_length("a" * 306).segments == 2
    assert sms_length("a" * 307).segments == 3
    assert sms_length("a" * 459).segments == 3
    assert sms_length("a" * 460).segments == 4


@pytest.mark.parametrize("char", [*"€[]{}^~|\\", "\f"])
def test_extension_characters_count_double(char: str) -> None:
    assert is_gsm7(char)
    assert sms_length(char).units == 2
    assert sms_length(char * 80).units == 160
    assert sms_length(char * 80).segments == 1
    assert sms_length(char * 80 + "a").segments == 2


def test_extension_characters_mixed_with_basic_ones() -> None:
    length = sms_length("Prix: 10€ [TTC]")
    assert length.encoding == "GSM-7"
    assert length.units == len("Prix: 10€ [TTC]") + 3


@pytest.mark.parametrize("char", [*"éÉèàùìòÇÄÖÑÜäöñüßÆæØøÅå@£$¥_!?¿¡§", "\n", "\r", " "])
def test_gsm7_basic_characters(char: str) -> None:
    assert is_gsm7(char)
    assert sms_length(char).units == 1


@pytest.mark.parametrize(
    "char",
    ["ç", "ê", "â", "î", "ô", "û", "ë", "ï", "À", "È", "Ê", "«", "»", "’", "\u00a0", "\u202f", "…", "œ", "`"],
)
def test_common_french_characters_outside_gsm7(char: str) -> None:
    assert not is_gsm7(char)
    assert not is_gsm7(f"Bonjour {char} Madame")


def test_one_non_gsm7_character_turns_the_whole_text_into_ucs2() -> None:
    length = sms_length("a" * 69 + "ç")
    assert (length.encoding, length.units, length.segments) == ("UCS-2", 70, 1)
    length = sms_length("a" * 70 + "ç")
    assert (length.encoding, length.units, length.segments) == ("UCS-2", 71, 2)


def test_ucs2_parts_hold_70_then_67_units() -> None:
    assert sms_length("س" * 70).segments == 1
    assert sms_length("س" * 71).segments == 2
    assert sms_length("س" * 134).segments == 2
    assert sms_length("س" * 135).segments == 3
    assert sms_length("س" * 201).segments == 3
    assert sms_length("س" * 202).segments == 4


def test_ucs2_counts_utf16_code_units() -> None:
    assert sms_length("😀").units == 2  # outside the BMP: a surrogate pair
    assert sms_length("😀" * 35).segments == 1
    assert sms_length("😀" * 35 + "a").segments == 2


def test_empty_text_is_one_part() -> None:
    assert sms_length("") == SmsLength("GSM-7", 0, 1)


def test_gsm7_name() -> None:
    assert gsm7_name("Société Générale") == "Société Générale"
    assert gsm7_name("Française des Jeux") == "Francaise des Jeux"
    assert gsm7_name("L’Hôtel «Océan»") == 'L\'Hotel "Océan"'
    assert gsm7_name("Cœur\u00a0Atlas™") == "Coeur AtlasTM"
    assert gsm7_name("Atlas®") == "Atlas"
    assert gsm7_name("مجموعة العمران") is None
    assert gsm7_name("Groupe العمران") is None


# --- the texts we send ------------------------------------------------------------------------


def test_default_service_name() -> None:
    assert Settings().service_name == "Wassit"


def test_deadline_is_written_dd_mm_yyyy_in_morocco() -> None:
    assert format_local_date(datetime(2026, 12, 8, 23, 30, tzinfo=UTC)) == "09/12/2026"
    assert format_local_date(datetime(2026, 12, 8, 9, 0, tzinfo=UTC)) == "08/12/2026"


@pytest.mark.usefixtures("ctx")
@pytest.mark.parametrize("public_url", PUBLIC_URLS)
@pytest.mark.parametrize("token", TOKENS)
def test_french_notification_is_one_gsm7_part(public_url: str, token: str) -> None:
    assert len(token) == 22
    text = _notification("fr", public_url, token)
    _assert_one_gsm7_part(text)
    assert "recommandée" in text  # really French: the catalog is compiled and used
    assert REFERENCE in text
    assert f"{public_url}/l/{token}" in text
    assert text.endswith(token)  # nothing glued to the link
    assert "08/12/2026" in text
    assert text.startswith(SERVICE)


@pytest.mark.usefixtures("ctx")
@pytest.mark.parametrize("public_url", PUBLIC_URLS)
@pytest.mark.parametrize("language", ["fr", "en"])
def test_notification_naming_a_30_character_sender_is_one_gsm7_part(public_url: str, language: str) -> None:
    assert len(SENDER_30) == 30
    for token in TOKENS:
        text = _notification(language, public_url, token, sender_name=SENDER_30)
        _assert_one_gsm7_part(text)
        assert SENDER_30 in text
        assert REFERENCE in text
        assert f"{public_url}/l/{token}" in text


@pytest.mark.usefixtures("ctx")
@pytest.mark.parametrize("language", ["fr", "ar", "en"])
def test_notification_does_not_name_the_sender_unless_asked(language: str) -> None:
    for sender in (None, ""):
        text = _notification(language, "https://wassit.ma", TOKENS[0], sender_name=sender)
        assert "Cabinet" not in text
        assert "Idrissi" not in text
    named = _notification(language, "https://wassit.ma", TOKENS[0], sender_name=SENDER_30)
    assert "Idrissi" in named
    assert named != _notification(language, "https://wassit.ma", TOKENS[0])


@pytest.mark.usefixtures("ctx")
@pytest.mark.parametrize("language", ["fr", "en"])
def test_long_sender_name_is_shortened_to_stay_in_one_part(language: str) -> None:
    name = "Compagnie Générale Immobilière et Financière du Royaume du Maroc SA"
    text = _notification(language, "https://lre.wassit.ma", TOKENS[0], sender_name=name)
    _assert_one_gsm7_part(text)
    assert "Compagnie Générale" in text
    assert "..." in text
    assert name not in text
    assert REFERENCE in text
    assert text.endswith(f"https://lre.wassit.ma/l/{TOKENS[0]}")


@pytest.mark.usefixtures("ctx")
def test_sender_name_outside_gsm7_is_transliterated_or_left_out() -> None:
    text = _notification("fr", "https://lre.wassit.ma", TOKENS[0], sender_name="Française des Eaux")
    _assert_one_gsm7_part(text)
    assert "Francaise des Eaux" in text
    text = _notification("fr", "https://lre.wassit.ma", TOKENS[0], sender_name="مجموعة العمران")
    _assert_one_gsm7_part(text)
    assert text == _notification("fr", "https://lre.wassit.ma", TOKENS[0])


@pytest.mark.usefixtures("ctx")
@pytest.mark.parametrize("public_url", PUBLIC_URLS)
def test_english_notification_is_one_gsm7_part(public_url: str) -> None:
    for token in TOKENS:
        text = _notification("en", public_url, token)
        _assert_one_gsm7_part(text)
        assert "registered" in text
        assert REFERENCE in text
        assert f"{public_url}/l/{token}" in text


@pytest.mark.usefixtures("ctx")
@pytest.mark.parametrize("public_url", PUBLIC_URLS)
@pytest.mark.parametrize("sender", [None, SENDER_30, "مجموعة العمران للتهيئة والبناء"])
def test_arabic_notification_takes_at_most_two_ucs2_parts(public_url: str, sender: str | None) -> None:
    for token in TOKENS:
        text = _notification("ar", public_url, token, sender_name=sender)
        length = sms_length(text)
        assert length.encoding == "UCS-2"
        assert length.units <= 2 * 67, (length, text)
        assert length.segments <= 2
        assert "مضمونة" in text  # really Arabic
        assert REFERENCE in text
        assert f"{public_url}/l/{token}" in text
        assert text.endswith(token)


@pytest.mark.usefixtures("ctx")
def test_arabic_notification_starts_with_arabic_text() -> None:
    """A phone lays a message out right-to-left only if its first strong character is Arabic."""
    for sender in (None, SENDER_30):
        text = _notification("ar", "https://wassit.ma", TOKENS[0], sender_name=sender)
        assert "\u0600" <= text[0] <= "\u06ff", text


@pytest.mark.usefixtures("ctx")
@pytest.mark.parametrize("public_url", PUBLIC_URLS)
@pytest.mark.parametrize("minutes", [1, 2, 10, 15])
def test_french_and_english_code_sms_are_one_gsm7_part(public_url: str, minutes: int) -> None:
    host = public_url.removeprefix("https://")
    for language in ("fr", "en"):
        text = _code(language, public_url, minutes)
        _assert_one_gsm7_part(text)
        assert "123456" in text.splitlines()[0]
        assert f"{minutes} minute" in text
        assert text.endswith(f"\n\n@{host} #123456")  # WebOTP: the last line names the origin and the code
    assert "personne" in _code("fr", public_url, minutes)


@pytest.mark.usefixtures("ctx")
@pytest.mark.parametrize("minutes", [1, 2, 3, 10, 11, 15, 100])
def test_arabic_code_sms(minutes: int) -> None:
    text = _code("ar", "https://lre.wassit.ma", minutes)
    assert sms_length(text).segments <= 2
    assert "123456" in text.splitlines()[0]
    assert text.endswith("\n\n@lre.wassit.ma #123456")
    assert re.search(r"دقيق|دقائق", text)
    if minutes > 2:
        assert str(minutes) in text.splitlines()[0]


def test_budgets() -> None:
    assert GSM7_BUDGET == 160
    assert UCS2_BUDGET == 134


# --- through the real path: deposit, job, console outbox ---------------------------------------


@pytest.mark.parametrize(
    ("language", "marker"),
    [(None, "recommandée"), ("fr", "recommandée"), ("ar", "مضمونة"), ("en", "registered")],
)
def test_notification_goes_out_in_the_letters_language(
    client: FlaskClient,
    deposit: Any,
    run_jobs: Any,
    outbox: Any,
    sender: Any,
    language: str | None,
    marker: str,
) -> None:
    fields = {"language": language} if language else {}
    created = deposit(**fields)
    assert created.status_code == 201, created.json
    run_jobs()
    [message] = outbox()
    text = message["text"]
    assert marker in text
    assert created.json["reference"] in text
    # The link carries the letter's language: the page opens in it, whatever the phone's settings.
    assert re.search(rf"https://wassit\.ma/l/[A-Za-z0-9_-]{{22}}/{language or 'fr'}$", text), text
    assert "Banque Atlas" not in text  # the sender stays hidden by default
    length = sms_length(text)
    if language == "ar":
        assert length.units <= 134
    else:
        _assert_one_gsm7_part(text)
    letter = client.get(f"/api/v1/letters/{created.json['id']}", headers=sender.auth).json
    deadline = datetime.fromisoformat(letter["deadline_at"].replace("Z", "+00:00"))
    assert f" {format_local_date(deadline)}" in text
