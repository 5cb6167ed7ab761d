"""Email providers, chosen by `EMAIL_PROVIDER`."""

from __future__ import annotations

from webapp.config import ConfigError, Settings
from webapp.notify.email.base import (
    EmailError,
    EmailProvider,
    EmailReceipt,
    OutgoingEmail,
    PermanentEmailError,
    TransientEmailError,
)

__all__ = [
    "EmailError",
    "EmailProvider",
    "EmailReceipt",
    "OutgoingEmail",
    "PermanentEmailError",
    "TransientEmailError",
    "make_email_provider",
]


def _console(settings: Settings) -> EmailProvider:
    from webapp.notify.email.console import ConsoleEmailProvider

    return ConsoleEmailProvider(settings.email_outbox_path)


def _smtp(settings: Settings) -> EmailProvider:
    from webapp.notify.email.smtp import SmtpEmailProvider

    return SmtpEmailProvider(
        settings.smtp_url,
        sender=settings.email_sender,
        timeout=settings.smtp_timeout,
        ca_file=settings.smtp_ca_file,
    )


PROVIDERS = {"console": _console, "smtp": _smtp}


def make_email_provider(settings: Settings) -> EmailProvider:
    try:
        factory = PROVIDERS[settings.email_provider]
    except KeyError:
        raise ConfigError(
            f"unknown EMAIL_PROVIDER {settings.email_provider!r}; choose one of {sorted(PROVIDERS)}"
        ) from None
    return factory(settings)
