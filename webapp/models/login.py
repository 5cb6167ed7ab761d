"""What a person who logs in with a password and TOTP is: a sender's user or a support agent."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.models.types import UTCDateTime


class LoginAccount:
    """The credential columns and Flask-Login's protocol, shared by `User` and `Agent`.

    A column mixin: each mapped class gets its own copy of the columns below (after its own
    columns), so the two tables keep exactly the columns they had; `webapp.accounts.login` and
    `webapp.accounts.two_factor` work on either.  The session id carries the account's epoch, so
    that "log out everywhere" (a new epoch) invalidates every older session; `SESSION_ID_PREFIX`
    tells an agent's id from a user's.
    """

    SESSION_ID_PREFIX: ClassVar[str] = ""

    if TYPE_CHECKING:  # a column of the mapped classes
        id: str

    # Part of the session's identity: bumping it logs every session of the account out.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Password login throttling, per account.
    login_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    login_failures_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    login_locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # TOTP two-factor: the secret sealed by the vault, and the last accepted time step (no replay).
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_key_id: Mapped[str | None] = mapped_column(String(16))
    totp_wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_nonce: Mapped[bytes | None] = mapped_column(LargeBinary(12))
    totp_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_last_timestep: Mapped[int | None] = mapped_column(Integer)
    # Code step throttling, per account.
    totp_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    totp_failures_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

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
