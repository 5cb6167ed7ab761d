"""Proofs: sealed evidence records gathered into a PAdES-signed, timestamped PDF.

A proof is requested in the transaction that records its event (see
`letters.lifecycle`) and produced by a job after that commit:

1. the letter's evidence records up to the event are sealed (CAdES + RFC 3161)
   if a job has not done it yet;
2. the PDF is rendered (`proof_pdf`), the records and their seals are embedded
   as attachments, and the whole is signed by the seal certificate as a
   certifying PAdES signature with a signature timestamp: any PDF validator
   trusting our root accepts it, and any change breaks it;
3. the validation data of the seal and its timestamp (certificates, CRLs) is
   added in a DSS, then a document timestamp over everything: PAdES B-LTA
   (`webapp.trust.ltv`), which the archive renewal job keeps alive;
4. the signed PDF is stored encrypted until the end of the retention period.

The job is idempotent: a proof already `ready` is left alone.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from datetime import datetime, timedelta

from pyhanko.pdf_utils.embed import EmbeddedFileObject, EmbeddedFileParams, FileSpec, embed_file
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import MDPPerm
from sqlalchemy import select

from webapp.extensions import DbSession
from webapp.models import Evidence, Letter, Proof, ProofKind, ProofStatus
from webapp.models.types import new_id
from webapp.outgoing_webhooks import letter_proof_ready
from webapp.queue import enqueue_after_commit
from webapp.services import Services
from webapp.trust.aio import run_sync
from webapp.trust.ltv import DSS_SETTINGS, LTV_ERRORS, archive_expiry, archive_field_name
from webapp.trust.proof_pdf import LABELS, ProofEvent, ProofFacts, render_proof_pdf
from webapp.trust.seal import SealError
from webapp.vault import Sealed

log = logging.getLogger(__name__)

ISSUE_JOB = "webapp.jobs.issue_proof"

# The event each proof attests.
PROOF_EVENTS: dict[ProofKind, str] = {
    ProofKind.DEPOSIT: "SubmissionAcceptance",
    ProofKind.RECEPTION: "ConsignmentAcceptance",
    ProofKind.REFUSAL: "ConsignmentRejection",
    ProofKind.NEGLIGENCE: "AcceptanceRejectionExpiry",
    ProofKind.NON_DELIVERY: "ConsignmentNotificationFailure",
}

# Events a proof lists (identification failures and downloads stay in the chain, not on proofs).
SHOWN_EVENTS = frozenset(
    {
        "SubmissionAcceptance",
        "ConsignmentNotification",
        "ConsignmentNotificationFailure",
        "NotificationDelivered",
        "ConsignmentReminder",
        "RecipientIdentification",
        "ConsignmentAcceptance",
        "ConsignmentRejection",
        "AcceptanceRejectionExpiry",
    }
)

EVENT_LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "SubmissionAcceptance": "Dépôt de la lettre",
        "ConsignmentNotification": "Notification envoyée au destinataire",
        "ConsignmentNotificationFailure": "Échec de la notification",
        "NotificationDelivered": "Notification remise au téléphone",
        "ConsignmentReminder": "Rappel envoyé au destinataire",
        "RecipientIdentification": "Identification du destinataire (code à usage unique)",
        "ConsignmentAcceptance": "Acceptation par le destinataire",
        "ConsignmentRejection": "Refus par le destinataire",
        "AcceptanceRejectionExpiry": "Expiration du délai sans réponse",
    },
    "ar": {
        "SubmissionAcceptance": "إيداع الرسالة",
        "ConsignmentNotification": "إرسال الإشعار إلى المرسل إليه",
        "ConsignmentNotificationFailure": "فشل الإشعار",
        "NotificationDelivered": "تسليم الإشعار إلى الهاتف",
        "ConsignmentReminder": "إرسال تذكير إلى المرسل إليه",
        "RecipientIdentification": "التحقق من هوية المرسل إليه (رمز لمرة واحدة)",
        "ConsignmentAcceptance": "قبول المرسل إليه",
        "ConsignmentRejection": "رفض المرسل إليه",
        "AcceptanceRejectionExpiry": "انقضاء الأجل دون رد",
    },
    "en": {
        "SubmissionAcceptance": "Letter deposited",
        "ConsignmentNotification": "Notification sent to the recipient",
        "ConsignmentNotificationFailure": "Notification failed",
        "NotificationDelivered": "Notification delivered to the phone",
        "ConsignmentReminder": "Reminder sent to the recipient",
        "RecipientIdentification": "Recipient identified (one-time code)",
        "ConsignmentAcceptance": "Accepted by the recipient",
        "ConsignmentRejection": "Refused by the recipient",
        "AcceptanceRejectionExpiry": "Deadline passed without an answer",
    },
}

PROVIDER_ROLE = {
    "fr": "prestataire de services de confiance (loi 43-20)",
    "ar": "مقدم خدمات الثقة (القانون 43-20)",
    "en": "trust service provider (law 43-20)",
}


class ProofNotReady(Exception):
    """The proof has not been produced yet."""


def request_proof(session: DbSession, letter: Letter, kind: ProofKind, evidence: Evidence, now: datetime) -> Proof:
    """Adds a pending proof for `evidence` and enqueues its job after commit."""
    proof = Proof(
        id=new_id(),  # known now: no flush needed to enqueue its job
        letter_id=letter.id,
        kind=kind,
        evidence_id=evidence.id,
        status=ProofStatus.PENDING,
        created_at=now,
        attempts=0,
    )
    session.add(proof)
    enqueue_after_commit(session, ISSUE_JOB, proof.id, job_id=f"proof-{proof.id}")
    return proof


def seal_record(session: DbSession, services: Services, record: Evidence) -> None:
    """Seals one record in the caller's transaction (no-op if already sealed)."""
    if record.seal is not None:
        return
    record.seal = services.trust.seal(record.canonical.encode("utf-8"))
    record.sealed_at = services.clock.now()


def seal_pending_records(session: DbSession, services: Services, *, batch: int = 200) -> int:
    """Seals records a job has not sealed yet, oldest first; commits each.

    Found through `ix_evidence_sealed_at` (`sealed_at` is set with the seal): every 10 seconds this
    reads the few unsealed records, not the whole journal from its first record."""
    ids = (
        session.execute(select(Evidence.id).where(Evidence.sealed_at.is_(None)).order_by(Evidence.seq).limit(batch))
        .scalars()
        .all()
    )
    sealed = 0
    for evidence_id in ids:
        record = session.execute(select(Evidence).where(Evidence.id == evidence_id).with_for_update()).scalar_one()
        if record.seal is None:
            seal_record(session, services, record)
            sealed += 1
        session.commit()
    return sealed


def issue_proof(session: DbSession, services: Services, proof_id: str) -> ProofStatus | None:
    """Produces, signs and stores one proof; idempotent."""
    proof = session.execute(select(Proof).where(Proof.id == proof_id).with_for_update()).scalar_one_or_none()
    if proof is None:
        log.warning("proof %s does not exist", proof_id)
        return None
    if proof.status is ProofStatus.READY:
        session.commit()
        return proof.status
    proof.attempts += 1
    letter = session.get_one(Letter, proof.letter_id)
    trigger = session.get_one(Evidence, proof.evidence_id)
    records = (
        session.execute(
            select(Evidence)
            .where(Evidence.letter_id == letter.id, Evidence.seq <= trigger.seq)
            .order_by(Evidence.seq)
            .with_for_update()  # so that the sealing job does not seal them at the same time
        )
        .scalars()
        .all()
    )
    for record in records:
        seal_record(session, services, record)
    shown = [r for r in records if r.event in SHOWN_EVENTS]
    now = services.clock.now()
    facts = build_facts(services, letter, proof.kind, trigger, shown, now)
    unsigned = render_proof_pdf(facts)
    signed = sign_proof_pdf(services, unsigned, shown, title=f"{proof.kind.value} {letter.reference}")
    stored = services.vault.encrypt(signed, context=f"proof:{proof.id}")
    proof.key_id, proof.wrapped_key = stored.key_id, stored.wrapped_key
    proof.nonce, proof.ciphertext = stored.nonce, stored.ciphertext
    proof.sha256 = hashlib.sha256(signed).hexdigest()
    proof.size = len(signed)
    proof.issued_at = now
    proof.retain_until = add_years(now, services.settings.proof_retention_years)
    proof.archive_expires_at = archive_expiry(signed)
    proof.status = ProofStatus.READY
    proof.last_error = None
    letter_proof_ready(session, letter, proof.kind, at=now, public_url=services.settings.public_url)
    session.commit()
    return proof.status


def add_years(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


def build_facts(
    services: Services,
    letter: Letter,
    kind: ProofKind,
    trigger: Evidence,
    records: list[Evidence],
    now: datetime,
) -> ProofFacts:
    language = letter.language if letter.language in EVENT_LABELS else "fr"
    labels = EVENT_LABELS[language]
    settings = services.settings
    org = letter.organisation
    reason = None
    if kind in {ProofKind.REFUSAL, ProofKind.NON_DELIVERY}:
        details = json.loads(trigger.canonical).get("details", {})
        reason = details.get("reason")
    return ProofFacts(
        sms_delivered_at=sms_delivered_at(records),
        kind=kind.value,
        language=language,
        provider_name=settings.service_name,
        provider_details=f"{settings.service_legal_name} — {PROVIDER_ROLE[language]} — {settings.public_url}",
        letter_id=letter.id,
        reference=letter.reference,
        sender_legal_name=org.legal_name,
        sender_ice=org.ice,
        sender_address=org.address,
        recipient_name=letter.recipient_name,
        recipient_phone=letter.recipient_phone,
        recipient_email=letter.recipient_email,
        document_name=letter.document_name,
        document_size=letter.document_size,
        document_sha256=letter.document_sha256,
        events=tuple(
            ProofEvent(
                label=labels.get(r.event, r.event),
                at=r.occurred_at,
                evidence_id=r.id,
                record_hash=r.record_hash,
            )
            for r in records
        ),
        chain_head_hash=trigger.record_hash,
        verify_url=f"{settings.public_url}/verify/{trigger.id}",
        issued_at=now,
        reason=reason,
        trust_notice=trust_notice(services, language),
    )


def trust_notice(services: Services, language: str) -> str:
    """The proof's line on where its seal and timestamps come from: a trial setup, or whose they are."""
    services.trust.tsa_certificate()  # an external TSA is asked once, so that it is named by its certificate
    disclosure = services.trust.disclosure
    labels = LABELS[language]
    if disclosure.trial:
        return labels["trust.trial"]
    tsa = disclosure.tsa_name
    if disclosure.tsa_issuer:
        tsa = labels["trust.tsa_issued_by"].format(tsa=tsa, issuer=disclosure.tsa_issuer)
    return labels["trust.configured"].format(seal=disclosure.seal_name, issuer=disclosure.seal_issuer, tsa=tsa)


def sms_delivered_at(records: list[Evidence]) -> datetime | None:
    """When the operator says the notification SMS reached the phone (its first receipt), if it did."""
    for record in records:
        if record.event != "NotificationDelivered":
            continue
        notification = json.loads(record.canonical).get("details", {}).get("notification", {})
        if notification.get("channel") == "sms" and notification.get("purpose", "notification") == "notification":
            return record.occurred_at
    return None


def attachment_names(record: Evidence) -> tuple[str, str]:
    stem = f"evidence-{record.seq:08d}-{record.event}"
    return f"{stem}.json", f"{stem}.p7s"


def sign_proof_pdf(services: Services, pdf: bytes, records: list[Evidence], *, title: str) -> bytes:
    """Embeds the records and their seals, then certifies the PDF (PAdES B-LTA, no changes allowed).

    No changes but the DSS and document timestamps that long-term validation
    adds after the signature (ETSI EN 319 142-1 §5.4 allows them under DocMDP P=1)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    for record in records:
        json_name, seal_name = attachment_names(record)
        for name, data, mime, description in (
            (
                json_name,
                record.canonical.encode("utf-8"),
                "application/json",
                f"Evidence record {record.id} (RFC 8785 canonical JSON)",
            ),
            (
                seal_name,
                record.seal or b"",
                "application/pkcs7-signature",
                f"CAdES seal of evidence record {record.id}",
            ),
        ):
            embedded = EmbeddedFileObject.from_file_data(
                writer,
                data=data,
                mime_type=mime,
                params=EmbeddedFileParams(creation_date=record.occurred_at),
            )
            embed_file(
                writer,
                FileSpec(file_spec_string=name, file_name=name, embedded_data=embedded, description=description),
            )
    metadata = signers.PdfSignatureMetadata(
        field_name="Seal",
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        certify=True,
        docmdp_permissions=MDPPerm.NO_CHANGES,
        reason=title,
        location="Maroc",
        name=services.settings.service_legal_name,
        # PAdES B-LTA: the validation data in a DSS, then an archive timestamp over everything.
        embed_validation_info=True,
        use_pades_lta=True,
        validation_context=services.trust.ltv_context(),
        timestamp_field_name=archive_field_name(1),
        dss_settings=DSS_SETTINGS,
    )
    output = io.BytesIO()
    try:
        run_sync(
            signers.async_sign_pdf(
                writer, metadata, signer=services.trust.signer, timestamper=services.trust.timestamper, output=output
            ),
            metadata.validation_context,
        )
    except (*LTV_ERRORS, OSError, ValueError) as exc:  # TimestampRequestError is an OSError
        raise SealError(f"signing the proof failed: {services.trust.explain_failure(exc)}") from exc
    return output.getvalue()


def record_proof_failure(session: DbSession, proof_id: str, error: str) -> None:
    """Notes why a proof could not be produced (the job is retried, the proof stays pending)."""
    proof = session.get(Proof, proof_id)
    if proof is not None:
        proof.attempts += 1
        proof.last_error = error[:1000]
        session.commit()


def requeue_pending_proofs(session: DbSession, services: Services, *, older_than: int = 60) -> int:
    """Re-enqueues proofs whose job was lost (Redis down) or failed."""
    cutoff = services.clock.now() - timedelta(seconds=older_than)
    pending = (
        session.execute(
            select(Proof.id).where(Proof.status == ProofStatus.PENDING, Proof.created_at <= cutoff).limit(500)
        )
        .scalars()
        .all()
    )
    for proof_id in pending:
        enqueue_after_commit(session, ISSUE_JOB, proof_id, job_id=f"proof-{proof_id}")
    session.commit()
    return len(pending)


def read_proof(session: DbSession, services: Services, letter: Letter, kind: ProofKind) -> bytes:
    proof = session.execute(select(Proof).where(Proof.letter_id == letter.id, Proof.kind == kind)).scalar_one_or_none()
    if proof is None or proof.status is not ProofStatus.READY or proof.ciphertext is None:
        raise ProofNotReady()
    if proof.key_id is None or proof.wrapped_key is None or proof.nonce is None:
        raise ProofNotReady()
    return services.vault.decrypt(
        Sealed(proof.key_id, proof.wrapped_key, proof.nonce, proof.ciphertext), context=f"proof:{proof.id}"
    )
