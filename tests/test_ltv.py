"""Long-term validation on the embedded default: our CRL, PAdES B-LTA proofs, archive renewal.

Checked as a court expert would, with tools independent of the code under
test: `openssl crl` and `openssl verify -crl_check` for the CRL and the
certificates; pyHanko's own AdES validator at the PAdES B-LTA level, trusting
only the root fetched from /trust/ca.pem, with revocation information
required for every certificate and nothing fetched from the network (given
today's CRL from /trust/crl, as the expert would download it); pyHanko's
command line; pypdf for the DSS.  Years pass by moving the injected clock.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from flask import Flask
from flask.testing import FlaskClient
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pypdf import PdfReader
from sqlalchemy import select, text

from tests.conftest import Sender, make_pdf_bytes
from tests.trust_helpers import (
    Letters,
    accepted,
    csrf_of,
    evidence_rows,
    lta_valid,
    openssl,
    proof_row,
    record_of,
    root_certificate,
    run_cli,
    validate_lta,
    validate_pdf,
    validate_timestamps,
    verdicts,
    write,
)
from webapp import jobs
from webapp.clock import FrozenClock
from webapp.config import Settings
from webapp.extensions import db
from webapp.models import Proof
from webapp.services import Services

DAY = 24 * 3600


@pytest.fixture
def letters(app: Flask, client: FlaskClient, sender: Sender, deposit: Any, run_jobs: Any, outbox: Any) -> Letters:
    return Letters(app, client, sender, deposit, run_jobs, outbox)


def _services(app: Flask) -> Services:
    services: Services = app.extensions["wassit"]
    return services


def _real_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _crl(client: FlaskClient) -> bytes:
    response = client.get("/trust/crl")
    assert response.status_code == 200
    return bytes(response.data)


def _reception_proof(letters: Letters) -> tuple[str, bytes]:
    letter_id, path = letters.notified()
    letters.decide(path, "accept")
    letters.run_jobs()
    return letter_id, letters.proof(letter_id, "reception")


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


# --- the CRL ------------------------------------------------------------------------------------


def test_the_local_root_publishes_a_crl_that_openssl_verifies(
    client: FlaskClient, settings: Settings, clock: FrozenClock, tmp_path: Path
) -> None:
    response = client.get("/trust/crl")
    assert response.status_code == 200
    assert response.mimetype == "application/pkix-crl"
    der = response.data
    crl = x509.load_der_x509_crl(der)
    ca = write(tmp_path / "root.pem", client.get("/trust/ca.pem").data)
    result = openssl("crl", "-inform", "DER", "-in", write(tmp_path / "crl.der", der), "-CAfile", ca, "-noout")
    assert result.returncode == 0, result.stderr
    assert b"verify OK" in result.stdout + result.stderr
    # Signed by our root, by no other.
    root = _cert(ca)
    assert crl.issuer == root.subject
    other = x509.load_pem_x509_certificate((settings.trust_directory / "seal.pem").read_bytes())
    foreign = openssl(
        "crl",
        "-inform",
        "DER",
        "-in",
        tmp_path / "crl.der",
        "-CAfile",
        write(tmp_path / "o.pem", other.public_bytes(serialization.Encoding.PEM)),
        "-noout",
    )
    assert foreign.returncode != 0
    # Valid a week, from (a few minutes before) now; numbered; it revokes nothing.
    assert crl.last_update_utc <= clock.now() < crl.last_update_utc + timedelta(minutes=10)
    assert crl.next_update_utc == crl.last_update_utc + timedelta(days=7)
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number >= 1
    assert len(crl) == 0
    # It speaks of the current seal and TSA certificates (their generation), as they name it.
    scope = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
    assert scope.critical
    assert [n.value for n in scope.value.full_name or ()] == ["https://wassit.ma/trust/crl/1"]
    assert client.get("/trust/crl/1").data == der
    assert client.get("/trust/crl/7").status_code == 404
    text_form = openssl("crl", "-inform", "DER", "-in", tmp_path / "crl.der", "-noout", "-text", check=True).stdout
    assert b"X509v3 CRL Number" in text_form
    # Cacheable until shortly before nextUpdate, then fetched again; conditional requests work.
    max_age = int(response.headers["Cache-Control"].removeprefix("public, max-age="))
    assert timedelta(days=7) - timedelta(hours=2) < timedelta(seconds=max_age) < timedelta(days=7)
    again = client.get("/trust/crl", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_the_crl_is_reissued_daily_with_an_increasing_number(
    app: Flask, client: FlaskClient, settings: Settings, clock: FrozenClock
) -> None:
    first = x509.load_der_x509_crl(_crl(client))
    number = first.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    clock.advance(3600)
    with app.app_context():
        jobs.refresh_trust()
    assert _crl(client) == first.public_bytes(serialization.Encoding.DER)  # not due yet: the same CRL
    for day in range(1, 4):
        clock.advance(DAY)
        with app.app_context():
            assert jobs.refresh_trust()
        crl = x509.load_der_x509_crl(_crl(client))
        assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == number + day
        assert crl.next_update_utc - clock.now() > timedelta(days=6)  # always well before nextUpdate
        assert (settings.trust_directory / "crl" / "1.der").read_bytes() == crl.public_bytes(serialization.Encoding.DER)
    # Without the scheduler, whoever needs the CRL issues the next one: never a stale CRL.
    clock.advance(10 * DAY)
    crl = x509.load_der_x509_crl(_crl(client))
    assert crl.last_update_utc <= clock.now() < crl.next_update_utc
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == number + 4


def test_the_seal_and_tsa_certificates_name_the_crl_and_openssl_checks_them_against_it(
    client: FlaskClient, settings: Settings, clock: FrozenClock, tmp_path: Path
) -> None:
    clock.current = _real_now()  # openssl checks against the real time
    ca = write(tmp_path / "root.pem", client.get("/trust/ca.pem").data)
    crl_pem = tmp_path / "crl.pem"
    openssl("crl", "-inform", "DER", "-in", write(tmp_path / "crl.der", _crl(client)), "-out", crl_pem, check=True)
    for name in ("seal.pem", "tsa.pem"):
        cert = _cert(settings.trust_directory / name)
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        assert [n.value for p in points for n in p.full_name or ()] == ["https://wassit.ma/trust/crl/1"]
        purpose = ["-purpose", "timestampsign"] if name == "tsa.pem" else []
        result = openssl(
            "verify", "-crl_check", "-CAfile", ca, "-CRLfile", crl_pem, *purpose, settings.trust_directory / name
        )
        assert result.returncode == 0, result.stderr
    # openssl's -crl_check really needs the CRL: without it, it fails.
    assert openssl("verify", "-crl_check", "-CAfile", ca, settings.trust_directory / "seal.pem").returncode != 0


def _legacy_trust_directory(directory: Path, now: datetime) -> dict[str, Any]:
    """A trust directory as instances created before the CRL existed have it: leaf certificates without CDP."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(common_name: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "MA"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Wassit"),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )

    start = now - timedelta(minutes=5)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(name("Wassit Local Root CA"))
        .issuer_name(name("Wassit Local Root CA"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=7300))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    files: dict[str, Any] = {"root": root, "root_key": root_key}
    for stem, common_name, eku in (
        ("seal", "Wassit Electronic Seal", None),
        ("tsa", "Wassit Timestamp Authority", [ExtendedKeyUsageOID.TIME_STAMPING]),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(common_name))
            .issuer_name(root.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        )
        if eku:
            builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=True)
        cert = builder.sign(root_key, hashes.SHA256())
        files[stem], files[f"{stem}_key"] = cert, key
    directory.mkdir(parents=True, exist_ok=True)
    pem_format = serialization.PrivateFormat.PKCS8
    for stem in ("root", "seal", "tsa"):
        write(directory / f"{stem}.pem", files[stem].public_bytes(serialization.Encoding.PEM))
        key_pem = files[f"{stem}_key"].private_bytes(
            serialization.Encoding.PEM, pem_format, serialization.NoEncryption()
        )
        write(directory / f"{stem}-key.pem", key_pem)
    return files


def test_an_instance_made_before_the_crl_gets_new_leaf_certificates_from_the_same_root(
    app: Flask, client: FlaskClient, settings: Settings, clock: FrozenClock, tmp_path: Path
) -> None:
    directory = settings.trust_directory
    legacy = _legacy_trust_directory(directory, clock.now())
    root_pem = (directory / "root.pem").read_bytes()
    old_seal = (directory / "seal.pem").read_bytes()

    assert client.get("/trust/ca.pem").data == root_pem  # the root is unchanged
    for stem in ("seal", "tsa"):
        current = _cert(directory / f"{stem}.pem")
        assert current != legacy[stem]
        assert current.subject == legacy[stem].subject
        points = current.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        assert [n.value for p in points for n in p.full_name or ()] == ["https://wassit.ma/trust/crl/1"]
        current.verify_directly_issued_by(legacy["root"])
        # The key is new too, and matches; the old certificate is kept for what it signed.
        key = serialization.load_pem_private_key((directory / f"{stem}-key.pem").read_bytes(), None)
        assert key.public_key() == current.public_key()
        assert key.public_key() != legacy[f"{stem}_key"].public_key()
        archived = directory / "archive" / f"{stem}-{legacy[stem].serial_number:x}.pem"
        assert _cert(archived) == legacy[stem]
    assert (directory / "archive" / f"seal-{legacy['seal'].serial_number:x}.pem").read_bytes() == old_seal

    # Started again with the same PUBLIC_URL: nothing changes.  With another one: new leaves again.
    before = {p.name: p.read_bytes() for p in directory.glob("*.pem")}
    _services(app).trust.reload()
    assert {p.name: p.read_bytes() for p in directory.glob("*.pem")} == before
    _services(app).settings = settings.replace(public_url="https://lre.wassit.ma")
    _services(app).trust.settings = _services(app).settings
    _services(app).trust.reload()
    seal = _cert(directory / "seal.pem")
    points = seal.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [n.value for p in points for n in p.full_name or ()] == ["https://lre.wassit.ma/trust/crl/2"]
    assert (directory / "root.pem").read_bytes() == root_pem
    assert len(list((directory / "archive").glob("seal-*.pem"))) == 2


# --- PAdES B-LTA proofs ---------------------------------------------------------------------------


def test_a_reception_proof_is_pades_b_lta_with_revocation_required_and_no_network(
    app: Flask, client: FlaskClient, letters: Letters, clock: FrozenClock, settings: Settings
) -> None:
    clock.current = _real_now()  # the expert validates today, against today's CRL
    letter_id, proof = _reception_proof(letters)
    root = root_certificate(client)
    crl = _crl(client)

    result = validate_lta(proof, [root], [crl])
    assert lta_valid(result), (result.ades_subindic, result.failure_msg)
    status = result.api_status
    assert status is not None
    assert status.trusted
    seal_cert = x509.load_pem_x509_certificate((settings.trust_directory / "seal.pem").read_bytes())
    assert status.signing_cert.dump() == seal_cert.public_bytes(serialization.Encoding.DER)
    assert status.timestamp_validity is not None
    assert status.timestamp_validity.trusted
    assert result.oldest_evidence_record_timestamp == clock.now()

    # The certification (DocMDP "no changes") is kept; only signature maintenance follows it,
    # and the proof ends with the archive timestamp, which covers the whole file.
    seal = validate_pdf(proof, root)
    assert seal.docmdp_ok
    assert seal.modification_level == ModificationLevel.LTA_UPDATES
    reader = PdfFileReader(io.BytesIO(proof))
    [seal_signature] = reader.embedded_regular_signatures
    assert seal_signature.sig_object["/Type"] == "/Sig"
    assert reader.root["/Perms"]["/DocMDP"].get_object()["/Reference"][0]["/TransformParams"]["/P"] == 1
    [archive] = validate_timestamps(proof, root)
    assert archive.intact
    assert archive.valid
    assert archive.trusted
    assert archive.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert [ts.field_name for ts in reader.embedded_timestamp_signatures] == ["ArchiveTimestamp1"]

    # The DSS holds the validation data: our CRL of the day, the seal and TSA certificates.
    dss = PdfReader(io.BytesIO(proof)).trailer["/Root"]["/DSS"]
    embedded_crls = [stream.get_object().get_data() for stream in dss["/CRLs"]]
    assert crl in embedded_crls
    embedded_certs = {stream.get_object().get_data() for stream in dss["/Certs"]}
    for name in ("seal.pem", "tsa.pem"):
        assert _cert(settings.trust_directory / name).public_bytes(serialization.Encoding.DER) in embedded_certs

    # The stored row knows when the archive timestamp's certificate expires.
    row = proof_row(app, letter_id, "reception")
    tsa = _cert(settings.trust_directory / "tsa.pem")
    assert row.archive_expires_at == tsa.not_valid_after_utc
    assert row.sha256 == hashlib.sha256(proof).hexdigest()


def test_b_lta_validation_really_checks_revocation(
    client: FlaskClient, letters: Letters, clock: FrozenClock, settings: Settings
) -> None:
    """The validator's verdict is no formality: trusting another root, or given a CRL (signed by our root)
    that revokes our TSA certificate, it fails."""
    clock.current = _real_now()
    _, proof = _reception_proof(letters)
    root = root_certificate(client)
    assert lta_valid(validate_lta(proof, [root], [_crl(client)]))

    another_ca = _legacy_trust_directory(settings.instance_path / "another-ca", clock.now())["root"]
    other = asn1_x509.Certificate.load(another_ca.public_bytes(serialization.Encoding.DER))
    assert not lta_valid(validate_lta(proof, [other], [_crl(client)]))

    root_key = serialization.load_pem_private_key((settings.trust_directory / "root-key.pem").read_bytes(), None)
    tsa = _cert(settings.trust_directory / "tsa.pem")
    issuer = _cert(settings.trust_directory / "root.pem")
    revoking = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(clock.now())
        .next_update(clock.now() + timedelta(days=7))
        .add_extension(x509.CRLNumber(10**6), critical=False)
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(tsa.serial_number)
            .revocation_date(clock.now() - timedelta(minutes=1))
            .build()
        )
        .sign(root_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    assert not lta_valid(validate_lta(proof, [root], [revoking.public_bytes(serialization.Encoding.DER)]))


def test_pyhanko_command_line_validates_a_proof_at_lta_level_offline(
    client: FlaskClient, letters: Letters, clock: FrozenClock, tmp_path: Path
) -> None:
    clock.current = _real_now()
    _, proof = _reception_proof(letters)
    root = write(tmp_path / "root.pem", client.get("/trust/ca.pem").data)
    path = write(tmp_path / "reception.pdf", proof)
    # No network: any fetch would go to a closed local port and fail at once.
    env = {**os.environ, "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "no_proxy": ""}
    command = [
        str(Path(sys.executable).parent / "pyhanko"),
        "sign",
        "adesverify",
        "--pretty-print",
        "--trust",
        str(root),
        "--trust-replace",
        str(path),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "The signature is judged VALID." in result.stdout
    assert "The signer's certificate is trusted." in result.stdout
    assert "All modifications relate to signature maintenance" in result.stdout
    # A flipped byte in the sealed revision: refused.
    tampered = bytearray(proof)
    tampered[len(proof) // 3] ^= 0x01
    write(path, bytes(tampered))
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert result.returncode != 0
    assert "The signature is judged VALID." not in result.stdout


def test_the_readme_s_offline_validation_script_validates_a_proof(
    client: FlaskClient, letters: Letters, clock: FrozenClock, tmp_path: Path
) -> None:
    """The script the README gives court experts (pyHanko only) works as written, and refuses a tampered proof."""
    clock.current = _real_now()
    _, proof = _reception_proof(letters)
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```python\n(# validate_lta\.py .*?)```", readme, re.S)
    assert match, "the README's validate_lta.py block"
    script = write(tmp_path / "validate_lta.py", match.group(1).encode())
    root = write(tmp_path / "root.pem", client.get("/trust/ca.pem").data)
    crl = write(tmp_path / "crl.der", _crl(client))
    env = {**os.environ, "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "no_proxy": ""}

    def run(pdf: bytes) -> subprocess.CompletedProcess[str]:
        path = write(tmp_path / "proof.pdf", pdf)
        command = [sys.executable, str(script), str(path), str(root), str(crl)]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False)

    result = run(proof)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PAdES B-LTA: VALID - proven to exist at" in result.stdout
    assert "The signature is judged VALID." in result.stdout
    tampered = bytearray(proof)
    tampered[len(proof) // 3] ^= 0x01
    result = run(bytes(tampered))
    assert result.returncode != 0
    assert "PAdES B-LTA: VALID" not in result.stdout


def test_verify_and_the_cli_report_the_long_term_state(
    app: Flask, client: FlaskClient, letters: Letters, clock: FrozenClock, tmp_path: Path
) -> None:
    clock.current = _real_now()
    _, proof = _reception_proof(letters)
    page = client.get("/verify")
    response = client.post(
        "/verify?lang=en",
        data={"csrf_token": csrf_of(page.text), "proof": (io.BytesIO(proof), "reception.pdf")},
        content_type="multipart/form-data",
    )
    assert verdicts(response.text) == ["pass"]
    assert "Valid at the PAdES B-LTA level" in response.text
    assert "Archive timestamp on" in response.text

    path = write(tmp_path / "reception.pdf", proof)
    result = run_cli(app, ["proofs", "verify", str(path)])
    assert result.exit_code == 0, result.output
    assert "[ok] long-term validation (PAdES B-LTA, revocation information required): valid" in result.output
    assert "[ok] archive timestamps: " in result.output
    assert result.output.splitlines()[-1] == "GENUINE"

    # An incremental update after the archive timestamp that changes the page is caught by everyone.
    writer = IncrementalPdfFileWriter(io.BytesIO(proof))
    page_ref = writer.root["/Pages"].raw_get("/Kids").get_object().raw_get(0)
    page = page_ref.get_object()
    forged = generic.StreamObject(stream_data=b"BT /F1 24 Tf 72 400 Td (Refusee) Tj ET")
    page[generic.NameObject("/Contents")] = writer.add_object(forged)
    writer.mark_update(page_ref)
    output = io.BytesIO()
    writer.write(output)
    updated = output.getvalue()
    root = root_certificate(client)
    assert not accepted(updated, root)
    assert not lta_valid(validate_lta(updated, [root], [_crl(client)]))
    path = write(tmp_path / "updated.pdf", updated)
    result = run_cli(app, ["proofs", "verify", str(path)])
    assert result.exit_code != 0
    assert "[FAIL] nothing changed since sealing" in result.output
    # A new title only (which pyHanko's diff analysis lets pass): the last archive timestamp no longer
    # covers the whole file, and we say so.
    writer = IncrementalPdfFileWriter(io.BytesIO(proof))
    info = writer.trailer["/Info"].get_object()
    info[generic.NameObject("/Title")] = generic.TextStringObject("Preuve de réception (modifiée)")
    writer.set_info(info)
    output = io.BytesIO()
    writer.write(output)
    path = write(tmp_path / "retitled.pdf", output.getvalue())
    result = run_cli(app, ["proofs", "verify", str(path)])
    assert result.exit_code != 0
    assert "[FAIL] nothing changed since sealing" in result.output
    # Bytes glued after the last revision too.
    path = write(tmp_path / "glued.pdf", proof + b"% glued")
    result = run_cli(app, ["proofs", "verify", str(path)])
    assert result.exit_code != 0
    assert "[FAIL] nothing changed since sealing" in result.output


# --- archive renewal --------------------------------------------------------------------------------


def _renewal_records(app: Flask, letter_id: str) -> list[dict[str, Any]]:
    return [record_of(row) for row in evidence_rows(app, letter_id) if row.event == "ArchiveTimestampRenewal"]


def test_archive_timestamps_are_renewed_before_their_certificate_expires(
    app: Flask, client: FlaskClient, letters: Letters, clock: FrozenClock, settings: Settings
) -> None:
    """Years pass: the proof gets a second archive timestamp from a new TSA certificate a year before the
    first one's expires, and still validates at B-LTA once the seal and the first TSA certificate have
    expired — which, without the renewal, it would not."""
    today = _real_now()
    clock.current = today - timedelta(days=4200)  # about eleven and a half years ago
    letter_id, proof = _reception_proof(letters)
    first_tsa = _cert(settings.trust_directory / "tsa.pem")
    seal_cert = _cert(settings.trust_directory / "seal.pem")
    row = proof_row(app, letter_id, "reception")
    assert row.archive_expires_at == first_tsa.not_valid_after_utc
    with app.app_context():
        assert jobs.renew_archive_timestamps() == 0  # nothing due for nine years

    # Nine years on (the TSA certificate expires in about a year): both proofs of the letter are due.
    clock.current = first_tsa.not_valid_after_utc - timedelta(days=350)
    with app.app_context():
        assert jobs.renew_archive_timestamps() == 2
        assert jobs.renew_archive_timestamps() == 0  # idempotent: done, no longer due
    letters.run_jobs()  # seals the new evidence records
    second_tsa = _cert(settings.trust_directory / "tsa.pem")
    assert second_tsa.serial_number != first_tsa.serial_number
    assert second_tsa.not_valid_after_utc > first_tsa.not_valid_after_utc + timedelta(days=3000)
    assert (settings.trust_directory / "archive" / f"tsa-{first_tsa.serial_number:x}.pem").exists()

    renewed = letters.proof(letter_id, "reception")
    assert renewed.startswith(proof)  # the old bytes, followed by the new incremental update
    after = proof_row(app, letter_id, "reception")
    assert after.sha256 == hashlib.sha256(renewed).hexdigest()
    assert after.size == len(renewed)
    assert after.archive_expires_at == second_tsa.not_valid_after_utc
    assert after.id == row.id
    reader = PdfFileReader(io.BytesIO(renewed))
    assert [ts.field_name for ts in reader.embedded_timestamp_signatures] == ["ArchiveTimestamp1", "ArchiveTimestamp2"]

    # Recorded on the letter, sealed like every record.
    records = _renewal_records(app, letter_id)
    assert len(records) == 2
    reception = next(r for r in records if r["details"]["proof"]["kind"] == "reception")
    assert reception["details"]["proof"]["previous_sha256"] == hashlib.sha256(proof).hexdigest()
    assert reception["details"]["proof"]["sha256"] == after.sha256
    assert reception["details"]["archive_timestamp"]["tsa_certificate_expires_at"].startswith(
        second_tsa.not_valid_after_utc.strftime("%Y-%m-%d")
    )
    assert all(row.sealed_at is not None for row in evidence_rows(app, letter_id))  # logged by a checkpoint
    api_events = [event["type"] for event in letters.api(letter_id)["events"]]
    assert api_events.count("ArchiveTimestampRenewal") == 2

    # Today: the seal certificate and the first TSA certificate have expired.
    clock.current = today
    assert seal_cert.not_valid_after_utc < today
    assert first_tsa.not_valid_after_utc < today
    with app.app_context():
        jobs.refresh_trust()
    root = root_certificate(client)
    crl = _crl(client)
    result = validate_lta(renewed, [root], [crl])
    assert lta_valid(result), (result.ades_subindic, result.failure_msg)
    assert result.oldest_evidence_record_timestamp is not None
    assert result.oldest_evidence_record_timestamp < seal_cert.not_valid_after_utc
    # The proof as it was before the renewal cannot be validated any more.
    assert not lta_valid(validate_lta(proof, [root], [crl]))


def test_due_proofs_are_found_through_the_index(app: Flask) -> None:
    query = "SELECT id FROM proofs WHERE archive_expires_at <= :c ORDER BY archive_expires_at, id LIMIT 50"
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            plan = db.session.execute(text(f"EXPLAIN QUERY PLAN {query}"), {"c": "2030-01-01"}).all()
        else:  # PostgreSQL: an empty table is scanned anyway; forbid that to see which index it can use
            db.session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = db.session.execute(text(f"EXPLAIN {query}"), {"c": datetime(2030, 1, 1, tzinfo=UTC)}).all()
        db.session.rollback()
        db.session.remove()
    assert any("ix_proofs_archive_expires_at" in str(step) for step in plan), plan


def test_a_proof_issued_before_archive_timestamps_becomes_b_lta(
    app: Flask, client: FlaskClient, letters: Letters, clock: FrozenClock, settings: Settings
) -> None:
    """A PAdES B-T proof sealed by a pre-CRL certificate (an instance upgraded from before this change) is
    given its validation data and a first archive timestamp by the renewal job."""
    from pyhanko.sign import fields, signers
    from pyhanko.sign.fields import MDPPerm
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    from webapp.trust.aio import run_sync
    from webapp.trust.keys import KeyPair, to_asn1_cert
    from webapp.trust.tsa import LocalTimeStamper, TimestampAuthority

    clock.current = _real_now() - timedelta(days=30)
    legacy = _legacy_trust_directory(settings.trust_directory, clock.now())
    letter_id, _ = letters.notified()
    row = proof_row(app, letter_id, "deposit")
    # What the old code produced: certified, B-T, by the old seal and TSA certificates.
    seal = KeyPair(legacy["seal_key"], legacy["seal"])
    old = io.BytesIO()
    run_sync(
        signers.async_sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(make_pdf_bytes(text_marker="a proof of the old kind"))),
            signers.PdfSignatureMetadata(
                field_name="Seal",
                md_algorithm="sha256",
                subfilter=fields.SigSeedSubFilter.PADES,
                certify=True,
                docmdp_permissions=MDPPerm.NO_CHANGES,
            ),
            signer=signers.SimpleSigner(
                signing_cert=seal.asn1_cert,
                signing_key=seal.asn1_key,
                cert_registry=SimpleCertificateStore.from_certs([to_asn1_cert(legacy["root"])]),
            ),
            timestamper=LocalTimeStamper(TimestampAuthority(KeyPair(legacy["tsa_key"], legacy["tsa"]), now=clock.now)),
            output=old,
        )
    )
    legacy_proof = old.getvalue()
    services = _services(app)
    with app.app_context():
        stored = services.objects.put(
            legacy_proof, context=f"proof:{row.id}", kind="proofs", owner_id=row.id, now=clock.now()
        )
        proof = db.session.get_one(Proof, row.id)
        stored.apply(proof)
        proof.sha256, proof.size = hashlib.sha256(legacy_proof).hexdigest(), len(legacy_proof)
        proof.archive_expires_at = proof.issued_at  # as the migration marks the proofs it finds
        db.session.commit()
        db.session.remove()
    assert not (PdfFileReader(io.BytesIO(legacy_proof)).embedded_timestamp_signatures)

    clock.advance(DAY)
    with app.app_context():
        assert jobs.renew_archive_timestamps() == 1
    upgraded = letters.proof(letter_id, "deposit")
    assert upgraded.startswith(legacy_proof)
    clock.current = _real_now()
    with app.app_context():
        jobs.refresh_trust()
    # Its certificate names no CRL: the expert takes ours for the certificates made before CRLs existed.
    before_crls = client.get("/trust/crl/0")
    assert before_crls.status_code == 200
    with pytest.raises(x509.ExtensionNotFound):  # a full CRL: those certificates name no distribution point
        x509.load_der_x509_crl(before_crls.data).extensions.get_extension_for_class(x509.IssuingDistributionPoint)
    result = validate_lta(upgraded, [root_certificate(client)], [_crl(client), before_crls.data])
    assert lta_valid(result), (result.ades_subindic, result.failure_msg)
    assert result.api_status is not None
    assert result.api_status.signing_cert.dump() == legacy["seal"].public_bytes(serialization.Encoding.DER)
    assert (
        proof_row(app, letter_id, "deposit").archive_expires_at
        == _cert(settings.trust_directory / "tsa.pem").not_valid_after_utc
    )


def test_renewal_never_loses_the_stored_proof_when_it_fails(
    app: Flask, letters: Letters, clock: FrozenClock, settings: Settings
) -> None:
    letter_id, _ = letters.notified()
    before = proof_row(app, letter_id, "deposit")
    served = letters.proof(letter_id, "deposit")
    # Due, but the TSA certificate cannot be replaced by a longer-lived one: the local root ends too soon.
    root = _cert(settings.trust_directory / "root.pem")
    clock.current = root.not_valid_after_utc - timedelta(days=200)
    with app.app_context():
        assert jobs.renew_archive_timestamps() == 0
        db.session.remove()
    after = proof_row(app, letter_id, "deposit")
    assert (after.sha256, after.object_key, after.archive_expires_at) == (
        before.sha256,
        before.object_key,
        before.archive_expires_at,
    )
    assert letters.proof(letter_id, "deposit") == served
    assert not _renewal_records(app, letter_id)
    with app.app_context():
        assert db.session.execute(select(Proof.id)).scalars().all()
        db.session.remove()
