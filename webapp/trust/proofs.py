"""Proofs: sealed evidence records gathered into a PAdES-signed, timestamped PDF.

A proof is requested in the transaction that records its event (see
`letters.proofs`, which the letters layer calls) and produced by a job after
that commit:

1. the journal's transparency log is brought to a checkpoint that covers the
   letter's records up to the event (`trust.journal`), if none does yet;
2. the PDF is rendered (`proof_pdf`) from the sealed records; the records, an
   inclusion proof for each, and the checkpoint with its timestamp and seal are
   embedded as attachments, and the whole is signed by the seal certificate as
   a certifying PAdES signature with a signature timestamp: any PDF validator
   trusting our root accepts it, and any change breaks it;
3. the validation data of the seal and its timestamp (certificates, CRLs) is
   added in a DSS, then a document timestamp over everything: PAdES B-LTA
   (`webapp.trust.ltv`), which the archive renewal job keeps alive;
4. the signed PDF is stored encrypted until the end of the retention period.

The job is idempotent: a proof already `ready` is left alone.  What a ready
proof means for the letter (the sender's `letter.proof_ready` webhook) is the
caller's to record, in the transaction that stores it (`on_ready`).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import MDPPerm
from sqlalchemy import select

from webapp.extensions import DbSession, reading
from webapp.labels import proof_event_labels, proof_language, proof_texts
from webapp.models import Evidence, Letter, Proof, ProofKind, ProofStatus
from webapp.models.types import new_id
from webapp.storage import PROOFS
from webapp.trust.aio import run_sync
from webapp.trust.context import TrustServices
from webapp.trust.evidence import EventFacts
from webapp.trust.journal import InclusionProof, ensure_logged, inclusion_proof
from webapp.trust.ltv import DSS_SETTINGS, LTV_ERRORS, archive_expiry, archive_field_name
from webapp.trust.pdfa import attach_file, prepare_update
from webapp.trust.proof_pdf import ProofEvent, ProofFacts, format_utc, render_proof_pdf
from webapp.trust.seal import SealError
from webapp.trust.signed_note import Checkpoint, split_note
from webapp.trust.tsa import timestamp_response

log = logging.getLogger(__name__)

# Called in the transaction that stores a ready proof, before its commit.
ProofReady = Callable[[DbSession, Letter, Proof], None]

# The event each proof attests.
PROOF_EVENTS: dict[ProofKind, str] = {
    ProofKind.DEPOSIT: "SubmissionAcceptance",
    ProofKind.RECEPTION: "ConsignmentAcceptance",
    ProofKind.REFUSAL: "ConsignmentRejection",
    ProofKind.NEGLIGENCE: "AcceptanceRejectionExpiry",
    ProofKind.NON_DELIVERY: "ConsignmentNotificationFailure",
    ProofKind.HANDOVER: "ContentHandover",
}

# Events a proof lists (code requests, identification failures and unlocks stay in the chain, not on
# proofs).  A download (`ContentHandover`) comes after the acceptance: the proof of reception lists
# the first one when it happened before that proof was issued (see `listed_records`); a later first
# download has its own proof of handover.
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
        "ContentHandover",
    }
)
# What a proof of handover lists: the acceptance, the identification that opened the download, the download.
HANDOVER_EVENTS = ("ConsignmentAcceptance", "RecipientIdentification", "ContentHandover")

# Names of the journal files every proof carries (the verifier and the dispute bundle read them).
CHECKPOINT_FILE = "journal-checkpoint.txt"
CHECKPOINT_TSR_FILE = "journal-checkpoint.tsr"
CHECKPOINT_SEAL_FILE = "journal-checkpoint.p7s"


class ProofNotReady(Exception):
    """The proof has not been produced yet."""


def add_pending_proof(session: DbSession, letter: Letter, kind: ProofKind, evidence: Evidence, now: datetime) -> Proof:
    """Adds a pending proof for `evidence` (its caller enqueues the job that issues it)."""
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
    return proof


def issue_proof(
    session: DbSession, services: TrustServices, proof_id: str, *, on_ready: ProofReady | None = None
) -> ProofStatus | None:
    """Produces, signs and stores one proof; idempotent.  `on_ready` records, in the same transaction,
    what follows from it.

    Reads, then renders and signs outside any transaction, then writes in a short one: a
    second run of the same job (a retry after a crash) finds the proof ready and stops.
    A download recorded while a proof of reception was being signed is listed by signing
    again (the download takes this proof's row lock before it is recorded, as the write
    below does, so each download ends up in exactly one proof).
    """
    for _ in range(3):
        with reading():  # on SQLite, a snapshot: the read phase never queues behind a deposit's write
            proof = session.get(Proof, proof_id)
            if proof is None:
                log.warning("proof %s does not exist", proof_id)
                session.commit()
                return None
            if proof.status is ProofStatus.READY:
                session.commit()
                return proof.status
            prepared = _prepare(session, services, proof)
            # Records never change once appended: they leave the session loaded, so that signing reads no
            # expired attribute (which would begin a transaction, and on SQLite hold the write lock
            # while the PDF is signed).
            for record in prepared.listed:
                if record in session:
                    session.expunge(record)
            session.commit()  # nothing is held while rendering and signing

        unsigned = render_proof_pdf(prepared.facts)
        signed = sign_proof_pdf(
            services,
            unsigned,
            prepared.listed,
            prepared.journal,
            title=f"{prepared.kind.value} {prepared.facts.reference}",
        )
        # Written before the commit that references it; a run that does not commit leaves an orphan that
        # is deleted here at once (or by the orphan sweep).
        stored = services.objects.put(
            signed, context=f"proof:{proof_id}", kind=PROOFS, owner_id=proof_id, now=services.clock.now()
        )

        proof = session.execute(select(Proof).where(Proof.id == proof_id).with_for_update()).scalar_one()
        if proof.status is ProofStatus.READY:  # another run finished first
            session.commit()
            services.objects.discard([stored.object_key])
            return proof.status
        if _unlisted_download(session, proof, prepared):
            session.rollback()
            services.objects.discard([stored.object_key])
            continue
        proof.attempts += 1
        stored.apply(proof)
        proof.sha256 = hashlib.sha256(signed).hexdigest()
        proof.size = len(signed)
        proof.issued_at = prepared.now
        proof.retain_until = add_years(prepared.now, services.settings.proof_retention_years)
        proof.archive_expires_at = archive_expiry(signed)
        proof.status = ProofStatus.READY
        proof.last_error = None
        if on_ready is not None:
            on_ready(session, session.get_one(Letter, proof.letter_id), proof)
        session.commit()
        return proof.status
    raise SealError("the letter kept changing while its proof was being signed")


@dataclass(frozen=True)
class _Prepared:
    kind: ProofKind
    listed: list[Evidence]
    journal: JournalAttachments
    facts: ProofFacts
    now: datetime


def _prepare(session: DbSession, services: TrustServices, proof: Proof) -> _Prepared:
    """Everything a proof shows and carries, read in one go (the journal logged up to its last record)."""
    kind, letter_id = proof.kind, proof.letter_id
    trigger = session.get_one(Evidence, proof.evidence_id)
    letter = session.get_one(Letter, letter_id)
    records = (
        session.execute(
            select(Evidence).where(Evidence.letter_id == letter.id, Evidence.seq <= trigger.seq).order_by(Evidence.seq)
        )
        .scalars()
        .all()
    )
    listed = listed_records(session, kind, trigger, records)
    checkpoint = ensure_logged(session, services, max(r.seq for r in listed))
    inclusions = [inclusion_proof(session, r.id, checkpoint=checkpoint) for r in listed]
    journal = JournalAttachments(
        checkpoint.tree_size,
        checkpoint.note,
        checkpoint.timestamp_token,
        checkpoint.seal,
        inclusions,
        checkpoint.created_at,
    )
    now = services.clock.now()
    facts = build_facts(services, letter, kind, trigger, listed, now, journal)
    return _Prepared(kind, listed, journal, facts, now)


def _unlisted_download(session: DbSession, proof: Proof, prepared: _Prepared) -> bool:
    """A proof of reception must list the first download if it happened before the proof is issued."""
    if prepared.kind is not ProofKind.RECEPTION or any(r.event == "ContentHandover" for r in prepared.listed):
        return False
    trigger_seq = next(r.seq for r in prepared.listed if r.id == proof.evidence_id)
    found = session.execute(
        select(Evidence.id)
        .where(
            Evidence.letter_id == proof.letter_id,
            Evidence.event == "ContentHandover",
            Evidence.seq > trigger_seq,
        )
        .limit(1)
    ).first()
    return found is not None


def listed_records(
    session: DbSession, kind: ProofKind, trigger: Evidence, records: Sequence[Evidence]
) -> list[Evidence]:
    """The records a proof lists (and carries), in order, from the letter's `records` up to its trigger.

    A proof of reception also lists the letter's first download when it happened
    before the proof is issued; the download locks this proof's row before it is
    recorded (`letters.recipient.hand_over_document`), so the two never miss each
    other.  A proof of handover is short: the acceptance, the identification that
    opened the download, and the download."""
    if kind is ProofKind.HANDOVER:
        listed: list[Evidence] = []
        for event in HANDOVER_EVENTS:
            latest = [r for r in records if r.event == event]
            if latest:
                listed.append(latest[-1])
        return sorted(listed, key=lambda r: r.seq)
    shown = [r for r in records if r.event in SHOWN_EVENTS]
    if kind is ProofKind.RECEPTION:
        download = session.execute(
            select(Evidence)
            .where(
                Evidence.letter_id == trigger.letter_id,
                Evidence.event == "ContentHandover",
                Evidence.seq > trigger.seq,
            )
            .order_by(Evidence.seq)
            .limit(1)
            .with_for_update()
        ).scalar_one_or_none()
        if download is not None:
            shown.append(download)
    return shown


def add_years(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


@dataclass(frozen=True)
class JournalAttachments:
    """What a proof carries of the transparency log: the checkpoint it was issued against, and the
    inclusion proof of each record it lists, so that every proof a sender keeps pins the log."""

    tree_size: int
    note: str
    timestamp_token: bytes
    seal: bytes
    inclusions: list[InclusionProof]
    created_at: datetime


def build_facts(
    services: TrustServices,
    letter: Letter,
    kind: ProofKind,
    trigger: Evidence,
    records: list[Evidence],
    now: datetime,
    journal: JournalAttachments,
) -> ProofFacts:
    """What the proof prints, read from the sealed records (never from the free columns beside them).

    The trigger record repeats who sent what to whom; the letter row gives only the language.  The
    texts are translated here, in the letter's language, and the renderer only draws them.
    """
    language = proof_language(letter.language)
    texts = proof_texts(language)
    if kind is ProofKind.HANDOVER and any(
        _event_key(EventFacts.of(r)) == "RecipientIdentification.eid" for r in records
    ):
        texts = texts | {"statement.handover": texts["statement.handover.eid"]}  # issue 19
    labels = proof_event_labels(language)
    settings = services.settings
    attested = EventFacts.of(trigger)
    events = [EventFacts.of(r) for r in records]
    stated = attested.stated
    sender, recipient, document = attested.fact("sender"), attested.fact("recipient"), attested.fact("document")
    reason = attested.reason if kind in {ProofKind.REFUSAL, ProofKind.NON_DELIVERY} else None
    return ProofFacts(
        sms_delivered_at=sms_delivered_at(events),
        kind=kind.value,
        language=language,
        provider_name=settings.service_name,
        provider_details=f"{settings.service_legal_name} — {texts['provider_role']} — {settings.public_url}",
        letter_id=str(stated["letter_id"]),
        reference=str(stated.get("reference", "")),
        sender_legal_name=str(sender.get("legal_name") or sender.get("name") or ""),
        sender_ice=sender.get("ice"),
        sender_address=sender.get("address"),
        recipient_name=str(recipient.get("name") or ""),
        recipient_phone=str(recipient.get("phone") or ""),
        recipient_email=recipient.get("email"),
        document_name=str(document.get("name") or ""),
        document_size=int(document.get("size") or 0),
        document_sha256=str(document.get("sha256") or ""),
        events=tuple(
            ProofEvent(
                label=labels.get(_event_key(e), labels.get(e.event, e.event)),
                at=e.at,
                evidence_id=e.evidence_id,
                record_hash=e.record_hash,
            )
            for e in events
        ),
        identification=identification_rows(events, texts),
        chain_head_hash=attested.record_hash,
        verify_url=f"{settings.public_url}/verify/{attested.evidence_id}",
        issued_at=now,
        reason=reason,
        journal_size=journal.tree_size,
        journal_root=Checkpoint.parse(split_note(journal.note)[0]).root_hash.hex(),
        trust_notice=trust_notice(services, texts),
        texts=texts,
    )


def _event_key(event: EventFacts) -> str:
    """An identification by national digital identity is worded apart from the code's (issue 19)."""
    if event.event == "RecipientIdentification" and event.details.get("method") == "eid":
        return "RecipientIdentification.eid"
    return event.event


def identification_rows(events: list[EventFacts], texts: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """What a proof prints of the recipient's identification by national digital identity (issue 19), from
    the last such record it lists: method, provider, level, subject, the proven name, birth date and
    identity number (masked, as the record holds it), what matched the sender's expectation, and when."""
    eid = [e for e in events if _event_key(e) == "RecipientIdentification.eid"]
    if not eid:
        return ()
    record = eid[-1]
    details = record.details
    methods = [e.details.get("method") for e in events if e.event == "RecipientIdentification"]
    method = texts["id.method.sms-otp+eid"] if "sms-otp" in methods else texts["id.method.eid"]
    provider = record.section("provider")
    level = record.section("level")
    meaning = level.get("meaning")
    level_text = texts.get(f"id.level.{meaning}", texts["id.level.unknown"]) if meaning else texts["id.level.unknown"]
    if level.get("acr"):
        level_text += f" (acr: {level['acr']})"
    proven = record.section("proven")
    rows: list[tuple[str, str]] = [
        (texts["id.method"], method),
        (texts["id.provider"], f"{provider.get('label') or provider.get('name')} — {provider.get('issuer', '')}"),
        (texts["id.level"], level_text),
        (texts["id.subject"], str(details.get("subject", ""))),
    ]
    name = " ".join(str(proven[k]) for k in ("given_name", "family_name") if proven.get(k)) or proven.get("name")
    if name:
        rows.append((texts["id.name"], str(name)))
    if proven.get("birth_date"):
        rows.append((texts["id.birth_date"], str(proven["birth_date"])))
    cin = proven.get("cin")
    if isinstance(cin, dict) and cin.get("masked"):
        rows.append((texts["id.cin"], str(cin["masked"])))
    matched = [texts[f"id.matched.{field}"] for field in details.get("matched") or () if f"id.matched.{field}" in texts]
    rows.append((texts["id.matched"], ", ".join(matched) if matched else texts["id.matched.none"]))
    rows.append((texts["id.at"], format_utc(record.at) + " UTC"))
    return tuple(rows)


def trust_notice(services: TrustServices, labels: Mapping[str, str]) -> str:
    """The proof's line on where its seal and timestamps come from: a trial setup, or whose they are
    (`labels`: the proof's texts, `webapp.labels.proof_texts`)."""
    services.trust.tsa_certificate()  # an external TSA is asked once, so that it is named by its certificate
    disclosure = services.trust.disclosure
    if disclosure.trial:
        return labels["trust.trial"]
    tsa = disclosure.tsa_name
    if disclosure.tsa_issuer:
        tsa = labels["trust.tsa_issued_by"].format(tsa=tsa, issuer=disclosure.tsa_issuer)
    return labels["trust.configured"].format(seal=disclosure.seal_name, issuer=disclosure.seal_issuer, tsa=tsa)


def sms_delivered_at(events: list[EventFacts]) -> datetime | None:
    """When the operator says the notification SMS reached the phone (its first receipt), if it did."""
    for event in events:
        if event.event != "NotificationDelivered":
            continue
        notification = event.notification
        if notification.get("channel") == "sms" and notification.get("purpose", "notification") == "notification":
            return event.at
    return None


def record_stem(record: Evidence) -> str:
    return f"evidence-{record.seq:08d}-{record.event}"


def proof_attachments(records: list[Evidence], journal: JournalAttachments) -> list[Attachment]:
    """Every file a proof carries, in order: the records (with the individual seals older records
    have), their inclusion proofs, and the checkpoint with its timestamp and seal."""
    files: list[Attachment] = []
    for record in records:
        stem = record_stem(record)
        files.append(
            Attachment(
                f"{stem}.json",
                record.canonical.encode("utf-8"),
                "application/json",
                f"Evidence record {record.id} (RFC 8785 canonical JSON)",
                record.at,
            )
        )
        if record.seal:
            files.append(
                Attachment(
                    f"{stem}.p7s",
                    record.seal,
                    "application/pkcs7-signature",
                    f"CAdES seal of evidence record {record.id}",
                    record.at,
                )
            )
    for inclusion in journal.inclusions:
        files.append(
            Attachment(
                f"inclusion-{inclusion.leaf_index + 1:08d}.json",
                json.dumps(inclusion.as_json(), indent=1).encode(),
                "application/json",
                f"RFC 9162 inclusion proof of evidence record {inclusion.evidence_id} in the journal checkpoint",
                journal.created_at,
            )
        )
    note = journal.note.encode("utf-8")
    files += [
        Attachment(
            CHECKPOINT_FILE, note, "text/plain", "Signed checkpoint of the evidence journal (C2SP)", journal.created_at
        ),
        Attachment(
            CHECKPOINT_TSR_FILE,
            timestamp_response(journal.timestamp_token),
            "application/timestamp-reply",
            "RFC 3161 timestamp of the checkpoint",
            journal.created_at,
        ),
        Attachment(
            CHECKPOINT_SEAL_FILE,
            journal.seal,
            "application/pkcs7-signature",
            "CAdES seal of the checkpoint by the provider's seal certificate",
            journal.created_at,
        ),
    ]
    return files


@dataclass(frozen=True)
class Attachment:
    name: str
    data: bytes
    mime_type: str
    description: str
    created: datetime


def _proof_metadata(services: TrustServices, title: str) -> signers.PdfSignatureMetadata:
    """A certifying PAdES B-LTA seal: the validation data in a DSS, then an archive timestamp over everything."""
    return signers.PdfSignatureMetadata(
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


def sign_proof_pdf(
    services: TrustServices, pdf: bytes, records: list[Evidence], journal: JournalAttachments, *, title: str
) -> bytes:
    """Embeds the records and the journal's proofs as PDF/A-3 associated files, then certifies the PDF
    (PAdES B-LTA, no changes allowed but the DSS and document timestamps that long-term validation adds
    after the signature: ETSI EN 319 142-1 §5.4 allows them under DocMDP P=1)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    for attachment in proof_attachments(records, journal):
        attach_file(
            writer,
            name=attachment.name,
            data=attachment.data,
            mime_type=attachment.mime_type,
            description=attachment.description,
            modified=attachment.created,
        )
    prepare_update(writer)  # the Info dictionary and the XMP metadata stay alike (PDF/A)
    metadata = _proof_metadata(services, title)
    return _certify(services, writer, metadata)


# The signature's space, learnt from the first proof a process signs (pyHanko's estimate then, from a
# dry-run signature) and reserved as is for the next ones: that dry run costs a tenth of a proof.
_reserved: dict[str, int] = {}


def _certify(
    services: TrustServices, writer: IncrementalPdfFileWriter, metadata: signers.PdfSignatureMetadata
) -> bytes:
    signer = services.trust.signer
    key = signer.signing_cert.sha256.hex() if signer.signing_cert is not None else ""
    output = io.BytesIO()
    try:
        run_sync(
            signers.async_sign_pdf(
                writer,
                metadata,
                signer=signer,
                timestamper=services.trust.timestamper,
                output=output,
                bytes_reserved=_reserved.get(key),
            ),
            metadata.validation_context,
        )
    except (*LTV_ERRORS, OSError, ValueError) as exc:  # TimestampRequestError is an OSError
        raise SealError(f"signing the proof failed: {services.trust.explain_failure(exc)}") from exc
    signed = output.getvalue()
    if key not in _reserved:
        _reserved[key] = reserved_signature_bytes(signed)
    return signed


def reserved_signature_bytes(pdf: bytes) -> int:
    """The room the first signature of a signed PDF was given, as pyHanko counts it (`bytes_reserved`):
    the hex digits of its `/Contents`, i.e. the gap its byte range leaves less the two angle brackets."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    byte_range = reader.embedded_signatures[0].byte_range
    return int(byte_range[2]) - int(byte_range[1]) - 2


def warm_up_proofs(services: TrustServices) -> None:
    """Renders and certifies a sample proof, so that the first real one pays no cold start: fonts, keys,
    the TSA, the CRL, pyHanko's first signature, and the signature's size learnt once (a worker calls it)."""
    now = services.clock.now()
    event = ProofEvent(label="Dépôt", at=now, evidence_id="warm-up", record_hash="0" * 64)
    facts = ProofFacts(
        kind=ProofKind.DEPOSIT.value,
        language="fr",
        provider_name=services.settings.service_name,
        provider_details=services.settings.service_legal_name,
        letter_id="warm-up",
        reference="WARM-UP",
        sender_legal_name="—",
        sender_ice=None,
        sender_address=None,
        recipient_name="—",
        recipient_phone="+212600000000",
        recipient_email=None,
        document_name="warm-up.pdf",
        document_size=0,
        document_sha256="0" * 64,
        events=(event,),
        chain_head_hash="0" * 64,
        verify_url=f"{services.settings.public_url}/verify/warm-up",
        issued_at=now,
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(render_proof_pdf(facts)))
    prepare_update(writer)
    _certify(services, writer, _proof_metadata(services, "warm-up"))


def record_proof_failure(session: DbSession, proof_id: str, error: str) -> None:
    """Notes why a proof could not be produced (the job is retried, the proof stays pending)."""
    proof = session.get(Proof, proof_id)
    if proof is not None:
        proof.attempts += 1
        proof.last_error = error[:1000]
        session.commit()


def decrypt_proof(services: TrustServices, proof: Proof) -> bytes:
    """The signed PDF of a ready proof.  Only the letters gate (`letters.access.open_proof`) calls this,
    after checking who asks."""
    if proof.status is not ProofStatus.READY or (proof.ciphertext is None and proof.object_key is None):
        raise ProofNotReady()
    if proof.key_id is None or proof.wrapped_key is None or proof.nonce is None:
        raise ProofNotReady()
    return services.objects.read(proof, context=f"proof:{proof.id}")
