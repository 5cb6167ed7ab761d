"""Flask-WTF forms of the sender portal."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional, Regexp, StopValidation

from webapp.labels import IDENTIFICATION_LABELS
from webapp.textinput import control_character


def single_line_error(field: Any) -> str:
    """The message shown under a single-line field that holds a line break or control character."""
    message: str = _l("“%(field)s” may not contain line breaks or control characters.", field=field.label.text)
    return message


class SingleLine:
    """Refuses a line break or control character in a single-line field (the rule of `webapp.textinput`).

    Every StringField of every form carries it (tests/test_single_line_fields.py checks)."""

    field_flags: dict[str, Any] = {}  # noqa: RUF012

    def __call__(self, form: Any, field: Any) -> None:
        if isinstance(field.data, str) and control_character(field.data) is not None:
            raise StopValidation(str(single_line_error(field)))


class LoginForm(FlaskForm):  # type: ignore[misc]
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class ComposeForm(FlaskForm):  # type: ignore[misc]
    # Required unless a PDF chosen for a previous, failed submission is kept (`draft`): see the view.
    document = FileField(_l("Document (PDF)"))
    draft = HiddenField(validators=[SingleLine()])
    recipient_name = StringField(_l("Recipient's name"), validators=[SingleLine(), DataRequired(), Length(max=200)])
    recipient_phone = StringField(
        _l("Recipient's mobile number"), validators=[SingleLine(), DataRequired(), Length(max=40)]
    )
    # Given, the letter goes by email as well as by SMS (the code still goes to the mobile).
    recipient_email = EmailField(
        _l("Recipient's email (optional)"), validators=[SingleLine(), Optional(), Length(max=254)]
    )
    sender_reference = StringField(
        _l("Your own reference (optional)"), validators=[SingleLine(), Optional(), Length(max=100)]
    )
    document_confidential = BooleanField(_l("Confidential: hide the document's name from our support team"))
    language = SelectField(
        _l("Language of the notification"),
        choices=[
            SelectChoice(code, name, render_kw={"lang": code})
            for code, name in (("fr", "Français"), ("ar", "العربية"), ("en", "English"))
        ],
        default="fr",
    )
    # Issue 19: the identification the letter requires, and the identity expected (shown when a provider is set).
    identification = SelectField(
        _l("How the recipient proves who they are"),
        choices=[SelectChoice(code, label) for code, label in IDENTIFICATION_LABELS.items()],
        default="sms-otp",
    )
    expected_cin = StringField(
        _l("Expected national identity number (CIN, optional)"), validators=[SingleLine(), Optional(), Length(max=40)]
    )
    expected_name = StringField(
        _l("Expected full name (optional)"), validators=[SingleLine(), Optional(), Length(max=200)]
    )
    expected_birth_date = StringField(
        _l("Expected date of birth (optional)"), validators=[SingleLine(), Optional(), Length(max=10)]
    )


ROLE_CHOICES = [
    SelectChoice("sender", _l("Sender: sends letters")),
    SelectChoice("admin", _l("Admin: also manages users")),
]


class SecondFactorForm(FlaskForm):  # type: ignore[misc]
    code = StringField(
        _l("Code from your authenticator app, or a recovery code"),
        validators=[SingleLine(), DataRequired(), Length(max=20)],
    )


class SignupForm(FlaskForm):  # type: ignore[misc]
    legal_name = StringField(
        _l("Legal name of the organisation"), validators=[SingleLine(), DataRequired(), Length(max=200)]
    )
    ice = StringField(
        _l("ICE (Identifiant Commun de l'Entreprise, 15 digits)"),
        validators=[
            SingleLine(),
            DataRequired(),
            Regexp(r"^\s*(?:[0-9]\s*){15}$", message=_l("The ICE is exactly 15 digits.")),
        ],
    )
    address = TextAreaField(_l("Registered address"), validators=[DataRequired(), Length(max=400)])
    email = EmailField(_l("Your email"), validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField(
        _l("Password (at least 12 characters)"),
        validators=[DataRequired(), Length(min=12, max=200, message=_l("At least 12 characters."))],
    )
    confirm = PasswordField(
        _l("Password again"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))],
    )


class SetPasswordForm(FlaskForm):  # type: ignore[misc]
    password = PasswordField(
        _l("Password (at least 12 characters)"),
        validators=[DataRequired(), Length(min=12, max=200, message=_l("At least 12 characters."))],
    )
    confirm = PasswordField(
        _l("Password again"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))],
    )


class ChangePasswordForm(SetPasswordForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=200)])


class InviteForm(FlaskForm):  # type: ignore[misc]
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default="sender")


class RoleForm(FlaskForm):  # type: ignore[misc]
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)


class TokenForm(FlaskForm):  # type: ignore[misc]
    name = StringField(_l("Token name"), validators=[SingleLine(), DataRequired(), Length(max=100)])


class ConfirmForm(FlaskForm):  # type: ignore[misc]
    """A button that only needs the CSRF token."""


class VerificationDocumentsForm(FlaskForm):  # type: ignore[misc]
    """The organisation's identity documents; a file not chosen again keeps the one already sent."""

    trade_register = FileField(_l("Trade register extract (RC), less than three months old"))
    ice_certificate = FileField(_l("ICE certificate"))
    representative_id = FileField(_l("National identity card (CIN) of the legal representative"))
