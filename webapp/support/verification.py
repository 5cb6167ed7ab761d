"""The operators' side of sender verification: the queue, an organisation's file, its documents, and
the decision (verify, or refuse with a reason), each in the agents' append-only audit log.

Opening an identity document is itself audited: the documents are personal data of the legal
representative, read only to decide.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select

from webapp.accounts.errors import AccountError, OrganisationNotFound
from webapp.accounts.signup import organisation_admin_contacts
from webapp.accounts.verification import (
    MIN_REFUSAL_REASON,
    VerificationStatus,
    read_document,
    record_decision,
    verification_status,
)
from webapp.extensions import DbSession
from webapp.models import Agent, Organisation, OrganisationDocument, User
from webapp.services import Services
from webapp.support.audit import AuditAction, record_action

QUEUE_LIMIT = 200


class ReasonTooShort(AccountError):
    """A refusal needs a reason the organisation can act on."""


@dataclass(frozen=True)
class OrganisationFile:
    """What an operator sees to decide: the organisation, its first admin, its documents and state."""

    organisation: Organisation
    admin: User | None
    status: VerificationStatus


def verification_queue(session: DbSession) -> list[OrganisationFile]:
    """Organisations waiting for a decision, the longest waiting first; then those still uploading."""
    waiting = list(
        session.execute(
            select(Organisation)
            .where(
                Organisation.verified_at.is_(None),
                Organisation.verification_submitted_at.is_not(None),
                or_(
                    Organisation.refused_at.is_(None),
                    Organisation.refused_at < Organisation.verification_submitted_at,
                ),
            )
            .order_by(Organisation.verification_submitted_at)
            .limit(QUEUE_LIMIT)
        ).scalars()
    )
    return _files(session, waiting)


def unsubmitted_organisations(session: DbSession) -> list[OrganisationFile]:
    """Organisations signed up but not verified that have not (re)submitted: for the operators' follow-up."""
    rows = list(
        session.execute(
            select(Organisation)
            .where(Organisation.verified_at.is_(None))
            .order_by(Organisation.created_at.desc())
            .limit(QUEUE_LIMIT)
        ).scalars()
    )
    in_queue = {f.organisation.id for f in verification_queue(session)}
    return _files(session, [org for org in rows if org.id not in in_queue])


def _files(session: DbSession, orgs: list[Organisation]) -> list[OrganisationFile]:
    admins = organisation_admin_contacts(session, [org.id for org in orgs])
    return [OrganisationFile(org, admins.get(org.id), verification_status(session, org)) for org in orgs]


def organisation_file(session: DbSession, organisation_id: str) -> OrganisationFile:
    org = session.get(Organisation, organisation_id)
    if org is None:
        raise OrganisationNotFound("no such organisation")
    return _files(session, [org])[0]


def open_document(
    session: DbSession, services: Services, agent: Agent, organisation_id: str, document_id: str
) -> tuple[OrganisationDocument, bytes]:
    """A verification document's bytes for an operator; the opening is audited."""
    document = session.get(OrganisationDocument, document_id)
    if document is None or document.organisation_id != organisation_id:
        raise OrganisationNotFound("no such document")
    data = read_document(services, document)
    record_action(
        session,
        services.clock,
        agent,
        AuditAction.OPEN_ORGANISATION_DOCUMENT,
        details={"organisation_id": organisation_id, "document_id": document.id, "kind": document.kind.value},
    )
    return document, data


def decide_verification(
    session: DbSession, services: Services, agent: Agent, organisation_id: str, *, verified: bool, note: str
) -> Organisation:
    """Verifies (with what was checked) or refuses (with a reason the organisation reads) an organisation;
    recorded on it, in the audit log, and emailed to its admins after the commit."""
    org = session.get(Organisation, organisation_id)
    if org is None:
        raise OrganisationNotFound("no such organisation")
    note = " ".join(note.split())
    if not verified and len(note) < MIN_REFUSAL_REASON:
        raise ReasonTooShort(f"a refusal needs a reason of at least {MIN_REFUSAL_REASON} characters")
    documents = verification_status(session, org).documents
    record_decision(session, services, org, verified=verified, by=agent.email, note=note)
    record_action(
        session,
        services.clock,
        agent,
        AuditAction.VERIFY_ORGANISATION if verified else AuditAction.REFUSE_ORGANISATION,
        reason=note[:500],
        details={
            "organisation_id": org.id,
            "organisation": org.legal_name,
            "documents": {kind.value: doc.sha256 for kind, doc in documents.items()},
        },
    )
    return org
