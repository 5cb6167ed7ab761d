"""Every route of the URL map, sent every kind of hostile body: never a 5xx, always our headers.

Oversize bodies, form fields over the in-memory limit, too many parts, malformed or
boundary-less multipart, JSON nested 100,000 deep, numbers past Python's digit limit,
bytes that are not UTF-8, a charset we do not read: each must get a 4xx page (HTML) or
a JSON error (under /api/), with the security headers every answer carries.  Routes are
tried by an anonymous visitor (CSRF on: the check itself reads the form), and by a
logged-in sender and a logged-in agent with the CSRF check off, so that the body reaches
the views and their parsers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import Sender
from tests.portal_helpers import ENGLISH, log_in
from tests.support_helpers import log_in_agent, make_agent


@dataclass(frozen=True)
class Body:
    name: str
    content_type: str
    data: bytes
    content_length: int | None = None  # claimed length when different from the data's (oversize)


def hostile_bodies(max_content_length: int) -> list[Body]:
    deep = 100_000
    boundary = "----wassit"
    over = max_content_length + 1
    return [
        Body("oversize form", "application/x-www-form-urlencoded", b"lang=fr&a=" + b"x" * (over - 10)),
        Body("oversize, length claimed only", "application/x-www-form-urlencoded", b"a=b", content_length=over),
        Body("form field over the memory limit", "application/x-www-form-urlencoded", b"a=" + b"x" * 1_100_000),
        Body("too many form fields", "application/x-www-form-urlencoded", b"&".join([b"a=1"] * 5000)),
        Body("form not UTF-8", "application/x-www-form-urlencoded", b"lang=%ff%fe&name=\xff\xfe\x00&email=%c3%28"),
        Body("form with NUL and controls", "application/x-www-form-urlencoded", b"name=a%00b%0d%0aBcc:x&code=%00"),
        Body(
            "oversize multipart",
            f"multipart/form-data; boundary={boundary}",
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="document"; filename="a.pdf"\r\n'
                f"Content-Type: application/pdf\r\n\r\n"
            ).encode()
            + b"%PDF-1.7\n"
            + b"x" * over
            + f"\r\n--{boundary}--\r\n".encode(),
        ),
        Body("malformed multipart", f"multipart/form-data; boundary={boundary}", b"--nope\r\n\r\ngarbage\xff"),
        Body(
            "unterminated multipart",
            f"multipart/form-data; boundary={boundary}",
            f'--{boundary}\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue'.encode(),
        ),
        Body("multipart without boundary", "multipart/form-data", b"--x\r\n\r\n"),
        Body(
            "multipart, too many parts",
            f"multipart/form-data; boundary={boundary}",
            b"".join(
                f'--{boundary}\r\nContent-Disposition: form-data; name="a{i}"\r\n\r\n1\r\n'.encode()
                for i in range(1500)
            )
            + f"--{boundary}--\r\n".encode(),
        ),
        Body("JSON nested 100,000 deep (arrays)", "application/json", b"[" * deep + b"]" * deep),
        Body("JSON nested 100,000 deep (objects)", "application/json", b'{"a":' * deep + b"1" + b"}" * deep),
        Body("JSON number past the digit limit", "application/json", b'{"url": ' + b"9" * 5000 + b"}"),
        Body("JSON not UTF-8", "application/json", b'{"url": "\xff\xfe", "description": "\xc3\x28"}'),
        Body("JSON truncated", "application/json", b'{"url": "https://'),
        Body("JSON not an object", "application/json", b"[1, 2, 3]"),
        Body("JSON in UTF-16", "application/json; charset=utf-16", '{"url": "https://a.ma/"}'.encode("utf-16")),
        Body("JSON with lone surrogates", "application/json", b'{"url": "\\ud800", "description": "\\udfff"}'),
        Body("oversize JSON", "application/json", b'{"a": "' + b"x" * over + b'"}'),
        Body("unknown charset", "application/x-www-form-urlencoded; charset=klingon", b"a=b"),
        Body("binary, no type", "application/octet-stream", bytes(range(256)) * 64),
    ]


def fill(rule: str, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        converter, name = match.group(1), match.group(2)
        if converter and converter.startswith("int"):
            return "1"
        if converter and converter.startswith("any("):
            return converter[4:].split(",")[0].strip()
        return values.get(name, "0" * 12)

    return re.sub(r"<(?:([^:<>]+):)?([a-z_]+)>", value, rule)


def routes(app: Flask, prefix_filter: Callable[[str], bool]) -> Iterator[tuple[str, str]]:
    # Logging out last, so that the logged-in passes stay logged in.
    rules = sorted(app.url_map.iter_rules(), key=lambda r: ("logout" in r.rule, r.rule))
    for rule in rules:
        if not prefix_filter(rule.rule):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield method, rule.rule


def check(client: FlaskClient, method: str, path: str, body: Body, headers: dict[str, str]) -> str | None:
    environ = {"CONTENT_LENGTH": str(body.content_length)} if body.content_length else None
    try:
        response = client.open(
            path,
            method=method,
            data=body.data,
            content_type=body.content_type,
            headers=headers,
            environ_overrides=environ,
        )
    except Exception as exc:  # escaped every handler: the WSGI server would answer a bare 500
        return f"{method} {path} with {body.name}: crashed with {type(exc).__name__}"
    problems = []
    if response.status_code >= 500:
        problems.append(f"answered {response.status_code}")
    for header in ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options"):
        if header not in response.headers:
            problems.append(f"no {header}")
    if path.startswith("/api/") and response.status_code >= 400:
        if not response.is_json:
            problems.append("an API error that is not JSON")
        elif "error" not in (response.get_json(silent=True) or {}):
            problems.append("an API error without the error shape")
    response.close()
    return f"{method} {path} with {body.name}: {', '.join(problems)}" if problems else None


@pytest.fixture
def letter_values(app: Flask, deposit: Callable[..., object], sender: Sender) -> dict[str, str]:
    response = deposit()
    letter_id = response.get_json()["id"]  # type: ignore[attr-defined]
    return {"letter_id": letter_id, "kind": "deposit", "user_id": sender.user_id}


def run_all(
    client: FlaskClient, app: Flask, paths: list[tuple[str, str]], headers: dict[str, str], values: dict[str, str]
) -> list[str]:
    # As in production: an exception no handler answers is a 500, not an exception in the test.
    app.config["PROPAGATE_EXCEPTIONS"] = False
    failures = []
    for body in hostile_bodies(app.config["MAX_CONTENT_LENGTH"]):
        for method, rule in paths:
            failure = check(client, method, fill(rule, values), body, headers)
            if failure:
                failures.append(failure)
    return failures


def test_anonymous_visitors_hostile_bodies_never_get_a_server_error(app: Flask, client: FlaskClient) -> None:
    paths = list(routes(app, lambda rule: True))
    assert len(paths) > 100
    failures = run_all(client, app, paths, {}, {})
    assert not failures, "\n".join(failures[:60]) + f"\n({len(failures)} in all)"


def test_a_senders_hostile_bodies_reach_the_views_and_never_get_a_server_error(
    app: Flask, client: FlaskClient, sender: Sender, letter_values: dict[str, str]
) -> None:
    log_in(client, sender)
    app.config["WTF_CSRF_ENABLED"] = False
    paths = list(routes(app, lambda rule: not rule.startswith("/support")))
    failures = run_all(client, app, paths, sender.auth, letter_values)
    assert not failures, "\n".join(failures[:60]) + f"\n({len(failures)} in all)"


def test_an_agents_hostile_bodies_reach_the_console_and_never_get_a_server_error(
    app: Flask, client: FlaskClient, letter_values: dict[str, str]
) -> None:
    agent_id, secret = make_agent(app, operator_admin=True)
    log_in_agent(client, app, agent_id, secret)
    app.config["WTF_CSRF_ENABLED"] = False
    paths = list(routes(app, lambda rule: rule.startswith("/support")))
    failures = run_all(client, app, paths, {}, {**letter_values, "agent_id": agent_id})
    assert not failures, "\n".join(failures[:60]) + f"\n({len(failures)} in all)"


@pytest.mark.parametrize("path", ["/check", "/letters/new", "/support/login"])
def test_a_12_mb_form_gets_the_file_too_large_page_with_our_headers(app: Flask, client: FlaskClient, path: str) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.post(
        path, data=b"a=" + b"x" * 12_000_000, content_type="application/x-www-form-urlencoded", headers=ENGLISH
    )
    assert response.status_code == 413
    assert "File too large" in response.text
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert response.headers["X-Frame-Options"] == "DENY"


def test_json_nested_100000_deep_is_a_json_400(app: Flask, client: FlaskClient, sender: Sender) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.post(
        "/api/v1/webhooks", data=b"[" * 100_000 + b"]" * 100_000, content_type="application/json", headers=sender.auth
    )
    assert 400 <= response.status_code < 500
    assert response.get_json()["error"]["code"] in {"bad_request", "invalid_json"}
    assert "Content-Security-Policy" in response.headers
