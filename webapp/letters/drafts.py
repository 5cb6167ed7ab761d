"""The compose page's kept PDF: a document chosen for a submission that failed on another field is
kept, encrypted, for the corrected one, so that the sender does not choose it again.

A draft belongs to one user, lives an hour, and is deleted once a letter is deposited with it; each
new draft sweeps that user's expired ones.  It is checked as a deposit checks a document before it
is kept (a PDF that is itself the error is not kept).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from webapp.extensions import DbSession
from webapp.letters.deposit import check_pdf, clean_document_name
from webapp.models import DraftDocument, User
from webapp.models.types import new_id
from webapp.services import Services
from webapp.vault import Sealed, VaultError

DRAFT_LIFETIME = timedelta(hours=1)


def _context(draft_id: str, user_id: str) -> str:
    return f"draft-document:{draft_id}:{user_id}"


def keep_draft(session: DbSession, services: Services, user: User, filename: str, data: bytes) -> DraftDocument:
    """Keeps the PDF for the user's next submission; raises the deposit's error if it is not a usable PDF."""
    check_pdf(data, services.settings.max_document_bytes)
    now = services.clock.now()
    session.execute(
        delete(DraftDocument).where(DraftDocument.user_id == user.id, DraftDocument.created_at < now - DRAFT_LIFETIME)
    )
    draft_id = new_id()
    sealed = services.vault.encrypt(data, context=_context(draft_id, user.id))
    draft = DraftDocument(
        id=draft_id,
        user_id=user.id,
        filename=clean_document_name(filename),
        size=len(data),
        key_id=sealed.key_id,
        wrapped_key=sealed.wrapped_key,
        nonce=sealed.nonce,
        ciphertext=sealed.ciphertext,
        created_at=now,
    )
    session.add(draft)
    return draft


def user_draft(session: DbSession, services: Services, user: User, draft_id: str | None) -> DraftDocument | None:
    """The user's own draft, if it is still there and not expired; None otherwise."""
    if not draft_id or len(draft_id) > 36:
        return None
    draft = session.execute(
        select(DraftDocument).where(DraftDocument.id == draft_id, DraftDocument.user_id == user.id)
    ).scalar_one_or_none()
    if draft is None or draft.created_at < services.clock.now() - DRAFT_LIFETIME:
        return None
    return draft


def open_draft(services: Services, draft: DraftDocument) -> bytes | None:
    sealed = Sealed(draft.key_id, draft.wrapped_key, draft.nonce, draft.ciphertext)
    try:
        return services.vault.decrypt(sealed, context=_context(draft.id, draft.user_id))
    except VaultError:
        return None


def discard_draft(session: DbSession, draft_id: str) -> None:
    """Deletes the draft once its letter is deposited."""
    session.execute(delete(DraftDocument).where(DraftDocument.id == draft_id))
