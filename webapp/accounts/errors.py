"""Why an account operation was refused: one exception per failure, shared by every concern of `accounts`."""

from __future__ import annotations

from webapp.textinput import single_line_message


class AccountError(Exception):
    """An account operation was refused."""


class UserNotFound(AccountError):
    """No user has this email address."""


class WeakPassword(AccountError):
    """The password is too short, or is the email address."""


class InvalidIce(AccountError):
    """An ICE is exactly 15 digits."""


class NotSingleLine(AccountError):
    """A name holds a line break or a control character."""

    def __init__(self, field: str, found: str) -> None:
        super().__init__(single_line_message(field, found))
        self.field, self.found = field, found


class OrganisationExists(AccountError):
    """An organisation with this name already exists."""


class EmailTaken(AccountError):
    """A user with this email address already exists."""


class OrganisationNotFound(AccountError):
    """No organisation has this name or id."""


class AttemptsThrottled(AccountError):
    """Too many recent failures: this step is locked for a while."""


class TwoFactorError(AccountError):
    """A two-factor operation was refused."""


class CodeRejected(TwoFactorError):
    """The code is wrong, already used, or the account's code step is locked."""


class InvitationInvalid(AccountError):
    """The invitation link is unknown, already used or expired."""


class LastAdmin(AccountError):
    """The organisation would be left without an active admin."""


class ConfirmationInvalid(AccountError):
    """The email confirmation link is unknown, already used, replaced or expired."""


class EmailAlreadyConfirmed(AccountError):
    """The user's email address is already confirmed."""


class ConfirmationThrottled(AccountError):
    """A confirmation link was sent too recently, or too many today."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"wait {retry_after} s before asking for another link")
        self.retry_after = retry_after
