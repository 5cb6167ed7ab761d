"""SMTP email provider: STARTTLS (or implicit TLS), authentication, a timeout, and SMTP replies
sorted into temporary failures (retried) and permanent ones (the address is refused).

`SMTP_URL` forms:

* `smtp://user:password@host:587` — STARTTLS is required before anything is sent;
* `smtps://user:password@host:465` — TLS from the first byte;
* `smtp://host:25?starttls=false` — plain SMTP to a local relay, without credentials.

User and password are percent-encoded in the URL (`@` is `%40`).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from webapp.config import ConfigError
from webapp.notify.email.base import (
    EmailReceipt,
    OutgoingEmail,
    PermanentEmailError,
    TransientEmailError,
    build_mime,
    envelope_sender,
)

log = logging.getLogger(__name__)

# Replies that mean "not now" although they are 5xx: our own credentials or configuration
# (a person must fix them; meanwhile the message waits instead of failing its recipient).
_CONFIGURATION_CODES = {530, 534, 535, 538}


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None
    password: str | None


def parse_smtp_url(url: str) -> SmtpTarget:
    """Reads `SMTP_URL`; raises ConfigError on anything it cannot use safely."""
    parts = urlsplit(url)
    if parts.scheme not in {"smtp", "smtps"}:
        raise ConfigError("SMTP_URL must start with smtp:// (STARTTLS) or smtps:// (implicit TLS)")
    if not parts.hostname:
        raise ConfigError("SMTP_URL has no host")
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 587)
    except ValueError as exc:
        raise ConfigError("SMTP_URL has an invalid port") from exc
    options = {key: values[-1].lower() for key, values in parse_qs(parts.query).items()}
    implicit_tls = parts.scheme == "smtps"
    starttls = not implicit_tls and options.get("starttls", "true") not in {"false", "no", "0", "off"}
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if username and not (implicit_tls or starttls):
        raise ConfigError("SMTP_URL: credentials are never sent without TLS (drop starttls=false)")
    return SmtpTarget(parts.hostname, port, implicit_tls, starttls, username, password)


class SmtpEmailProvider:
    name = "smtp"

    def __init__(self, url: str, *, sender: str, timeout: int, ca_file: Path | None = None) -> None:
        self.target = parse_smtp_url(url)
        self.sender = sender
        self.timeout = timeout
        self.ca_file = ca_file

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)

    def _connect(self) -> smtplib.SMTP:
        target = self.target
        if target.implicit_tls:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                target.host, target.port, timeout=self.timeout, context=self._tls_context()
            )
        else:
            smtp = smtplib.SMTP(target.host, target.port, timeout=self.timeout)
        try:
            smtp.ehlo()
            if target.starttls:
                smtp.starttls(context=self._tls_context())  # raises if the server does not offer it
                smtp.ehlo()
            if target.username:
                smtp.login(target.username, target.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, *, email: OutgoingEmail, client_ref: str) -> EmailReceipt:
        mime = build_mime(email, sender=self.sender, client_ref=client_ref)
        try:
            smtp = self._connect()
            try:
                smtp.send_message(mime, from_addr=envelope_sender(self.sender), to_addrs=[email.to])
            finally:
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    smtp.close()
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()), (0, b""))
            raise _classify(code, reply, "recipient refused") from exc
        except smtplib.SMTPAuthenticationError as exc:
            log.error("the SMTP server refused our credentials (%s)", exc.smtp_code)
            raise TransientEmailError(f"smtp authentication failed: {exc.smtp_code}") from exc
        except (smtplib.SMTPConnectError, smtplib.SMTPHeloError) as exc:  # the server turned us away
            raise TransientEmailError(f"smtp unavailable: {exc.smtp_code} {_text(exc.smtp_error)}") from exc
        except smtplib.SMTPSenderRefused as exc:
            log.error("the SMTP server refused our sender address (%s)", exc.smtp_code)
            raise TransientEmailError(f"smtp sender refused: {exc.smtp_code} {_text(exc.smtp_error)}") from exc
        except smtplib.SMTPResponseException as exc:  # data refused, or an unexpected reply
            raise _classify(exc.smtp_code, exc.smtp_error, "refused") from exc
        except smtplib.SMTPNotSupportedError as exc:
            log.error("the SMTP server does not offer STARTTLS or AUTH")
            raise TransientEmailError(f"smtp: {exc}") from exc
        except (smtplib.SMTPException, OSError) as exc:  # refused connection, timeout, TLS, hang-up
            raise TransientEmailError(f"smtp unavailable: {type(exc).__name__}: {_text(str(exc))}") from exc
        return EmailReceipt(provider=self.name, message_id=str(mime["Message-ID"]).strip("<>"))

    def find_sent(self, client_ref: str) -> EmailReceipt | bool | None:
        # SMTP keeps no record we could ask: a message caught mid-send stays uncertain.
        return False


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())[:300]


def _classify(code: int, reply: bytes | str, what: str) -> TransientEmailError | PermanentEmailError:
    reason = f"smtp {code} {what}: {_text(reply)}".strip()
    if 500 <= code < 600 and code not in _CONFIGURATION_CODES:
        return PermanentEmailError(reason)
    if code in _CONFIGURATION_CODES:
        log.error("the SMTP server refused the message for a configuration reason (%s)", code)
    return TransientEmailError(reason)
