"""The compose page shows the exact SMS the recipient will get and its cost (issue 5, item 2)."""

from __future__ import annotations

import html

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import Sender
from tests.portal_helpers import ENGLISH, log_in
from webapp.notify.texts import sms_length


def test_compose_shows_the_french_sms_and_its_single_part(client: FlaskClient, sender: Sender) -> None:
    log_in(client, sender)
    page = client.get("/letters/new", headers=ENGLISH).text
    assert 'id="sms-preview"' in page
    assert "Wassit: une lettre recommandée électronique vous attend (réf. ABCD-EFGH)" in html.unescape(page)
    assert "https://wassit.ma/l/" + "x" * 22 in page
    assert "1 part · GSM-7" in page
    assert 'hx-get="/letters/new/sms-preview"' in page


def test_choosing_arabic_previews_the_arabic_sms_in_two_parts(app: Flask, client: FlaskClient, sender: Sender) -> None:
    log_in(client, sender)
    response = client.get(
        "/letters/new/sms-preview?language=ar", headers={**ENGLISH, "HX-Request": "true", "HX-Target": "sms-preview"}
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    fragment = html.unescape(response.text)
    assert fragment.lstrip().startswith('<div id="sms-preview"')
    assert '<blockquote lang="ar" dir="rtl">' in fragment
    text = fragment.split('dir="rtl">', 1)[1].split("</blockquote>", 1)[0]
    length = sms_length(text)
    assert (length.encoding, length.segments) == ("UCS-2", 2)
    assert f"{length.units} characters" in fragment
    assert "2 parts · UCS-2" in fragment


def test_an_unknown_language_falls_back_to_the_default(client: FlaskClient, sender: Sender) -> None:
    log_in(client, sender)
    fragment = client.get("/letters/new/sms-preview?language=xx", headers=ENGLISH).text
    assert '<blockquote lang="fr" dir="ltr">' in fragment


def test_the_preview_needs_a_logged_in_sender(client: FlaskClient) -> None:
    response = client.get("/letters/new/sms-preview?language=fr")
    assert response.status_code in (302, 401)
    assert "<blockquote" not in response.text
