"""Sender organisations, their users and API tokens."""

from __future__ import annotations

import enum
import unicodedata
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from webapp.extensions import db
from webapp.models.login import LoginAccount
from webapp.models.types import UTCDateTime, new_id


class Role(enum.StrEnum):
    ADMIN = "admin"
    SENDER = "sender"


def organisation_name_key(name: str | None) -> str | None:
    """How organisation names are compared: Unicode NFC, spaces collapsed, case folded."""
    folded = " ".join(unicodedata.normalize("NFC", name or "").split()).casefold()
    return folded or None


class Organisation(db.Model):  # type: ignore[name-defined,misc]
    """A sender's legal entity; its identity appears on every proof."""

    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    ice: Mapped[str | None] = mapped_column(String(15), index=True)
    address: Mapped[str | None] = mapped_column(String(400))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Who of the service's operators verified the sender's identity, and on what document.
    verified_by: Mapped[str | None] = mapped_column(String(254))
    verification_document: Mapped[str | None] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    # `name` and `legal_name` folded (`organisation_name_key`), set with them: support finds a sender in any case.
    name_key: Mapped[str | None] = mapped_column(String(200), index=True)
    legal_name_key: Mapped[str | None] = mapped_column(String(200), index=True)
    # Set by an operator: the organisation may send PDFs with active content (JavaScript, embedded files…),
    # which are otherwise refused at deposit; its recipients are told what the document holds.
    allows_active_content: Mapped[bool] = mapped_column(default=False, server_default=false())

    users: Mapped[list[User]] = relationship(back_populates="organisation")

    @validates("name", "legal_name")
    def _keep_name_keys(self, key: str, value: str) -> str:
        setattr(self, f"{key}_key", organisation_name_key(value))
        return value


class User(LoginAccount, db.Model):  # type: ignore[name-defined,misc]
    """A person who sends letters on behalf of an organisation."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(
        db.Enum(Role, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
    )
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The session epoch, log-in throttling and TOTP columns are `LoginAccount`'s.
    # When the user proved they read this address (a confirmation link, an invitation, or the operator's CLI);
    # placed after `LoginAccount`'s columns, as the migrations made the table.
    email_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, sort_order=1)

    organisation: Mapped[Organisation] = relationship(back_populates="users")

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def email_confirmed(self) -> bool:
        return self.email_confirmed_at is not None


class ApiToken(db.Model):  # type: ignore[name-defined,misc]
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class RecoveryCode(db.Model):  # type: ignore[name-defined,misc]
    """A single-use two-factor recovery code; only its hash is stored."""

    __tablename__ = "recovery_codes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AccountEmailStatus(enum.StrEnum):
    PENDING = "pending"  # queued: the job sends it
    SENDING = "sending"  # handed to the provider; a job that finds it so asks the provider whether it went out
    SENT = "sent"
    FAILED = "failed"  # the provider refused it (the admin or user may ask for it again)


class LinkEmail:
    """Columns of a row whose link is emailed by a job.

    Only the token's hash identifies the row; until the email is sent, the token itself
    is kept sealed by the vault (context `<row kind>-token:<id>`) so that the job can
    write the link, and erased once sent, used or expired.
    """

    token_key_id: Mapped[str | None] = mapped_column(String(16))
    token_wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    token_nonce: Mapped[bytes | None] = mapped_column(LargeBinary(12))
    token_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    language: Mapped[str] = mapped_column(String(5), default="fr", server_default="fr")
    email_status: Mapped[AccountEmailStatus] = mapped_column(
        db.Enum(AccountEmailStatus, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]),
        default=AccountEmailStatus.PENDING,
    )
    email_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    email_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    email_error: Mapped[str | None] = mapped_column(String(200))


class Invitation(LinkEmail, db.Model):  # type: ignore[name-defined,misc]
    """An admin's single-use invitation for someone to join the organisation; the token is stored hashed."""

    __tablename__ = "invitations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[Role] = mapped_column(
        db.Enum(Role, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organisation: Mapped[Organisation] = relationship()


class EmailConfirmation(LinkEmail, db.Model):  # type: ignore[name-defined,misc]
    """A link that proves a signed-up user reads their email address: single use, 48 hours, stored hashed."""

    __tablename__ = "email_confirmations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))  # the address confirmed: a link for an older address is void
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()
