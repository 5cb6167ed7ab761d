"""SMS providers, chosen by `SMS_PROVIDER`."""

from __future__ import annotations

from webapp.config import ConfigError, Settings
from webapp.notify.sms.base import (
    PermanentSmsError,
    SmsError,
    SmsProvider,
    SmsReceipt,
    TransientSmsError,
)

__all__ = [
    "PermanentSmsError",
    "SmsError",
    "SmsProvider",
    "SmsReceipt",
    "TransientSmsError",
    "make_sms_provider",
]


def _console(settings: Settings) -> SmsProvider:
    from webapp.notify.sms.console import ConsoleSmsProvider

    return ConsoleSmsProvider(settings.sms_outbox)


def _vonage(settings: Settings) -> SmsProvider:
    from webapp.notify.sms.vonage import VonageSmsProvider

    return VonageSmsProvider(
        api_key=settings.vonage_api_key,
        api_secret=settings.vonage_api_secret,
        sender_id=settings.sms_sender_id,
        timeout=settings.sms_timeout,
    )


PROVIDERS = {"console": _console, "vonage": _vonage}


def make_sms_provider(settings: Settings) -> SmsProvider:
    try:
        factory = PROVIDERS[settings.sms_provider]
    except KeyError:
        raise ConfigError(
            f"unknown SMS_PROVIDER {settings.sms_provider!r}; choose one of {sorted(PROVIDERS)}"
        ) from None
    return factory(settings)
