"""Long-term validation of proofs: PAdES B-LTA, checked, and kept alive by archive timestamps.

A proof is certified by our seal (PAdES, signature timestamp), then, in later
incremental updates that its DocMDP "no changes" permission allows (ISO
32000-2 §12.8.2.2, ETSI EN 319 142-1 §5.4): a Document Security Store (DSS)
holding every certificate and CRL (or OCSP response) needed to validate the
seal and its timestamp, and a document timestamp over all of it — the first
archive timestamp.  This is PAdES B-LTA: once the seal certificate has expired
(or even been revoked later), a validator can still establish, from the
archive timestamp and the validation data it protects, that the seal was valid
when it was made.

That holds until the archive timestamp's own TSA certificate expires.  Before
that (`ARCHIVE_RENEWAL_MARGIN_DAYS`), `add_archive_timestamp` adds the
validation data of the last archive timestamp to the DSS and a new archive
timestamp over everything, by a TSA certificate that lives longer; the
scheduler does it for every stored proof (`webapp.letters.archive`).

Revocation information: on the embedded default, our own CRLs (`webapp.trust.crl`),
given to pyHanko directly, nothing fetched.  With a configured seal and TSA,
pyHanko fetches what their certificates name (CRL distribution points, OCSP),
and signing fails with a clear error when it cannot.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.pdf_signer import (
    DSSContentSettings,
    PdfTimeStamper,
    SigDSSPlacementPreference,
    TimestampDSSContentSettings,
)
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.validation import async_validate_pdf_timestamp
from pyhanko.sign.validation.ades import ades_lta_validation
from pyhanko.sign.validation.dss import DocumentSecurityStore, async_add_validation_info
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.policy_decl import (
    CertificateFetchingRule,
    LocalKnowledge,
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError, ValidationError
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from pyhanko_certvalidator.policy_decl import REQUIRE_REVINFO, CertRevTrustPolicy
from pyhanko_certvalidator.registry import SimpleTrustManager
from pyhanko_certvalidator.revinfo.archival import CRLContainer

from webapp.trust.aio import run_sync
from webapp.trust.keys import TrustMaterial, archived_certificates, crl_urls, display_name, to_asn1_cert

log = logging.getLogger(__name__)

# Document timestamp fields are named ArchiveTimestamp1, ArchiveTimestamp2, … in the order they were added.
ARCHIVE_FIELD = "ArchiveTimestamp"

# The DSS is written with the archive timestamp, in the revision it covers (no VRI, a
# deprecated relic): a proof ends with its last archive timestamp, which covers the whole file.
TIMESTAMP_DSS_SETTINGS = TimestampDSSContentSettings(include_vri=False, update_before_ts=True)
DSS_SETTINGS = DSSContentSettings(
    include_vri=False,
    placement=SigDSSPlacementPreference.TOGETHER_WITH_NEXT_TS,
    next_ts_settings=TIMESTAMP_DSS_SETTINGS,
)

# What can go wrong while gathering or checking validation data (network, path, revocation).
LTV_ERRORS = (SigningError, SignatureValidationError, ValidationError, PathBuildingError, PathValidationError)


class ArchiveTimestampError(Exception):
    """A proof could not be given a new archive timestamp."""


def failure_reason(exc: BaseException) -> str:
    """An exception and its causes on one line: pyHanko's outermost message rarely says why
    ("the signer's certificate could not be validated": revoked? CRL unreachable?)."""
    parts: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(parts) < 6:
        text = str(current).strip()
        if text and text not in parts:
            parts.append(text)
        current = current.__cause__ or current.__context__
    return ": ".join(parts) or type(exc).__name__


def revocation_sources(certs: Sequence[x509.Certificate]) -> list[str]:
    """Where each certificate's revocation information is published (CRL distribution points, OCSP)."""
    sources = []
    for cert in certs:
        urls = crl_urls(cert)
        try:
            access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
            urls += [d.access_location.value for d in access if d.access_method == AuthorityInformationAccessOID.OCSP]
        except x509.ExtensionNotFound:
            pass
        if urls:
            sources.append(f"{display_name(cert.subject)}: {', '.join(urls)}")
    return sources


def archive_field_name(index: int) -> str:
    return f"{ARCHIVE_FIELD}{index}"


def _other_certificates(material: TrustMaterial) -> list[asn1_x509.Certificate]:
    """Certificates a validator may need besides the anchors: chains, and our TSA's (old ones included)."""
    certs = [*material.seal.chain]
    if material.tsa is not None:
        certs += [material.tsa.cert, *material.tsa.chain]
    if material.local is not None:
        certs += archived_certificates(material.local.directory)
    return [to_asn1_cert(cert) for cert in certs]


def signing_context(material: TrustMaterial, now: datetime, crls: Sequence[bytes]) -> ValidationContext:
    """What pyHanko validates our seal and TSA against while signing, and embeds in the DSS.

    Embedded default (local seal and local TSA): our root, our CRL, revocation
    information required for every certificate, at our clock's time, nothing
    fetched.  Otherwise the configured certificates' CRLs and OCSP responses
    are fetched ("hard-fail": a certificate that names one and whose
    information cannot be had stops the signature, with the reason).
    """
    roots = [to_asn1_cert(cert) for cert in material.trust_roots]
    if material.local is not None and material.tsa is not None:
        return ValidationContext(
            trust_roots=roots,
            other_certs=_other_certificates(material),
            crls=list(crls),
            allow_fetching=False,
            revocation_mode="require",
            moment=now,
        )
    return ValidationContext(
        trust_roots=roots,
        other_certs=_other_certificates(material),
        crls=list(crls),
        allow_fetching=True,
        revocation_mode="hard-fail",
    )


def validation_spec(material: TrustMaterial, crls: Sequence[bytes], *, fetch: bool) -> PdfSignatureValidationSpec:
    """pyHanko's AdES validation settings for our proofs: revocation information required for every certificate."""
    policy = CertValidationPolicySpec(
        trust_manager=SimpleTrustManager.build(trust_roots=[to_asn1_cert(c) for c in material.trust_roots]),
        revinfo_policy=CertRevTrustPolicy(REQUIRE_REVINFO),
    )
    gathering = RevocationInfoGatheringSpec(
        online_fetching_rule=RevinfoOnlineFetchingRule.NO_HISTORICAL_FETCH
        if fetch
        else RevinfoOnlineFetchingRule.LOCAL_ONLY,
        certificate_fetching_rule=CertificateFetchingRule.NEVER_FETCH,
    )
    knowledge = LocalKnowledge(
        known_crls=[CRLContainer(asn1_crl.CertificateList.load(der)) for der in crls],
        known_certs=_other_certificates(material),
    )
    return PdfSignatureValidationSpec(
        SignatureValidationSpec(
            cert_validation_policy=policy, revinfo_gathering_policy=gathering, local_knowledge=knowledge
        )
    )


# --- reading what a proof carries ---------------------------------------------------------------


def document_timestamps(reader: PdfFileReader) -> list[EmbeddedPdfSignature]:
    """The document (archive) timestamps of a PDF, oldest first."""
    return list(reader.embedded_timestamp_signatures)


def token_time(timestamp: EmbeddedPdfSignature) -> datetime:
    moment: datetime = timestamp.signed_data["encap_content_info"]["content"].parsed["gen_time"].native
    return moment


def certificate_end(cert: asn1_x509.Certificate) -> datetime:
    end: datetime = cert["tbs_certificate"]["validity"]["not_after"].native
    return end


@dataclass(frozen=True)
class ArchiveState:
    """A proof's archive timestamps: how many, the last one's time, and when its TSA certificate expires."""

    count: int
    last_at: datetime
    expires_at: datetime


def archive_state(pdf: bytes) -> ArchiveState | None:
    """None for a proof without archive timestamp (PAdES B-T)."""
    timestamps = document_timestamps(PdfFileReader(io.BytesIO(pdf), strict=False))
    if not timestamps:
        return None
    last = timestamps[-1]
    return ArchiveState(len(timestamps), token_time(last), certificate_end(last.signer_cert))


def archive_expiry(pdf: bytes) -> datetime | None:
    """When the last archive timestamp's TSA certificate expires: renew before then (None: no archive timestamp)."""
    state = archive_state(pdf)
    return state.expires_at if state is not None else None


def covers_whole_file(timestamp: EmbeddedPdfSignature) -> bool:
    """True when nothing follows what `timestamp` signed: not one byte added after it."""
    return bool(timestamp.coverage == SignatureCoverageLevel.ENTIRE_FILE)


@dataclass
class LtaCheck:
    """The outcome of PAdES B-LTA validation, with revocation information required."""

    valid: bool
    archive_timestamps: list[datetime] = field(default_factory=list)
    # The time the signature is proven to have existed (its signature timestamp, or earlier proof).
    proven_at: datetime | None = None
    indication: str = ""
    problem: str | None = None


def check_lta(embedded: EmbeddedPdfSignature, spec: PdfSignatureValidationSpec, now: datetime) -> LtaCheck:
    """pyHanko's AdES LTA validation of the seal (ETSI EN 319 102-1 §5.6.3) at `now`."""
    times = [token_time(ts) for ts in document_timestamps(embedded.reader)]
    if not times:
        return LtaCheck(False, problem="no archive timestamp (PAdES B-T only)")
    timing = ValidationTimingInfo(validation_time=now, best_signature_time=now, point_in_time_validation=False)
    try:
        result = run_sync(ades_lta_validation(embedded, spec, timing_info=timing))
    except (*LTV_ERRORS, ValueError, KeyError, TypeError, PdfReadError) as exc:
        return LtaCheck(False, times, problem=f"validation failed: {failure_reason(exc)}")
    status = result.api_status
    indication = str(getattr(result.ades_subindic, "name", result.ades_subindic))
    problems = []
    if indication != "OK":
        problems.append(result.failure_msg or indication)
    if result.oldest_evidence_record_timestamp is None:
        problems.append("the archive timestamps do not validate")
    if status is None or not (status.intact and status.valid and status.trusted):
        problems.append("the seal does not validate")
    elif not status.docmdp_ok or (status.modification_level or ModificationLevel.OTHER) > ModificationLevel.LTA_UPDATES:
        problems.append("the file was changed after it was sealed")
    return LtaCheck(
        valid=not problems,
        archive_timestamps=times,
        proven_at=result.best_signature_time,
        indication=indication,
        problem="; ".join(problems) or None,
    )


# --- archive timestamps -------------------------------------------------------------------------


def add_archive_timestamp(pdf: bytes, timestamper: TimeStamper, context: ValidationContext) -> bytes:
    """`pdf` with the validation data of its last timestamp in the DSS and a new archive timestamp over all.

    A proof issued before archive timestamps existed (B-T) first gets the
    validation data of its seal, so that it becomes B-LTA.
    """
    try:
        return run_sync(_add_archive_timestamp(pdf, timestamper, context), context)
    except (*LTV_ERRORS, OSError, ValueError, PdfReadError) as exc:  # TimestampRequestError is an OSError
        raise ArchiveTimestampError(f"adding an archive timestamp failed: {failure_reason(exc)}") from exc


async def _add_archive_timestamp(pdf: bytes, timestamper: TimeStamper, context: ValidationContext) -> bytes:
    """As pyHanko's `update_archival_timestamp_chain`, but the DSS goes in the new timestamp's revision.

    The last archive timestamp is validated first (so a broken chain is never
    extended), its validation data and the new TSA's are put in the DSS, and
    the new timestamp covers all of it, to the file's last byte.
    """
    timestamps = document_timestamps(PdfFileReader(io.BytesIO(pdf)))
    if not timestamps:
        # Issued before archive timestamps existed (B-T): the seal's validation data first.
        [seal] = PdfFileReader(io.BytesIO(pdf)).embedded_regular_signatures
        with_dss = io.BytesIO()
        await async_add_validation_info(seal, context, in_place=False, output=with_dss, force_write=True)
        pdf = with_dss.getvalue()
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    md_algorithm = "sha256"
    if timestamps:
        last = document_timestamps(writer.prev)[-1]
        status = await async_validate_pdf_timestamp(last, validation_context=context)
        if not (status.intact and status.valid and status.trusted) or status.validation_path is None:
            raise ArchiveTimestampError(f"the last archive timestamp does not validate: {status.summary()}")
        md_algorithm = status.md_algorithm
        DocumentSecurityStore.supply_dss_in_writer(
            writer, sig_contents=None, paths=(status.validation_path,), validation_context=context
        )
    output = io.BytesIO()
    stamper = PdfTimeStamper(timestamper, field_name=archive_field_name(len(timestamps) + 1))
    await stamper.async_timestamp_pdf(writer, md_algorithm, context, output=output, dss_settings=TIMESTAMP_DSS_SETTINGS)
    return output.getvalue()
