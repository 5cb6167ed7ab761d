"""Logging a sender into the portal, as a browser would."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from tests.conftest import Sender

PASSWORD = "correct horse battery"  # what the `make_sender` fixture sets
PORTAL_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
ENGLISH = {"Accept-Language": "en"}


def csrf_token(html: str) -> str:
    match = PORTAL_CSRF.search(html)
    assert match, html[:2000]
    return match.group(1)


def log_in(client: FlaskClient, sender: Sender) -> None:
    login = client.get("/login", headers=ENGLISH)
    data = {"csrf_token": csrf_token(login.text), "email": sender.email, "password": PASSWORD}
    response = client.post("/login", data=data, headers=ENGLISH)
    assert response.status_code == 303, response.text[:2000]


def portal_page(client: FlaskClient, sender: Sender, path: str) -> Any:
    """Logs the sender into the portal (in English) and GETs `path`."""
    log_in(client, sender)
    return client.get(path, headers=ENGLISH)
