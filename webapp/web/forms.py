"""Flask-WTF forms of the sender portal."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import EmailField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional


class LoginForm(FlaskForm):  # type: ignore[misc]
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class ComposeForm(FlaskForm):  # type: ignore[misc]
    document = FileField(_l("Document (PDF)"), validators=[FileRequired()])
    recipient_name = StringField(_l("Recipient's name"), validators=[DataRequired(), Length(max=200)])
    recipient_phone = StringField(_l("Recipient's mobile number"), validators=[DataRequired(), Length(max=40)])
    # Given, the letter goes by email as well as by SMS (the code still goes to the mobile).
    recipient_email = EmailField(_l("Recipient's email (optional)"), validators=[Optional(), Length(max=254)])
    language = SelectField(
        _l("Language of the notification"),
        choices=[
            SelectChoice(code, name, render_kw={"lang": code})
            for code, name in (("fr", "Français"), ("ar", "العربية"), ("en", "English"))
        ],
        default="fr",
    )
