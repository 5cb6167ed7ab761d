"""The collaborators that domain functions receive, built once per app."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from webapp.clock import Clock
from webapp.config import Settings
from webapp.notify.email import EmailProvider
from webapp.notify.sms import SmsProvider
from webapp.storage import EncryptedObjects
from webapp.trust.authority import Trust
from webapp.vault import Vault


@dataclass
class Services:
    settings: Settings
    vault: Vault
    clock: Clock
    sms: SmsProvider
    trust: Trust
    email: EmailProvider
    objects: EncryptedObjects  # documents, proofs and batch files, encrypted, in the object store

    @property
    def issuer(self) -> str:
        return f"{self.settings.service_name} <{self.settings.public_url}>"


def current_services() -> Services:
    services: Services = current_app.extensions["wassit"]
    return services
