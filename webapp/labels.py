"""What letter statuses, evidence events and proofs are called: one home, below every layer that shows them.

Two vocabularies, both in the Babel catalogs under `webapp/translations/` (English msgids; French
and Arabic msgstrs):

- **Pages** (portal, support console, verify pages) use the lazy labels below (`STATUS_LABELS`,
  `EVENT_LABELS`, `PROOF_LABELS`), translated by Flask-Babel in the page's language from the
  `messages` catalogs; templates reach them as `status_label`, `event_label` and `proof_label`.
- **Proofs** use `proof_texts(language)` and `proof_event_labels(language)`, read from the `proofs`
  catalogs (`proofs.po`) by Babel itself: the proof job translates them when it gathers a proof's
  facts, and the renderer receives strings, so that a proof renders the same in a job, a CLI command
  or a test without an app.  A proof's wording is legal text, fixed per language: it has a catalog of
  its own so that the pages' rules (French typography, shared msgids) never change it, and the
  catalog is read as reviewed (the `.po`), with no compiled copy that could lag behind it.

`make extract-messages` extracts both (`_l` for the pages, `_p` for proofs) and updates the catalogs;
`tests/test_labels.py` checks that every proof text is translated.  This module imports no web,
letters or trust code: trust renders proofs, web renders pages, both read it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po
from flask_babel import lazy_gettext as _l

from webapp.i18n import LANGUAGES
from webapp.models.proof import ProofKind

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
PROOF_DOMAIN = "proofs"

# Every proof kind, in ProofKind's order: the renderer, the API and the tests list kinds from here.
PROOF_KINDS: tuple[str, ...] = tuple(kind.value for kind in ProofKind)


# The kinds of active content a PDF may hold (`webapp.letters.active_content.KINDS`), as pages name them.
ACTIVE_CONTENT_LABELS: dict[str, Any] = {
    "javascript": _l("JavaScript"),
    "launch": _l("actions that launch programs or open files"),
    "uri_launch": _l("links that open something other than a web page or an email"),
    "submit_form": _l("forms that send data"),
    "embedded_files": _l("embedded files"),
    "xfa": _l("XFA forms"),
    "rich_media": _l("rich media (Flash, video, 3D)"),
}


def active_content_label(codes: str | tuple[str, ...] | None) -> str:
    """The kinds of active content, comma-separated codes or a tuple, named in the page's language."""
    found = codes.split(",") if isinstance(codes, str) else list(codes or ())
    return ", ".join(str(ACTIVE_CONTENT_LABELS.get(code, code)) for code in found if code)


def _p(message: str) -> str:
    """Marks a text of the `proofs` catalogs for extraction (`pybabel extract -k _p`); translated later,
    in the proof's language, by `proof_texts`."""
    return message


# --------------------------------------------------------------------------------------------------
# Pages (Flask-Babel, `messages` catalogs).  Keys are the values stored and sent by the API.

STATUS_LABELS: dict[str, Any] = {  # a letter's status (webapp.letters.states.LetterStatus)
    "deposited": _l("Deposited"),
    "notified": _l("Notified"),
    "accepted": _l("Accepted"),
    "refused": _l("Refused"),
    "neglected": _l("Not collected"),
    "undeliverable": _l("Undeliverable"),
}

EVENT_LABELS: dict[str, Any] = {  # an evidence record's event (webapp.letters.states.Event)
    "SubmissionAcceptance": _l("Letter deposited"),
    "ConsignmentNotification": _l("Recipient notified by SMS"),
    "ConsignmentNotificationFailure": _l("Notification failed"),
    "NotificationDelivered": _l("SMS delivered to the phone"),
    "ConsignmentReminder": _l("Reminder sent"),
    "RecipientCodeSent": _l("One-time code sent by SMS"),
    "RecipientIdentification": _l("Recipient identified with a one-time code"),
    "RecipientIdentificationFailure": _l("Wrong code typed"),
    "RecipientUnlock": _l("Code entry unlocked by our support team"),
    "ConsignmentAcceptance": _l("Letter accepted"),
    "ConsignmentRejection": _l("Letter refused"),
    "ContentHandover": _l("Document downloaded by the recipient"),
    "AcceptanceRejectionExpiry": _l("Deadline passed without an answer"),
    "ArchiveTimestampRenewal": _l("Proof given a new archive timestamp"),
    "LegalHoldPlaced": _l("Legal hold placed on the document"),
    "LegalHoldLifted": _l("Legal hold lifted"),
    "DocumentDeletion": _l("Document deleted at the end of its retention period"),
}

# Issue 19: identification by national digital identity.  The same events, told apart by their `method`.
EID_EVENT_LABELS: dict[str, Any] = {
    "RecipientIdentification": _l("Recipient identified with national digital identity"),
    "RecipientIdentificationFailure": _l("Identification with national digital identity failed"),
}
IDENTIFICATION_LABELS: dict[str, Any] = {  # a letter's identification (webapp.models.IdentificationMethod)
    "sms-otp": _l("One-time code by SMS"),
    "eid": _l("National digital identity"),
    "sms-otp+eid": _l("One-time code by SMS, then national digital identity"),
}
LEVEL_LABELS: dict[str, Any] = {  # what a provider's `acr` means (webapp.config.ASSURANCE_LEVELS)
    "low": _l("low"),
    "substantial": _l("substantial"),
    "high": _l("high"),
}
EID_FAILURE_LABELS: dict[str, Any] = {  # why an identification at a provider failed (letters.eid_flow)
    "cancelled": _l("cancelled by the recipient"),
    "provider_unavailable": _l("the identity provider did not answer"),
    "provider_error": _l("the identity provider returned an error"),
    "identity_mismatch": _l("the identity does not match the one you expect"),
    "level_too_low": _l("sign-in level too low"),
    "replayed": _l("an answer used twice (refused)"),
    "wrong_browser": _l("an answer opened in another browser (refused)"),
    "invalid_response": _l("an answer that does not check (refused)"),
    "expired": _l("too late: the identification took too long"),
}


def event_label(event: str, details: Mapping[str, Any] | None = None) -> Any:
    """What a page calls an evidence event; an identification by national digital identity is named so."""
    if details is not None and details.get("method") == "eid" and event in EID_EVENT_LABELS:
        return EID_EVENT_LABELS[event]
    return EVENT_LABELS.get(event, event)


MESSAGE_STATUS_LABELS: dict[str, Any] = {  # an outgoing SMS or email (models.MessageStatus)
    "pending": _l("Waiting to be sent"),
    "submitting": _l("Being handed to the operator"),
    "sent": _l("Sent"),
    "failed": _l("Failed"),
    "uncertain": _l("Uncertain (interrupted while sending)"),
    "cancelled": _l("Not sent (no longer needed)"),
}

MESSAGE_PURPOSE_LABELS: dict[str, Any] = {  # models.MessagePurpose
    "notification": _l("Notification"),
    "code": _l("One-time code"),
    "reminder": _l("Reminder"),
}

CHANNEL_LABELS: dict[str, Any] = {"sms": _l("SMS"), "email": _l("Email")}

RECEIPT_STATUS_LABELS: dict[str, Any] = {  # an operator's delivery receipt
    "delivered": _l("delivered to the phone"),
    "failed": _l("not delivered"),
    "rejected": _l("rejected by the operator"),
    "expired": _l("expired before delivery"),
    "accepted": _l("accepted by the operator"),
    "buffered": _l("held by the operator"),
    "unknown": _l("unknown"),
}

# What an evidence record's facts are called on the support console's timeline.
FACT_LABELS: dict[str, Any] = {
    "notification.channel": _l("Channel"),
    "notification.purpose": _l("Purpose"),
    "notification.provider": _l("Provider"),
    "notification.provider_message_id": _l("Operator’s message id"),
    "notification.reminder": _l("Reminder number"),
    "notification.reason": _l("Reason"),
    "notification.requested_by_agent": _l("Asked by an agent"),
    "message.provider": _l("Provider"),
    "message.provider_message_id": _l("Operator’s message id"),
    "message.to": _l("To"),
    "reason": _l("Reason"),
    "from_status": _l("Status before"),
    "to_status": _l("Status after"),
    "method": _l("Method"),
    "failures": _l("Wrong codes so far"),
    "locked": _l("Code entry locked"),
    "deadline": _l("Deadline"),
    "unlocked_by_agent": _l("Unlocked by an agent"),
    "receipt.status": _l("Operator’s receipt"),
    "receipt.error_code": _l("Operator’s error code"),
    "receipt.operator_at": _l("Operator’s time"),
}

DOCUMENT_LABELS: dict[str, Any] = {  # what an organisation uploads for its verification (models.DocumentKind)
    "trade_register": _l("Trade register extract (RC), less than three months old"),
    "ice_certificate": _l("ICE certificate"),
    "representative_id": _l("National identity card (CIN) of the legal representative"),
}

VERIFICATION_STATE_LABELS: dict[str, Any] = {  # models.VerificationState
    "awaiting_documents": _l("Documents to send"),
    "in_review": _l("Being checked by our operators"),
    "refused": _l("Refused: documents to correct"),
    "verified": _l("Verified"),
}

PROOF_LABELS: dict[str, Any] = {
    ProofKind.DEPOSIT: _l("Proof of deposit"),
    ProofKind.RECEPTION: _l("Proof of reception"),
    ProofKind.REFUSAL: _l("Proof of refusal"),
    ProofKind.NEGLIGENCE: _l("Proof of negligence"),
    ProofKind.NON_DELIVERY: _l("Proof of non-delivery"),
    ProofKind.HANDOVER: _l("Proof of handover"),
}


# --------------------------------------------------------------------------------------------------
# Proofs (`proofs` catalogs).  A proof's texts by key: `title.<kind>`, `statement.<kind>`, then the
# headings, labels and sentences of the page.

PROOF_TITLES: dict[ProofKind, str] = {
    ProofKind.DEPOSIT: _p("Proof of deposit"),
    ProofKind.RECEPTION: _p("Proof of reception"),
    ProofKind.REFUSAL: _p("Proof of refusal"),
    ProofKind.NEGLIGENCE: _p("Proof of negligence"),
    ProofKind.NON_DELIVERY: _p("Proof of non-delivery"),
    ProofKind.HANDOVER: _p("Proof of handover"),
}

PROOF_STATEMENTS: dict[ProofKind, str] = {
    ProofKind.DEPOSIT: _p(
        "The provider certifies that the sender identified below deposited with it the electronic "
        "registered letter described hereafter, at the date and time stated."
    ),
    ProofKind.RECEPTION: _p(
        "The provider certifies that the recipient identified below accepted the electronic "
        "registered letter described hereafter."
    ),
    ProofKind.REFUSAL: _p(
        "The provider certifies that the recipient identified below refused the electronic "
        "registered letter described hereafter."
    ),
    ProofKind.NEGLIGENCE: _p(
        "The provider certifies that the recipient identified below, duly notified, neither "
        "accepted nor refused the electronic registered letter described hereafter within the "
        "time allowed."
    ),
    ProofKind.NON_DELIVERY: _p(
        "The provider certifies that the electronic registered letter described hereafter could "
        "not be delivered to the recipient identified below."
    ),
    ProofKind.HANDOVER: _p(
        "The provider certifies that the recipient identified below, having accepted the electronic "
        "registered letter described hereafter and identified with a one-time code received by SMS, "
        "downloaded its document, whose fingerprint is given below, at the date and time stated."
    ),
}

# Issue 19: a proof of a letter whose recipient identified with national digital identity.
PROOF_EID_TEXTS: dict[str, str] = {
    "statement.handover.eid": _p(
        "The provider certifies that the recipient identified below, having accepted the electronic "
        "registered letter described hereafter and identified with their national digital identity, "
        "downloaded its document, whose fingerprint is given below, at the date and time stated."
    ),
    "identification": _p("Identification of the recipient"),
    "id.method": _p("Method"),
    "id.method.eid": _p("National digital identity (OpenID Connect)"),
    "id.method.sms-otp+eid": _p("One-time code by SMS, then national digital identity (OpenID Connect)"),
    "id.provider": _p("Identity provider"),
    "id.level": _p("Assurance level"),
    "id.level.low": _p("low"),
    "id.level.substantial": _p("substantial"),
    "id.level.high": _p("high"),
    "id.level.unknown": _p("not stated by the provider"),
    "id.subject": _p("Subject identifier at the provider"),
    "id.name": _p("Proven name"),
    "id.birth_date": _p("Proven date of birth"),
    "id.cin": _p("National identity number (masked)"),
    "id.matched": _p("Matches the identity expected by the sender"),
    "id.matched.cin": _p("identity number"),
    "id.matched.name": _p("name"),
    "id.matched.birth_date": _p("date of birth"),
    "id.matched.none": _p("no identity was expected"),
    "id.at": _p("Identified on"),
}

PROOF_TEXTS: dict[str, str] = {
    **{f"title.{kind}": text for kind, text in PROOF_TITLES.items()},
    **{f"statement.{kind}": text for kind, text in PROOF_STATEMENTS.items()},
    "letter": _p("Electronic registered letter"),
    "provider": _p("Provider"),
    # After the provider's legal name in a proof's header.
    "provider_role": _p("trust service provider (law 43-20)"),
    "reference": _p("Reference"),
    "letter_id": _p("Letter ID"),
    "sender": _p("Sender"),
    "legal_name": _p("Legal name"),
    "ice": _p("ICE"),
    "address": _p("Address"),
    "recipient": _p("Recipient"),
    "name": _p("Name"),
    "phone": _p("Phone"),
    "email": _p("Email"),
    "sms_delivered": _p("SMS delivered to the phone"),
    "document": _p("Document"),
    "file_name": _p("File name"),
    "size": _p("Size"),
    "sha256": _p("SHA-256 fingerprint"),
    "events": _p("Attested events"),
    "event": _p("Event"),
    "utc": _p("Date and time (UTC)"),
    "morocco": _p("Morocco time"),
    "evidence_id": _p("Evidence ID"),
    "record_hash": _p("Record fingerprint"),
    "chain_hash": _p("Evidence chain fingerprint (SHA-256)"),
    "journal": _p("Transparency log: checkpoint of {size} records, root hash (SHA-256)"),
    "verification": _p("Verification"),
    "verify_text": _p(
        "To check that this proof is genuine, scan the QR code or open the address below: the "
        "provider's public verification page confirms the integrity of the proof and of the "
        "evidence chain."
    ),
    "issued": _p("Issued on"),
    "not_provided": _p("Not provided"),
    "reason": _p("Reason"),
    "reason.refusal": _p("Reason for refusal"),
    "reason.non_delivery": _p("Reason for non-delivery"),
    "bytes": _p("bytes"),
    "kb": _p("KB"),
    "mb": _p("MB"),
    "gb": _p("GB"),
    "page": _p("Page {page} of {pages}"),
    "footer": _p(
        "This document is electronically signed (PAdES) and timestamped; any modification invalidates the signature."
    ),
    "trust": _p("Seal and timestamps"),
    "trust.trial": _p(
        "Trial setup: the seal and the timestamps come from the built-in local authority. "
        "This is not a qualified service; this proof is not for court."
    ),
    "trust.configured": _p("Seal “{seal}”, certificate issued by {issuer}; timestamps: {tsa}."),
    "trust.tsa_issued_by": _p("{tsa} (certificate issued by {issuer})"),
    **PROOF_EID_TEXTS,
}

# The events a proof lists (`trust.proofs.SHOWN_EVENTS`), and the code request, worded for proofs.
PROOF_EVENT_TEXTS: dict[str, str] = {
    "SubmissionAcceptance": _p("Letter deposited"),
    "ConsignmentNotification": _p("Notification sent to the recipient"),
    "ConsignmentNotificationFailure": _p("Notification failed"),
    "NotificationDelivered": _p("Notification delivered to the phone"),
    "ConsignmentReminder": _p("Reminder sent to the recipient"),
    "RecipientIdentification": _p("Recipient identified (one-time code)"),
    "RecipientIdentification.eid": _p("Recipient identified (national digital identity)"),
    "ConsignmentAcceptance": _p("Accepted by the recipient"),
    "ConsignmentRejection": _p("Refused by the recipient"),
    "AcceptanceRejectionExpiry": _p("Deadline passed without an answer"),
    "RecipientCodeSent": _p("One-time code sent to the recipient by SMS"),
    "ContentHandover": _p("Document downloaded by the recipient"),
}


def proof_language(language: str) -> str:
    """The language a proof is written in: the letter's, or French for one we do not write."""
    return language if language in LANGUAGES else "fr"


@lru_cache(maxsize=4 * len(LANGUAGES))
def reviewed_catalog(domain: str, language: str) -> Mapping[str, str]:
    """msgid → msgstr of one language's `<domain>.po` as reviewed (fuzzy and empty entries left out;
    none for English, the msgids' language), read by Babel without an app or a compiled `.mo`."""
    path = TRANSLATIONS / language / "LC_MESSAGES" / f"{domain}.po"
    if not path.exists():
        return {}
    with path.open("rb") as source:
        catalog = read_po(source, locale=language, domain=domain)
    return {
        str(message.id): str(message.string)
        for message in catalog
        if message.id and message.string and not message.fuzzy
    }


def proof_texts(language: str) -> dict[str, str]:
    """Every text of a proof (`PROOF_TEXTS`' keys) in `language` (French for a language we do not write)."""
    catalog = reviewed_catalog(PROOF_DOMAIN, proof_language(language))
    return {key: catalog.get(message, message) for key, message in PROOF_TEXTS.items()}


def proof_event_labels(language: str) -> dict[str, str]:
    """What a proof calls each event it lists, in `language`."""
    catalog = reviewed_catalog(PROOF_DOMAIN, proof_language(language))
    return {event: catalog.get(message, message) for event, message in PROOF_EVENT_TEXTS.items()}


class _ByLanguage(Mapping[str, Mapping[str, str]]):
    """`texts[language][key]` for every language proofs are written in (tests and tools read them so)."""

    def __init__(self, texts: Callable[[str], dict[str, str]]) -> None:
        self._texts = texts

    def __getitem__(self, language: str) -> Mapping[str, str]:
        if language not in LANGUAGES:
            raise KeyError(language)
        return self._texts(language)

    def __iter__(self) -> Iterator[str]:
        return iter(LANGUAGES)

    def __len__(self) -> int:
        return len(LANGUAGES)


PROOF_TEXTS_BY_LANGUAGE: Mapping[str, Mapping[str, str]] = _ByLanguage(proof_texts)
PROOF_EVENT_LABELS_BY_LANGUAGE: Mapping[str, Mapping[str, str]] = _ByLanguage(proof_event_labels)
