"""A letter's states and the one table of moves between them.

The states themselves are the values of the `letters.status` column, declared with
the model (`webapp.models.letter`) as every column's enum is; the moves are here.
"""

from __future__ import annotations

import enum

from webapp.models.letter import LetterStatus

__all__ = ["FINAL_STATES", "TRANSITIONS", "Event", "LetterStatus", "allowed_targets"]


class Event(enum.StrEnum):
    """Evidence event names, after ETSI EN 319 522; the few of our own are marked as extensions."""

    SUBMISSION_ACCEPTANCE = "SubmissionAcceptance"
    CONSIGNMENT_NOTIFICATION = "ConsignmentNotification"
    CONSIGNMENT_NOTIFICATION_FAILURE = "ConsignmentNotificationFailure"
    NOTIFICATION_DELIVERED = "NotificationDelivered"
    # Not an ETSI event: a reminder of a pending letter handed to the SMS operator or mail server.
    CONSIGNMENT_REMINDER = "ConsignmentReminder"
    # Not an ETSI event: a one-time identification code handed to the SMS operator.
    RECIPIENT_CODE_SENT = "RecipientCodeSent"
    # Not an ETSI event: the recipient typed a code right (method `sms-otp`).
    RECIPIENT_IDENTIFICATION = "RecipientIdentification"
    # Not an ETSI event: a wrong code typed.
    RECIPIENT_IDENTIFICATION_FAILURE = "RecipientIdentificationFailure"
    # Not an ETSI event: a support agent lifted the lock that too many wrong codes put on the letter.
    RECIPIENT_UNLOCK = "RecipientUnlock"
    CONSIGNMENT_ACCEPTANCE = "ConsignmentAcceptance"
    CONSIGNMENT_REJECTION = "ConsignmentRejection"
    CONTENT_HANDOVER = "ContentHandover"
    ACCEPTANCE_REJECTION_EXPIRY = "AcceptanceRejectionExpiry"
    # Not an ETSI event: a stored proof of the letter was given a new archive timestamp (PAdES B-LTA upkeep).
    ARCHIVE_TIMESTAMP_RENEWAL = "ArchiveTimestampRenewal"
    # Not ETSI events: a legal hold placed on or lifted from the letter's document, and the document
    # deleted at the end of its retention period (its evidence and proofs stay).
    LEGAL_HOLD_PLACED = "LegalHoldPlaced"
    LEGAL_HOLD_LIFTED = "LegalHoldLifted"
    DOCUMENT_DELETION = "DocumentDeletion"


# ETSI EN 319 522-2 identifies each of its events by a URI (the `ERDSEventId` of EN 319 522-3);
# every record of one of these events carries it as `event_uri`.  Our extensions carry none.
ETSI_EVENT_URI_PREFIX = "http://uri.etsi.org/19522/Event/"
ETSI_EVENTS = frozenset(
    {
        Event.SUBMISSION_ACCEPTANCE,
        Event.CONSIGNMENT_NOTIFICATION,
        Event.CONSIGNMENT_NOTIFICATION_FAILURE,
        Event.NOTIFICATION_DELIVERED,
        Event.CONSIGNMENT_ACCEPTANCE,
        Event.CONSIGNMENT_REJECTION,
        Event.CONTENT_HANDOVER,
        Event.ACCEPTANCE_REJECTION_EXPIRY,
    }
)
EVENT_URIS: dict[Event, str] = {event: ETSI_EVENT_URI_PREFIX + event.value for event in ETSI_EVENTS}


S = LetterStatus

# (from, to) -> the event that records the move.  Nothing else may change a status.
TRANSITIONS: dict[tuple[LetterStatus, LetterStatus], Event] = {
    (S.DEPOSITED, S.NOTIFIED): Event.CONSIGNMENT_NOTIFICATION,
    (S.DEPOSITED, S.UNDELIVERABLE): Event.CONSIGNMENT_NOTIFICATION_FAILURE,
    (S.NOTIFIED, S.UNDELIVERABLE): Event.CONSIGNMENT_NOTIFICATION_FAILURE,
    (S.NOTIFIED, S.ACCEPTED): Event.CONSIGNMENT_ACCEPTANCE,
    (S.NOTIFIED, S.REFUSED): Event.CONSIGNMENT_REJECTION,
    (S.NOTIFIED, S.NEGLECTED): Event.ACCEPTANCE_REJECTION_EXPIRY,
}

FINAL_STATES = frozenset({S.ACCEPTED, S.REFUSED, S.NEGLECTED, S.UNDELIVERABLE})


def allowed_targets(status: LetterStatus) -> frozenset[LetterStatus]:
    return frozenset(to for (frm, to) in TRANSITIONS if frm is status)
