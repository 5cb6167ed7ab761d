"""A real SMTP server for the email tests (aiosmtpd in a thread): plain, STARTTLS or implicit TLS,
with optional authentication, addresses it refuses, and a switch to take it down and up again."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own CA: (certificate, key) PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test SMTP server")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    authenticated_as: str | None


@dataclass
class Mailbox:
    """The server's behaviour and what it received."""

    refuse: dict[str, str] = field(default_factory=dict)  # address -> SMTP reply, e.g. "550 5.1.1 No such user"
    received: list[Received] = field(default_factory=list)
    credentials: tuple[str, str] | None = None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message, login))
        return "250 Message accepted for delivery"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = (
            self.credentials is not None
            and isinstance(auth_data, LoginPassword)
            and (auth_data.login.decode(), auth_data.password.decode()) == self.credentials
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


class SmtpServer:
    """One aiosmtpd server on 127.0.0.1; `tls` is None, "starttls" or "implicit"."""

    def __init__(self, directory: Path, *, tls: str | None = None, credentials: tuple[str, str] | None = None):
        self.port = free_port()
        self.tls = tls
        self.mailbox = Mailbox(credentials=credentials)
        self.controller: Controller | None = None
        self.ca_file: Path | None = None
        self._context: ssl.SSLContext | None = None
        if tls:
            cert, key = self_signed_certificate(directory)
            self.ca_file = cert
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            self._context = context

    @property
    def received(self) -> list[Received]:
        return self.mailbox.received

    def url(self, *, user: str | None = None, password: str | None = None, query: str = "") -> str:
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        auth = f"{user}:{password}@" if user else ""
        return f"{scheme}://{auth}127.0.0.1:{self.port}{query}"

    def start(self) -> SmtpServer:
        kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": self.port, "ready_timeout": 10}
        if self.tls == "implicit":
            kwargs["ssl_context"] = self._context
        elif self.tls == "starttls":
            kwargs.update(tls_context=self._context, require_starttls=True)
        if self.mailbox.credentials is not None:
            kwargs["authenticator"] = self.mailbox.authenticate
            if self.tls == "implicit":
                # aiosmtpd only knows of STARTTLS: on an implicit TLS socket it must be told that
                # AUTH is fine (the tests check that authentication happened).
                kwargs.update(auth_required=False, auth_require_tls=False)
            else:
                kwargs.update(auth_required=True, auth_require_tls=True)
        self.controller = Controller(self.mailbox, **kwargs)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
