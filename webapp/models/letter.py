"""A registered letter, its encrypted document, its recipient links and codes."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint, event, false
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Mapper, mapped_column, relationship, validates

from webapp.extensions import db
from webapp.models.names import MAX_KEY_LENGTH, name_keys
from webapp.models.organisation import Organisation, User
from webapp.models.types import UTCDateTime, new_id


class LetterStatus(enum.StrEnum):
    """Where a letter stands; only `webapp.letters.lifecycle` moves it, along `letters.states.TRANSITIONS`."""

    DEPOSITED = "deposited"
    NOTIFIED = "notified"
    ACCEPTED = "accepted"
    REFUSED = "refused"
    NEGLECTED = "neglected"
    UNDELIVERABLE = "undeliverable"


def normalised_email(email: str | None) -> str | None:
    """How an address is compared: `Jane.Doe@Example.ma` and `jane.doe@example.ma` are one recipient."""
    return email.lower() if email else None


class Letter(db.Model):  # type: ignore[name-defined,misc]
    """One registered letter from deposit to its outcome.

    Only `webapp.letters` changes `status`, through its single gatekeeper, and
    `version` makes two concurrent transitions of the same letter collide
    instead of both succeeding.
    """

    __tablename__ = "letters"
    # One letter per idempotency key and organisation, even for two requests at the same instant.
    # (organisation, deposited_at): an organisation's newest letters without sorting them all (support search).
    __table_args__ = (
        UniqueConstraint("organisation_id", "idempotency_key"),
        Index("ix_letters_organisation_id_deposited_at", "organisation_id", "deposited_at"),
        # (status, deposited_at): the support console's recent undeliverable letters, without a sort.
        Index("ix_letters_status_deposited_at", "status", "deposited_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    sender_user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    status: Mapped[LetterStatus] = mapped_column(
        db.Enum(
            LetterStatus,
            native_enum=False,
            length=20,
            values_callable=lambda e: [m.value for m in e],
        ),
        index=True,
    )
    channel: Mapped[str] = mapped_column(String(10), default="sms")
    language: Mapped[str] = mapped_column(String(5), default="fr")
    recipient_name: Mapped[str] = mapped_column(String(200))
    recipient_phone: Mapped[str] = mapped_column(String(20), index=True)
    recipient_email: Mapped[str | None] = mapped_column(String(254))
    # `recipient_email` lower-cased, set with it: support finds a letter by any writing of the address.
    recipient_email_normalised: Mapped[str | None] = mapped_column(String(254), index=True)
    # The sender's own reference (a file number, an invoice), searchable; never shown to the recipient.
    sender_reference: Mapped[str | None] = mapped_column(String(100), index=True)
    # `Idempotency-Key` of the API request that created the letter, and the SHA-256 of what it asked.
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    idempotency_fingerprint: Mapped[str | None] = mapped_column(String(64))
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("batches.id"), index=True)  # sent in bulk (`Batch`)

    document_name: Mapped[str] = mapped_column(String(255))
    document_size: Mapped[int] = mapped_column(Integer)
    document_sha256: Mapped[str] = mapped_column(String(64))
    # Set by the sender: support agents see the letter without its document name.
    document_confidential: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The kinds of active content the PDF holds (codes of `letters.active_content.KINDS`, comma-separated),
    # deposited because the organisation is allowed them: the recipient is told before downloading.
    document_active_content: Mapped[str | None] = mapped_column(String(200))

    # Wrong codes in a row since the last right one (a right code starts it again at zero).
    code_failures: Mapped[int] = mapped_column(Integer, default=0, index=True)
    # Reminders claimed so far; moved only by a conditional UPDATE (see `letters.reminders`).
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set by the permanent lock of the old rule (before issue 16); no longer set nor enforced.
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # After several wrong codes in a row, the next code is checked only from then on (a growing wait,
    # see `webapp.otp.wait_after`), except a fresh code asked from the recipient's own browser.
    code_wait_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Last "send the notification again" claimed; moved only by a conditional UPDATE (`letters.resend`).
    last_resend_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    deposited_at: Mapped[datetime] = mapped_column(UTCDateTime)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the letter reached a state it never leaves (`letters.states.FINAL_STATES`): its document is kept
    # DOCUMENT_RETENTION_YEARS from then, unless a legal hold stops the deletion (`letters.retention`).
    final_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    document_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    organisation: Mapped[Organisation] = relationship()
    sender: Mapped[User] = relationship()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @validates("recipient_email")
    def _keep_email_normalised(self, _key: str, email: str | None) -> str | None:
        self.recipient_email_normalised = normalised_email(email)
        return email

    def recipient_facts(self) -> dict[str, str | None]:
        """Who the letter is for, as evidence records and the API state it."""
        return {"name": self.recipient_name, "phone": self.recipient_phone, "email": self.recipient_email}

    def document_facts(self) -> dict[str, str | int]:
        """What was deposited, as evidence records and the API state it (never the content)."""
        return {"name": self.document_name, "size": self.document_size, "sha256": self.document_sha256}


class LetterNameWord(db.Model):  # type: ignore[name-defined,misc]
    """One word of a letter's recipient name, folded (`models.names`), or a pair of its words ("bennani
    salma"), with the letter's deposit time: support finds "Bennani" or "Salma Bennani" as the newest
    letters of one index range (word, deposited_at), whatever the number of letters.  Written with the
    letter (`_index_recipient_name`); a name never changes.

    The index holds the letter id too: a search reads it alone (no table look-up), and a third word
    is checked by seeks into the same index, in deposit order (see `support.search`)."""

    __tablename__ = "letter_name_words"
    __table_args__ = (Index("ix_letter_name_words_word_deposited_at", "word", "deposited_at", "letter_id"),)

    letter_id: Mapped[str] = mapped_column(ForeignKey("letters.id"), primary_key=True)
    word: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    deposited_at: Mapped[datetime] = mapped_column(UTCDateTime)


@event.listens_for(Letter, "after_insert")
def _index_recipient_name(_mapper: Mapper[Letter], connection: Connection, letter: Letter) -> None:
    rows = [
        {"letter_id": letter.id, "word": word, "deposited_at": letter.deposited_at}
        for word in name_keys(letter.recipient_name)
    ]
    if rows:
        connection.execute(LetterNameWord.__table__.insert(), rows)


class StoredDocument(db.Model):  # type: ignore[name-defined,misc]
    """The letter's document, encrypted with its own data key (see `webapp.vault`).

    The ciphertext is an object in the store (`webapp.storage`): the row keeps its key and SHA-256.
    `ciphertext` holds it inline only for rows written before object storage, until
    `flask storage migrate` moves them.
    """

    __tablename__ = "documents"

    letter_id: Mapped[str] = mapped_column(ForeignKey("letters.id"), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(16))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary(12))
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    object_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    object_sha256: Mapped[str | None] = mapped_column(String(64))


class AccessLink(db.Model):  # type: ignore[name-defined,misc]
    """A recipient link sent by SMS; only the SHA-256 of its token is kept."""

    __tablename__ = "access_links"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    letter_id: Mapped[str] = mapped_column(ForeignKey("letters.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    letter: Mapped[Letter] = relationship()


class OneTimeCode(db.Model):  # type: ignore[name-defined,misc]
    """A 6-digit identification code sent by SMS, stored hashed."""

    __tablename__ = "one_time_codes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    letter_id: Mapped[str] = mapped_column(ForeignKey("letters.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The SMS that carried it: the identification record names it, the code-sent record too.
    message_id: Mapped[str | None] = mapped_column(ForeignKey("outbound_messages.id"))


class DraftDocument(db.Model):  # type: ignore[name-defined,misc]
    """A PDF a sender chose on the compose page whose submission failed for another field: kept,
    encrypted, for the corrected submission (one hour), so that it need not be chosen again."""

    __tablename__ = "draft_documents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    key_id: Mapped[str] = mapped_column(String(16))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary(12))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
