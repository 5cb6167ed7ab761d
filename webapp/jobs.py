"""RQ job functions: thin adapters that take ids only and call the letters service.

They run inside the app context that the worker's entry point provides.
"""

from __future__ import annotations

from webapp.extensions import db
from webapp.letters.notifications import dispatch_message, requeue_stalled_messages
from webapp.letters.recipient import expire_overdue_letters
from webapp.services import current_services


def send_message(message_id: str) -> str | None:
    status = dispatch_message(db.session, current_services(), message_id)
    return status.value if status else None


def expire_letters() -> int:
    return expire_overdue_letters(db.session, current_services())


def requeue_messages() -> int:
    return requeue_stalled_messages(db.session, current_services())
