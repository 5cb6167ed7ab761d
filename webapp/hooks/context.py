"""What hooks use of the app's collaborators, without importing `webapp.services` (which sits above)."""

from __future__ import annotations

from typing import Protocol

from flask import current_app

from webapp.clock import Clock
from webapp.config import Settings
from webapp.vault import Vault


class HookServices(Protocol):
    """The settings, the clock and the vault: `webapp.services.Services` is one."""

    @property
    def settings(self) -> Settings: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def vault(self) -> Vault: ...


def current_hook_services() -> HookServices:
    """The app's collaborators, for the delivery job (the worker's entry point provides the app context)."""
    services: HookServices = current_app.extensions["wassit"]
    return services
