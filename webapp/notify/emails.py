"""Notification and reminder emails: the same sentences as plain text and as HTML.

The sentences are written once, translated in the letter's language, and
laid out twice (text, and `templates/email/letter.html`), so that both
alternatives of an email always say the same.  Like the SMS, an email names
the sender only when the service is configured to, and links only to our
own domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from babel.dates import format_date, format_time
from flask import current_app
from flask_babel import force_locale, gettext

from webapp.i18n import format_locale, text_direction
from webapp.notify.email.base import OutgoingEmail
from webapp.notify.texts import MOROCCO


@dataclass(frozen=True)
class LetterEmail:
    """What an email about a pending letter needs to say."""

    to: str
    language: str
    service_name: str
    public_url: str
    support_contact: str
    recipient_name: str
    reference: str
    link: str
    deadline: datetime
    phone_ending: str
    sender_name: str | None = None
    reminder: bool = False


def letter_email(facts: LetterEmail) -> OutgoingEmail:
    """The notification (or reminder) email of a letter, in the letter's language."""
    with force_locale(facts.language):
        local = facts.deadline.astimezone(MOROCCO)
        date = gettext(
            "%(date)s at %(time)s",
            date=format_date(local, "long", locale=format_locale(facts.language)),
            time=format_time(local, "short", locale=format_locale(facts.language)),
        )
        if facts.reminder:
            subject = gettext("Reminder: electronic registered letter %(reference)s", reference=facts.reference)
            intro = gettext(
                "Reminder: %(service)s still holds an electronic registered letter for you, reference %(reference)s.",
                service=facts.service_name,
                reference=facts.reference,
            )
        else:
            subject = gettext("Electronic registered letter %(reference)s", reference=facts.reference)
            if facts.sender_name:
                intro = gettext(
                    "%(service)s holds an electronic registered letter for you from %(sender)s, "
                    "reference %(reference)s.",
                    service=facts.service_name,
                    sender=facts.sender_name,
                    reference=facts.reference,
                )
            else:
                intro = gettext(
                    "%(service)s holds an electronic registered letter for you, reference %(reference)s.",
                    service=facts.service_name,
                    reference=facts.reference,
                )
        greeting = gettext("Hello %(name)s,", name=facts.recipient_name)
        until = gettext("You can open it until %(date)s (Morocco time):", date=date)
        how = gettext(
            "To open it, you will type a one-time code that we send by SMS to your mobile number "
            "ending in %(digits)s. You then accept or refuse the letter: the document can be read "
            "only after you accept it.",
            digits=facts.phone_ending,
        )
        consequence = gettext(
            "If you neither accept nor refuse it by then, the sender will receive a proof that the "
            "letter was made available to you."
        )
        safety = gettext(
            "Check that the link starts with %(url)s. We never ask for a password or bank details.",
            url=facts.public_url,
        )
        footer = gettext(
            "%(service)s, trust service provider under law 43-20. Questions: %(contact)s",
            service=facts.service_name,
            contact=facts.support_contact,
        )
        button = gettext("Open the letter")
        text = "\n\n".join([greeting, intro, f"{until}\n{facts.link}", how, consequence, safety, f"-- \n{footer}"])
        html = (
            current_app.jinja_env.get_template("email/letter.html")
            .render(
                language=facts.language,
                direction=text_direction(facts.language),
                subject=subject,
                greeting=greeting,
                intro=intro,
                until=until,
                link=facts.link,
                button=button,
                how=how,
                consequence=consequence,
                safety=safety,
                footer=footer,
            )
            .strip()
        )
    return OutgoingEmail(to=facts.to, subject=subject, text=text + "\n", html=html + "\n", language=facts.language)
