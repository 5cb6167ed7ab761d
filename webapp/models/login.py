"""What a person who logs in with a password and TOTP is to Flask-Login: a sender's user or a support agent."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, ClassVar


class LoginAccount:
    """Flask-Login's protocol and the two-factor state, shared by `User` and `Agent`.

    The session id carries the account's epoch, so that "log out everywhere" (a new epoch)
    invalidates every older session; `SESSION_ID_PREFIX` tells an agent's id from a user's."""

    SESSION_ID_PREFIX: ClassVar[str] = ""

    if TYPE_CHECKING:  # columns of the mapped classes
        id: str
        session_epoch: int
        totp_enabled_at: datetime | None

    @property
    def has_two_factor(self) -> bool:
        return self.totp_enabled_at is not None

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.SESSION_ID_PREFIX}{self.id}:{self.session_epoch}"
