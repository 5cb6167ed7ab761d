"""SQLAlchemy 2.0 typed models, one module per aggregate."""

from webapp.models.evidence import ChainHead, Evidence
from webapp.models.letter import AccessLink, Letter, OneTimeCode, StoredDocument
from webapp.models.message import MessagePurpose, MessageStatus, OutboundMessage
from webapp.models.organisation import ApiToken, Organisation, Role, User

__all__ = [
    "AccessLink",
    "ApiToken",
    "ChainHead",
    "Evidence",
    "Letter",
    "MessagePurpose",
    "MessageStatus",
    "OneTimeCode",
    "Organisation",
    "OutboundMessage",
    "Role",
    "StoredDocument",
    "User",
]
