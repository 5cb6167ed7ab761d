"""The landing page's fast path (`webapp.web.recipient.landing_cache`): the same bytes Flask would
send, replayed only while they are still the answer Flask would give."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.test_recipient import Delivered, Flow, ask_code, browser, choose
from webapp.clock import FrozenClock
from webapp.web.recipient.landing_cache import LandingFastPath


@pytest.fixture
def flow(app: Flask, deposit: Any, run_jobs: Callable[[], None], outbox: Any) -> Flow:
    return Flow(app, deposit, run_jobs, outbox)


@pytest.fixture
def letter(flow: Flow) -> Delivered:
    return flow.letter()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return browser(app)


@pytest.fixture
def fast_path(app: Flask) -> LandingFastPath:
    middleware = app.wsgi_app
    assert isinstance(middleware, LandingFastPath)
    return middleware


def page(client: FlaskClient, path: str, **headers: str) -> Any:
    return client.get(path, headers=headers)


def test_a_second_visit_is_replayed_byte_for_byte(
    flow: Flow, letter: Delivered, app: Flask, fast_path: LandingFastPath
) -> None:
    first = page(app.test_client(), letter.path, **{"Accept-Language": "fr"})
    hits = fast_path.hits
    second = page(app.test_client(), letter.path, **{"Accept-Language": "fr"})
    assert fast_path.hits == hits + 1
    assert first.status_code == second.status_code == 200
    assert first.data == second.data
    assert list(first.headers) == list(second.headers)
    for header in ("Content-Security-Policy", "Cache-Control", "X-Frame-Options", "Referrer-Policy"):
        assert second.headers[header] == first.headers[header]
    assert second.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in second.headers


def test_each_language_and_encoding_has_its_own_answer(
    flow: Flow, letter: Delivered, app: Flask, fast_path: LandingFastPath
) -> None:
    visitor = app.test_client()
    french = page(visitor, letter.path, **{"Accept-Language": "fr"})
    arabic = page(visitor, letter.path, **{"Accept-Language": "ar"})
    again = page(visitor, letter.path, **{"Accept-Language": "ar"})
    assert 'lang="fr"' in french.text
    assert 'lang="ar"' in arabic.text
    assert again.data == arabic.data
    brotli = page(visitor, letter.path, **{"Accept-Language": "ar", "Accept-Encoding": "br"})
    assert brotli.headers["Content-Encoding"] == "br"
    plain = page(visitor, letter.path, **{"Accept-Language": "ar"})
    assert "Content-Encoding" not in plain.headers
    assert plain.data == arabic.data
    # The language chosen in the address sets a cookie: that answer is never replayed.
    chosen = page(visitor, f"{letter.path}?lang=en")
    assert 'lang="en"' in chosen.text
    assert "Set-Cookie" in chosen.headers
    hits = fast_path.hits
    page(app.test_client(), f"{letter.path}?lang=en")
    assert fast_path.hits == hits


def test_a_change_to_the_letter_is_seen_at_once(flow: Flow, letter: Delivered, app: Flask, client: FlaskClient) -> None:
    before = page(app.test_client(), letter.path)
    assert page(app.test_client(), letter.path).data == before.data
    flow.identify(client, letter)
    assert choose(client, letter.path, "accept").status_code == 303
    after = page(app.test_client(), letter.path)
    assert after.data != before.data
    assert flow.status(letter) == "accepted"


def test_the_deadline_passing_is_seen_without_any_change_to_the_row(
    flow: Flow, letter: Delivered, app: Flask, clock: FrozenClock
) -> None:
    open_page = page(app.test_client(), letter.path)
    assert open_page.status_code == 200
    row = flow.letter_row(letter)
    assert row.deadline_at is not None
    clock.current = row.deadline_at
    expired = page(app.test_client(), letter.path)
    assert expired.status_code == 410


def test_an_identified_recipient_is_never_served_from_the_cache(
    flow: Flow, letter: Delivered, app: Flask, client: FlaskClient, fast_path: LandingFastPath
) -> None:
    flow.identify(client, letter)
    assert choose(client, letter.path, "accept").status_code == 303
    page(app.test_client(), letter.path)  # a stranger's visit, cached
    hits = fast_path.hits
    response = page(client, letter.path)  # the recipient, whose session goes to the letter
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"{letter.path}/letter")
    assert fast_path.hits == hits


def test_asking_for_a_code_needs_no_session_and_no_csrf_token(flow: Flow, letter: Delivered, app: Flask) -> None:
    stranger = app.test_client()
    landing = page(stranger, letter.path)
    assert "Set-Cookie" not in landing.headers
    assert 'name="csrf_token"' not in landing.text
    before = len(flow.outbox())
    response = stranger.post(f"{letter.path}/code")
    assert response.status_code == 303
    flow.run_jobs()
    [sms] = flow.outbox()[before:]
    assert sms["to"] == letter.phone


def test_unknown_links_and_htmx_go_to_flask(
    flow: Flow, letter: Delivered, app: Flask, fast_path: LandingFastPath
) -> None:
    visitor = app.test_client()
    misses = fast_path.misses
    assert visitor.get("/l/AAAAAAAAAAAAAAAAAAAAAA").status_code == 404
    assert visitor.get("/l/AAAAAAAAAAAAAAAAAAAAAA").status_code == 404
    assert fast_path.misses == misses  # no letter: not even a miss, Flask answers
    page(visitor, letter.path)
    hits = fast_path.hits
    page(visitor, letter.path, **{"HX-Request": "true"})
    assert fast_path.hits == hits
    ask_code(visitor, letter.path)  # sets a session cookie (the code page's CSRF token)
    page(visitor, letter.path)
    assert fast_path.hits == hits
