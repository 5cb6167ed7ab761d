"""Issue 16, senders and support, in Chromium: an unverified sender is told what to do before any work,
a bulk upload is summarised and waits for a confirmation, and an agent at a desk finds a letter by the
recipient's name.  axe-core reports nothing on the new pages, in French and Arabic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from flask import Flask
from playwright.sync_api import Page
from sqlalchemy import func, select

from tests.conftest import Sender, make_pdf_bytes
from tests.portal_helpers import PASSWORD
from tests.support_helpers import AGENT_PASSWORD, make_agent
from webapp.clock import FrozenClock
from webapp.extensions import db
from webapp.models import Letter

from .support import Mailroom, PhoneFactory, axe_violations, describe_violations, normalise_space, submit

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("axe")]

DESK = {"width": 1280, "height": 800}


def _main_text(page: Page) -> str:
    return normalise_space(page.locator("main").inner_text())


def _no_violations(page: Page, name: str, problems: dict[str, str]) -> None:
    violations = axe_violations(page)
    if violations:
        problems[name] = describe_violations(violations)


def _log_in_sender(page: Page, email: str) -> None:
    page.goto("/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    submit(page, page.locator("main button[type=submit]"), "/login")


def _letters(app: Flask) -> int:
    with app.app_context():
        count = db.session.execute(select(func.count()).select_from(Letter)).scalar_one()
        db.session.remove()
        return int(count)


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_an_unverified_sender_cannot_start_composing_and_is_shown_what_to_do(
    app: Flask, phone: PhoneFactory, make_sender: Callable[..., Sender], language: str
) -> None:
    unverified = make_sender(org="Société Pas Encore Vérifiée", verified=False)
    page = phone(language, for_axe=True, service_worker=False).new_page()
    _log_in_sender(page, unverified.email)
    problems: dict[str, str] = {}

    page.goto("/letters/new")
    assert page.locator("input[type=file]").count() == 0  # nothing to fill in for nothing
    assert page.locator("main ol.steps li").count() == 3
    if language == "fr":
        assert "Votre organisation ne peut pas encore envoyer." in _main_text(page)
    _no_violations(page, "compose, locked", problems)
    page.locator("main a.button.primary").click()
    page.wait_for_url("**/account/verification")
    assert page.locator("input[type=file]").count() == 3  # an admin sends the three documents here
    _no_violations(page, "verification", problems)
    page.goto("/bulk/new")
    assert page.locator("input[type=file]").count() == 0
    _no_violations(page, "bulk, locked", problems)
    assert not problems, "\n".join(f"{name}:\n{text}" for name, text in problems.items())


def test_a_bulk_upload_is_summarised_and_asks_for_confirmation(
    app: Flask, phone: PhoneFactory, sender: Sender, mailroom: Mailroom
) -> None:
    page = phone("fr", for_axe=True, service_worker=False).new_page()
    _log_in_sender(page, sender.email)
    page.goto("/bulk/new")
    csv_text = "nom;mobile\r\nHélène Benâni;0612000001\r\nSalma Bennani;0612000002\r\n"
    page.locator("input[name=recipients]").set_input_files(
        {"name": "liste.csv", "mimeType": "text/csv", "buffer": csv_text.encode("cp1252")}  # as Excel saves it
    )
    page.locator("input[name=document]").set_input_files(
        {"name": "circulaire.pdf", "mimeType": "application/pdf", "buffer": make_pdf_bytes()}
    )
    submit(page, page.locator("main button.primary"), "/bulk/new")
    text = _main_text(page)
    assert "Vérifiez avant d’envoyer" in text, text
    assert "Rien n’a encore été envoyé" in text
    assert "segments SMS" in text
    problems: dict[str, str] = {}
    _no_violations(page, "bulk summary", problems)
    assert not problems, problems
    mailroom.run_jobs()
    assert _letters(app) == 0  # nothing deposited before the confirmation

    confirm = page.get_by_role("button", name="Confirmer et envoyer 2 lettres")
    batch_path = page.url.split(page.url.split("/bulk/")[0])[1]
    submit(page, confirm, f"{batch_path}/confirm")
    mailroom.run_jobs()
    assert _letters(app) == 2
    page.reload()
    assert "Terminé" in _main_text(page) or "Terminée" in _main_text(page)
    assert "en cours de dépôt" not in _main_text(page)


def test_an_agent_at_a_desk_finds_the_letter_by_the_recipients_name(
    app: Flask, clock: FrozenClock, mailroom: Mailroom, phone: PhoneFactory
) -> None:
    letter = mailroom.letter()  # for "Youssef Alami"
    _agent_id, secret = make_agent(app)
    clock.advance(30)
    page = phone("fr", for_axe=True, service_worker=False).new_page()
    page.set_viewport_size(DESK)
    page.goto("/support/login")
    page.locator("input[name=email]").fill("agent@wassit.ma")
    page.locator("input[name=password]").fill(AGENT_PASSWORD)
    submit(page, page.locator("main button[type=submit]"), "/support/login")
    page.locator("input[name=code]").fill(pyotp.TOTP(secret).at(clock.now()))
    submit(page, page.locator("main button.primary"), "/support/login/code")

    problems: dict[str, str] = {}
    for query in ("ALAMI", "youssef alami"):
        page.locator("input[name=q]").fill(query)
        page.locator("input[name=q]").press("Enter")
        page.get_by_role("link", name=letter.reference).wait_for()
    _no_violations(page, "name search", problems)
    page.get_by_role("link", name=letter.reference).click()
    page.locator("h1", has_text=letter.reference).wait_for()
    # The desk's width is used: the timeline table is wider than a phone column.
    width: Any = page.locator("table.support-timeline").evaluate("table => table.getBoundingClientRect().width")
    assert width > 900, width
    assert "from_status" not in _main_text(page)
    _no_violations(page, "letter, desk", problems)
    page.goto("/support/verifications")
    _no_violations(page, "verification queue", problems)
    assert not problems, "\n".join(f"{name}:\n{text}" for name, text in problems.items())
