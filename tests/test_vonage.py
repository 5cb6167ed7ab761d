"""The Vonage SMS provider with the SDK's HTTP layer mocked: no network at all."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from webapp.config import ConfigError, Settings
from webapp.notify.sms import PermanentSmsError, SmsReceipt, TransientSmsError, make_sms_provider
from webapp.notify.sms.console import ConsoleSmsProvider
from webapp.notify.sms.vonage import VonageSmsProvider

TEXT = "Wassit: une lettre recommandee vous attend. Ref 2345-ABCD. https://wassit.ma/l/abc"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any request that reaches the transport fails the test."""

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("the Vonage tests must not touch the network")

    monkeypatch.setattr(HTTPAdapter, "send", refuse)


@pytest.fixture
def provider() -> VonageSmsProvider:
    return VonageSmsProvider(api_key="abcd1234", api_secret="s3cr3t-S3CR3T", sender_id="Wassit", timeout=10)


def _response(status_code: int, body: Any) -> requests.Response:
    response = requests.Response()
    response.status_code = status_code
    response._content = json.dumps(body).encode() if body is not None else b""
    response.headers["Content-Type"] = "application/json"
    response.url = "https://rest.nexmo.com/sms/json"
    return response


def _sms_body(status: str, error_text: str = "", message_id: str = "0A0000001234ABCD") -> dict[str, Any]:
    message: dict[str, Any] = {"to": "212612345678", "status": status}
    if status == "0":
        message.update(
            {
                "message-id": message_id,
                "remaining-balance": "3.14",
                "message-price": "0.05",
                "network": "60400",
                "client-ref": "message-1",
            }
        )
    else:
        message["error-text"] = error_text
    return {"message-count": "1", "messages": [message]}


class FakeHttp:
    """Stands in for the SDK's requests session: records calls, answers or raises as told."""

    def __init__(self, answer: requests.Response | Exception) -> None:
        self.answer = answer
        self.calls: list[dict[str, Any]] = []

    def request(self, **kwargs: Any) -> requests.Response:
        self.calls.append(kwargs)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.fixture
def answer(provider: VonageSmsProvider, monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeHttp]:
    def install(result: requests.Response | Exception) -> FakeHttp:
        fake = FakeHttp(result)
        monkeypatch.setattr(provider.client.http_client._session, "request", fake.request)
        return fake

    return install


def _send(provider: VonageSmsProvider, text: str = TEXT) -> SmsReceipt:
    return provider.send(to="+212612345678", text=text, client_ref="message-1")


def test_success_returns_the_message_id(provider: VonageSmsProvider, answer: Callable[..., FakeHttp]) -> None:
    http = answer(_response(200, _sms_body("0")))
    receipt = _send(provider)
    assert receipt == SmsReceipt(provider="vonage", message_id="0A0000001234ABCD")
    [call] = http.calls
    assert call["method"] == "POST"
    assert call["url"] == "https://rest.nexmo.com/sms/json"
    assert call["timeout"] == 10
    data = call["data"]
    assert data["to"] == "212612345678"  # E.164 without the plus, as Vonage wants it
    assert data["from"] == "Wassit"
    assert data["text"] == TEXT
    assert data["type"] == "text"
    assert data["client-ref"] == "message-1"
    assert call["headers"]["Authorization"].startswith("Basic ")


def test_non_gsm_text_is_sent_as_unicode(provider: VonageSmsProvider, answer: Callable[..., FakeHttp]) -> None:
    http = answer(_response(200, _sms_body("0")))
    _send(provider, "وسيط: رسالة مضمونة في انتظارك")
    assert http.calls[0]["data"]["type"] == "unicode"


@pytest.mark.parametrize(("status", "error_text"), [("1", "Throttled"), ("5", "Internal Error")])
def test_throttling_and_vonage_errors_are_transient(
    provider: VonageSmsProvider, answer: Callable[..., FakeHttp], status: str, error_text: str
) -> None:
    answer(_response(200, _sms_body(status, error_text)))
    with pytest.raises(TransientSmsError, match=f"status {status}"):
        _send(provider)


@pytest.mark.parametrize(
    ("status", "error_text"),
    [("3", "Invalid Parameters"), ("6", "Invalid Message"), ("7", "Number barred")],
)
def test_invalid_or_barred_numbers_are_permanent(
    provider: VonageSmsProvider, answer: Callable[..., FakeHttp], status: str, error_text: str
) -> None:
    answer(_response(200, _sms_body(status, error_text)))
    with pytest.raises(PermanentSmsError, match=f"status {status}"):
        _send(provider)


def test_bad_credentials_are_not_blamed_on_the_recipient(
    provider: VonageSmsProvider, answer: Callable[..., FakeHttp]
) -> None:
    # Status 4 is our configuration's fault: the letter must not become undeliverable.
    answer(_response(200, _sms_body("4", "Invalid Credentials")))
    with pytest.raises(TransientSmsError):
        _send(provider)


@pytest.mark.parametrize("status_code", [429, 500, 502, 503])
def test_http_throttling_and_server_errors_are_transient(
    provider: VonageSmsProvider, answer: Callable[..., FakeHttp], status_code: int
) -> None:
    http = answer(_response(status_code, {"type": "error", "title": "Too bad"}))
    with pytest.raises(TransientSmsError):
        _send(provider)
    assert len(http.calls) == 1  # no retry inside the SDK: the job retries, with backoff


@pytest.mark.parametrize(
    "error",
    [
        requests.Timeout("read timed out"),
        requests.exceptions.ReadTimeout("read timed out"),
        requests.exceptions.ConnectTimeout("connect timed out"),
        requests.ConnectionError("connection refused"),
    ],
)
def test_timeouts_and_connection_errors_are_transient(
    provider: VonageSmsProvider, answer: Callable[..., FakeHttp], error: Exception
) -> None:
    answer(error)
    with pytest.raises(TransientSmsError):
        _send(provider)


def test_sdk_errors_are_mapped_when_raised_by_the_sdk(
    provider: VonageSmsProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vonage_http_client.errors import RateLimitedError, ServerError

    for error in (RateLimitedError(_response(429, None)), ServerError(_response(500, None))):

        def raise_it(_message: Any, error: Exception = error) -> None:
            raise error

        monkeypatch.setattr(provider.client.sms, "send", raise_it)
        with pytest.raises(TransientSmsError):
            _send(provider)


def test_the_client_has_a_timeout_and_no_sdk_retries(provider: VonageSmsProvider) -> None:
    options = provider.client.http_client.http_client_options
    assert options.timeout == 10
    assert options.max_retries == 0
    assert provider.client.http_client._adapter.max_retries.total == 0


def test_find_sent_cannot_tell(provider: VonageSmsProvider) -> None:
    assert provider.find_sent("message-1") is False


# --- provider selection --------------------------------------------------------------------------


def _settings(tmp_path: Path, **changes: Any) -> Settings:
    return Settings(instance_path=tmp_path, master_key=b"k" * 32, sms_outbox=tmp_path / "outbox.jsonl", **changes)


def test_unknown_provider_name_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown SMS_PROVIDER 'carrier-pigeon'"):
        make_sms_provider(_settings(tmp_path, sms_provider="carrier-pigeon"))


def test_console_is_the_default_provider(tmp_path: Path) -> None:
    provider = make_sms_provider(_settings(tmp_path))
    assert isinstance(provider, ConsoleSmsProvider)
    assert provider.outbox == tmp_path / "outbox.jsonl"


def test_vonage_provider_is_built_from_settings(tmp_path: Path) -> None:
    provider = make_sms_provider(
        _settings(
            tmp_path,
            sms_provider="vonage",
            vonage_api_key="key",
            vonage_api_secret="secret",
            sms_sender_id="Banque",
            sms_timeout=7,
        )
    )
    assert isinstance(provider, VonageSmsProvider)
    assert provider.sender_id == "Banque"
    assert provider.client.http_client.http_client_options.timeout == 7
    assert provider.client.http_client.http_client_options.max_retries == 0


def test_vonage_without_credentials_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="VONAGE_API_KEY"):
        _settings(tmp_path, sms_provider="vonage").validate()
