"""End to end: the real stack (`python -m worker.run_all`: gunicorn, RQ worker, scheduler, Redis)
as child processes, driven over HTTP like an integrator and a recipient would."""

from __future__ import annotations

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import make_pdf_bytes
from webapp.config import Settings

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
FLASK = str(Path(sys.executable).parent / "flask")
ACCEPTANCE_PERIOD = 15


@dataclass
class Stack:
    url: str
    env: dict[str, str]
    outbox: Path
    process: subprocess.Popen[bytes]

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [FLASK, "--app", "wsgi", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return result.stdout

    def sms(self, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.outbox.exists():
                lines = [json.loads(x) for x in self.outbox.read_text(encoding="utf-8").splitlines() if x]
                if len(lines) >= count:
                    return lines
            time.sleep(0.2)
        raise AssertionError(f"expected {count} SMS in the outbox within {timeout}s")


def storage_env(settings: Settings) -> dict[str, str]:
    """The environment that names the test's object store (nothing on the embedded default)."""
    if not settings.storage_url:
        return {}
    return {
        "STORAGE_URL": settings.storage_url,
        "STORAGE_ENDPOINT_URL": settings.storage_endpoint_url,
        "STORAGE_REGION": settings.storage_region,
        "STORAGE_ACCESS_KEY_ID": settings.storage_access_key_id,
        "STORAGE_SECRET_ACCESS_KEY": settings.storage_secret_access_key,
    }


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
        ACCEPTANCE_PERIOD=str(ACCEPTANCE_PERIOD),
        WEB_CONCURRENCY="2",
    )
    if os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = settings.database_url  # freshly truncated, already migrated
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = settings.redis_url  # this test worker's own database
    env.update(storage_env(settings))  # S3_TEST=1: the stack's objects go to the S3 server too
    process = subprocess.Popen(
        [sys.executable, "-m", "worker.run_all"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    stack = Stack(url, env, instance / "sms-outbox.jsonl", process)
    try:
        _wait_healthy(url, process)
        yield stack
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        assert process.returncode == 0, output.decode(errors="replace")[-3000:]
        assert b"Stopped." in output


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stdout.read().decode(errors="replace") if process.stdout else "")
        try:
            if requests.get(f"{url}/healthz", timeout=5).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.3)
    raise AssertionError("the stack did not become healthy within 60 s")


def _form(html: str, action_part: str) -> tuple[str, dict[str, str]]:
    for match in re.finditer(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', html, re.S):
        if action_part in match.group(1):
            fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', match.group(2)))
            return match.group(1), fields
    raise AssertionError(f"no form posting to {action_part!r}")


def _deposit(stack: Stack, token: str, document: bytes, phone: str) -> dict[str, Any]:
    response = requests.post(
        f"{stack.url}/api/v1/letters",
        headers={"Authorization": f"Bearer {token}"},
        data={"recipient_phone": phone, "recipient_name": "Salma Bennani"},
        files={"document": ("contrat.pdf", io.BytesIO(document), "application/pdf")},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _status(stack: Stack, token: str, letter_id: str) -> dict[str, Any]:
    response = requests.get(
        f"{stack.url}/api/v1/letters/{letter_id}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _check_proofs(stack: Stack, token: str, letter_id: str, kinds: set[str], folder: Path) -> None:
    """Waits for the proofs, then validates each with pyHanko's own CLI against our published root."""
    deadline = time.monotonic() + 30
    ready: set[str] = set()
    while time.monotonic() < deadline and ready != kinds:
        ready = {p["kind"] for p in _status(stack, token, letter_id)["proofs"] if p["status"] == "ready"}
        time.sleep(0.5)
    assert ready == kinds
    root = folder / "root.pem"
    root.write_bytes(requests.get(f"{stack.url}/trust/ca.pem", timeout=10).content)
    for kind in kinds:
        response = requests.get(
            f"{stack.url}/api/v1/letters/{letter_id}/proofs/{kind}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert response.headers["Content-Type"] == "application/pdf"
        proof = folder / f"{kind}.pdf"
        proof.write_bytes(response.content)
        # PAdES B-LTA validation (AdES), revocation information required: pyHanko fetches what the
        # certificates name, our stack's /trust/crl/<generation>, if the proof's DSS does not suffice.
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "pyhanko"),
                "sign",
                "adesverify",
                "--pretty-print",
                "--trust",
                str(root),
                "--trust-replace",
                str(proof),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "The signature is judged VALID." in result.stdout, result.stdout
        assert "All modifications relate to signature maintenance" in result.stdout


def test_deposit_sms_code_accept_download_and_neglect(stack: Stack, tmp_path: Path) -> None:
    stack.cli(
        "sender",
        "create",
        "--org",
        "Cabinet Idrissi",
        "--email",
        "avocat@idrissi.ma",
        "--password",
        "un mot de passe long",
    )
    token = stack.cli("token", "create", "--email", "avocat@idrissi.ma").strip().splitlines()[-1]

    document = make_pdf_bytes(pages=2, pad_to=200_000)
    accepted = _deposit(stack, token, document, "0661234567")
    neglected = _deposit(stack, token, make_pdf_bytes(), "0770123456")

    notifications = stack.sms(2)
    by_number = {line["to"]: line["text"] for line in notifications}
    link = re.search(r"(http://127\.0\.0\.1:\d+/l/[A-Za-z0-9_-]+)", by_number["+212661234567"])
    assert link, by_number
    assert accepted["reference"] in by_number["+212661234567"]

    browser = requests.Session()
    landing = browser.get(link.group(1), timeout=10)
    assert landing.status_code == 200
    assert accepted["reference"] in landing.text
    action, fields = _form(landing.text, "/code")
    code_page = browser.post(stack.url + action, data=fields, timeout=10)
    assert code_page.status_code == 200
    code_sms = stack.sms(3)[-1]
    assert code_sms["to"] == "+212661234567"
    code = re.search(r"\b(\d{6})\b", code_sms["text"])
    assert code
    action, fields = _form(code_page.text, "/code/check")
    decision_page = browser.post(stack.url + action, data={**fields, "code": code.group(1)}, timeout=10)
    assert 'name="decision"' in decision_page.text
    action, fields = _form(decision_page.text, "/decision")
    letter_page = browser.post(stack.url + action, data={**fields, "decision": "accept"}, timeout=10)
    assert "Cabinet Idrissi" in letter_page.text
    href = re.search(r'href="(/l/[^"]+/document)"', letter_page.text)
    assert href
    download = browser.get(stack.url + href.group(1), timeout=30)
    assert download.content == document
    assert _status(stack, token, accepted["id"])["status"] == "accepted"
    _check_proofs(stack, token, accepted["id"], {"deposit", "reception"}, tmp_path)

    # The other letter is left alone: the scheduler marks it neglected within a minute of its deadline.
    deadline = time.monotonic() + ACCEPTANCE_PERIOD + 60
    status = None
    while time.monotonic() < deadline:
        status = _status(stack, token, neglected["id"])
        if status["status"] == "neglected":
            break
        time.sleep(1)
    assert status is not None
    assert status["status"] == "neglected", status
    assert [e["type"] for e in status["events"]].count("AcceptanceRejectionExpiry") == 1
