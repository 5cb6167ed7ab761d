"""The recipient's whole flow in Chromium on a phone, in French and Arabic, JavaScript on and off
(issue 4, item 6): open the SMS link, ask a code, type it, accept or refuse, download.

With JavaScript on, htmx must carry the flow without reloading the page: a marker set on
the landing page's `window` survives every step.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Error, Page, Response, expect

from .support import (
    ARABIC_LETTER,
    Delivered,
    Mailroom,
    PhoneFactory,
    Recipient,
    normalise_space,
)

pytestmark = pytest.mark.browser

LANGUAGES = pytest.mark.parametrize("language", ["fr", "ar"])
JAVASCRIPT = pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])

MARKER = "window.__wassit_marker"


def watch_for_errors(page: Page) -> list[str]:
    """Script errors, console errors (a CSP violation, htmx's own errors) and server errors, as they come.

    Chromium logs every 4xx response as a failed resource: the wrong-code page is a 422 on purpose,
    so 4xx answers count only for files (a stylesheet, a script, an icon, the manifest).
    """
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(f"console: {message.text} ({message.location.get('url')})")

    def on_page_error(error: Error) -> None:
        errors.append(f"page error: {error.message}")

    def on_response(response: Response) -> None:
        page_or_htmx = response.request.resource_type in {"document", "xhr", "fetch"}
        if response.status >= 500 or (response.status >= 400 and not page_or_htmx):  # a missing file
            errors.append(f"{response.status} from {response.request.method} {response.url}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    page.on("response", on_response)
    return errors


def set_marker(page: Page) -> None:
    page.evaluate(f"{MARKER} = 1")


def assert_not_reloaded(page: Page, step: str) -> None:
    assert page.evaluate(MARKER) == 1, f"the page was reloaded at '{step}' instead of being swapped by htmx"


def assert_in_language(recipient: Recipient, language: str) -> None:
    assert recipient.html_attribute("lang") == language
    assert (recipient.html_attribute("dir") or "ltr") == ("rtl" if language == "ar" else "ltr")
    heading = recipient.page.locator("main h1").first.inner_text()
    assert bool(ARABIC_LETTER.search(heading)) == (language == "ar"), heading


def open_landing(
    phone: PhoneFactory, mailroom: Mailroom, letter: Delivered, language: str, javascript: bool
) -> tuple[Recipient, list[str]]:
    """Opens the SMS link on a new phone; returns the recipient and the page's errors, as they come."""
    page = phone(language, javascript=javascript).new_page()
    errors = watch_for_errors(page)
    recipient = Recipient(page, mailroom, letter)
    recipient.open_link()
    assert_in_language(recipient, language)
    if javascript:
        set_marker(page)
    return recipient, errors


@JAVASCRIPT
@LANGUAGES
def test_accept_and_download(phone: PhoneFactory, mailroom: Mailroom, language: str, javascript: bool) -> None:
    letter = mailroom.letter(language=language)
    recipient, errors = open_landing(phone, mailroom, letter, language, javascript)
    page = recipient.page
    landing = recipient.main_text()
    assert letter.reference in landing
    assert normalise_space(mailroom.deadline_text(letter, language)) in landing

    code = recipient.ask_code()
    assert recipient.code_field.get_attribute("autocomplete") == "one-time-code"
    assert recipient.code_field.get_attribute("inputmode") == "numeric"
    assert_in_language(recipient, language)
    if javascript:
        assert_not_reloaded(page, "ask a code")

    recipient.type_code(code)
    recipient.accept_button.wait_for()
    page.wait_for_url(f"**{letter.path}/decision")
    assert_in_language(recipient, language)
    if javascript:
        assert_not_reloaded(page, "type the code")

    recipient.accept()
    assert_in_language(recipient, language)
    if javascript:
        assert_not_reloaded(page, "accept")
    size = normalise_space(mailroom.size_text(letter, language))
    assert size in recipient.main_text()
    assert size in normalise_space(recipient.download_link.inner_text())
    assert mailroom.status(letter) == "accepted"

    with page.expect_download() as started:
        recipient.download_link.click()
    download = started.value
    assert download.failure() is None
    assert Path(download.path()).read_bytes() == letter.document
    assert download.suggested_filename == letter.filename
    assert errors == []


@pytest.mark.parametrize(("language", "javascript"), [("ar", True), ("fr", False)], ids=["ar-js", "fr-no-js"])
def test_refuse(phone: PhoneFactory, mailroom: Mailroom, language: str, javascript: bool) -> None:
    letter = mailroom.letter(language=language)
    recipient, errors = open_landing(phone, mailroom, letter, language, javascript)
    recipient.identify()

    recipient.refuse("Je ne connais pas cet expéditeur" if language == "fr" else "لا أعرف المرسل")
    assert_in_language(recipient, language)
    assert letter.reference in recipient.main_text()
    expect(recipient.download_link).to_have_count(0)
    if javascript:
        assert_not_reloaded(recipient.page, "refuse")
    assert mailroom.status(letter) == "refused"
    assert mailroom.row(letter).decided_at is not None
    assert errors == []

    # Opening the link again says that the answer is given, and offers no code.
    again = Recipient(phone(language, javascript=javascript).new_page(), mailroom, letter)
    again.open_link()
    assert_in_language(again, language)
    assert letter.reference in again.main_text()
    expect(again.page.locator("input[name=code]")).to_have_count(0)
    expect(again.page.locator("button[name=decision]")).to_have_count(0)


@pytest.mark.parametrize(("language", "javascript"), [("fr", True), ("ar", False)], ids=["fr-js", "ar-no-js"])
def test_a_wrong_code_says_so_and_the_right_one_still_works(
    phone: PhoneFactory, mailroom: Mailroom, language: str, javascript: bool
) -> None:
    letter = mailroom.letter(language=language)
    recipient, errors = open_landing(phone, mailroom, letter, language, javascript)
    code = recipient.ask_code()

    recipient.type_code(f"{(int(code) + 1) % 1_000_000:06d}")
    alert = recipient.page.locator("main [role=alert]")
    expect(alert).to_be_visible()
    assert any(ch.isdigit() for ch in alert.inner_text()), "the alert tells how many attempts are left"
    assert_in_language(recipient, language)
    if javascript:
        assert_not_reloaded(recipient.page, "a wrong code")
    assert mailroom.row(letter).code_failures == 1

    recipient.type_code(code)
    recipient.accept_button.wait_for()
    if javascript:
        assert_not_reloaded(recipient.page, "the right code after a wrong one")
    assert errors == []


@JAVASCRIPT
def test_switching_language_is_remembered(phone: PhoneFactory, mailroom: Mailroom, javascript: bool) -> None:
    letter = mailroom.letter(language="fr")
    recipient, errors = open_landing(phone, mailroom, letter, "fr", javascript)

    recipient.page.locator('a[hreflang="ar"]').click()
    recipient.page.wait_for_url("**?lang=ar")
    expect(recipient.page.locator("html")).to_have_attribute("lang", "ar")
    assert_in_language(recipient, "ar")
    assert letter.reference in recipient.main_text()

    recipient.ask_code()  # the next page, reached by the page's own form
    assert_in_language(recipient, "ar")

    recipient.page.goto(letter.path)  # a new load, with a browser that still asks for French
    assert_in_language(recipient, "ar")

    recipient.page.locator('a[hreflang="fr"]').click()
    expect(recipient.page.locator("html")).to_have_attribute("lang", "fr")
    assert_in_language(recipient, "fr")
    recipient.page.goto(letter.path)
    assert_in_language(recipient, "fr")
    assert errors == []
