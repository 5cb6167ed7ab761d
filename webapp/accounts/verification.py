"""The organisation's identity check, as its admins live it: what it needs, the documents they upload
(stored encrypted, one data key each), the submission, the operators' decision and the email that
tells them of it.

The operators' side (the queue, opening a document, verifying or refusing with a reason, each in
the agents' audit log) is `webapp.support.verification`; both record the decision through
`record_decision` here.  Until an organisation is verified it cannot send letters, create API tokens
or register webhooks (`require_verified`), and the portal says so before any work is started.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import force_locale, gettext
from sqlalchemy import select

from webapp.accounts.errors import (
    AccountError,
    AlreadyDecided,
    DocumentRefused,
    DocumentsMissing,
    NotAllowed,
    NotVerified,
)
from webapp.accounts.links import plain_email
from webapp.extensions import DbSession, db
from webapp.models import DocumentKind, Organisation, OrganisationDocument, Role, User, VerificationState
from webapp.models.organisation import AccountEmailStatus, EmailConfirmation
from webapp.models.types import new_id
from webapp.notify.email.base import EmailError, EmailReceipt, TransientEmailError
from webapp.queue import Priority, enqueue_after_commit
from webapp.services import Services, current_services
from webapp.vault import Sealed

# What an organisation uploads, in the order the page asks for them.
REQUIRED_DOCUMENTS = (DocumentKind.TRADE_REGISTER, DocumentKind.ICE_CERTIFICATE, DocumentKind.REPRESENTATIVE_ID)
MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
# What we tell organisations: a working day, usually sooner (the operators' target, not a promise).
REVIEW_TARGET = timedelta(days=1)
MIN_REFUSAL_REASON = 10
# File types by their first bytes (the browser's content type and the name's extension are not trusted).
_SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)
_UNSAFE_NAME = re.compile(r"[^\w.\- ]+")


def require_verified(org: Organisation) -> None:
    """Raises NotVerified unless operators have verified the organisation's identity."""
    if org.verified_at is None:
        raise NotVerified("the organisation's identity is not verified yet")


@dataclass(frozen=True)
class VerificationStatus:
    """What the organisation's admins see of their verification."""

    state: VerificationState
    documents: dict[DocumentKind, OrganisationDocument]
    missing: tuple[DocumentKind, ...]
    submitted_at: datetime | None
    verified_at: datetime | None
    refused_at: datetime | None
    refusal_reason: str | None

    @property
    def can_submit(self) -> bool:
        return self.state in (VerificationState.AWAITING_DOCUMENTS, VerificationState.REFUSED) and not self.missing

    @property
    def can_upload(self) -> bool:
        return self.state is not VerificationState.VERIFIED


def current_documents(session: DbSession, organisation_id: str) -> dict[DocumentKind, OrganisationDocument]:
    """The latest document of each kind (a newer upload replaces an older one)."""
    rows = session.execute(
        select(OrganisationDocument)
        .where(OrganisationDocument.organisation_id == organisation_id, OrganisationDocument.replaced_at.is_(None))
        .order_by(OrganisationDocument.uploaded_at)
    ).scalars()
    return {row.kind: row for row in rows}


def verification_status(session: DbSession, org: Organisation) -> VerificationStatus:
    documents = current_documents(session, org.id)
    return VerificationStatus(
        state=org.verification_state,
        documents=documents,
        missing=tuple(kind for kind in REQUIRED_DOCUMENTS if kind not in documents),
        submitted_at=org.verification_submitted_at,
        verified_at=org.verified_at,
        refused_at=org.refused_at,
        refusal_reason=org.refusal_reason,
    )


def document_content_type(data: bytes) -> str:
    """The document's type from its first bytes; DocumentRefused unless a PDF, JPEG or PNG."""
    for signature, content_type in _SIGNATURES:
        if data.startswith(signature):
            return content_type
    raise DocumentRefused("the document must be a PDF, JPEG or PNG file")


def clean_filename(name: str | None) -> str:
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE_NAME.sub("_", base).strip(" .")[:200]
    return cleaned or "document"


def document_context(document_id: str) -> str:
    """The vault context that binds a document's ciphertext to its row."""
    return f"organisation-document:{document_id}"


def upload_document(
    session: DbSession, services: Services, user: User, kind: DocumentKind, filename: str | None, data: bytes
) -> OrganisationDocument:
    """Stores one verification document, encrypted; an older one of the same kind is replaced."""
    if not user.is_admin:
        raise NotAllowed("only admins send the organisation's documents")
    org = user.organisation
    if org.verified_at is not None:
        raise AlreadyDecided("the organisation is verified already")
    if not data:
        raise DocumentRefused("the document is empty")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DocumentRefused("the document is larger than 5 MB")
    content_type = document_content_type(data)
    now = services.clock.now()
    for older in current_documents(session, org.id).values():
        if older.kind == kind:
            older.replaced_at = now
    document_id = new_id()
    sealed = services.vault.encrypt(data, context=document_context(document_id))
    document = OrganisationDocument(
        id=document_id,
        organisation_id=org.id,
        kind=kind,
        filename=clean_filename(filename),
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        key_id=sealed.key_id,
        wrapped_key=sealed.wrapped_key,
        nonce=sealed.nonce,
        ciphertext=sealed.ciphertext,
        uploaded_by_user_id=user.id,
        uploaded_at=now,
    )
    session.add(document)
    return document


def read_document(services: Services, document: OrganisationDocument) -> bytes:
    """The document's bytes (for operators only: `support.verification.open_document` checks and audits)."""
    sealed = Sealed(document.key_id, document.wrapped_key, document.nonce, document.ciphertext)
    return services.vault.decrypt(sealed, context=document_context(document.id))


def submit_for_verification(session: DbSession, services: Services, user: User) -> Organisation:
    """Puts the organisation in the operators' queue once every required document is there."""
    if not user.is_admin:
        raise NotAllowed("only admins ask for the organisation's verification")
    org = user.organisation
    status = verification_status(session, org)
    if status.state is VerificationState.VERIFIED:
        raise AlreadyDecided("the organisation is verified already")
    if status.state is VerificationState.IN_REVIEW:
        raise AlreadyDecided("the documents are being reviewed already")
    if status.missing:
        raise DocumentsMissing([kind.value for kind in status.missing])
    org.verification_submitted_at = services.clock.now()
    return org


# --- the decision, recorded by the operators' side ---------------------------------------------


def record_decision(
    session: DbSession, services: Services, org: Organisation, *, verified: bool, by: str, note: str
) -> None:
    """Writes the operator's decision on the organisation and queues the email telling its admins."""
    now = services.clock.now()
    if org.verified_at is not None:
        raise AlreadyDecided("the organisation is verified already")
    note = note.strip()
    if verified:
        if not note:
            raise AccountError("say what was checked")
        org.verified_at = now
        org.verified_by = by
        org.verification_document = note[:400]
    else:
        if len(note) < MIN_REFUSAL_REASON:
            raise AccountError("a refusal needs its reason")
        org.refused_at = now
        org.refused_by = by
        org.refusal_reason = note[:500]
    queue_decision_email(session, org)


def queue_decision_email(session: DbSession, org: Organisation) -> None:
    """The email telling the organisation's admins of the decision just recorded, sent after the commit."""
    org.decision_email_status = AccountEmailStatus.PENDING
    org.decision_emailed_at = None
    enqueue_after_commit(
        session,
        verification_email_job,
        org.id,
        job_id=decision_email_job_id(org.id, decided_at(org)),
        priority=Priority.URGENT,
    )


def decision_email_job_id(organisation_id: str, decided_at: datetime | None) -> str:
    """One job per decision: a refusal then a verification are two emails."""
    stamp = int(decided_at.timestamp()) if decided_at else 0
    return f"verification-decision-{organisation_id}-{stamp}"


def decided_at(org: Organisation) -> datetime | None:
    return org.verified_at or org.refused_at


def _decision_email(services: Services, org: Organisation, admin: User, language: str) -> tuple[str, list[str]]:
    settings = services.settings
    portal = settings.public_url
    with force_locale(language):
        if org.verified_at is not None:
            return gettext("%(name)s is verified: you can send registered letters", name=org.legal_name), [
                gettext(
                    "Our operators have verified the identity of %(name)s on %(service)s.",
                    name=org.legal_name,
                    service=settings.service_name,
                ),
                gettext("You can now send registered letters, one by one or in bulk:") + f"\n{portal}/letters/new",
                gettext("Your admins can also create API tokens and webhooks:") + f"\n{portal}/account/tokens",
            ]
        return gettext("%(name)s could not be verified yet", name=org.legal_name), [
            gettext(
                "Our operators could not verify the identity of %(name)s with the documents sent.",
                name=org.legal_name,
            ),
            gettext("Their reason:") + f"\n{org.refusal_reason or ''}",
            gettext("Send corrected documents from your account; we check them again, usually within a working day:")
            + f"\n{portal}/account/verification",
        ]


def _admin_language(session: DbSession, admin: User) -> str | None:
    """The language the admin used when signing up or joining (their emails are in it)."""
    return session.execute(
        select(EmailConfirmation.language)
        .where(EmailConfirmation.user_id == admin.id)
        .order_by(EmailConfirmation.created_at.desc())
        .limit(1)
    ).scalar_one_or_none()


def _client_ref(org: Organisation, admin: User) -> str:
    return f"{decision_email_job_id(org.id, decided_at(org))}-{admin.id[:8]}"


def deliver_decision_email(session: DbSession, services: Services, organisation_id: str) -> AccountEmailStatus | None:
    """The job: emails each active admin the decision once; a job killed mid-way asks the provider
    which emails went out before sending the others."""
    org = session.execute(
        select(Organisation).where(Organisation.id == organisation_id).with_for_update()
    ).scalar_one_or_none()
    if org is None or org.decision_email_status in (None, AccountEmailStatus.SENT):
        session.commit()
        return org.decision_email_status if org else None
    admins = list(
        session.execute(
            select(User)
            .where(User.organisation_id == org.id, User.role == Role.ADMIN, User.is_active.is_(True))
            .order_by(User.created_at)
        ).scalars()
    )
    resuming = org.decision_email_status is AccountEmailStatus.SENDING
    org.decision_email_status = AccountEmailStatus.SENDING
    session.commit()
    try:
        for admin in admins:
            client_ref = _client_ref(org, admin)
            if resuming and isinstance(services.email.find_sent(client_ref), EmailReceipt):
                continue
            language = _admin_language(session, admin) or services.settings.default_language
            subject, paragraphs = _decision_email(services, org, admin, language)
            with force_locale(language):
                closing = gettext("The %(service)s team", service=services.settings.service_name)
            email = plain_email(admin.email, language, subject, [*paragraphs, closing])
            services.email.send(email=email, client_ref=client_ref)
    except EmailError as exc:
        org.decision_email_status = AccountEmailStatus.FAILED
        session.commit()
        if isinstance(exc, TransientEmailError):
            raise
        return org.decision_email_status
    org.decision_email_status = AccountEmailStatus.SENT
    org.decision_emailed_at = services.clock.now()
    session.commit()
    return org.decision_email_status


def verification_email_job(organisation_id: str) -> str | None:
    """RQ job: `deliver_decision_email`; the sweeper (`webapp.sweepers`) enqueues it again if lost."""
    status = deliver_decision_email(db.session, current_services(), organisation_id)
    return status.value if status else None
