"""Identification by national digital identity in Chromium, in French and Arabic (issue 19).

The recipient opens the SMS link, is told why the letter asks for their national identity, presses
one button, signs in at the identity provider (a real OpenID provider on a loopback port, which logs
the test user in at once) and comes back to the letter to accept it.  The app's PUBLIC_URL is the
address the browser reaches it at, so that the provider's redirect comes back to it.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, expect
from werkzeug.serving import make_server

from tests.oidc_provider import LocalIdentityProvider, provider_settings
from webapp.config import Settings, parse_identity_providers
from webapp.oidc import CACHE

from .support import (
    ACCEPT_LANGUAGE,
    BROWSER_LOCALE,
    PHONE,
    Mailroom,
    axe_violations,
    describe_violations,
    small_touch_targets,
)
from .test_recipient_flow import watch_for_errors

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def port() -> int:
    return _free_port()


@pytest.fixture
def op(tmp_path: Path, port: int) -> Iterator[LocalIdentityProvider]:
    provider = LocalIdentityProvider([f"http://127.0.0.1:{port}/eid/callback"], tmp_path)
    yield provider
    provider.close()


@pytest.fixture
def settings(settings: Settings, op: LocalIdentityProvider, port: int) -> Settings:
    CACHE.clear()
    return settings.replace(
        public_url=f"http://127.0.0.1:{port}",
        identity_providers=parse_identity_providers(json.dumps([provider_settings(op)])),
        eid_ca_file=op.ca_file,
    )


@pytest.fixture
def base_url(app: Flask, port: int) -> Iterator[str]:
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def mailroom(
    app: Flask,
    deposit: Callable[..., Any],
    run_jobs: Callable[[], None],
    outbox: Callable[[], list[dict[str, Any]]],
    pdf: Callable[..., bytes],
) -> Mailroom:
    return Mailroom(app, deposit, run_jobs, outbox, pdf)


TEXTS = {
    "fr": {
        "landing": "Cette lettre demande votre identité numérique nationale",
        "continue": "Continuer avec mon identité numérique nationale",
        "why": "Pourquoi",
        "provider": "Continuer avec Identité numérique DGSN",
        "accept": "Accepter et lire la lettre",
        "mismatch": "Cette identité ne correspond pas",
    },
    "ar": {
        "landing": "هذه الرسالة تتطلب هويتكم الرقمية الوطنية",
        "continue": "المتابعة بهويتي الرقمية الوطنية",
        "why": "لماذا؟",
        "provider": "المتابعة عبر Identité numérique DGSN",
        "accept": None,  # read from the page's own button
        "mismatch": "هذه الهوية غير مطابقة",
    },
}


@pytest.mark.parametrize("language", ["fr", "ar"])
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_the_recipient_identifies_at_the_provider_and_comes_back_to_the_letter(
    chromium: Browser,
    base_url: str,
    mailroom: Mailroom,
    deposit: Callable[..., Any],
    op: LocalIdentityProvider,
    language: str,
    javascript: bool,
) -> None:
    created = deposit(language=language, identification="eid", expected_cin="AB123456", expected_name="سلمى بناني")
    assert created.status_code == 201, created.json
    mailroom.run_jobs()
    [sms] = [m for m in mailroom.outbox() if created.json["reference"] in m["text"]]
    link = sms["text"].split(base_url, 1)[1].split()[0]  # /l/<token>/<language>: the SMS names the language
    path = "/".join(link.split("/")[:3])  # /l/<token>: the letter's pages
    context = chromium.new_context(
        **PHONE,
        locale=BROWSER_LOCALE[language],
        extra_http_headers={"Accept-Language": ACCEPT_LANGUAGE[language]},
        java_script_enabled=javascript,
        base_url=base_url,
        ignore_https_errors=True,  # the local provider's self-signed certificate
    )
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        errors = watch_for_errors(page)
        texts = TEXTS[language]
        page.goto(link)
        assert page.locator("html").get_attribute("dir") == ("rtl" if language == "ar" else "ltr")
        main = page.locator("main")
        expect(main).to_contain_text(texts["landing"])
        assert page.locator(f'form[action$="{path}/code"]').count() == 0  # no code for this letter
        page.get_by_role("link", name=texts["continue"]).click()
        page.wait_for_url(f"**{path}/eid")
        expect(main).to_contain_text(texts["why"])
        page.get_by_role("button", name=texts["provider"]).click()
        # To the provider and back, by redirects only: the decision page of the letter.
        page.wait_for_url(f"**{path}/decision")
        accept = page.locator('button[name="decision"][value="accept"]')
        accept.click()
        page.wait_for_url(f"**{path}/letter")
        assert mailroom.status(mailroom_letter(created.json)) == "accepted"
        assert errors == []  # no CSP violation, no script error, no server error on the way
    finally:
        context.close()


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_a_different_identity_is_refused_politely(
    chromium: Browser,
    base_url: str,
    mailroom: Mailroom,
    deposit: Callable[..., Any],
    op: LocalIdentityProvider,
    language: str,
) -> None:
    created = deposit(language=language, identification="eid", expected_cin="AB123456")
    mailroom.run_jobs()
    [sms] = [m for m in mailroom.outbox() if created.json["reference"] in m["text"]]
    link = sms["text"].split(base_url, 1)[1].split()[0]  # /l/<token>/<language>: the SMS names the language
    path = "/".join(link.split("/")[:3])  # /l/<token>: the letter's pages
    op.user["cin"] = "CD654321"
    context = chromium.new_context(
        **PHONE,
        locale=BROWSER_LOCALE[language],
        extra_http_headers={"Accept-Language": ACCEPT_LANGUAGE[language]},
        base_url=base_url,
        ignore_https_errors=True,
    )
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.goto(f"{path}/eid")
        page.get_by_role("button", name=TEXTS[language]["provider"]).click()
        expect(page.locator("main")).to_contain_text(TEXTS[language]["mismatch"])
        assert "CD654321" not in page.content()
        assert mailroom.status(mailroom_letter(created.json)) == "notified"
    finally:
        context.close()


def mailroom_letter(body: dict[str, Any]) -> Any:
    """What `Mailroom.status` needs of a letter: its id."""

    class _Letter:
        id = body["id"]

    return _Letter()


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_the_e_id_pages_pass_axe_and_have_large_touch_targets(
    chromium: Browser,
    base_url: str,
    mailroom: Mailroom,
    deposit: Callable[..., Any],
    op: LocalIdentityProvider,
    language: str,
    axe: None,
) -> None:
    created = deposit(language=language, identification="eid", expected_cin="AB123456")
    mailroom.run_jobs()
    [sms] = [m for m in mailroom.outbox() if created.json["reference"] in m["text"]]
    link = sms["text"].split(base_url, 1)[1].split()[0]  # /l/<token>/<language>: the SMS names the language
    path = "/".join(link.split("/")[:3])  # /l/<token>: the letter's pages
    op.user["cin"] = "CD654321"  # to reach the refusal page too
    context = chromium.new_context(
        **PHONE,
        locale=BROWSER_LOCALE[language],
        extra_http_headers={"Accept-Language": ACCEPT_LANGUAGE[language]},
        base_url=base_url,
        ignore_https_errors=True,
        bypass_csp=True,  # to inject axe-core
    )
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        for step in ("landing", "start", "refused"):
            if step == "landing":
                page.goto(path)
            elif step == "start":
                page.goto(f"{path}/eid")
            else:
                page.get_by_role("button", name=TEXTS[language]["provider"]).click()
                expect(page.locator("main")).to_contain_text(TEXTS[language]["mismatch"])
            violations = axe_violations(page)
            assert violations == [], f"{step}:\n{describe_violations(violations)}"
            assert small_touch_targets(page) == [], step
    finally:
        context.close()
