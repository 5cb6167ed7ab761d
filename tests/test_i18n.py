"""Languages: French by default, Arabic (right-to-left) and English; complete catalogs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from flask import Flask, render_template_string
from flask.testing import FlaskClient

from webapp.letters.errors import (
    DocumentTooLarge,
    InvalidDocument,
    InvalidPhoneNumber,
    OrganisationNotVerified,
)
from webapp.web.portal.letters import deposit_error_message

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "webapp" / "translations"
LANGUAGES = ("fr", "ar")
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")

FRENCH = "Une lettre recommandée électronique vous attend"
ARABIC = "رسالة مضمونة إلكترونية في انتظاركم"
ENGLISH = "A registered electronic letter is waiting for you"


@pytest.fixture
def letter_path(deposit: Any, run_jobs: Any, outbox: Any) -> str:
    """The path of a notified letter's recipient link, as read from the SMS."""
    created = deposit()
    assert created.status_code == 201, created.json
    run_jobs()
    [notification] = outbox()
    match = re.search(r"https://wassit\.ma(/l/[A-Za-z0-9_-]+)", notification["text"])
    assert match, notification["text"]
    return match.group(1)


def _html_tag(html: str) -> str:
    match = re.search(r"<html[^>]*>", html)
    assert match
    return match.group(0)


def _sets_lang_cookie(response: Any) -> bool:
    return any(header.startswith("lang=") for header in response.headers.getlist("Set-Cookie"))


# --- the recipient's landing page ---------------------------------------------------------------


def test_landing_page_is_french_by_default(client: FlaskClient, letter_path: str) -> None:
    page = client.get(letter_path)
    assert page.status_code == 200
    assert _html_tag(page.text) == '<html lang="fr" dir="ltr">'
    assert FRENCH in page.text
    assert "Recevoir un code par SMS" in page.text
    assert ENGLISH not in page.text
    assert not _sets_lang_cookie(page)


def test_lang_parameter_switches_to_arabic_right_to_left_and_is_remembered(
    client: FlaskClient, letter_path: str
) -> None:
    page = client.get(f"{letter_path}?lang=ar")
    assert page.status_code == 200
    assert _html_tag(page.text) == '<html lang="ar" dir="rtl">'
    assert ARABIC in page.text
    assert FRENCH not in page.text
    assert '<bdi dir="ltr">+212 6•• ••• •78</bdi>' in page.text  # digits keep their order
    cookie = client.get_cookie("lang")
    assert cookie is not None
    assert cookie.value == "ar"
    assert cookie.http_only
    assert cookie.expires is not None  # kept across browser restarts

    again = client.get(letter_path)  # no parameter: the cookie decides
    assert _html_tag(again.text) == '<html lang="ar" dir="rtl">'
    assert ARABIC in again.text
    assert not _sets_lang_cookie(again)


def test_accept_language_arabic(client: FlaskClient, letter_path: str) -> None:
    for header in ("ar", "ar-MA,ar;q=0.9,fr;q=0.8", "de;q=1.0, ar;q=0.5"):
        page = client.get(letter_path, headers={"Accept-Language": header})
        assert _html_tag(page.text) == '<html lang="ar" dir="rtl">', header
        assert ARABIC in page.text
    assert client.get_cookie("lang") is None  # only an explicit choice is remembered


def test_accept_language_english_and_unknown(client: FlaskClient, letter_path: str) -> None:
    page = client.get(letter_path, headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert _html_tag(page.text) == '<html lang="en" dir="ltr">'
    page = client.get(letter_path, headers={"Accept-Language": "de-DE,es;q=0.8"})
    assert _html_tag(page.text) == '<html lang="fr" dir="ltr">'
    assert FRENCH in page.text


def test_lang_parameter_english(client: FlaskClient, letter_path: str) -> None:
    page = client.get(f"{letter_path}?lang=en", headers={"Accept-Language": "ar"})
    assert _html_tag(page.text) == '<html lang="en" dir="ltr">'
    assert ENGLISH in page.text
    assert "Send me a code by SMS" in page.text
    cookie = client.get_cookie("lang")
    assert cookie is not None
    assert cookie.value == "en"
    # The remembered choice wins over the browser's languages.
    page = client.get(letter_path, headers={"Accept-Language": "ar"})
    assert _html_tag(page.text) == '<html lang="en" dir="ltr">'
    # And a new choice replaces it.
    page = client.get(f"{letter_path}?lang=fr")
    assert FRENCH in page.text
    cookie = client.get_cookie("lang")
    assert cookie is not None
    assert cookie.value == "fr"


def test_unknown_lang_parameter_is_ignored(client: FlaskClient, letter_path: str) -> None:
    page = client.get(f"{letter_path}?lang=xx")
    assert _html_tag(page.text) == '<html lang="fr" dir="ltr">'
    assert client.get_cookie("lang") is None


def test_language_links_keep_the_page(client: FlaskClient, letter_path: str) -> None:
    page = client.get(letter_path)
    assert f'href="{letter_path}?lang=ar"' in page.text
    assert f'href="{letter_path}?lang=en"' in page.text
    assert 'lang="ar" hreflang="ar">العربية</a>' in page.text
    page = client.get(f"{letter_path}?lang=ar")
    assert f'href="{letter_path}?lang=fr"' in page.text


def test_code_page_and_error_pages_follow_the_language(client: FlaskClient, letter_path: str) -> None:
    landing = client.get(f"{letter_path}?lang=ar")
    assert landing.status_code == 200
    response = client.post(f"{letter_path}/code")  # no CSRF token: see recipient.pages.send_code
    assert response.status_code == 303
    page = client.get(response.headers["Location"])
    assert _html_tag(page.text) == '<html lang="ar" dir="rtl">'
    assert "أرسلنا رمزًا إلى الرقم" in page.text
    assert "صالح لمدة 10 دقائق" in page.text

    missing = client.get("/l/this-token-does-not-exist")
    assert missing.status_code == 404
    assert "هذا الرابط لا يعمل" in missing.text
    client.get("/?lang=fr")
    missing = client.get("/l/this-token-does-not-exist")
    assert "Ce lien ne fonctionne pas" in missing.text
    assert client.get("/no/such/page").text.count("Cette page n’existe pas") == 1


# --- filters and portal messages -----------------------------------------------------------------


@pytest.fixture
def in_french(app: Flask) -> Iterator[None]:
    with app.test_request_context("/?lang=fr"):
        yield


@pytest.mark.parametrize(
    ("lang", "size", "expected"),
    [
        ("fr", 500, "500 octets"),
        ("fr", 1, "1 octet"),
        ("fr", 20_480, "20 Ko"),
        ("fr", 1_572_864, "1,5 Mo"),
        ("en", 1_572_864, "1.5 MB"),
        ("en", 1, "1 byte"),
        ("ar", 20_480, "20 كيلوبايت"),
    ],
)
def test_filesize_in_the_pages_language(app: Flask, lang: str, size: int, expected: str) -> None:
    with app.test_request_context(f"/?lang={lang}"):
        assert render_template_string("{{ size|filesize }}", size=size) == expected


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("fr", "8 décembre 2026 à 10:00"),
        ("en", "December 8, 2026 at 10:00 AM"),
        # Arabic as written in Morocco (CLDR ar_MA): "دجنبر", not the Middle East's "ديسمبر", and 24-hour times.
        ("ar", "8 دجنبر 2026 على الساعة 10:00"),
    ],
)
def test_long_local_time_is_the_date_in_words_and_the_time_in_morocco(app: Flask, lang: str, expected: str) -> None:
    with app.test_request_context(f"/?lang={lang}"):
        moment = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
        rendered = render_template_string("{{ moment|local_time('long') }}", moment=moment)
        assert rendered.replace("\u202f", " ") == expected


@pytest.mark.usefixtures("in_french")
def test_deposit_errors_are_shown_in_the_senders_language() -> None:
    assert deposit_error_message(InvalidPhoneNumber("This is not a phone number.")) == (
        "Ce n’est pas un numéro de téléphone."
    )
    assert deposit_error_message(OrganisationNotVerified()).startswith("L’organisation de l’expéditeur")
    # A message the catalogs do not know yet: the error code's own message, still in French.
    assert deposit_error_message(InvalidDocument("Some brand-new reason.")) == (
        "Le document doit être un PDF lisible, non protégé par un mot de passe."
    )
    assert deposit_error_message(DocumentTooLarge("The document is larger than 10 MB.")) == (
        "Le document dépasse 10 Mo."
    )


# --- the catalogs ----------------------------------------------------------------------------


def _catalog(lang: str) -> Any:
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as source:
        return read_po(source, locale=lang)


def _source_msgids() -> set[Any]:
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    keywords = {**DEFAULT_KEYWORDS, "_l": None}
    found: set[Any] = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        found.add(message)
    return found


def test_every_string_in_the_sources_is_translated_in_french_and_arabic() -> None:
    msgids = _source_msgids()
    assert len(msgids) > 100
    for lang in LANGUAGES:
        catalog = _catalog(lang)
        assert not catalog.fuzzy, f"{lang}: the catalog header is marked fuzzy"
        for msgid in msgids:
            message = catalog.get(msgid)
            assert message is not None, f"{lang}: missing {msgid!r}: run `make extract-messages` and translate"
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            assert all(strings), f"{lang}: untranslated {msgid!r}"
            assert not message.fuzzy, f"{lang}: fuzzy {msgid!r}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translations_keep_the_placeholders(lang: str) -> None:
    catalog = _catalog(lang)
    assert catalog.num_plurals == {"fr": 2, "ar": 6}[lang]
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        expected = set(PLACEHOLDER.findall(ids[-1]))
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert len(strings) == (catalog.num_plurals if isinstance(message.id, tuple) else 1)
        for string in strings:
            found = set(PLACEHOLDER.findall(string))
            if isinstance(message.id, tuple):
                # A plural form may spell the number out ("دقيقتين"), never add a placeholder.
                assert found <= expected, (lang, message.id, string)
                assert expected - {"num"} <= found, (lang, message.id, string)
            else:
                assert found == expected, (lang, message.id, string)
            assert string.count("%") == len(PLACEHOLDER.findall(string)), (lang, string)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalogs_pass_babels_checks(lang: str) -> None:
    problems = [(message.id, [str(e) for e in errors]) for message, errors in _catalog(lang).check()]
    assert problems == []


def test_french_web_texts_use_french_typography() -> None:
    catalog = _catalog("fr")
    for message in catalog:
        if not message.id or "%(link)s" in str(message.id) or "%(code)s" in str(message.id):
            continue  # the SMS texts keep to GSM-7 (no ’, no non-breaking space)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for string in strings:
            assert "'" not in string, string
            assert not re.search(r"\S[:?!]", string.replace("%(", "")), string


def test_arabic_emails_and_wait_times_use_moroccan_months_and_24_hour_times(app: Flask) -> None:
    """Issue 16: CLDR ar_MA everywhere a date is written in words: "دجنبر", not "ديسمبر"; 15:30, not 3:30 م."""
    from webapp.notify.emails import LetterEmail, letter_email

    deadline = datetime(2026, 12, 8, 14, 30, tzinfo=UTC)  # 15:30 in Morocco
    with app.app_context():
        email = letter_email(
            LetterEmail(
                to="salma@example.ma",
                language="ar",
                service_name="Wassit",
                public_url="https://wassit.ma",
                support_contact="support@wassit.ma",
                recipient_name="Salma",
                reference="K7PM-4XQ2",
                link="https://wassit.ma/l/x/ar",
                deadline=deadline,
                phone_ending="78",
            )
        )
    for text in (email.text, email.html):
        assert "دجنبر" in text
        assert "ديسمبر" not in text
        assert "15:30" in text
        assert " م" not in text.split("15:30")[1][:3]
    with app.test_request_context("/?lang=ar"):
        assert render_template_string("{{ moment|local_time('time') }}", moment=deadline) == "15:30"
        assert "غشت" in render_template_string(
            "{{ moment|local_time('long') }}", moment=datetime(2026, 8, 3, 9, 0, tzinfo=UTC)
        )
