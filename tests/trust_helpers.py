"""Helpers shared by the trust tests: walking a letter to each outcome, fetching and checking proofs.

Every check here uses tools independent of the code under test where it can:
pyHanko's own validator against the CA fetched over HTTP, `openssl`, pypdf.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from asn1crypto.crl import CertificateList
from flask import Flask
from flask.testing import FlaskClient
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESPassed
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import async_validate_pdf_signature, async_validate_pdf_timestamp
from pyhanko.sign.validation.ades import AdESLTAValidationResult, ades_lta_validation
from pyhanko.sign.validation.policy_decl import (
    CertificateFetchingRule,
    LocalKnowledge,
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko.sign.validation.status import DocumentTimestampStatus, PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.policy_decl import REQUIRE_REVINFO, CertRevTrustPolicy
from pyhanko_certvalidator.registry import SimpleTrustManager
from pyhanko_certvalidator.revinfo.archival import CRLContainer
from pypdf import PdfReader
from sqlalchemy import select

from tests import rfc9162
from tests.conftest import Sender
from tests.rfc9162 import SignedCheckpoint
from webapp.extensions import db
from webapp.models import Evidence, Proof
from webapp.notify.sms import PermanentSmsError, SmsReceipt
from webapp.trust.aio import run_sync

LINK = re.compile(r"https://wassit\.ma(/l/[A-Za-z0-9_-]+)")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CODE = re.compile(r"\b(\d{6})\b")
VERDICT = re.compile(r'<p class="verdict (pass|fail)"')

KINDS = ("deposit", "reception", "refusal", "negligence", "non_delivery")


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, html[:2000]
    return match.group(1)


def verdicts(html: str) -> list[str]:
    """The verdict elements of a verification page: ["pass"] or ["fail"]."""
    return VERDICT.findall(html)


class FailingSms:
    """An SMS provider whose every send fails for good (unknown number, barred line)."""

    name = "failing"

    def __init__(self) -> None:
        self.calls = 0

    def send(self, *, to: str, text: str, client_ref: str) -> SmsReceipt:
        self.calls += 1
        raise PermanentSmsError("unknown subscriber")

    def find_sent(self, client_ref: str) -> SmsReceipt | bool | None:
        return None


@dataclass
class Letters:
    """Walks letters through the recipient flow with the test client."""

    app: Flask
    client: FlaskClient
    sender: Sender
    deposit: Callable[..., Any]
    run_jobs: Callable[[], None]
    outbox: Callable[[], list[dict[str, Any]]]

    def notified(self, **fields: Any) -> tuple[str, str]:
        """Deposits a letter and sends its notification: (letter id, recipient link path)."""
        before = len(self.outbox())
        created = self.deposit(**fields)
        assert created.status_code == 201, created.json
        self.run_jobs()
        [notification] = self.outbox()[before:]
        match = LINK.search(notification["text"])
        assert match, notification
        return created.json["id"], match.group(1)

    def identify(self, path: str) -> None:
        client = self.client
        assert client.get(path).status_code == 200
        response = client.post(f"{path}/code")  # no CSRF token: the link is the authority (pages.send_code)
        assert response.status_code == 303, response.text[:1000]
        self.run_jobs()
        match = CODE.search(self.outbox()[-1]["text"])
        assert match
        page = client.get(f"{path}/code")
        response = client.post(f"{path}/code/check", data={"csrf_token": csrf_of(page.text), "code": match.group(1)})
        assert response.status_code == 303, response.text[:1000]
        assert response.headers["Location"].endswith(f"{path}/decision")

    def decide(self, path: str, decision: str, reason: str | None = None) -> None:
        self.identify(path)
        page = self.client.get(f"{path}/decision")
        data = {"csrf_token": csrf_of(page.text), "decision": decision}
        if reason is not None:
            data["reason"] = reason
        response = self.client.post(f"{path}/decision", data=data)
        assert response.status_code in {200, 303}, response.text[:1000]

    def api(self, letter_id: str) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/letters/{letter_id}", headers=self.sender.auth)
        assert response.status_code == 200
        body = response.get_json()
        assert isinstance(body, dict)
        return body

    def proof(self, letter_id: str, kind: str) -> bytes:
        response = self.client.get(f"/api/v1/letters/{letter_id}/proofs/{kind}", headers=self.sender.auth)
        assert response.status_code == 200, response.data[:500]
        assert response.mimetype == "application/pdf"
        return bytes(response.data)


def root_certificate(client: FlaskClient) -> asn1_x509.Certificate:
    """The trust anchor, as any outside party gets it: from GET /trust/ca.pem."""
    response = client.get("/trust/ca.pem")
    assert response.status_code == 200
    _, _, der = pem.unarmor(response.data)
    return asn1_x509.Certificate.load(der)


def validate_pdf(data: bytes, root: asn1_x509.Certificate) -> PdfSignatureStatus:
    """pyHanko's validation of the seal of `data` (its only signature besides archive timestamps),
    trusting `root` alone."""
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    [signature] = reader.embedded_regular_signatures
    context = ValidationContext(trust_roots=[root], allow_fetching=False)
    status: PdfSignatureStatus = run_sync(async_validate_pdf_signature(signature, signer_validation_context=context))
    return status


def validate_timestamps(data: bytes, root: asn1_x509.Certificate) -> list[DocumentTimestampStatus]:
    """pyHanko's validation of each archive (document) timestamp of `data`, oldest first, trusting `root` alone."""
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    statuses: list[DocumentTimestampStatus] = []
    for timestamp in reader.embedded_timestamp_signatures:
        context = ValidationContext(trust_roots=[root], allow_fetching=False)
        statuses.append(run_sync(async_validate_pdf_timestamp(timestamp, validation_context=context)))
    return statuses


def accepted(data: bytes, root: asn1_x509.Certificate) -> bool:
    """Whether pyHanko finds the seal and every archive timestamp intact, nothing but archive updates after
    the seal, and nothing after the last archive timestamp."""
    try:
        seal = validate_pdf(data, root)
        timestamps = validate_timestamps(data, root)
    except Exception:
        return False
    return (
        seal.intact
        and seal.valid
        and seal.docmdp_ok is not False
        and seal.modification_level is not None
        and seal.modification_level <= ModificationLevel.LTA_UPDATES
        and bool(timestamps)
        and all(ts.intact and ts.valid for ts in timestamps)
        and timestamps[-1].coverage == SignatureCoverageLevel.ENTIRE_FILE
    )


def validate_lta(
    data: bytes, roots: Sequence[asn1_x509.Certificate], crls: Sequence[bytes] = ()
) -> AdESLTAValidationResult:
    """pyHanko's own PAdES B-LTA validation (ETSI EN 319 102-1 §5.6.3) of the seal of `data`, as a court
    expert would run it: trusting `roots` alone, revocation information required for every certificate,
    nothing fetched from the network (the CRLs given, e.g. today's from GET /trust/crl, and what the
    proof's DSS holds), at the current time."""
    policy = CertValidationPolicySpec(
        trust_manager=SimpleTrustManager.build(trust_roots=list(roots)),
        revinfo_policy=CertRevTrustPolicy(REQUIRE_REVINFO),
    )
    spec = SignatureValidationSpec(
        cert_validation_policy=policy,
        revinfo_gathering_policy=RevocationInfoGatheringSpec(
            online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY,
            certificate_fetching_rule=CertificateFetchingRule.NEVER_FETCH,
        ),
        local_knowledge=LocalKnowledge(known_crls=[CRLContainer(CertificateList.load(der)) for der in crls]),
    )
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    [seal] = reader.embedded_regular_signatures
    result: AdESLTAValidationResult = run_sync(ades_lta_validation(seal, PdfSignatureValidationSpec(spec)))
    return result


def lta_valid(result: AdESLTAValidationResult) -> bool:
    """Valid at the B-LTA level: AdES "passed", the archive timestamp chain validated (it is what proves
    the signature's time), and only signature maintenance (DSS, archive timestamps) after the seal."""
    status = result.api_status
    return (
        result.ades_subindic == AdESPassed.OK
        and result.oldest_evidence_record_timestamp is not None
        and status is not None
        and status.bottom_line
        and status.modification_level == ModificationLevel.LTA_UPDATES
        and bool(status.docmdp_ok)
    )


def flip_signed_byte(data: bytes) -> bytes:
    """One byte changed inside the signed byte range (in the page content, before the signature)."""
    tampered = bytearray(data)
    index = data.index(b"/Contents") - 40
    tampered[index] ^= 0x01
    return bytes(tampered)


def pdf_text(data: bytes) -> str:
    """All the text of a PDF, NFKC-normalised, whitespace collapsed."""
    reader = PdfReader(io.BytesIO(data))
    text = " ".join(unicodedata.normalize("NFKC", page.extract_text()) for page in reader.pages)
    return " ".join(text.split())


def attachments(data: bytes) -> dict[str, bytes]:
    return {name: contents[0] for name, contents in PdfReader(io.BytesIO(data)).attachments.items()}


def evidence_rows(app: Flask, letter_id: str | None = None) -> list[Evidence]:
    with app.app_context():
        query = select(Evidence).order_by(Evidence.seq)
        if letter_id is not None:
            query = query.where(Evidence.letter_id == letter_id)
        rows = list(db.session.execute(query).scalars())
        for row in rows:
            db.session.expunge(row)
        db.session.remove()
    return rows


def proof_row(app: Flask, letter_id: str, kind: str) -> Proof:
    with app.app_context():
        [row] = db.session.execute(select(Proof).where(Proof.letter_id == letter_id, Proof.kind == kind)).scalars()
        db.session.expunge(row)
        db.session.remove()
    return row


def record_of(row: Evidence) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(row.canonical)
    return record


def openssl(*args: str | Path, check: bool = False) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, check=check, timeout=60)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def cms_verify(directory: Path, content: bytes, seal: bytes, ca_pem: bytes) -> subprocess.CompletedProcess[bytes]:
    """`openssl cms -verify` of a detached seal over `content`, trusting `ca_pem`."""
    return openssl(
        "cms",
        "-verify",
        "-binary",
        "-inform",
        "DER",
        "-in",
        write(directory / "seal.p7s", seal),
        "-content",
        write(directory / "record.json", content),
        "-CAfile",
        write(directory / "ca.pem", ca_pem),
        "-purpose",
        "any",
        "-out",
        directory / "verified.out",
    )


def run_cli(app: Flask, args: Sequence[str]) -> Any:
    return app.test_cli_runner().invoke(args=list(args), catch_exceptions=False)


def journal_key(client: FlaskClient) -> str:
    response = client.get("/journal/key")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def check_journal_attachments(
    client: FlaskClient, directory: Path, embedded: dict[str, bytes], records: Sequence[Evidence]
) -> SignedCheckpoint:
    """A proof's journal files, checked with outside tools only: the checkpoint note against the key
    `/journal/key` publishes (our RFC 9162 / C2SP verifier), its timestamp with `openssl ts`, its seal
    with `openssl cms`, and each record's inclusion proof into the checkpoint's root."""
    note = embedded["journal-checkpoint.txt"].decode()
    checkpoint = rfc9162.open_checkpoint(note, journal_key(client))
    ca = client.get("/trust/ca.pem").data
    verified = openssl(
        "ts", "-verify", "-data", write(directory / "checkpoint.txt", note.encode()),
        "-in", write(directory / "checkpoint.tsr", embedded["journal-checkpoint.tsr"]),
        "-CAfile", write(directory / "ca.pem", ca),
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    assert b"Verification: OK" in verified.stdout
    sealed = cms_verify(directory, note.encode(), embedded["journal-checkpoint.p7s"], ca)
    assert sealed.returncode == 0, sealed.stderr
    for record in records:
        proof = json.loads(embedded[f"inclusion-{record.seq:08d}.json"])
        assert proof["leaf_index"] == record.seq - 1
        assert proof["tree_size"] == checkpoint.size
        assert proof["checkpoint"] == note
        hashes = [bytes.fromhex(h) for h in proof["hashes"]]
        assert rfc9162.verify_inclusion(
            proof["leaf_index"], checkpoint.size, record.canonical.encode(), hashes, checkpoint.root
        )
        assert not rfc9162.verify_inclusion(
            proof["leaf_index"], checkpoint.size, record.canonical.encode() + b" ", hashes, checkpoint.root
        )
    return checkpoint
