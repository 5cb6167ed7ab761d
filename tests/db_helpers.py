"""Rows read outside any request, detached so that tests can look at them after the session closes."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Evidence, Letter, MessagePurpose, OutboundMessage


def letter_row(app: Flask, letter_id: str) -> Letter:
    with app.app_context():
        letter = db.session.get_one(Letter, letter_id)
        db.session.expunge(letter)
        db.session.remove()
        return letter


def evidence_rows(app: Flask, letter_id: str) -> list[Evidence]:
    """The letter's evidence records in chain order."""
    with app.app_context():
        rows = list(
            db.session.execute(select(Evidence).where(Evidence.letter_id == letter_id).order_by(Evidence.seq)).scalars()
        )
        for row in rows:
            db.session.expunge(row)
        db.session.remove()
        return rows


def only_message(app: Flask, letter_id: str, purpose: MessagePurpose = MessagePurpose.NOTIFICATION) -> OutboundMessage:
    """The letter's (only) message of `purpose`."""
    with app.app_context():
        message = db.session.execute(
            select(OutboundMessage).where(OutboundMessage.letter_id == letter_id, OutboundMessage.purpose == purpose)
        ).scalar_one()
        db.session.expunge(message)
        db.session.remove()
        return message
