"""Domain exceptions of the letters service, one per failure."""

from __future__ import annotations

from datetime import datetime


class LetterError(Exception):
    """Base of every failure the letters service reports to its callers."""

    code = "letter_error"
    field: str | None = None

    def __init__(self, message: str = "", *, field: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or self.code).strip())
        if field is not None:
            self.field = field

    @property
    def message(self) -> str:
        return str(self.args[0])


class IllegalTransition(LetterError):
    """The letter's current state does not allow this move."""

    code = "illegal_transition"


class InvalidInput(LetterError):
    """A deposit field is missing or malformed."""

    code = "invalid_input"


class NotSingleLineInput(InvalidInput):
    """A single-line field holds a line break or a control character."""

    code = "control_characters"


class InvalidPhoneNumber(InvalidInput):
    """The recipient's number is not a valid mobile number."""

    code = "invalid_phone"
    field = "recipient_phone"


class InvalidDocument(InvalidInput):
    """The document is not a readable, unencrypted PDF."""

    code = "invalid_document"
    field = "document"


class ActiveContentRefused(InvalidDocument):
    """The PDF holds active content (JavaScript, actions, embedded files, XFA) the organisation may not send."""

    code = "active_content"

    def __init__(self, message: str, found: tuple[str, ...]) -> None:
        super().__init__(message)
        self.found = found


class DocumentTooLarge(InvalidInput):
    """The document is larger than the configured limit."""

    code = "document_too_large"
    field = "document"


class OrganisationNotVerified(LetterError):
    """The sender's organisation has not been verified yet and cannot send."""

    code = "organisation_not_verified"


class EmailNotConfirmed(LetterError):
    """The sender has not confirmed their email address yet and cannot send."""

    code = "email_not_confirmed"


class LinkNotFound(LetterError):
    """No letter matches this link."""

    code = "link_not_found"


class LinkExpired(LetterError):
    """The letter's decision period is over."""

    code = "link_expired"


class AlreadyDecided(LetterError):
    """The recipient already accepted or refused this letter."""

    code = "already_decided"


class NotYetNotified(LetterError):
    """The letter's notification has not gone out yet."""

    code = "not_yet_notified"


class RecipientLocked(LetterError):
    """The letter was locked by the old rule of ten wrong codes (before issue 16); kept for its callers."""

    code = "recipient_locked"


class TooManyCodes(LetterError):
    """Too many codes were requested recently for this letter."""

    code = "too_many_codes"

    def __init__(self, message: str = "", *, retry_at: datetime | None = None) -> None:
        super().__init__(message)
        self.retry_at = retry_at  # when the next code may be asked


class CodeInvalid(LetterError):
    """The code is wrong, expired or already used."""

    code = "code_invalid"
    field = "code"


class NotIdentified(LetterError):
    """The recipient has not proven their identity for this letter."""

    code = "not_identified"


class ContentNotAvailable(LetterError):
    """The document is only available after acceptance."""

    code = "content_not_available"


class LetterNotFound(LetterError):
    """No such letter, or not one this actor may see (the same answer either way)."""

    code = "not_found"


class ProofNotAvailable(LetterError):
    """The letter has no proof of that kind."""

    code = "proof_not_available"


class ProofPending(LetterError):
    """The proof exists but is still being produced."""

    code = "proof_pending"


class AccessDenied(LetterError):
    """This actor may see the letter but not open what was asked (an agent never opens content)."""

    code = "access_denied"


class HoldRefused(LetterError):
    """The legal hold cannot be placed or lifted (already held, not held, or no reason given)."""

    code = "legal_hold_refused"
    field = "reason"


class HoldForbidden(LetterError):
    """Only an administrator of the sender's organisation (or our operator) may place or lift a legal hold."""

    code = "legal_hold_forbidden"
