"""The API's limits are per token and per organisation, never per address (an integrator's servers share
one address; so do strangers behind a carrier's NAT)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import Sender
from webapp.services import Services


def _limits(app: Flask, token: str, organisation: str) -> None:
    services: Services = app.extensions["wassit"]
    services.settings = services.settings.replace(api_token_rate_limit=token, api_organisation_rate_limit=organisation)


def _list(client: FlaskClient, sender: Sender, address: str = "203.0.113.7") -> Any:
    return client.get("/api/v1/letters", headers=sender.auth, environ_base={"REMOTE_ADDR": address})


def test_a_token_over_its_limit_gets_429_with_retry_after(app: Flask, client: FlaskClient, sender: Sender) -> None:
    _limits(app, "3/minute", "100/minute")
    assert [_list(client, sender).status_code for _ in range(3)] == [200, 200, 200]
    refused = _list(client, sender)
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "token" in refused.json["error"]["message"]


def test_the_organisation_limit_spans_its_tokens(app: Flask, client: FlaskClient, make_sender: Any) -> None:
    _limits(app, "100/minute", "4/minute")
    first = make_sender(org="Banque Atlas SA")
    second = make_sender(org="Banque Atlas SA")
    other = make_sender(org="Cabinet Bennani")
    assert [_list(client, first).status_code for _ in range(2)] == [200, 200]
    assert [_list(client, second).status_code for _ in range(2)] == [200, 200]
    refused = _list(client, second)
    assert refused.status_code == 429
    assert "organisation" in refused.json["error"]["message"]
    assert _list(client, other).status_code == 200  # another organisation is not held back


def test_many_requests_from_one_address_are_not_limited_by_it(
    app: Flask, client: FlaskClient, sender: Sender, deposit: Any
) -> None:
    """Earlier, 120 deposits a minute per address capped an integrator at 2 letters/s."""
    statuses = [deposit().status_code for _ in range(130)]
    assert statuses == [201] * 130
