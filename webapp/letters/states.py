"""A letter's states and the one table of moves between them."""

from __future__ import annotations

import enum


class LetterStatus(enum.StrEnum):
    DEPOSITED = "deposited"
    NOTIFIED = "notified"
    ACCEPTED = "accepted"
    REFUSED = "refused"
    NEGLECTED = "neglected"
    UNDELIVERABLE = "undeliverable"


class Event(enum.StrEnum):
    """Evidence event names, after ETSI EN 319 522."""

    SUBMISSION_ACCEPTANCE = "SubmissionAcceptance"
    CONSIGNMENT_NOTIFICATION = "ConsignmentNotification"
    CONSIGNMENT_NOTIFICATION_FAILURE = "ConsignmentNotificationFailure"
    NOTIFICATION_DELIVERED = "NotificationDelivered"
    # Not an ETSI event: a reminder of a pending letter handed to the SMS operator or mail server.
    CONSIGNMENT_REMINDER = "ConsignmentReminder"
    RECIPIENT_IDENTIFICATION = "RecipientIdentification"
    RECIPIENT_IDENTIFICATION_FAILURE = "RecipientIdentificationFailure"
    # Not an ETSI event: a support agent lifted the lock that too many wrong codes put on the letter.
    RECIPIENT_UNLOCK = "RecipientUnlock"
    CONSIGNMENT_ACCEPTANCE = "ConsignmentAcceptance"
    CONSIGNMENT_REJECTION = "ConsignmentRejection"
    CONTENT_HANDOVER = "ContentHandover"
    ACCEPTANCE_REJECTION_EXPIRY = "AcceptanceRejectionExpiry"
    # Not an ETSI event: a stored proof of the letter was given a new archive timestamp (PAdES B-LTA upkeep).
    ARCHIVE_TIMESTAMP_RENEWAL = "ArchiveTimestampRenewal"


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
