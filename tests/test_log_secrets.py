"""No secret is ever written to a log (issue 17, finding 3): the real stack, every flow, every log grepped.

`make run`'s gunicorn access log wrote full `/l/<token>`, `/invitations/<token>` and
`/confirm-email/<token>` paths.  This test starts the stack as `make run` does
(`python -m worker.run_all`: gunicorn, RQ workers, scheduler) at `LOG_LEVEL=debug`, walks
every flow that handles a secret (a recipient's link and codes, a sign-up's confirmation
link, an invitation, API tokens from the CLI and the portal, a webhook's signing secret,
passwords), sends a few requests crafted to land in gunicorn's error log, then greps
everything the stack wrote (its output, and every log file in its instance folder) for
each secret it used.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import make_pdf_bytes
from webapp.config import Settings
from webapp.logredact import install_log_redaction, redact

ROOT = Path(__file__).resolve().parent.parent
FLASK = str(Path(sys.executable).parent / "flask")
PASSWORD = "un mot de passe long et secret"
INVITED_PASSWORD = "celui de l'invitée, secret aussi"
SIGNUP_PASSWORD = "le mot de passe du gérant 42"
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


@dataclass
class Stack:
    url: str
    env: dict[str, str]
    instance: Path
    output: Path
    process: subprocess.Popen[bytes]
    secrets: dict[str, str] = field(default_factory=dict)

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [FLASK, "--app", "wsgi", *args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def outbox(self, name: str, count: int, timeout: float = 30) -> list[dict[str, Any]]:
        path = self.instance / name
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.exists():
                lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]
                if len(lines) >= count:
                    return lines
            time.sleep(0.2)
        raise AssertionError(f"expected {count} lines in {name} within {timeout}s")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def stack(tmp_path: Path, settings: Settings) -> Iterator[Stack]:
    port = _free_port()
    instance = tmp_path / "instance"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY", "MASTER_KEY"}}
    env.update(
        INSTANCE_PATH=str(instance),
        PORT=str(port),
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        WORKERS="1",
        LOG_LEVEL="debug",
        WEBHOOK_TIMEOUT="2",
    )
    if os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = settings.database_url
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = settings.redis_url
    output = tmp_path / "stack-output.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "worker.run_all"], env=env, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    stack = Stack(url, env, instance, output, process)
    try:
        _wait_healthy(stack)
        yield stack
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_healthy(stack: Stack) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if stack.process.poll() is not None:
            raise AssertionError(stack.output.read_text(errors="replace")[-3000:])
        try:
            if requests.get(f"{stack.url}/healthz", timeout=5).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.3)
    raise AssertionError("the stack did not become healthy within 60 s")


def _form(html: str, action_part: str) -> tuple[str, dict[str, str]]:
    for match in re.finditer(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', html, re.S):
        if action_part in match.group(1):
            return match.group(1), dict(HIDDEN.findall(match.group(2)))
    raise AssertionError(f"no form posting to {action_part!r}")


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, html[:1500]
    return match.group(1)


def _link(text: str, prefix: str) -> str:
    match = re.search(rf"https?://[^\s\"<>]+({re.escape(prefix)}[A-Za-z0-9_-]+)", text)
    assert match, text[:1500]
    return match.group(1)


# --- the flows -----------------------------------------------------------------------------------


def _recipient(stack: Stack, token: str) -> None:
    document = make_pdf_bytes()
    deposited = requests.post(
        f"{stack.url}/api/v1/letters",
        headers={"Authorization": f"Bearer {token}"},
        data={"recipient_phone": "0661234567", "recipient_name": "Salma Bennani"},
        files={"document": ("contrat.pdf", io.BytesIO(document), "application/pdf")},
        timeout=10,
    )
    assert deposited.status_code == 201, deposited.text
    [sms] = stack.outbox("sms-outbox.jsonl", 1)
    path = _link(sms["text"], "/l/")
    stack.secrets["link token"] = path.removeprefix("/l/")
    browser = requests.Session()
    landing = browser.get(stack.url + path, timeout=10)
    browser.get(stack.url + path + "?lang=en", timeout=10)
    action, fields = _form(landing.text, "/code")
    code_page = browser.post(stack.url + action, data=fields, timeout=10)
    code = re.search(r"\b(\d{6})\b", stack.outbox("sms-outbox.jsonl", 2)[-1]["text"])
    assert code
    stack.secrets["one-time code"] = code.group(1)
    action, fields = _form(code_page.text, "/code/check")
    wrong = f"{(int(code.group(1)) + 1) % 1_000_000:06d}"
    stack.secrets["a wrong code"] = wrong
    browser.post(stack.url + action, data={**fields, "code": wrong}, timeout=10)
    decision = browser.post(stack.url + action, data={**fields, "code": code.group(1)}, timeout=10)
    action, fields = _form(decision.text, "/decision")
    letter = browser.post(stack.url + action, data={**fields, "decision": "accept"}, timeout=10)
    href = re.search(r'href="(/l/[^"]+/document)"', letter.text)
    assert href, letter.text[:1500]
    assert browser.get(stack.url + href.group(1), timeout=30).content == document
    # A token-shaped link that does not exist (a guess, or a link cut in two) is a secret-shaped path too.
    stack.secrets["unknown link"] = "Zq8vWn3xK1pT7yR2mB5cJd"
    assert browser.get(f"{stack.url}/l/{stack.secrets['unknown link']}", timeout=10).status_code == 404


def _signup_and_confirmation(stack: Stack) -> None:
    browser = requests.Session()
    page = browser.get(f"{stack.url}/signup", timeout=10)
    response = browser.post(
        f"{stack.url}/signup",
        data={
            "csrf_token": _csrf(page.text),
            "legal_name": "Immobilière Anfa SARL",
            "ice": "001234567000089",
            "address": "12 boulevard d'Anfa, Casablanca",
            "email": "gerant@anfa.ma",
            "password": SIGNUP_PASSWORD,
            "confirm": SIGNUP_PASSWORD,
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text[:1500]  # followed to the account page
    emails = [e for e in stack.outbox("email-outbox.jsonl", 1) if e["to"] == "gerant@anfa.ma"]
    path = _link(emails[-1]["text"], "/confirm-email/")
    stack.secrets["confirmation token"] = path.removeprefix("/confirm-email/")
    confirm = browser.get(stack.url + path, timeout=10)
    confirmed = browser.post(stack.url + path, data={"csrf_token": _csrf(confirm.text)}, timeout=10)
    assert confirmed.status_code == 200


def _portal(stack: Stack) -> None:
    browser = requests.Session()
    page = browser.get(f"{stack.url}/login", timeout=10)
    logged_in = browser.post(
        f"{stack.url}/login",
        data={"csrf_token": _csrf(page.text), "email": "avocat@idrissi.ma", "password": PASSWORD},
        timeout=10,
    )
    assert logged_in.status_code == 200, logged_in.text[:1500]
    tokens = browser.get(f"{stack.url}/account/tokens", timeout=10)
    created = browser.post(
        f"{stack.url}/account/tokens", data={"csrf_token": _csrf(tokens.text), "name": "ERP"}, timeout=10
    )
    token = re.search(r"\blre_[A-Za-z0-9_-]+", created.text)
    assert token, created.text[:1500]
    stack.secrets["API token from the portal"] = token.group(0)
    # Used the way a careless integrator would: in the query string, and as a bearer.
    requests.get(f"{stack.url}/api/v1/letters?access_token={token.group(0)}", timeout=10)
    assert (
        requests.get(
            f"{stack.url}/api/v1/letters", headers={"Authorization": f"Bearer {token.group(0)}"}, timeout=10
        ).status_code
        == 200
    )

    users = browser.get(f"{stack.url}/account/users", timeout=10)
    invited = browser.post(
        f"{stack.url}/account/users/invite",
        data={"csrf_token": _csrf(users.text), "email": "collaboratrice@idrissi.ma", "role": "sender"},
        timeout=10,
    )
    assert invited.status_code == 200, invited.text[:1500]
    emails = [e for e in stack.outbox("email-outbox.jsonl", 2) if e["to"] == "collaboratrice@idrissi.ma"]
    path = _link(emails[-1]["text"], "/invitations/")
    stack.secrets["invitation token"] = path.removeprefix("/invitations/")
    invitee = requests.Session()
    accept = invitee.get(stack.url + path, timeout=10)
    accepted = invitee.post(
        stack.url + path,
        data={"csrf_token": _csrf(accept.text), "password": INVITED_PASSWORD, "confirm": INVITED_PASSWORD},
        timeout=10,
    )
    assert accepted.status_code == 200, accepted.text[:1500]


def _webhook(stack: Stack, token: str) -> None:
    created = requests.post(
        f"{stack.url}/api/v1/webhooks",
        headers={"Authorization": f"Bearer {token}"},
        json={"url": "https://hooks.idrissi.ma/wassit"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    stack.secrets["webhook signing secret"] = created.json()["secret"]


def _malformed(stack: Stack) -> None:
    """Requests gunicorn itself refuses, and one our app refuses, each carrying a secret in its line."""
    port = int(stack.url.rsplit(":", 1)[1])
    token = stack.secrets["link token"]
    for raw in (
        f"GET /l/{token} HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n".encode(),
        f"GET /invitations/{stack.secrets['invitation token']} HTTP/1.1\r\nHost: x\r\nBad\x01: y\r\n\r\n".encode(),
        f"POST /l/{token}/code HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc".encode(),
    ):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(raw)
            with contextlib.suppress(OSError):
                sock.recv(4096)


@pytest.mark.e2e
def test_no_secret_reaches_any_log(stack: Stack) -> None:
    stack.cli("sender", "create", "--org", "Cabinet Idrissi", "--email", "avocat@idrissi.ma", "--password", PASSWORD)
    token = stack.cli("token", "create", "--email", "avocat@idrissi.ma").strip().splitlines()[-1]
    stack.secrets.update({"API token from the CLI": token, "password": PASSWORD})
    stack.secrets.update({"invited password": INVITED_PASSWORD, "sign-up password": SIGNUP_PASSWORD})

    _recipient(stack, token)
    _signup_and_confirmation(stack)
    _portal(stack)
    _webhook(stack, token)
    _malformed(stack)
    time.sleep(3)  # the workers' last lines (the webhook's attempt, proofs)

    stack.process.send_signal(signal.SIGTERM)
    stack.process.wait(timeout=30)
    logs = {"the stack's output": stack.output.read_text(encoding="utf-8", errors="replace")}
    for path in stack.instance.rglob("*"):
        if path.is_file() and (path.suffix == ".log" or "log" in path.name) and "outbox" not in path.name:
            logs[str(path.relative_to(stack.instance))] = path.read_text(encoding="utf-8", errors="replace")

    # The logs were written: the access log saw the recipient's link, redacted.
    assert "/l/[redacted]" in logs["the stack's output"], logs["the stack's output"][-3000:]
    assert "/invitations/[redacted]" in logs["the stack's output"]
    assert "/confirm-email/[redacted]" in logs["the stack's output"]
    assert set(stack.secrets) >= {
        "link token",
        "one-time code",
        "confirmation token",
        "invitation token",
        "API token from the CLI",
        "API token from the portal",
        "webhook signing secret",
    }
    leaks = [
        f"{what} in {where}"
        for where, text in logs.items()
        for what, secret in stack.secrets.items()
        if re.search(rf"(?<![0-9A-Za-z_-]){re.escape(secret)}(?![0-9A-Za-z_-])", text)
    ]
    assert not leaks, leaks


# --- the redaction itself --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('127.0.0.1 "GET /l/AbCdEfGhIjKlMnOpQrStUv/document" 200', '127.0.0.1 "GET /l/[redacted]/document" 200'),
        ("POST /invitations/" + "x" * 43 + " 303", "POST /invitations/[redacted] 303"),
        ("GET /confirm-email/" + "y" * 43, "GET /confirm-email/[redacted]"),
        ("token lre_" + "a" * 43 + " used", "token lre_[redacted] used"),
        ("secret whsec_" + "b" * 43, "secret whsec_[redacted]"),
        ("Authorization: Bearer abc.def-ghi_jkl", "Authorization: Bearer [redacted]"),
        ("GET /api/v1/letters?access_token=zzz&limit=5", "GET /api/v1/letters?access_token=[redacted]&limit=5"),
        ("GET /letters/123e4567-e89b-12d3-a456-426614174000", "GET /letters/123e4567-e89b-12d3-a456-426614174000"),
    ],
)
def test_redact(line: str, expected: str) -> None:
    assert redact(line) == expected


def test_every_logger_and_every_traceback_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    install_log_redaction()
    secret_path = "/l/AbCdEfGhIjKlMnOpQrStUv"
    with caplog.at_level(logging.INFO):
        logging.getLogger("gunicorn.access").info("%s %s", "GET", secret_path)
        try:
            raise ValueError(f"no such page {secret_path}")
        except ValueError:
            logging.getLogger("webapp.jobs").exception("job failed for %(who)s", {"who": "lre_" + "q" * 40})
    text = caplog.text
    assert "AbCdEfGhIjKlMnOpQrStUv" not in text
    assert "q" * 40 not in text
    assert "/l/[redacted]" in text
    assert "ValueError: no such page /l/[redacted]" in text
