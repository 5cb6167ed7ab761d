"""Webhooks cannot be turned against our own network (issue 17, finding 2).

Registration refused NAT64, IPv4-compatible and 6to4 forms of 127.0.0.1; delivery checked the
name with one lookup and let `requests` look it up again (DNS rebinding); and the delivery log's
errors told an open port from a closed one.  Now every special-purpose range is refused, the
connection goes to the very address checked (TLS still checks the certificate against the name),
and every attempt that gets no answer records the same error.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from webapp.hooks.addresses import is_public_address
from webapp.hooks.delivery import NO_ANSWER, post_event
from webapp.hooks.endpoints import InvalidWebhookUrl, validate_webhook_url

# --- registration: every special-purpose range, in every literal form ---------------------------------

REFUSED_HOSTS = [
    "[64:ff9b::7f00:1]",  # NAT64 of 127.0.0.1
    "[64:ff9b::a9fe:a9fe]",  # NAT64 of the metadata service
    "[64:ff9b:1::7f00:1]",  # NAT64, local-use prefix
    "[::127.0.0.1]",  # IPv4-compatible
    "[::7f00:1]",
    "[::ffff:127.0.0.1]",  # IPv4-mapped
    "[::ffff:169.254.169.254]",
    "[::ffff:0:7f00:1]",  # IPv4-translated
    "[2002:7f00:1::]",  # 6to4 of 127.0.0.1
    "[2002:808:808::1]",  # 6to4 of a public address: the relay is refused whole
    "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",  # Teredo
    "[2001:2::1]",  # benchmarking
    "[2001:db8::1]",  # documentation
    "[3fff::1]",  # documentation (RFC 9637)
    "[fd00::1]",  # unique local
    "[fc00::1]",
    "[fe80::1]",  # link-local
    "[fec0::1]",  # site-local
    "[ff02::1]",  # multicast
    "[100::1]",  # discard-only
    "[::]",
    "[::1]",
    "[2a00:1450::5efe:a00:1]",  # ISATAP carrying 10.0.0.1
    "0.0.0.0",  # noqa: S104 - an address refused, not bound
    "100.64.0.1",  # carrier-grade NAT
    "192.0.0.170",  # NAT64 discovery
    "192.0.2.1",  # documentation
    "198.18.0.1",  # benchmarking
    "198.51.100.7",
    "203.0.113.9",
    "192.88.99.1",  # 6to4 relay
    "192.31.196.1",  # AS112
    "224.0.0.1",  # multicast
    "240.0.0.1",
    "255.255.255.255",
    "127.0.0.1",
    "0177.0.0.1",  # octal
    "0x7f000001",
    "2130706433",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.0.1",
    "169.254.169.254",
    "localhost",
    "db.internal",
    "router.home.arpa",
]


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_registration_refuses_every_special_purpose_address(host: str) -> None:
    with pytest.raises(InvalidWebhookUrl):
        validate_webhook_url(f"https://{host}/hooks", allow_private=False)


@pytest.mark.parametrize(
    "host", ["hooks.example.ma", "8.8.8.8", "[2a00:1450:4007:80a::200e]", "[2606:4700:4700::1111]", "41.248.0.1"]
)
def test_public_addresses_and_names_are_accepted(host: str) -> None:
    assert validate_webhook_url(f"https://{host}/hooks", allow_private=False)


def test_only_global_unicast_ipv6_is_public() -> None:
    assert not is_public_address(ip_address("4000::1"))  # unallocated
    assert not is_public_address(ip_address("2002:c000:0201::1"))  # 6to4
    assert is_public_address(ip_address("2c0f:f000::1"))


# --- delivery: one lookup, the connection to the address checked ---------------------------------------


@dataclass
class Receiver:
    port: int
    received: list[dict[str, str]] = field(default_factory=list)


def _serve(context: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    state = Receiver(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.received.append(dict(self.headers.items()))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from _serve()


@dataclass
class Resolver:
    """A DNS that answers each name from a script, one answer per lookup (the last one repeats)."""

    answers: dict[str, list[str]]
    lookups: list[str] = field(default_factory=list)

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in self.answers:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        self.lookups.append(name)
        script = self.answers[name]
        answer = script[min(len(self.lookups) - 1, len(script) - 1)]
        family = socket.AF_INET6 if ":" in answer else socket.AF_INET
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (answer, int(port or 0)))]


REAL_GETADDRINFO = socket.getaddrinfo


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, list[str]]], Resolver]:
    def install(answers: dict[str, list[str]]) -> Resolver:
        resolver = Resolver(answers)
        monkeypatch.setattr(socket, "getaddrinfo", resolver)
        return resolver

    return install


def test_a_name_rebound_to_loopback_after_the_check_is_never_reached(
    receiver: Receiver, dns: Callable[[dict[str, list[str]]], Resolver]
) -> None:
    # The first answer is public, every later one is our own loopback, where the receiver listens.
    resolver = dns({"rebind.example.ma": ["198.41.0.4", "127.0.0.1"]})
    outcome = post_event(f"http://rebind.example.ma:{receiver.port}/hooks", b"{}", {}, timeout=1, allow_private=False)
    assert receiver.received == []
    assert resolver.lookups == ["rebind.example.ma"]  # one lookup; the connection went to what it answered
    assert outcome.status_code is None
    assert outcome.error == NO_ANSWER


def test_a_name_resolving_to_loopback_is_refused_at_delivery(
    receiver: Receiver, dns: Callable[[dict[str, list[str]]], Resolver]
) -> None:
    dns({"evil.example.ma": ["127.0.0.1"]})
    outcome = post_event(f"http://evil.example.ma:{receiver.port}/", b"{}", {}, timeout=1, allow_private=False)
    assert (outcome.status_code, outcome.error) == (None, NO_ANSWER)
    assert receiver.received == []


def test_the_post_reaches_the_address_resolved_with_the_name_as_host(
    receiver: Receiver, dns: Callable[[dict[str, list[str]]], Resolver]
) -> None:
    resolver = dns({"hooks.wassit.test": ["127.0.0.1", "10.9.9.9"]})
    url = f"http://hooks.wassit.test:{receiver.port}/hooks?source=wassit"
    outcome = post_event(url, b"{}", {"Content-Type": "application/json"}, timeout=2, allow_private=True)
    assert (outcome.status_code, outcome.error) == (200, None)
    assert resolver.lookups == ["hooks.wassit.test"]
    [headers] = receiver.received
    assert headers["Host"] == f"hooks.wassit.test:{receiver.port}"


# --- TLS: pinned to the address, still checked against the name ----------------------------------------


@dataclass
class Pki:
    ca: Path
    context: ssl.SSLContext


def _pki(tmp_path: Path, name: str) -> Pki:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test webhook CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # keyCertSign, cRLSign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return Pki(ca_file, context)


def test_https_is_pinned_to_the_address_and_the_certificate_checked_against_the_name(
    tmp_path: Path, dns: Callable[[dict[str, list[str]]], Resolver]
) -> None:
    pki = _pki(tmp_path, "hooks.wassit.test")
    server = _serve(pki.context)
    receiver = next(server)
    try:
        resolver = dns({"hooks.wassit.test": ["127.0.0.1"], "other.wassit.test": ["127.0.0.1"]})
        good = post_event(
            f"https://hooks.wassit.test:{receiver.port}/h",
            b"{}",
            {},
            timeout=2,
            allow_private=True,
            ca_certs=str(pki.ca),
        )
        assert (good.status_code, good.error) == (200, None)
        assert receiver.received[0]["Host"] == f"hooks.wassit.test:{receiver.port}"
        # Another name on the same address: the certificate does not name it, so nothing is sent.
        wrong = post_event(
            f"https://other.wassit.test:{receiver.port}/h",
            b"{}",
            {},
            timeout=2,
            allow_private=True,
            ca_certs=str(pki.ca),
        )
        assert (wrong.status_code, wrong.error) == (None, NO_ANSWER)
        # And an issuer we do not trust (Mozilla's roots, not the test CA) is refused too.
        untrusted = post_event(f"https://hooks.wassit.test:{receiver.port}/h", b"{}", {}, timeout=2, allow_private=True)
        assert (untrusted.status_code, untrusted.error) == (None, NO_ANSWER)
        assert len(receiver.received) == 1
        assert resolver.lookups.count("hooks.wassit.test") == 2  # once per attempt
    finally:
        next(server, None)


# --- one neutral error, whatever happened ------------------------------------------------------------


def test_every_failed_connection_records_the_same_error(
    dns: Callable[[dict[str, list[str]]], Resolver], receiver: Receiver
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    silent = socket.socket()  # accepts the connection, never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        dns({"hooks.wassit.test": ["127.0.0.1"]})
        outcomes = {
            "closed port": post_event(f"http://127.0.0.1:{closed_port}/", b"{}", {}, timeout=1, allow_private=True),
            "silent port": post_event(
                f"http://127.0.0.1:{silent.getsockname()[1]}/", b"{}", {}, timeout=1, allow_private=True
            ),
            "TLS to plain HTTP": post_event(
                f"https://hooks.wassit.test:{receiver.port}/", b"{}", {}, timeout=1, allow_private=True
            ),
            "unknown name": post_event("https://nothing.invalid/", b"{}", {}, timeout=1, allow_private=True),
            "private address": post_event(
                f"http://127.0.0.1:{receiver.port}/", b"{}", {}, timeout=1, allow_private=False
            ),
        }
    finally:
        silent.close()
    assert {name: (o.status_code, o.error) for name, o in outcomes.items()} == {
        name: (None, NO_ANSWER) for name in outcomes
    }
