"""What the trust package uses of the app's collaborators, without importing `webapp.services`.

`webapp.services.Services` bundles the trust authority with the providers and the vault,
so it sits above this package; trust's functions take this narrower protocol instead,
which `Services` satisfies.
"""

from __future__ import annotations

from typing import Protocol

from flask import current_app

from webapp.clock import Clock
from webapp.config import Settings
from webapp.storage import EncryptedObjects
from webapp.trust.authority import Trust
from webapp.vault import Vault


class TrustServices(Protocol):
    """The settings, the clock, the vault and the signing identity."""

    @property
    def settings(self) -> Settings: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def vault(self) -> Vault: ...

    @property
    def trust(self) -> Trust: ...

    @property
    def objects(self) -> EncryptedObjects: ...


def current_trust_services() -> TrustServices:
    """The app's collaborators, for trust's own jobs (the worker's entry point provides the app context)."""
    services: TrustServices = current_app.extensions["wassit"]
    return services
