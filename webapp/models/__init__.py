"""SQLAlchemy 2.0 typed models, one module per aggregate."""

from webapp.models.agent import Agent, AgentAuditEntry
from webapp.models.batch import Batch, BatchDocument, BatchRow, BatchStatus
from webapp.models.evidence import ChainCheckpoint, ChainHead, Evidence
from webapp.models.identity import EidAttempt, EidAttemptStatus, IdentificationMethod, LetterIdentity
from webapp.models.journal import JournalCheckpoint, JournalNode, JournalRefusal
from webapp.models.letter import AccessLink, Letter, LetterStatus, OneTimeCode, StoredDocument
from webapp.models.message import DeliveryReceipt, MessagePurpose, MessageStatus, OutboundMessage
from webapp.models.organisation import ApiToken, Organisation, Role, User
from webapp.models.proof import Proof, ProofKind, ProofStatus
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
    "EidAttempt",
    "EidAttemptStatus",
    "Evidence",
    "IdentificationMethod",
    "JournalCheckpoint",
    "JournalNode",
    "JournalRefusal",
    "Letter",
    "LetterIdentity",
    "LetterStatus",
    "MessagePurpose",
    "MessageStatus",
    "OneTimeCode",
    "Organisation",
    "OutboundMessage",
    "Proof",
    "ProofKind",
    "ProofStatus",
    "Role",
    "StoredDocument",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookDeliveryStatus",
    "WebhookEndpoint",
]
