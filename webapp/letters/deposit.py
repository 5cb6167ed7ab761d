"""Deposit: validate everything first, then store the letter, its encrypted document and evidence.

Nothing is added to the session before every input has been checked, and the
caller commits once, so a refused deposit leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pypdf import PdfReader
from pypdf.errors import PdfReadError, PyPdfError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.extensions import DbSession
from webapp.i18n import LANGUAGES
from webapp.letters import lifecycle
from webapp.letters.active_content import TooComplex, describe, find_active_content
from webapp.letters.eid import IdentityRequirement, store_requirement
from webapp.letters.errors import (
    ActiveContentRefused,
    DocumentTooLarge,
    EmailNotConfirmed,
    InvalidDocument,
    InvalidInput,
    InvalidPhoneNumber,
    NotSingleLineInput,
    OrganisationNotVerified,
)
from webapp.letters.notifications import queue_message
from webapp.letters.proofs import request_proof
from webapp.letters.states import Event, LetterStatus
from webapp.models import AccessLink, Letter, MessagePurpose, ProofKind, StoredDocument, User
from webapp.services import Services
from webapp.textinput import control_character, single_line_message

CHANNELS = ("sms", "email")
# No 0/O, 1/I/L or U: references are read aloud over the phone to support.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
REFERENCE_LENGTH = 8  # shown as ABCD-EFGH: 30**8, about 6.6e11 references
# Where the numbering plan cannot tell mobiles from landlines (the US and Canada), the number is
# taken: the operator's delivery receipt reports it if it cannot receive SMS.
_MOBILE_TYPES = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
_PHONE_CHARACTERS = re.compile(r"[\d\s+\-.()]+")


@dataclass(frozen=True)
class DepositRequest:
    document: bytes
    document_name: str
    recipient_phone: str
    recipient_name: str
    recipient_email: str | None = None
    channel: str = "sms"
    language: str = "fr"
    sender_reference: str | None = None
    # The API's `Idempotency-Key`: the same key of the same organisation always means the same letter.
    idempotency_key: str | None = None
    batch_id: str | None = None  # the bulk upload the letter comes from (`webapp.letters.bulk`)
    # The sender asks that the document's name be hidden from our support agents (never its content: no one sees it).
    document_confidential: bool = False
    # Issue 19: the identification the sender requires (national digital identity, an expected identity),
    # checked and minimised by `letters.eid.clean_requirement`; None for the one-time code alone.
    identity: IdentityRequirement | None = None

    def fingerprint(self) -> str:
        """SHA-256 of what the request asks for (the document by its hash), to tell a retry of
        a request from a different request reusing its idempotency key."""
        canonical: dict[str, Any] = {
            "document_sha256": hashlib.sha256(self.document).hexdigest(),
            "document_name": self.document_name,
            "recipient_phone": self.recipient_phone,
            "recipient_name": self.recipient_name,
            "recipient_email": self.recipient_email,
            "channel": self.channel,
            "language": self.language,
            "sender_reference": self.sender_reference,
        }
        if self.document_confidential:  # only when set: fingerprints of earlier requests stay the same
            canonical["document_confidential"] = True
        if self.identity is not None:  # likewise
            canonical["identity"] = self.identity.to_json()
        return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


class IdempotencyKeyReused(InvalidInput):
    """The idempotency key already created a letter from a different request."""

    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was already used for a different letter; use a new key for a new letter.",
            field="Idempotency-Key",
        )


def parse_mobile_number(raw: str, region: str = "MA") -> str:
    """Parses a mobile number written the local or the international way; returns E.164."""
    cleaned = (raw or "").strip()
    if not cleaned or len(cleaned) > 32:
        raise InvalidPhoneNumber("A mobile phone number is required.")
    if not _PHONE_CHARACTERS.fullmatch(cleaned):
        # phonenumbers would read letters as a keypad ("6ABC" -> "6222") or as an extension.
        raise InvalidPhoneNumber("A phone number has only digits, spaces and + - . ( ).")
    try:
        number = phonenumbers.parse(cleaned, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber("This is not a phone number.") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber("This phone number does not exist.")
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise InvalidPhoneNumber("This is not a mobile number: it cannot receive SMS.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def format_limit(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB" if size >= 1024 * 1024 else f"{size / 1024:g} KB"


def check_pdf(data: bytes, max_bytes: int, *, allow_active_content: bool = False) -> tuple[str, ...]:
    """Refuses anything but a readable, unencrypted PDF of at most `max_bytes`, without active content
    unless `allow_active_content`; returns the kinds of active content found (`letters.active_content`)."""
    if len(data) > max_bytes:
        raise DocumentTooLarge(f"The document is larger than {format_limit(max_bytes)}.")
    if not data:
        raise InvalidDocument("The document is empty.")
    if b"%PDF-" not in data[:1024]:
        raise InvalidDocument("The document is not a PDF.")
    # pypdf looks for %%EOF by reading lines backwards one byte at a time: bytes appended after it
    # (a scanner's padding, or a hostile megabyte without a newline) cost it seconds.  What follows
    # the last %%EOF is no part of the document's structure, so it is not given to the parser; the
    # document is stored whole, as deposited.  Unless that tail holds structure itself: an update
    # whose %%EOF is missing, which viewers still read and which may carry active content, is
    # parsed with the marker added (pypdf would otherwise read the revision before it).
    end = data.rfind(b"%%EOF")
    tail = data[end + 5 :] if end >= 0 else data
    if b"startxref" in tail:
        structure = data + b"\n%%EOF\n"
    elif end >= 0 and b"obj" not in tail:
        structure = data[: end + 5]
    else:
        structure = data
    try:
        reader = PdfReader(io.BytesIO(structure), strict=False)
        if reader.is_encrypted:
            raise InvalidDocument("The PDF is encrypted or password-protected.")
        if len(reader.pages) < 1:
            raise InvalidDocument("The PDF has no pages.")
        found = find_active_content(reader)
    except (
        PdfReadError,
        PyPdfError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        TooComplex,
        RecursionError,
    ) as exc:
        raise InvalidDocument("The PDF is damaged and cannot be read.") from exc
    if found and not allow_active_content:
        raise ActiveContentRefused(
            f"The PDF contains active content, which registered letters may not carry: {describe(found)}. "
            "Remove it (print the document to a new PDF, for instance) and send it again.",
            found,
        )
    return found


def clean_document_name(name: str) -> str:
    """Keeps the sender's file name (accents and Arabic included) minus paths and controls."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip(" .")
    if not name:
        name = "document.pdf"
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:190] + dot + ext) if dot and len(ext) <= 8 else name[:200]
    return name


def refuse_control_characters(raw: str | None, field: str) -> None:
    """Raises InvalidInput naming `field` if the single-line text holds a line break or control character."""
    found = control_character(raw or "")
    if found is not None:
        raise NotSingleLineInput(single_line_message(field, found), field=field)


def clean_name(raw: str) -> str:
    refuse_control_characters(raw, "recipient_name")
    name = re.sub(r"\s+", " ", unicodedata.normalize("NFC", raw or "")).strip()
    if not name:
        raise InvalidInput("The recipient's name is required.", field="recipient_name")
    if len(name) > 200 or any(unicodedata.category(ch)[0] == "C" for ch in name):
        raise InvalidInput("The recipient's name is not valid.", field="recipient_name")
    return name


def clean_email(raw: str | None) -> str | None:
    if not raw or not raw.strip():
        return None
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidInput("The recipient's email address is not valid.", field="recipient_email") from exc


SENDER_REFERENCE_MAX = 100


def clean_sender_reference(raw: str | None) -> str | None:
    """The sender's own reference, on one line, at most 100 characters; None when blank."""
    refuse_control_characters(raw, "sender_reference")
    reference = re.sub(r"\s+", " ", unicodedata.normalize("NFC", raw or "")).strip()
    if not reference:
        return None
    if len(reference) > SENDER_REFERENCE_MAX or any(unicodedata.category(ch)[0] == "C" for ch in reference):
        raise InvalidInput(
            f"Your reference must be at most {SENDER_REFERENCE_MAX} characters, on one line.", field="sender_reference"
        )
    return reference


def new_reference(session: DbSession) -> str:
    while True:
        raw = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))
        reference = f"{raw[:4]}-{raw[4:]}"
        if session.execute(select(Letter.id).where(Letter.reference == reference)).first() is None:
            return reference


def new_link_token() -> str:
    """128 bits from `secrets`, URL-safe (22 characters): short enough for one SMS."""
    return secrets.token_urlsafe(16)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def deposit_letter(session: DbSession, services: Services, sender: User, request: DepositRequest) -> Letter:
    """Checks and stores a letter, records SubmissionAcceptance, and queues its notification."""
    settings = services.settings
    if sender.organisation.verified_at is None:
        raise OrganisationNotVerified()
    if sender.email_confirmed_at is None:
        raise EmailNotConfirmed()
    active_content = check_pdf(
        request.document,
        settings.max_document_bytes,
        allow_active_content=sender.organisation.allows_active_content,
    )
    recipient_name = clean_name(request.recipient_name)
    phone = parse_mobile_number(request.recipient_phone)
    email = clean_email(request.recipient_email)
    channel = (request.channel or "sms").strip().lower()
    if channel not in CHANNELS:
        raise InvalidInput("The channel must be 'sms' or 'email'.", field="channel")
    if channel == "email" and email is None:
        raise InvalidInput("The email channel needs the recipient's email.", field="recipient_email")
    language = (request.language or settings.default_language).strip().lower()
    if language not in LANGUAGES:
        raise InvalidInput("The language must be one of fr, ar, en.", field="language")
    sender_reference = clean_sender_reference(request.sender_reference)

    now = services.clock.now()
    letter = Letter(
        reference=new_reference(session),
        organisation_id=sender.organisation_id,
        organisation=sender.organisation,
        sender_user_id=sender.id,
        status=LetterStatus.DEPOSITED,
        channel=channel,
        language=language,
        recipient_name=recipient_name,
        recipient_phone=phone,
        recipient_email=email,
        sender_reference=sender_reference,
        idempotency_key=request.idempotency_key,
        idempotency_fingerprint=request.fingerprint() if request.idempotency_key else None,
        batch_id=request.batch_id,
        document_name=clean_document_name(request.document_name),
        document_confidential=request.document_confidential,
        document_active_content=",".join(active_content) or None,
        document_size=len(request.document),
        document_sha256=hashlib.sha256(request.document).hexdigest(),
        deposited_at=now,
    )
    session.add(letter)
    session.flush()  # assigns the letter's id, which binds the ciphertext to it
    sealed = services.vault.encrypt(request.document, context=f"document:{letter.id}")
    session.add(
        StoredDocument(
            letter_id=letter.id,
            key_id=sealed.key_id,
            wrapped_key=sealed.wrapped_key,
            nonce=sealed.nonce,
            ciphertext=sealed.ciphertext,
        )
    )
    token = new_link_token()
    session.add(AccessLink(letter_id=letter.id, token_hash=hash_token(token), created_at=now))
    evidence = lifecycle.record(
        session,
        letter,
        Event.SUBMISSION_ACCEPTANCE,
        at=now,
        issuer=services.issuer,
        # What active content the document holds, when the organisation may send it: part of what was deposited.
        # and the identification required, with the identity expected (CIN minimised), when not the code alone.
        details={"language": language}
        | ({"active_content": list(active_content)} if active_content else {})
        | ({"identification": request.identity.facts()} if request.identity is not None else {}),
    )
    store_requirement(session, letter, request.identity)
    request_proof(session, letter, ProofKind.DEPOSIT, evidence, now)
    # The email channel notifies twice, by email and by SMS: the same link in both.
    if channel == "email":
        queue_message(session, services, letter, MessagePurpose.NOTIFICATION, secret=token, channel="email")
    queue_message(session, services, letter, MessagePurpose.NOTIFICATION, secret=token, channel="sms")
    return letter


def letter_for_idempotency_key(session: DbSession, organisation_id: str, key: str) -> Letter | None:
    return session.execute(
        select(Letter).where(Letter.organisation_id == organisation_id, Letter.idempotency_key == key)
    ).scalar_one_or_none()


def _replay(letter: Letter, request: DepositRequest) -> Letter:
    if letter.idempotency_fingerprint != request.fingerprint():
        raise IdempotencyKeyReused()
    return letter


def deposit_letter_once(
    session: DbSession, services: Services, sender: User, request: DepositRequest
) -> tuple[Letter, bool]:
    """`deposit_letter`, or the letter its idempotency key already created; True if it is new.

    Two requests with the same key at once both miss the first look-up; the unique
    (organisation, key) makes the second insert fail, and it then answers with the first's letter.
    """
    if request.idempotency_key is None:
        return deposit_letter(session, services, sender, request), True
    organisation_id = sender.organisation_id
    existing = letter_for_idempotency_key(session, organisation_id, request.idempotency_key)
    if existing is not None:
        return _replay(existing, request), False
    try:
        return deposit_letter(session, services, sender, request), True
    except IntegrityError:
        session.rollback()  # forgets the jobs it queued too (`enqueue_after_commit`)
        existing = letter_for_idempotency_key(session, organisation_id, request.idempotency_key)
        if existing is None:
            raise
        return _replay(existing, request), False
