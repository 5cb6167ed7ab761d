"""SQLAlchemy 2.0 typed models, one module per aggregate."""

from webapp.models.agent import Agent, AgentAuditEntry
from webapp.models.batch import Batch, BatchDocument, BatchRow, BatchStatus
from webapp.models.evidence import ChainCheckpoint, ChainHead, Evidence
from webapp.models.identity import EidAttempt, EidAttemptStatus, IdentificationMethod, LetterIdentity
from webapp.models.journal import JournalCheckpoint, JournalNode, JournalRefusal
from webapp.models.letter import (
    AccessLink,
    DraftDocument,
    Letter,
    LetterNameWord,
    LetterStatus,
    OneTimeCode,
    StoredDocument,
)
from webapp.models.message import DeliveryReceipt, MessagePurpose, MessageStatus, OutboundMessage
from webapp.models.organisation import (
    ApiToken,
    DocumentKind,
    Organisation,
    OrganisationDocument,
    OrganisationNameWord,
    Role,
    User,
    VerificationState,
)
from webapp.models.proof import Proof, ProofKind, ProofStatus
from webapp.models.retention import KeyRotation, LegalHold
from webapp.models.webhook import WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint

__all__ = [
    "AccessLink",
    "Agent",
    "AgentAuditEntry",
    "ApiToken",
    "Batch",
    "BatchDocument",
    "BatchRow",
    "BatchStatus",
    "ChainCheckpoint",
    "ChainHead",
    "DeliveryReceipt",
    "DocumentKind",
    "DraftDocument",
    "EidAttempt",
    "EidAttemptStatus",
    "Evidence",
    "IdentificationMethod",
    "JournalCheckpoint",
    "JournalNode",
    "JournalRefusal",
    "KeyRotation",
    "LegalHold",
    "Letter",
    "LetterIdentity",
    "LetterNameWord",
    "LetterStatus",
    "MessagePurpose",
    "MessageStatus",
    "OneTimeCode",
    "Organisation",
    "OrganisationDocument",
    "OrganisationNameWord",
    "OutboundMessage",
    "Proof",
    "ProofKind",
    "ProofStatus",
    "Role",
    "StoredDocument",
    "User",
    "VerificationState",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookDeliveryStatus",
    "WebhookEndpoint",
]
