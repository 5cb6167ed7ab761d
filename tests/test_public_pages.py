"""Clarity pages of issue 4: the public reference check, htmx partial pages, the letter's
language as a fallback, and error pages that say what to do next."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.test_recipient import Flow, browser, csrf_of, type_code, wrong_code
from webapp.clock import FrozenClock
from webapp.extensions import db
from webapp.letters.recipient import normalise_reference
from webapp.models import Letter

SENDER = "Banque Atlas SA"


@pytest.fixture
def flow(app: Flask, deposit: Any, run_jobs: Any, outbox: Any) -> Flow:
    return Flow(app, deposit, run_jobs, outbox)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return browser(app)


def check(client: FlaskClient, reference: str) -> Any:
    token = csrf_of(client.get("/check").text)
    return client.post("/check", data={"csrf_token": token, "reference": reference})


# --- "is this SMS really from you?" ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("K7QM-3XPA", "K7QM-3XPA"),
        (" k7qm 3xpa ", "K7QM-3XPA"),
        ("K7QM–3XPA", "K7QM-3XPA"),  # an en dash, as some phones type it
        ("K7QM3XPA", "K7QM-3XPA"),
        ("K7QM-3XP", None),
        ("K7QM-3XPA1", None),
        ("K7QM-3XP0", None),  # 0 is not in the alphabet
        ("", None),
    ],
)
def test_references_are_normalised_like_people_type_them(raw: str, expected: str | None) -> None:
    assert normalise_reference(raw) == expected


def test_a_notified_reference_is_confirmed_and_nothing_else_is_shown(flow: Flow, client: FlaskClient) -> None:
    letter = flow.letter()
    response = check(client, letter.reference.lower().replace("-", " "))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.text
    assert f'<strong dir="ltr">{letter.reference}</strong>' in page
    assert "sent an SMS with the reference" in page
    assert "https://wassit.ma/l/" in page  # what a genuine link looks like
    for secret in (SENDER, "Youssef Alami", letter.phone, letter.phone[-4:], letter.path, "mise-en-demeure"):
        assert secret not in page


def test_an_unknown_reference_is_a_warning(client: FlaskClient) -> None:
    response = check(client, "K7QM-3XPA")
    assert response.status_code == 404
    assert "We did not send any SMS with the reference" in response.text
    assert "do not give any code" in response.text


def test_a_letter_not_yet_notified_is_not_confirmed(flow: Flow, client: FlaskClient, deposit: Any) -> None:
    created = deposit()  # the SMS job has not run: no SMS exists yet
    assert created.status_code == 201
    assert check(client, created.json["reference"]).status_code == 404


def test_a_malformed_reference_says_what_one_looks_like(client: FlaskClient) -> None:
    response = check(client, "hello")
    assert response.status_code == 422
    assert 'aria-invalid="true"' in response.text
    assert "A reference has 8 letters and digits" in response.text


def test_the_check_is_throttled_against_enumeration(app: Flask) -> None:
    guesser = browser(app, "203.0.113.9")
    token = csrf_of(guesser.get("/check").text)
    statuses = [
        guesser.post("/check", data={"csrf_token": token, "reference": f"K7QM-3X{a}{b}"}).status_code
        for a, b in zip("ABCDEFGHJKM", "23456789ABC", strict=True)
    ]
    assert statuses[:10] == [404] * 10
    assert statuses[10] == 429


def test_the_check_is_in_arabic_with_references_left_to_right(app: Flask, flow: Flow) -> None:
    letter = flow.letter()
    visitor = app.test_client()
    token = csrf_of(visitor.get("/check?lang=ar").text)
    page = visitor.post("/check", data={"csrf_token": token, "reference": letter.reference}).text
    assert '<html lang="ar" dir="rtl">' in page
    assert f'<strong dir="ltr">{letter.reference}</strong>' in page


# --- htmx: partial pages -------------------------------------------------------------------------

HTMX_NAVIGATION = {"HX-Request": "true", "HX-Boosted": "true", "HX-Target": "main"}


def test_an_htmx_navigation_gets_only_title_and_main(flow: Flow, client: FlaskClient) -> None:
    letter = flow.letter()
    full = client.get(letter.path)
    partial = client.get(letter.path, headers=HTMX_NAVIGATION)
    assert partial.status_code == 200
    assert "HX-Request" in partial.headers["Vary"]
    assert "<html" not in partial.text
    assert "<head" not in partial.text
    assert "<footer" not in partial.text
    assert partial.text.lstrip().startswith("<title>")
    assert partial.text.count('<main id="main">') == 1
    main = re.search(r'<main id="main">.*</main>', full.text, re.S)
    assert main
    assert _without_csrf(main.group(0)) == _without_csrf(re.search(r"<main.*</main>", partial.text, re.S).group(0))  # type: ignore[union-attr]
    assert len(partial.data) < len(full.data)


def test_history_restore_and_other_htmx_targets_get_the_whole_page(flow: Flow, client: FlaskClient) -> None:
    letter = flow.letter()
    restore = client.get(letter.path, headers={**HTMX_NAVIGATION, "HX-History-Restore-Request": "true"})
    assert "<html" in restore.text
    other = client.get(letter.path, headers={"HX-Request": "true", "HX-Target": "something-else"})
    assert "<html" in other.text


def test_an_htmx_form_error_is_a_partial_page_too(flow: Flow, client: FlaskClient) -> None:
    letter = flow.letter()
    code = flow.new_code(client, letter)
    token = csrf_of(client.get(f"{letter.path}/code").text)
    response = client.post(
        f"{letter.path}/code/check",
        data={"csrf_token": token, "code": wrong_code(code)},
        headers=HTMX_NAVIGATION,
    )
    assert response.status_code == 422  # htmx is configured to swap 4xx answers too
    assert "<html" not in response.text
    assert 'role="alert"' in response.text


def test_htmx_is_configured_to_show_error_pages_and_language_links_reload(flow: Flow, client: FlaskClient) -> None:
    page = client.get(flow.letter().path).text
    assert '"responseHandling":[{"code":"204","swap":false},{"code":"...","swap":true}]' in page
    assert re.search(r'<nav class="langs"[^>]*hx-boost="false"', page)


# --- language -------------------------------------------------------------------------------------


def test_a_browser_naming_none_of_our_languages_gets_the_letters_language(app: Flask, flow: Flow) -> None:
    letter = flow.letter(language="ar")
    visitor = app.test_client()
    page = visitor.get(letter.path, headers={"Accept-Language": "de-DE,es;q=0.8"})
    assert '<html lang="ar" dir="rtl">' in page.text
    page = visitor.get(letter.path, headers={"Accept-Language": "fr-MA,fr;q=0.9"})
    assert '<html lang="fr" dir="ltr">' in page.text  # the phone's own language wins
    assert '<html lang="fr" dir="ltr">' in visitor.get("/check", headers={"Accept-Language": "de"}).text


# --- clarity of the landing page and the problem pages -----------------------------------------


def test_landing_explains_the_choice_the_deadline_and_who_we_are(flow: Flow, client: FlaskClient) -> None:
    page = client.get(flow.letter().path).text
    for text in (
        "You have until",
        "If you accept:",
        "If you refuse:",
        "Your refusal is recorded too, and the sender receives a proof of refusal.",
        "If you do nothing:",
        "Who are we?",
        'href="/check',
    ):
        assert text in page
    assert SENDER not in page  # the sender is named only after acceptance


def test_landing_names_the_sender_when_the_sms_already_did(app: Flask, flow: Flow, client: FlaskClient) -> None:
    app.extensions["wassit"].settings = app.extensions["wassit"].settings.replace(show_sender_in_sms=True)
    letter = flow.letter()
    page = client.get(letter.path).text
    assert "Sender: " in page
    assert "you see who sent it" not in page


def test_a_locked_letter_answers_403_at_every_step_and_says_whom_to_write_to(
    app: Flask, flow: Flow, client: FlaskClient, clock: FrozenClock
) -> None:
    """Wrong codes never lock a letter (issue 16); a lock set by issue 19's identity mismatches (or by the
    old code rule) still stands, and its page gives the support links."""
    letter = flow.letter()
    with app.app_context():
        row = db.session.get_one(Letter, letter.id)
        row.locked_at = clock.now()
        db.session.commit()
    for path in (letter.path, f"{letter.path}/code"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "Access locked for your safety" in response.text
        assert "What you can do" in response.text
        assert 'href="mailto:support@wassit.ma' in response.text
    token = csrf_of(client.get("/check").text)  # the locked pages offer no form
    assert type_code(client, letter.path, "123456", token).status_code == 403


def test_the_unknown_link_page_gives_the_support_contact_as_links(app: Flask, client: FlaskClient) -> None:
    response = client.get("/l/AAAAAAAAAAAAAAAAAAAAAA")
    assert response.status_code == 404
    assert 'href="mailto:support@wassit.ma"' in response.text
    assert "write to  " not in response.text
    assert "tel:" not in response.text  # none configured
    assert "wa.me" not in response.text
    app.extensions["wassit"].settings = app.extensions["wassit"].settings.replace(
        support_phone="+212 5 22 00 00 00", support_whatsapp="+212 6 61 00 00 00"
    )
    for path in ("/l/AAAAAAAAAAAAAAAAAAAAAA", "/nowhere", "/offline"):
        page = client.get(path).text
        assert 'href="mailto:support@wassit.ma"' in page, path
        assert 'href="tel:+212522000000"' in page, path
        assert 'href="https://wa.me/212661000000"' in page, path


def test_the_support_email_link_names_the_letters_reference(flow: Flow, client: FlaskClient) -> None:
    letter = flow.letter()
    page = client.get(letter.path).text
    assert f'href="mailto:support@wassit.ma?subject=Letter%20{letter.reference}"' in page


def test_an_expired_csrf_token_gets_a_page_that_says_what_to_do(flow: Flow, client: FlaskClient) -> None:
    letter = flow.letter()
    response = client.post(f"{letter.path}/code/check", data={"csrf_token": "stale", "code": "123456"})
    assert response.status_code == 400
    assert "This page has expired" in response.text
    assert "open the link in the SMS again" in response.text
    assert f'href="{letter.path}">Back to your letter</a>' in response.text


def test_an_unknown_page_has_a_way_out(client: FlaskClient) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert "Page not found" in response.text
    assert 'href="/check"' in response.text


def _without_csrf(html: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]+"', "", html)


# --- the stylesheet rides in recipient pages ----------------------------------------------------


def test_recipient_pages_carry_their_stylesheet_allowed_by_its_hash(flow: Flow, client: FlaskClient) -> None:
    import base64
    import hashlib

    response = client.get(flow.letter().path)
    page = response.text
    assert 'rel="stylesheet"' not in page  # no second round trip before the first paint
    match = re.search(r"<style>(.*?)</style>", page, re.S)
    assert match
    css = (Path(__file__).parent.parent / "static" / "css" / "app.css").read_text(encoding="utf-8")
    assert match.group(1) == css
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    assert f"style-src 'self' 'sha256-{digest}';" in response.headers["Content-Security-Policy"]


def test_other_pages_link_the_cached_stylesheet_under_the_strict_policy(client: FlaskClient) -> None:
    response = client.get("/login")
    assert 'rel="stylesheet"' in response.text
    assert "<style>" not in response.text
    assert "style-src 'self';" in response.headers["Content-Security-Policy"]


# --- htmx steps skip the redirect's round trip ------------------------------------------------


def test_an_htmx_step_answers_with_the_next_page_and_pushes_its_address(flow: Flow, client: FlaskClient) -> None:
    letter = flow.letter()
    token = csrf_of(client.get(f"{letter.path}/code").text)
    before = len(flow.outbox())
    asked = client.post(f"{letter.path}/code", data={"csrf_token": token}, headers=HTMX_NAVIGATION)
    assert asked.status_code == 200
    assert asked.headers["HX-Push-Url"] == f"{letter.path}/code?sent=1"
    assert 'role="status"' in asked.text  # "we sent a code to …"
    assert "<html" not in asked.text
    flow.run_jobs()
    code = re.search(r"\b(\d{6})\b", flow.outbox()[before]["text"])
    assert code
    typed = client.post(
        f"{letter.path}/code/check", data={"csrf_token": token, "code": code.group(1)}, headers=HTMX_NAVIGATION
    )
    assert typed.headers["HX-Push-Url"] == f"{letter.path}/decision"
    assert 'value="accept"' in typed.text
    token = csrf_of(typed.text)  # identification starts a fresh session
    accepted = client.post(
        f"{letter.path}/decision", data={"csrf_token": token, "decision": "accept"}, headers=HTMX_NAVIGATION
    )
    assert accepted.headers["HX-Push-Url"] == f"{letter.path}/letter"
    assert f"{letter.path}/document" in accepted.text


def test_without_htmx_each_step_still_redirects(flow: Flow, client: FlaskClient) -> None:
    letter = flow.letter()
    token = csrf_of(client.get(f"{letter.path}/code").text)
    asked = client.post(f"{letter.path}/code", data={"csrf_token": token})
    assert asked.status_code == 303
    assert asked.headers["Location"].endswith(f"{letter.path}/code?sent=1")
    assert "HX-Push-Url" not in asked.headers
