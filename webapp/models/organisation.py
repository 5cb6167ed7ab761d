"""Sender organisations, their users and API tokens."""

from __future__ import annotations

import enum
import unicodedata
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, delete, event, false, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.orm import InstanceState, Mapped, Mapper, mapped_column, relationship, validates

from webapp.extensions import db
from webapp.models.login import LoginAccount
from webapp.models.names import name_words
from webapp.models.types import UTCDateTime, new_id


class Role(enum.StrEnum):
    ADMIN = "admin"
    SENDER = "sender"


def organisation_name_key(name: str | None) -> str | None:
    """How organisation names are compared: Unicode NFC, spaces collapsed, case folded."""
    folded = " ".join(unicodedata.normalize("NFC", name or "").split()).casefold()
    return folded or None


class AccountEmailStatus(enum.StrEnum):
    PENDING = "pending"  # queued: the job sends it
    SENDING = "sending"  # handed to the provider; a job that finds it so asks the provider whether it went out
    SENT = "sent"
    FAILED = "failed"  # the provider refused it (the admin or user may ask for it again)


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
    # The organisation asked for verification (its documents are uploaded): the operators' queue.
    verification_submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # An operator refused the verification, and why (shown to the organisation); a new submission
    # after it puts the organisation back in the queue.
    refused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refused_by: Mapped[str | None] = mapped_column(String(254))
    refusal_reason: Mapped[str | None] = mapped_column(String(500))
    # The email telling the admins of the last decision (verified or refused): pending until a job sends it.
    decision_email_status: Mapped[AccountEmailStatus | None] = mapped_column(
        db.Enum(AccountEmailStatus, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
    )
    decision_emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

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

    @property
    def verification_state(self) -> VerificationState:
        """Where the organisation stands with the operators' identity check."""
        if self.verified_at is not None:
            return VerificationState.VERIFIED
        submitted = self.verification_submitted_at
        if self.refused_at is not None and (submitted is None or submitted <= self.refused_at):
            return VerificationState.REFUSED
        if submitted is not None:
            return VerificationState.IN_REVIEW
        return VerificationState.AWAITING_DOCUMENTS

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None


class VerificationState(enum.StrEnum):
    AWAITING_DOCUMENTS = "awaiting_documents"  # signed up; documents to upload, then submit
    IN_REVIEW = "in_review"  # submitted: in the operators' queue
    REFUSED = "refused"  # refused with a reason; new documents can be submitted
    VERIFIED = "verified"


class OrganisationNameWord(db.Model):  # type: ignore[name-defined,misc]
    """One folded word (`models.names`) of an organisation's name or legal name: support finds
    "Crédit" or "idris" (a word's start) in "Cabinet Idrissi Crédit" through the index on `word`."""

    __tablename__ = "organisation_name_words"

    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    word: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


def _organisation_words(org: Organisation) -> list[str]:
    return name_words(f"{org.name or ''} {org.legal_name or ''}")


@event.listens_for(Organisation, "after_insert")
def _index_organisation_name(_mapper: Mapper[Organisation], connection: Connection, org: Organisation) -> None:
    rows = [{"organisation_id": org.id, "word": word} for word in _organisation_words(org)]
    if rows:
        connection.execute(OrganisationNameWord.__table__.insert(), rows)


@event.listens_for(Organisation, "after_update")
def _reindex_organisation_name(_mapper: Mapper[Organisation], connection: Connection, org: Organisation) -> None:
    state: InstanceState[Organisation] = inspect(org)
    if not (state.attrs.name.history.has_changes() or state.attrs.legal_name.history.has_changes()):
        return
    connection.execute(delete(OrganisationNameWord).where(OrganisationNameWord.organisation_id == org.id))
    _index_organisation_name(_mapper, connection, org)


class DocumentKind(enum.StrEnum):
    """What an organisation uploads for its verification."""

    TRADE_REGISTER = "trade_register"  # extrait du registre de commerce (RC), less than 3 months old
    ICE_CERTIFICATE = "ice_certificate"  # attestation ICE
    REPRESENTATIVE_ID = "representative_id"  # CIN (or passport) of the legal representative


class OrganisationDocument(db.Model):  # type: ignore[name-defined,misc]
    """A document an organisation uploaded for its verification, encrypted like a letter's
    (`webapp.vault`, context `organisation-document:<id>`); only operators open it."""

    __tablename__ = "organisation_documents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    kind: Mapped[DocumentKind] = mapped_column(
        db.Enum(DocumentKind, native_enum=False, length=30, values_callable=lambda e: [m.value for m in e])
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(16))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary(12))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by_user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A newer upload of the same kind replaces it (kept for the record, no longer shown to operators).
    replaced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


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
