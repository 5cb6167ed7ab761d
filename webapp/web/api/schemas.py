"""Every payload of the JSON API v1, declared once.

A request schema validates what a client sends (with our error codes, see `fields`) and loads it
into what the domain takes (`DepositRequest`, `LetterFilter`, …); a response schema shapes our
answer from the domain's read values (`LetterView`, `Batch`, webhook endpoints and deliveries);
and flask-smorest and apispec write the OpenAPI 3.1 document from the same classes
(`webapp.web.api.document`).  Enumerations come from the domain's own enums and tuples.

Schemas deriving from `Component` are named in the document (`components.schemas`); the others
are written inline where they are used.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from flask import url_for
from marshmallow import fields, missing, post_load
from werkzeug.datastructures import FileStorage

from webapp.config import Settings
from webapp.hooks.delivery import EVENT_ID_HEADER, SIGNATURE_HEADER, USER_AGENT
from webapp.hooks.endpoints import MAX_DESCRIPTION_LENGTH, MAX_URL_LENGTH, CreatedEndpoint
from webapp.hooks.events import IDENTIFICATION_FAILED, PROOF_READY, STATUS_CHANGED
from webapp.i18n import LANGUAGES
from webapp.letters.deposit import CHANNELS, DepositRequest, format_limit
from webapp.letters.eid import clean_requirement
from webapp.letters.errors import DocumentTooLarge
from webapp.letters.queries import SEARCH_MAX_LENGTH, LetterFilter, NumberedLetter
from webapp.letters.read import LetterView, ProofView
from webapp.letters.states import Event, LetterStatus
from webapp.models import (
    BatchStatus,
    IdentificationMethod,
    MessagePurpose,
    MessageStatus,
    ProofKind,
    ProofStatus,
    WebhookDeliveryStatus,
)
from webapp.services import current_services
from webapp.trust.evidence import EventFacts
from webapp.web.api.fields import (
    Component,
    EnumList,
    EnumValue,
    File,
    FormFlag,
    JsonFlag,
    Moment,
    PageLimit,
    Payload,
    PositionCursor,
    RowCursor,
    Text,
    derived,
    itself,
    problem,
)

LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX = 20, 100
NOTIFICATION_PURPOSES = [purpose.value for purpose in MessagePurpose if purpose is not MessagePurpose.CODE]
URI = {"format": "uri"}
EVENT_TYPES = (STATUS_CHANGED, PROOF_READY, IDENTIFICATION_FAILED)


# --- errors ----------------------------------------------------------------------------------------


class ErrorDetailSchema(Payload):
    code = fields.String(
        required=True, metadata={"description": "Stable, for programs.", "examples": ["invalid_phone"]}
    )
    message = fields.String(required=True, metadata={"description": "For people, in English."})
    field = fields.String(metadata={"description": "The input at fault, when there is one."})


class RowErrorSchema(Payload):
    """One error of a bulk file (a `webapp.letters.bulk.RowError`)."""

    row = fields.Integer(required=True, allow_none=True)
    field = fields.String(required=True, allow_none=True)
    code = fields.String(required=True)
    message = fields.String(required=True, attribute="text")


class ErrorSchema(Component):
    """Every error answer of the API."""

    error = fields.Nested(
        ErrorDetailSchema,
        required=True,
        metadata={"description": "`code` for programs, `message` for people, `field` when one input is at fault."},
    )
    rows = fields.List(
        fields.Nested(RowErrorSchema), metadata={"description": "Bulk uploads only: every error of the file."}
    )


# --- letters: requests -------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadedDocument:
    name: str
    data: bytes


class PdfDocument(File):
    """The letter's PDF, read up to the configured limit: a larger one is refused at once (413),
    before any other field is looked at."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("application/pdf", what="a PDF file", **kwargs)

    def read(self, upload: FileStorage) -> UploadedDocument:
        limit = current_services().settings.max_document_bytes
        data = upload.read(limit + 1)
        if len(data) > limit:
            raise DocumentTooLarge(f"The document is larger than {format_limit(limit)}.")
        return UploadedDocument(upload.filename or "", data)


CONFIDENTIAL = {"description": "`true` hides the document's name from our support agents (they never see its content)."}


class IdempotencyHeadersSchema(Payload):
    idempotency_key = Text(
        data_key="Idempotency-Key",
        blank="text",
        max_length=255,
        pattern=r"[\x20-\x7e]+",
        problems={
            kind: problem("invalid_idempotency_key", "Idempotency-Key must be 1 to 255 printable ASCII characters.")
            for kind in ("invalid", "too_long")
        },
        metadata={
            "minLength": 1,
            "description": "1 to 255 printable ASCII characters, e.g. a UUID you generate per letter.",
        },
    )

    @post_load
    def _key(self, data: dict[str, Any], **kwargs: Any) -> str | None:
        key: str | None = data.get("idempotency_key")
        return key


class LetterFormSchema(Payload):
    """`POST /api/v1/letters`: the fields, checked in this order; the values themselves (a mobile
    number, a PDF, a language) are checked by the deposit."""

    document = PdfDocument(required=True, metadata={"description": "The PDF to send."})
    recipient_phone = Text(
        required=True,
        max_length=40,
        metadata={
            "description": "The recipient's mobile number, local (0612345678) or international (+212612345678).",
            "examples": ["0612345678"],
        },
    )
    recipient_name = Text(required=True, max_length=200, metadata={"examples": ["Youssef Alami"]})
    recipient_email = Text(
        max_length=254,
        metadata={"description": "Required for the email channel.", "examples": ["youssef@example.ma"]},
    )
    channel = Text(max_length=10, load_default="sms", metadata={"enum": list(CHANNELS)})
    language = Text(
        max_length=5,
        metadata={
            "enum": list(LANGUAGES),
            "default": Settings.default_language,
            "description": "Language of the notification.",
        },
    )
    sender_reference = Text(
        max_length=100,
        metadata={
            "description": "Your own reference (a file or invoice number): stored, returned, searchable with `q`.",
            "examples": ["DOSSIER-2026-0042"],
        },
    )
    document_confidential = FormFlag(metadata=CONFIDENTIAL)
    # Issue 19: the identification the letter requires, and the identity expected.
    identification = Text(
        max_length=16,
        metadata={
            "enum": [method.value for method in IdentificationMethod],
            "default": IdentificationMethod.SMS_OTP.value,
            "description": "How the recipient proves who they are: `sms-otp` (a code by SMS to the mobile), `eid` "
            "(national digital identity, e.g. DGSN, through a configured OpenID Connect provider) or `sms-otp+eid` "
            "(the code, then the national identity).",
        },
    )
    expected_cin = Text(
        max_length=40,
        metadata={
            "description": "With `eid`: the national identity number the recipient must prove (compared without "
            "spaces, dashes or case; kept only masked and as a keyed hash).",
            "examples": ["AB123456"],
        },
    )
    expected_name = Text(
        max_length=200,
        metadata={
            "description": "With `eid`: the name the recipient must prove (accents, case, order and Arabic or "
            "Latin writing compared as the README says)."
        },
    )
    expected_birth_date = Text(
        max_length=10, metadata={"description": "With `eid`: YYYY-MM-DD.", "examples": ["1990-04-12"]}
    )

    @post_load
    def _deposit(self, data: dict[str, Any], **kwargs: Any) -> DepositRequest:
        document: UploadedDocument = data["document"]
        return DepositRequest(
            document=document.data,
            document_name=document.name,
            recipient_phone=data["recipient_phone"],
            recipient_name=data["recipient_name"],
            recipient_email=data.get("recipient_email"),
            channel=data["channel"],
            language=data.get("language") or current_services().settings.default_language,
            sender_reference=data.get("sender_reference"),
            document_confidential=data["document_confidential"],
            identity=clean_requirement(
                current_services().settings,
                data.get("identification"),
                cin=data.get("expected_cin"),
                name=data.get("expected_name"),
                birth_date=data.get("expected_birth_date"),
            ),
        )


@dataclass(frozen=True)
class LetterListQuery:
    limit: int
    filters: LetterFilter
    after: tuple[datetime, str] | None  # the position the page starts after (a cursor we gave)


class LetterListQuerySchema(Payload):
    """`GET /api/v1/letters`: a page of the organisation's letters, checked in this order."""

    limit = PageLimit(default=LIST_LIMIT_DEFAULT, maximum=LIST_LIMIT_MAX)
    status = EnumList(
        LetterStatus,
        metadata={
            "description": "One status, or several separated by commas: "
            + ", ".join(status.value for status in LetterStatus)
            + ".",
            "examples": ["notified", "accepted,refused"],
        },
    )
    deposited_after = Moment(metadata={"description": "ISO 8601; inclusive. Without a zone, UTC."})
    deposited_before = Moment(metadata={"description": "ISO 8601; exclusive. Without a zone, UTC."})
    q = Text(
        max_length=SEARCH_MAX_LENGTH,
        strip="before",
        problems={"too_long": problem("invalid_input", f"'{{field}}' is at most {SEARCH_MAX_LENGTH} characters.")},
        metadata={
            "description": "Our reference, your `sender_reference` (exact), the recipient's mobile number "
            "(any usual form), or part of the recipient's name."
        },
    )
    cursor = PositionCursor(metadata={"description": "`next_cursor` of the previous page."})

    @post_load
    def _query(self, data: dict[str, Any], **kwargs: Any) -> LetterListQuery:
        filters = LetterFilter(
            statuses=data.get("status", ()),
            deposited_from=data.get("deposited_after"),
            deposited_before=data.get("deposited_before"),
            search=data.get("q", ""),
        )
        return LetterListQuery(limit=data["limit"], filters=filters, after=data.get("cursor"))


# --- letters: answers --------------------------------------------------------------------------------


class RecipientSchema(Component):
    name = fields.String(required=True, attribute="recipient_name")
    phone = fields.String(
        required=True, attribute="recipient_phone", metadata={"description": "E.164.", "examples": ["+212612345678"]}
    )
    email = fields.String(required=True, allow_none=True, attribute="recipient_email")


class DocumentSchema(Component):
    name = fields.String(required=True, attribute="document_name")
    size = fields.Integer(required=True, attribute="document_size", metadata={"description": "Bytes."})
    sha256 = fields.String(required=True, attribute="document_sha256", metadata={"pattern": "^[0-9a-f]{64}$"})
    confidential = fields.Boolean(
        required=True,
        attribute="document_confidential",
        metadata={"description": "Its name is hidden from our support agents."},
    )


def _event_reason(event: EventFacts) -> Any:
    """A negative event's reason; for a notification sent again, who asked (`resend`, `support`)."""
    if event.reason:
        return event.reason
    if event.notification and event.sent_again_by:
        return event.sent_again_by
    return missing


class EventSchema(Component):
    """One record of the letter's timeline, as its sealed record states it (`EventFacts`)."""

    type = fields.String(
        required=True,
        attribute="event",
        metadata={
            "enum": [event.value for event in Event],
            "description": "Evidence event, after ETSI EN 319 522. `ConsignmentReminder`, `RecipientCodeSent`, "
            "`RecipientIdentification`, `RecipientIdentificationFailure` and `RecipientUnlock` are our extensions.",
            "examples": ["SubmissionAcceptance", "ConsignmentNotification", "ConsignmentReminder"],
        },
    )
    event_uri = derived(
        fields.String,
        lambda event: event.event_uri or missing,
        metadata={
            **URI,
            "description": "The ETSI EN 319 522-2 event identifier; absent for our extensions.",
            "examples": ["http://uri.etsi.org/19522/Event/SubmissionAcceptance"],
        },
    )
    at = Moment(required=True)
    evidence_id = fields.String(required=True, metadata={"description": "Checkable at /verify/{evidence_id}."})
    channel = derived(
        fields.String,
        lambda event: event.channel if event.notification else missing,
        allow_none=True,
        metadata={"enum": [*CHANNELS, None], "description": "Notifications and reminders: how it went out."},
    )
    reminder = derived(
        fields.Integer,
        lambda event: event.reminder if event.notification and event.reminder is not None else missing,
        metadata={"description": "Reminders: their number."},
    )
    reason = derived(
        fields.String,
        _event_reason,
        metadata={
            "description": "Why a negative event happened; for a notification sent again, `resend` (by you) or "
            "`support` (by our support team, at your or the recipient's request)."
        },
    )


class DeliverySchema(Payload):
    status = fields.String(required=True, attribute="delivery_status", metadata={"examples": ["delivered"]})
    at = Moment(required=True, allow_none=True, attribute="delivered_at")


class NotificationSchema(Component):
    """A notification or reminder (`MessageView`), with what the provider and the operator said of it."""

    channel = fields.String(required=True, metadata={"enum": list(CHANNELS)})
    purpose = fields.String(required=True, metadata={"enum": NOTIFICATION_PURPOSES})
    reminder = fields.Integer(required=True, allow_none=True, attribute="reminder_number")
    status = fields.Enum(MessageStatus, by_value=fields.String, required=True)
    sent_at = Moment(required=True, allow_none=True)
    delivery = derived(
        fields.Nested,
        lambda message: message if message.delivery_status else None,
        DeliverySchema,
        required=True,
        allow_none=True,
        metadata={"description": "The operator's delivery receipt, once one came."},
    )
    error = derived(
        fields.String,
        lambda message: (
            message.last_error
            if message.status is not MessageStatus.SENT or message.delivery_status == "failed"
            else None
        ),
        required=True,
        allow_none=True,
    )


class LetterProof(NamedTuple):
    """A proof with its letter's id (its URL needs it)."""

    letter_id: str
    proof: ProofView


def proofs_of(letter: LetterView) -> list[LetterProof]:
    return [LetterProof(letter.id, proof) for proof in letter.proofs]


class ProofSchema(Component):
    kind = fields.Enum(
        ProofKind,
        by_value=fields.String,
        required=True,
        attribute="proof.kind",
        metadata={
            "description": "`deposit` at once; one outcome (`reception`, `refusal`, `negligence`, `non_delivery`); "
            "and `handover` when the recipient first downloaded the document after the proof of reception was "
            "issued (a download before it is listed in the proof of reception itself)."
        },
    )
    status = fields.Enum(ProofStatus, by_value=fields.String, required=True, attribute="proof.status")
    url = derived(
        fields.String,
        lambda item: url_for("api.get_proof", letter_id=item.letter_id, kind=item.proof.kind.value, _external=True),
        required=True,
        metadata={**URI, "description": "The signed PDF (GET with your token)."},
    )
    issued_at = Moment(required=True, allow_none=True, attribute="proof.issued_at")
    sha256 = fields.String(required=True, allow_none=True, attribute="proof.sha256")


class LetterSummarySchema(Component):
    """A letter as lists show it (`LetterView` without its timeline)."""

    id = fields.String(required=True)
    reference = fields.String(
        required=True, metadata={"description": "Our reference, shown to the recipient.", "examples": ["K7QX-M3PA"]}
    )
    sender_reference = fields.String(required=True, allow_none=True)
    status = fields.Enum(LetterStatus, by_value=fields.String, required=True)
    channel = fields.String(required=True, metadata={"enum": list(CHANNELS)})
    language = fields.String(required=True, metadata={"enum": list(LANGUAGES)})
    recipient = derived(fields.Nested, itself, RecipientSchema, required=True)
    document = derived(fields.Nested, itself, DocumentSchema, required=True)
    deposited_at = Moment(required=True)
    notified_at = Moment(required=True, allow_none=True)
    deadline_at = Moment(
        required=True, allow_none=True, metadata={"description": "Without a decision by then, the letter is neglected."}
    )
    decided_at = Moment(required=True, allow_none=True)
    url = derived(
        fields.String,
        lambda letter: url_for("api.get_letter", letter_id=letter.id, _external=True),
        required=True,
        metadata=URI,
    )


class ExpectedIdentitySchema(Payload):
    cin = fields.String(metadata={"description": "Masked: the number is kept only masked and as a keyed hash."})
    name = fields.String()
    birth_date = fields.String(metadata={"format": "date"})


class ProvenIdentitySchema(Payload):
    provider = fields.String(required=True, metadata={"examples": ["dgsn"]})
    acr = fields.String(required=True, allow_none=True, metadata={"description": "As the provider stated it."})
    level = fields.String(required=True, allow_none=True, metadata={"enum": ["low", "substantial", "high", None]})
    at = Moment(required=True)
    evidence_id = fields.String(required=True)


class IdentificationSchema(Component):
    """The identification the letter requires (issue 19), as its sealed records state it."""

    method = fields.String(required=True, metadata={"enum": [method.value for method in IdentificationMethod]})
    expected = fields.Nested(ExpectedIdentitySchema, metadata={"description": "The identity you expect, if given."})
    eid = fields.Nested(
        ProvenIdentitySchema,
        metadata={"description": "Once the recipient proved their national digital identity: where and at what level."},
    )


def identification_of(letter: LetterView) -> dict[str, Any]:
    """From the deposit's record (what was required) and the last e-ID identification (what was proven)."""
    answer: dict[str, Any] = {"method": IdentificationMethod.SMS_OTP.value}
    for event in letter.timeline:
        required = event.section("identification") if event.event == Event.SUBMISSION_ACCEPTANCE.value else {}
        if required.get("method"):
            answer["method"] = required["method"]
            expected = required.get("expected")
            if isinstance(expected, dict):
                cin = expected.get("cin")
                answer["expected"] = {
                    key: value
                    for key, value in (
                        ("cin", cin.get("masked") if isinstance(cin, dict) else None),
                        ("name", expected.get("name")),
                        ("birth_date", expected.get("birth_date")),
                    )
                    if value
                }
        if event.event == Event.RECIPIENT_IDENTIFICATION.value and event.details.get("method") == "eid":
            level = event.section("level")
            answer["eid"] = {
                "provider": event.section("provider").get("name", ""),
                "acr": level.get("acr"),
                "level": level.get("meaning"),
                "at": event.at,
                "evidence_id": event.evidence_id,
            }
    return answer


class LetterSchema(LetterSummarySchema):
    """A letter with its timeline, notifications and proofs (`LetterView`)."""

    identification = derived(fields.Nested, identification_of, IdentificationSchema, required=True)  # issue 19
    events = fields.List(fields.Nested(EventSchema), required=True, attribute="timeline")
    notifications = fields.List(fields.Nested(NotificationSchema), required=True)
    proofs = derived(fields.List, proofs_of, fields.Nested(ProofSchema), required=True)


class ProofListSchema(Component):
    items = derived(fields.List, proofs_of, fields.Nested(ProofSchema), required=True)


NEXT_CURSOR = {"description": "Pass as `cursor` for the next page; null on the last page."}


class LetterPageSchema(Component):
    items = fields.List(fields.Nested(LetterSummarySchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True, metadata=NEXT_CURSOR)


class ResendQueuedSchema(Component):
    letter_id = fields.String(required=True)
    status = derived(fields.String, lambda _: "queued", required=True, metadata={"enum": ["queued"]})
    channels = fields.List(fields.String(metadata={"enum": list(CHANNELS)}), required=True)
    requested_at = Moment(required=True)


# --- batches -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchUpload:
    csv: FileStorage
    zip: FileStorage | None
    document: FileStorage | None
    language: str | None
    document_confidential: bool


class BatchFormSchema(Payload):
    """`POST /api/v1/batches`; the file itself is checked whole by `webapp.letters.bulk`."""

    csv = File("text/csv", what="a CSV file", required=True)
    zip = File("application/zip", what="a ZIP file")
    document = File("application/pdf", what="a PDF file")
    language = Text(
        max_length=5,
        blank="empty",
        problems={"too_long": problem("invalid_input", "The language must be one of " + ", ".join(LANGUAGES) + ".")},
        metadata={
            "enum": list(LANGUAGES),
            "default": Settings.default_language,
            "description": "For the rows without a language.",
        },
    )
    document_confidential = FormFlag(metadata=CONFIDENTIAL)

    @post_load
    def _upload(self, data: dict[str, Any], **kwargs: Any) -> BatchUpload:
        return BatchUpload(
            csv=data["csv"],
            zip=data.get("zip"),
            document=data.get("document"),
            language=data.get("language"),
            document_confidential=data["document_confidential"],
        )


class BatchSchema(Component):
    id = fields.String(required=True)
    status = fields.Enum(
        BatchStatus,
        by_value=fields.String,
        required=True,
        metadata={
            "description": "`ready` (queued), `depositing`, `done` (every row is a letter), or `failed` "
            "(stopped, e.g. the organisation lost its verification; `error` says why)."
        },
    )
    csv_name = fields.String(required=True)
    language = fields.String(required=True, metadata={"enum": list(LANGUAGES)})
    document_confidential = fields.Boolean(
        required=True, metadata={"description": "Its letters' document names are hidden from our support agents."}
    )
    total_rows = fields.Integer(required=True, metadata={"minimum": 0})
    deposited_rows = fields.Integer(required=True, metadata={"minimum": 0})
    progress = derived(
        fields.Float, lambda batch: round(batch.progress, 4), required=True, metadata={"minimum": 0, "maximum": 1}
    )
    error = fields.String(required=True, allow_none=True, metadata={"examples": ["organisation_not_verified"]})
    created_at = Moment(required=True)
    started_at = Moment(required=True, allow_none=True)
    finished_at = Moment(required=True, allow_none=True)
    url = derived(
        fields.String,
        lambda batch: url_for("api.get_batch", batch_id=batch.id, _external=True),
        required=True,
        metadata=URI,
    )
    letters_url = derived(
        fields.String,
        lambda batch: url_for("api.list_batch_letters", batch_id=batch.id, _external=True),
        required=True,
        metadata=URI,
    )


@dataclass(frozen=True)
class BatchLettersQuery:
    limit: int
    after_row: int


class BatchLettersQuerySchema(Payload):
    limit = PageLimit(default=LIST_LIMIT_DEFAULT, maximum=LIST_LIMIT_MAX)
    cursor = RowCursor(metadata={"description": "`next_cursor` of the previous page."})

    @post_load
    def _query(self, data: dict[str, Any], **kwargs: Any) -> BatchLettersQuery:
        return BatchLettersQuery(limit=data["limit"], after_row=data.get("cursor", 0))


class BatchLetterSchema(LetterSummarySchema):
    """A letter of a batch (a `NumberedLetter`): its summary and its CSV line."""

    row = fields.Integer(required=True, metadata={"description": "The CSV line."})

    def get_attribute(self, obj: NumberedLetter, attr: str, default: Any) -> Any:
        return obj.row if attr == "row" else super().get_attribute(obj.letter, attr, default)


class BatchLetterPageSchema(Component):
    items = fields.List(fields.Nested(BatchLetterSchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True, metadata=NEXT_CURSOR)


def page(items: Any, next_cursor: str | None) -> Mapping[str, Any]:
    """A page of a cursor-paginated list, as its `…Page` schema dumps it."""
    return {"items": items, "next_cursor": next_cursor}


# --- webhooks ----------------------------------------------------------------------------------------


class WebhookEndpointSchema(Component):
    id = fields.String(required=True)
    url = fields.String(required=True, metadata={**URI, "examples": ["https://erp.example.ma/hooks/wassit"]})
    description = fields.String(required=True)
    active = fields.Boolean(
        required=True, attribute="is_active", metadata={"description": "A disabled endpoint receives no events."}
    )
    secret_hint = fields.String(
        required=True,
        metadata={"description": "The secret's first characters, to tell secrets apart.", "examples": ["whsec_Ab3x"]},
    )
    created_at = Moment(required=True)
    secret_rotated_at = Moment(required=True, allow_none=True)
    disabled_at = Moment(required=True, allow_none=True)
    deliveries_url = derived(
        fields.String,
        lambda endpoint: url_for("api.list_webhook_deliveries", endpoint_id=endpoint.id, _external=True),
        required=True,
        metadata=URI,
    )


class WebhookEndpointWithSecretSchema(WebhookEndpointSchema):
    """An endpoint and its signing secret (a `CreatedEndpoint`), on creation and rotation only."""

    secret = fields.String(
        required=True,
        metadata={
            "description": "The signing secret, shown in this answer only (we keep it encrypted and never show it "
            f"again): store it to check the `{SIGNATURE_HEADER}` header.",
            "examples": ["whsec_Ab3xQm9…"],
        },
    )

    def get_attribute(self, obj: CreatedEndpoint, attr: str, default: Any) -> Any:
        return obj.secret if attr == "secret" else super().get_attribute(obj.endpoint, attr, default)


class WebhookEndpointListSchema(Component):
    items = fields.List(fields.Nested(WebhookEndpointSchema), required=True)


class WebhookProofSchema(Payload):
    kind = fields.String(required=True, metadata={"enum": [kind.value for kind in ProofKind]})
    url = fields.String(required=True, metadata=URI)


LETTER_STATUSES = [status.value for status in LetterStatus]


class WebhookEventDataSchema(Payload):
    letter_id = fields.String(required=True)
    reference = fields.String(required=True, metadata={"examples": ["K7PM-4XQ2"]})
    sender_reference = fields.String(allow_none=True)
    status = fields.String(required=True, metadata={"enum": LETTER_STATUSES})
    previous_status = fields.String(
        allow_none=True,
        metadata={
            "enum": [*LETTER_STATUSES, None],
            "description": f"`{STATUS_CHANGED}` only; null for the deposit.",
        },
    )
    proof = fields.Nested(
        WebhookProofSchema, metadata={"description": f"`{PROOF_READY}` only: fetch the PDF with your token."}
    )
    # Issue 19: `letter.identification_failed`.
    method = fields.String(
        metadata={"enum": ["eid"], "description": f"`{IDENTIFICATION_FAILED}` only: how the recipient identified."}
    )
    reason = fields.String(
        metadata={"enum": ["identity_mismatch"], "description": f"`{IDENTIFICATION_FAILED}` only: why it was refused."}
    )
    fields_ = fields.List(
        fields.String(metadata={"enum": ["cin", "name", "birth_date"]}),
        data_key="fields",
        metadata={"description": f"`{IDENTIFICATION_FAILED}` only: the expected fields that did not match."},
    )
    locked = fields.Boolean(
        metadata={"description": f"`{IDENTIFICATION_FAILED}` only: whether this failure locked the letter."}
    )


class WebhookEventSchema(Component):
    """The JSON body we POST (fixed when the event happens: every retry sends the same bytes)."""

    class Meta(Payload.Meta):
        description = "The JSON body we POST (fixed when the event happens: every retry sends the same bytes)."

    id = fields.String(
        required=True,
        metadata={"description": f"The event's id, also in `{EVENT_ID_HEADER}`: deduplicate on it."},
    )
    type = fields.String(required=True, metadata={"enum": list(EVENT_TYPES)})
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    data = fields.Nested(WebhookEventDataSchema, required=True)


class WebhookAttemptSchema(Component):
    number = fields.Integer(required=True, metadata={"minimum": 1})
    attempted_at = Moment(required=True)
    duration_ms = fields.Integer(required=True)
    status_code = fields.Integer(
        required=True, allow_none=True, metadata={"description": "What your endpoint answered, if it did."}
    )
    error = fields.String(required=True, allow_none=True, metadata={"examples": ["HTTP 500", "timed out"]})


class WebhookDeliverySchema(Component):
    """One event for one endpoint, with every attempt to POST it."""

    class Meta(Payload.Meta):
        description = "One event for one endpoint, with every attempt to POST it."

    id = fields.String(required=True)
    event_id = fields.String(
        required=True, metadata={"description": f"The `{EVENT_ID_HEADER}` header, the same on every retry."}
    )
    event_type = fields.String(required=True, metadata={"enum": list(EVENT_TYPES)})
    letter_id = fields.String(required=True)
    status = fields.Enum(
        WebhookDeliveryStatus,
        by_value=fields.String,
        required=True,
        metadata={"description": "`pending` until your endpoint answers 2xx (`delivered`) or every retry failed."},
    )
    attempts = fields.Integer(required=True)
    created_at = Moment(required=True)
    next_attempt_at = Moment(required=True, allow_none=True)
    last_attempt_at = Moment(required=True, allow_none=True)
    last_status_code = fields.Integer(required=True, allow_none=True)
    last_error = fields.String(required=True, allow_none=True)
    delivered_at = Moment(required=True, allow_none=True)
    # The body as we POSTed it (stored as its exact bytes, so that every retry sends the same).
    payload = derived(fields.Nested, lambda delivery: json.loads(delivery.payload), WebhookEventSchema, required=True)
    attempt_log = fields.List(fields.Nested(WebhookAttemptSchema), required=True)


class WebhookDeliveryPageSchema(Component):
    items = fields.List(fields.Nested(WebhookDeliverySchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True, metadata=NEXT_CURSOR)


DESCRIPTION_PROBLEM = problem(
    "invalid_input", f"'description' is a string of at most {MAX_DESCRIPTION_LENGTH} characters."
)


def _description(**kwargs: Any) -> Text:
    return Text(
        max_length=MAX_DESCRIPTION_LENGTH,
        blank="text",
        strip="after",
        allow_none=True,
        problems={"invalid": DESCRIPTION_PROBLEM, "too_long": DESCRIPTION_PROBLEM},
        **kwargs,
    )


@dataclass(frozen=True)
class NewEndpoint:
    url: str
    description: str | None


class WebhookCreateSchema(Payload):
    """`POST /api/v1/webhooks`; the URL itself is checked by `webapp.hooks.endpoints`."""

    url = Text(
        required=True,
        blank="text",
        problems={
            kind: problem("missing_field", "The field 'url' (an https:// URL) is required.")
            for kind in ("required", "null", "invalid")
        },
        metadata={
            "maxLength": MAX_URL_LENGTH,
            "description": "https:// to a public host, without user name, password or fragment.",
            "examples": ["https://erp.example.ma/hooks/wassit"],
        },
    )
    description = _description(metadata={"examples": ["ERP production"]})

    @post_load
    def _endpoint(self, data: dict[str, Any], **kwargs: Any) -> NewEndpoint:
        return NewEndpoint(url=data["url"], description=data.get("description"))


@dataclass(frozen=True)
class EndpointChange:
    active: bool | None
    description: str | None


class WebhookUpdateSchema(Payload):
    """`PATCH /api/v1/webhooks/{endpoint_id}`: what is absent (or null) stays as it is."""

    active = JsonFlag(problems={"invalid": problem("invalid_input", "'active' is true or false.")})
    description = _description()

    @post_load
    def _change(self, data: dict[str, Any], **kwargs: Any) -> EndpointChange:
        return EndpointChange(active=data.get("active"), description=data.get("description"))


@dataclass(frozen=True)
class DeliveriesQuery:
    limit: int
    status: WebhookDeliveryStatus | None
    after: tuple[datetime, str] | None


class DeliveriesQuerySchema(Payload):
    limit = PageLimit(default=LIST_LIMIT_DEFAULT, maximum=LIST_LIMIT_MAX)
    status = EnumValue(WebhookDeliveryStatus)
    cursor = PositionCursor(metadata={"description": "`next_cursor` of the previous page."})

    @post_load
    def _query(self, data: dict[str, Any], **kwargs: Any) -> DeliveriesQuery:
        return DeliveriesQuery(limit=data["limit"], status=data.get("status"), after=data.get("cursor"))


class WebhookHeadersSchema(Payload):
    """The headers of every POST we make to an endpoint (documented in the OpenAPI `webhooks`)."""

    signature = fields.String(
        required=True,
        data_key=SIGNATURE_HEADER,
        metadata={
            "description": "HMAC-SHA256 of `<t>.<raw body>` with the endpoint's secret, and `t`.",
            "pattern": "^t=[0-9]+,v1=[0-9a-f]{64}$",
        },
    )
    event_id = fields.String(
        required=True,
        data_key=EVENT_ID_HEADER,
        metadata={"description": "The event's id (the body's `id`), the same on every retry."},
    )
    user_agent = fields.String(required=True, data_key="User-Agent", metadata={"const": USER_AGENT})
