"""Nobody stuck (issue 16, recipient side), in Chromium on a phone and on a desk, in French and Arabic:
a dead code says so and a new one gets the recipient in; someone holding the link cannot keep the real
recipient out; the one button is above the fold in every language; taps show they are on their way,
and say so when the phone is offline; the SMS link opens the page in the letter's language.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from .support import ARABIC_LETTER, Mailroom, PhoneFactory, Recipient, normalise_space

pytestmark = pytest.mark.browser

SMALL_PHONE = {"width": 360, "height": 640}
DESK = {"width": 1280, "height": 800}


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def alert(page: Page) -> str:
    return normalise_space(page.locator("main [role=alert]").inner_text())


@pytest.mark.parametrize(("language", "javascript"), [("fr", True), ("ar", False)], ids=["fr-js", "ar-no-js"])
def test_the_right_code_is_accepted_after_a_dead_one(
    phone: PhoneFactory, mailroom: Mailroom, language: str, javascript: bool
) -> None:
    letter = mailroom.letter(language=language)
    recipient = Recipient(phone(language, javascript=javascript).new_page(), mailroom, letter)
    recipient.open_link()
    code = recipient.ask_code()
    for _ in range(5):
        recipient.type_code(wrong(code))
    # The page says the code is dead, and its main button asks for a new one.
    assert "5" in alert(recipient.page)
    new_code_button = recipient.page.locator("main form button.primary")
    expect(new_code_button).to_have_count(1)
    assert new_code_button.locator("xpath=ancestor::form").get_attribute("action", timeout=1000).endswith("/code")
    recipient.type_code(code)  # the dead code, right as it is, stays refused
    assert "5" in alert(recipient.page)

    fresh = recipient.ask_code()
    recipient.type_code(fresh)
    recipient.accept_button.wait_for()
    recipient.page.wait_for_url(f"**{letter.path}/decision")
    assert mailroom.row(letter).code_failures == 0


@pytest.mark.parametrize(("language", "javascript"), [("ar", True), ("fr", False)], ids=["ar-js", "fr-no-js"])
def test_a_link_holders_ten_wrong_codes_do_not_keep_the_real_recipient_out(
    phone: PhoneFactory, mailroom: Mailroom, language: str, javascript: bool
) -> None:
    letter = mailroom.letter(language=language)
    # Someone who got hold of the link, in another browser: ten wrong codes, with no code sent...
    intruder = Recipient(phone("fr", javascript=javascript).new_page(), mailroom, letter)
    intruder.page.goto(f"{letter.path}/code")
    for _ in range(10):
        intruder.type_code("000000")
    assert (mailroom.row(letter).code_failures, mailroom.row(letter).locked_at) == (0, None)
    # ... then ten more after asking codes of their own (they go to the recipient's phone): waits, no lock.
    for _ in range(2):
        intruder.ask_code()
        for _ in range(5):
            intruder.type_code("000000")
    row = mailroom.row(letter)
    assert row.code_wait_until is not None
    assert row.locked_at is None

    # The real recipient, on their phone: a new code gets them in at once, during the wait.
    recipient = Recipient(phone(language, javascript=javascript).new_page(), mailroom, letter)
    recipient.open_link()
    recipient.type_code(recipient.ask_code())
    recipient.accept_button.wait_for()
    recipient.accept()
    assert mailroom.status(letter) == "accepted"
    # And the intruder's codes never block the accepted letter's download.
    for _ in range(3):
        intruder.page.goto(f"{letter.path}/code")
        intruder.type_code("000000")
    with recipient.page.expect_download() as started:
        recipient.download_link.click()
    assert started.value.failure() is None


def _bottom(page: Page, selector: str) -> float:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return float(box["y"] + box["height"])


@pytest.mark.parametrize("language", ["fr", "ar", "en"])
@pytest.mark.parametrize("viewport", [SMALL_PHONE, DESK], ids=["phone-360x640", "desk-1280x800"])
def test_reference_who_we_are_deadline_and_the_button_are_above_the_fold(
    phone: PhoneFactory, mailroom: Mailroom, language: str, viewport: dict[str, int]
) -> None:
    letter = mailroom.letter(language=language)
    page = phone(language).new_page()
    page.set_viewport_size(viewport)
    page.goto(letter.path)
    fold = viewport["height"]
    lead = page.locator("main section.lead")
    assert letter.reference in lead.inner_text()
    assert normalise_space(mailroom.deadline_text(letter, language)) in normalise_space(lead.inner_text())
    for selector in ("main h1", "main .ref", "main section.lead .deadline", "main section.lead button[type=submit]"):
        assert _bottom(page, selector) <= fold, f"{selector} ends at {_bottom(page, selector)} px, below {fold}"
    # Who we are: the sentence naming the service, before the deadline.
    who = page.locator("main section.lead p", has_text=mailroom.app.extensions["wassit"].settings.service_name)
    assert _bottom(page, "main section.lead p:has-text('43')") <= fold
    expect(who.first).to_be_visible()


def test_the_sms_link_opens_in_the_letters_language_then_the_visitors_choice(
    phone: PhoneFactory, mailroom: Mailroom
) -> None:
    letter = mailroom.letter(language="ar")
    [sms] = [m for m in mailroom.outbox() if letter.reference in m["text"]]
    assert sms["text"].endswith(f"{letter.path}/ar")
    page = phone("fr").new_page()  # a phone set to French
    page.goto(f"{letter.path}/ar")
    expect(page.locator("html")).to_have_attribute("lang", "ar")
    assert ARABIC_LETTER.search(page.locator("main h1").inner_text())
    recipient = Recipient(page, mailroom, letter)
    recipient.ask_code()
    expect(page.locator("html")).to_have_attribute("lang", "ar")  # the flow stays in it
    page.locator('a[hreflang="fr"]').click()  # then the visitor's choice
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    page.goto(letter.path)
    expect(page.locator("html")).to_have_attribute("lang", "fr")


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_a_tap_shows_it_is_on_its_way_and_sends_once(phone: PhoneFactory, mailroom: Mailroom, language: str) -> None:
    letter = mailroom.letter(language=language)
    page = phone(language).new_page()
    page.goto(letter.path)
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route(f"**{letter.path}/code", hold)
    button = page.locator("main section.lead button[type=submit]")
    button.click()
    expect(button).to_have_class("primary busy")
    expect(page.locator("main section.lead form")).to_have_attribute("aria-busy", "true")
    button.click(force=True)  # a second, impatient tap
    page.wait_for_timeout(300)
    assert len(held) == 1
    held[0].continue_()
    page.unroute(f"**{letter.path}/code")
    page.locator('form[action$="/code/check"] input[name=code]').wait_for()
    mailroom.run_jobs()
    assert sum(letter.reference in m["text"] or "#" in m["text"] for m in mailroom.outbox()) == 2  # notice + 1 code


def test_without_our_script_the_tapped_button_shows_it_is_busy(phone: PhoneFactory, mailroom: Mailroom) -> None:
    """Without app.js (scripts off, or it failed to load), the stylesheet alone puts a spinner on the
    button a tap focused.  (Playwright cannot read a page whose scripts are off while it navigates, so
    the page keeps scripts on but never gets app.js, which is what the rule keys on.)"""
    letter = mailroom.letter(language="fr")
    page = phone("fr", service_worker=False).new_page()
    page.route("**/static/js/app.js*", lambda route: route.abort())
    page.goto(letter.path)
    assert page.evaluate("document.documentElement.classList.contains('js')") is False
    held: list[Route] = []
    page.route(f"**{letter.path}/code", lambda route: held.append(route))
    button = page.locator("main section.lead button[type=submit]")
    page.evaluate("document.body.removeAttribute('hx-boost')")  # a plain form post, as without scripts
    button.click(no_wait_after=True)
    page.wait_for_timeout(300)
    assert held, "the form was not submitted"
    spinner: dict[str, Any] = button.evaluate(
        """b => { const s = getComputedStyle(b, '::after');
                  return {content: s.content, animation: s.animationName, focused: document.activeElement === b}; }"""
    )
    assert spinner == {"content": '""', "animation": "spin", "focused": True}, spinner
    held[0].abort()
    page.unroute(f"**{letter.path}/code")


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_a_tap_while_offline_says_so(phone: PhoneFactory, mailroom: Mailroom, language: str) -> None:
    letter = mailroom.letter(language=language)
    context = phone(language)
    page = context.new_page()
    page.goto(letter.path)
    notice = page.locator("#offline")
    expect(notice).to_be_hidden()
    sent_before = mailroom.sms_count()
    context.set_offline(True)
    page.locator("main section.lead button[type=submit]").click()
    expect(notice).to_be_visible()
    assert bool(ARABIC_LETTER.search(notice.inner_text())) == (language == "ar")
    context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(notice).to_be_hidden()
    mailroom.run_jobs()
    assert mailroom.sms_count() == sent_before


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_support_is_one_tap_away_on_every_page_even_an_unknown_link(
    phone: PhoneFactory, mailroom: Mailroom, language: str
) -> None:
    letter = mailroom.letter(language=language)
    page = phone(language).new_page()
    support = mailroom.app.extensions["wassit"].settings.support_contact
    for path, status in ((letter.path, 200), ("/l/AAAAAAAAAAAAAAAAAAAAAA", 404), ("/no-such-page", 404)):
        response = page.goto(path)
        assert response is not None
        assert response.status == status
        link = page.locator('footer a[href^="mailto:"]')
        expect(link).to_be_visible()
        assert support in link.inner_text()
        assert "écrivez à  en" not in page.content()


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_refusing_looks_tappable(phone: PhoneFactory, mailroom: Mailroom, language: str) -> None:
    letter = mailroom.letter(language=language)
    recipient = Recipient(phone(language).new_page(), mailroom, letter)
    recipient.open_link()
    recipient.identify()
    summary = recipient.page.locator("details.refuse > summary")
    style = summary.evaluate(
        """s => { const c = getComputedStyle(s), a = getComputedStyle(s, '::before');
                  return {border: c.borderTopStyle, arrow: a.content, width: a.width}; }"""
    )
    assert style["border"] == "solid", style
    assert style["arrow"] == '""', style
    assert style["width"] != "0px", style
    recipient.open_refusal()
