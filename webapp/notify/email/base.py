"""The email provider interface, its failures, and the MIME message every provider sends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Protocol

from webapp.textinput import control_character


class EmailError(Exception):
    """The provider did not take the email."""


class TransientEmailError(EmailError):
    """Server down or busy, timeout, 4xx answer: try again later."""


class PermanentEmailError(EmailError):
    """The server refused this email for good (5xx: unknown or rejected address)."""


@dataclass(frozen=True)
class OutgoingEmail:
    """One email as we write it: plain text and HTML alternatives of the same content."""

    to: str
    subject: str
    text: str
    html: str
    language: str = "fr"

    def __post_init__(self) -> None:
        # Names are refused at input when they hold a line break; one stored before that rule must still
        # never become a header of its own ("Evil Org\r\nBcc: …") nor make the SMTP library refuse the email.
        object.__setattr__(self, "subject", one_line(self.subject))


@dataclass(frozen=True)
class EmailReceipt:
    provider: str
    message_id: str


class EmailProvider(Protocol):
    name: str

    def send(self, *, email: OutgoingEmail, client_ref: str) -> EmailReceipt:
        """Hands one email over; raises TransientEmailError or PermanentEmailError."""

    def find_sent(self, client_ref: str) -> EmailReceipt | bool | None:
        """After a crash mid-send: the receipt if the email went out, None if it surely
        did not, False if the provider cannot tell."""


def one_line(text: str) -> str:
    """`text` with every line break and control character turned into a space, spaces collapsed."""
    return " ".join("".join(" " if control_character(ch) else ch for ch in text).split())


def envelope_sender(sender: str) -> str:
    """The bare address of a From: header ("Wassit <no-reply@wassit.ma>" → "no-reply@wassit.ma")."""
    return parseaddr(sender)[1] or sender


def build_mime(email: OutgoingEmail, *, sender: str, client_ref: str, now: datetime | None = None) -> EmailMessage:
    """A multipart/alternative message whose Message-ID carries our message id."""
    domain = envelope_sender(sender).rpartition("@")[2] or "localhost"
    mime = EmailMessage()
    mime["From"] = sender
    mime["To"] = email.to
    mime["Subject"] = email.subject
    mime["Date"] = format_datetime(now or datetime.now(UTC))
    mime["Message-ID"] = make_msgid(idstring=client_ref, domain=domain)
    mime["Content-Language"] = email.language
    # A notice, not a conversation: out-of-office replies and auto-responders should stay quiet.
    mime["Auto-Submitted"] = "auto-generated"
    mime["X-Auto-Response-Suppress"] = "All"
    mime.set_content(email.text)
    mime.add_alternative(email.html, subtype="html")
    return mime
