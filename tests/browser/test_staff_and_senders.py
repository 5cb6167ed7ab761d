"""The support console and the sender portal in Chromium, as their users meet them.

Issue 7's "done when", tried as a new agent would: log in with the password and the
authenticator's code, find the letter by the recipient's number, see when the SMS reached the
phone, resend it with a reason; the sender then sees that resend on the letter's page.  And
axe-core finds nothing to report on the console's and the portal's pages, in French and Arabic.
"""

from __future__ import annotations

from typing import Any

import pyotp
import pytest
from flask import Flask
from playwright.sync_api import Page

from tests.conftest import Sender
from tests.db_helpers import only_message
from tests.portal_helpers import PASSWORD
from tests.support_helpers import AGENT_PASSWORD, make_agent
from tests.vonage_helpers import SECRET, FakeVonage, receipt_fields, sign
from webapp.clock import FrozenClock
from webapp.notify.sms.console import ConsoleSmsProvider
from webapp.services import Services

from .support import Mailroom, PhoneFactory, axe_violations, describe_violations, normalise_space, submit

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("axe")]


def _audit(page: Page, name: str, problems: dict[str, str]) -> None:
    violations = axe_violations(page)
    if violations:
        problems[name] = describe_violations(violations)


def _main_text(page: Page) -> str:
    return normalise_space(page.locator("main").inner_text())


def test_an_agent_logs_in_finds_by_number_sees_the_delivery_and_resends_the_sender_sees_it(
    app: Flask, clock: FrozenClock, mailroom: Mailroom, phone: PhoneFactory, sender: Sender
) -> None:
    services: Services = app.extensions["wassit"]
    services.settings = services.settings.replace(vonage_signature_secret=SECRET)
    services.sms = FakeVonage(ConsoleSmsProvider(services.settings.sms_outbox))
    letter = mailroom.letter()
    clock.advance(70)
    message = only_message(app, letter.id)
    receipt = app.test_client().post("/webhooks/vonage/dlr", data=sign(receipt_fields(message, signed_at=clock.now())))
    assert receipt.status_code == 200
    _agent_id, secret = make_agent(app)
    clock.advance(30)  # a code the enrolment has not used

    problems: dict[str, str] = {}
    # Staff work at a desk browser: it does not install the recipients' offline app, whose background
    # requests would only add noise to a test about the console.
    page = phone("fr", for_axe=True, service_worker=False).new_page()
    page.goto("/support/login")
    _audit(page, "log-in", problems)
    page.locator("input[name=email]").fill("agent@wassit.ma")
    page.locator("input[name=password]").fill(AGENT_PASSWORD)
    submit(page, page.locator("main button[type=submit]"), "/support/login")
    _audit(page, "code", problems)
    page.locator("input[name=code]").fill(pyotp.TOTP(secret).at(clock.now()))
    submit(page, page.locator("main button.primary"), "/support/login/code")

    # The caller reads the number as people say it.
    page.locator("input[name=q]").fill("06 12 34 56 78")
    page.locator("input[name=q]").press("Enter")
    page.get_by_role("link", name=letter.reference).wait_for()
    _audit(page, "search results", problems)
    page.get_by_role("link", name=letter.reference).click()
    page.locator("h1", has_text=letter.reference).wait_for()
    text = _main_text(page)
    assert "SMS remis sur le téléphone" in text, text
    assert message.provider_message_id
    assert message.provider_message_id in text
    assert "mise-en-demeure.pdf" in text  # not marked confidential: its name is metadata the agent may see
    _audit(page, "letter", problems)

    page.locator("textarea[name=reason]").first.fill("Le destinataire a appelé : il n’a jamais reçu le SMS")
    before = mailroom.sms_count()
    submit(page, page.locator("form[action$='/resend'] button[type=submit]"), f"/support/letters/{letter.id}/resend")
    assert "La notification est renvoyée, avec un nouveau lien." in _main_text(page)
    mailroom.run_jobs()
    [resent] = mailroom.outbox()[before:]
    assert resent["to"] == "+212612345678"
    page.goto("/support/audit")
    assert "il n’a jamais reçu le SMS" in _main_text(page)
    _audit(page, "audit log", problems)
    for path, name in (("/support/attention", "attention queue"), ("/support/operations/", "operations")):
        page.goto(path)
        _audit(page, name, problems)
    assert not problems, "\n".join(f"{name}:\n{text}" for name, text in problems.items())

    # The sender's page names the resend.
    portal = phone("fr", service_worker=False).new_page()
    _log_in_sender(portal, sender)
    portal.goto(f"/letters/{letter.id}")
    assert "par notre équipe d’assistance" in _main_text(portal)


def _log_in_sender(page: Page, sender: Sender) -> None:
    page.goto("/login")
    page.locator("input[name=email]").fill(sender.email)
    page.locator("input[name=password]").fill(PASSWORD)
    submit(page, page.locator("main button[type=submit]"), "/login")


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_the_sender_portal_pages_have_no_accessibility_violations(
    app: Flask, mailroom: Mailroom, phone: PhoneFactory, sender: Sender, language: str
) -> None:
    letter = mailroom.letter(language)
    problems: dict[str, str] = {}
    page = phone(language, for_axe=True, service_worker=False).new_page()
    page.goto("/login")
    _audit(page, "log-in", problems)
    page.locator("input[name=email]").fill(sender.email)
    page.locator("input[name=password]").fill(PASSWORD)
    submit(page, page.locator("main button[type=submit]"), "/login")
    pages: list[Any] = [
        ("/letters", "dashboard"),
        (f"/letters/{letter.id}", "letter"),
        ("/letters/new", "compose"),
        ("/bulk/new", "bulk upload"),
        ("/bulk", "batches"),
        ("/account", "account"),
        ("/account/tokens", "API tokens"),
        ("/account/users", "users"),
        ("/account/two-factor", "two-factor enrolment"),
        ("/settings/webhooks", "webhooks"),
    ]
    for path, name in pages:
        response = page.goto(path)
        assert response is not None
        assert response.status == 200, path
        assert f'<html lang="{language}"' in page.content()
        _audit(page, name, problems)
    assert not problems, "\n".join(f"{name}:\n{text}" for name, text in problems.items())
