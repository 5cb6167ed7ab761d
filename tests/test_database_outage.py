"""A database outage answers 503 with Retry-After on every route, one log line each, never a 500
(issue 17, finding 9).

The app is pointed at a PostgreSQL address where nothing listens (a loopback port
just released): the real driver fails to connect, as it does while a server is
down or restarting.  Every route of the URL map is asked, with each of its methods.
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask_login.utils import _create_identifier
from werkzeug.routing import AnyConverter, IntegerConverter, UUIDConverter

from tests.conftest import make_pdf_bytes
from webapp import create_app
from webapp.clock import FrozenClock
from webapp.config import Settings


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def down_app(settings: Settings, clock: FrozenClock) -> Iterator[Flask]:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/wassit"
    app = create_app(settings.replace(database_url=url), clock=clock)
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)  # so that every POST reaches the database
    yield app
    app.extensions["wassit.redis"].close()


def _value(converter: Any, name: str) -> Any:
    if isinstance(converter, IntegerConverter):
        return 1
    if isinstance(converter, AnyConverter):
        return sorted(converter.items)[0]
    if isinstance(converter, UUIDConverter):
        return uuid.UUID(int=1)
    if name == "filename":
        return "css/app.css"
    return "AbCdEfGhIjKlMnOpQrStUvWxYz012345"


def _requests(app: Flask) -> list[tuple[str, str]]:
    adapter = app.url_map.bind("localhost")
    found = []
    for rule in app.url_map.iter_rules():
        values = {name: _value(rule._converters[name], name) for name in rule.arguments}
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((method, adapter.build(rule.endpoint, values, method=method)))
    return found


def test_every_route_answers_503_with_retry_after_and_one_log_line(
    down_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    client = down_app.test_client()
    auth = {"Authorization": "Bearer lre_" + "a" * 40}
    answered: dict[str, int] = {}
    caplog.set_level(logging.INFO)
    # A signed-in session: the portal's and the console's pages load its account from the database.
    with down_app.test_request_context(environ_base=client.environ_base):
        identifier = _create_identifier()  # Flask-Login's "strong" protection: this client's own
    with client.session_transaction() as session:
        session["_user_id"] = "AbCdEfGhIjKlMnOpQrStUvWxYz012345"
        session["_fresh"] = True
        session["_id"] = identifier
    for method, path in _requests(down_app):
        caplog.clear()
        response = client.open(path, method=method, headers=auth, data={})
        response.close()
        answered[f"{method} {path}"] = response.status_code
        assert response.status_code < 500 or response.status_code == 503, (method, path, response.status_code)
        outage_lines = [r for r in caplog.records if r.name == "webapp.outage"]
        assert not [r for r in caplog.records if r.exc_info], (method, path, caplog.text)
        if response.status_code == 503 and path != "/healthz":
            assert response.headers["Retry-After"].isdigit(), (method, path)
            assert len(outage_lines) == 1, (method, path, caplog.text)
            assert "AbCdEfGhIjKlMnOpQrStUvWxYz012345" not in caplog.text  # a path's token is never logged
            if path.startswith("/api/"):
                assert response.get_json()["error"]["code"] == "unavailable"
            else:
                assert response.mimetype == "text/html"
    # What reads the database says so (not only the routes that never touch it).
    for key in (
        "GET /api/v1/letters",
        "POST /api/v1/letters",
        "GET /l/AbCdEfGhIjKlMnOpQrStUvWxYz012345",
        "GET /healthz",
    ):
        assert answered[key] == 503, (key, answered.get(key))
    assert sum(status == 503 for status in answered.values()) > len(answered) / 2, answered
    login = client.post("/login", data={"email": "avocat@idrissi.ma", "password": "un mot de passe long"})
    assert login.status_code == 503
    assert int(login.headers["Retry-After"]) >= 15


def test_a_deposit_during_an_outage_is_refused_cleanly_in_every_language(down_app: Flask) -> None:
    client = down_app.test_client()
    response = client.post(
        "/api/v1/letters",
        headers={"Authorization": "Bearer lre_" + "a" * 40},
        data={"recipient_phone": "0612345678", "recipient_name": "Salma", "document": (make_pdf(), "a.pdf")},
    )
    assert response.status_code == 503
    # Ours (15 s), or the rate limiter's window when it ends later.
    assert int(response.headers["Retry-After"]) >= 15
    for language, words in (("fr", "Réessayez"), ("ar", "حاول"), ("en", "Try again")):
        page = client.get("/l/AbCdEfGhIjKlMnOpQrStUvWxYz012345", headers={"Accept-Language": language})
        assert page.status_code == 503
        assert words in page.get_data(as_text=True), language


def make_pdf() -> Any:
    import io

    return io.BytesIO(make_pdf_bytes())
