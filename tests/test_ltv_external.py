"""PAdES B-LTA with a configured seal and an external TSA, whose CAs publish their own CRLs.

Two outside PKIs are built here with `cryptography`: "Barid" (root → issuing
CA → our seal certificate) and "Sahm" (root → its TSA certificate), every
certificate naming a CRL served over HTTP by a real server on 127.0.0.1 (a
thread of this process), which also answers RFC 3161 requests with `openssl
ts -reply` — an external timestamp authority that shares no code with ours.
The service must fetch those CRLs when it signs, put them in each proof's
DSS, and say plainly when it cannot; the proof must then validate at the
PAdES B-LTA level with pyHanko, trusting the two roots only, with revocation
information required and nothing fetched.
"""

from __future__ import annotations

import io
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import Sender
from tests.trust_helpers import Letters, csrf_of, lta_valid, pdf_text, proof_row, run_cli, validate_lta, verdicts, write
from webapp.clock import FrozenClock
from webapp.config import Settings
from webapp.labels import PROOF_TEXTS_BY_LANGUAGE as LABELS

SEAL_PASSPHRASE = "seal passphrase from the environment"


@dataclass
class Served:
    """What the local HTTP server publishes, and every request it answered."""

    directory: Path
    requests: list[str] = field(default_factory=list)
    down: set[str] = field(default_factory=set)  # paths that answer 503 (a CA's server in trouble)
    base: str = ""


class _Handler(BaseHTTPRequestHandler):
    served: Served

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.served.requests.append(f"GET {self.path}")
        path = self.served.directory / self.path.lstrip("/")
        if self.path in self.served.down or not self.path.endswith(".crl") or not path.is_file():
            self.send_error(503 if self.path in self.served.down else 404)
            return
        body = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/pkix-crl")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        """RFC 3161 over HTTP, answered by `openssl ts -reply`."""
        self.served.requests.append(f"POST {self.path}")
        length = int(self.headers.get("Content-Length", "0"))
        query = self.rfile.read(length)
        with tempfile.TemporaryDirectory() as tmp:
            request, reply = Path(tmp) / "request.tsq", Path(tmp) / "reply.tsr"
            request.write_bytes(query)
            result = subprocess.run(
                [
                    "openssl",
                    "ts",
                    "-reply",
                    "-config",
                    str(self.served.directory / "tsa.cnf"),
                    "-queryfile",
                    str(request),
                    "-out",
                    str(reply),
                ],
                capture_output=True,
                timeout=30,
                check=False,
            )
            body = reply.read_bytes() if result.returncode == 0 else b""
        if not body:
            self.send_error(500)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    directory = tmp_path / "www"
    directory.mkdir()
    state = Served(directory)
    handler = type("Handler", (_Handler,), {"served": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _name(organisation: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "MA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _cert(
    subject: x509.Name,
    key: Any,
    issuer: tuple[x509.Name, Any] | None,
    *,
    ca: bool,
    crl_url: str | None,
    start: datetime,
    eku: list[x509.ObjectIdentifier] | None = None,
) -> x509.Certificate:
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(not ca, not ca, False, False, False, ca, ca, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if crl_url:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


def _crl(issuer: x509.Certificate, key: Any, now: datetime, revoked: tuple[int, ...] = ()) -> bytes:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(now - timedelta(minutes=1))
        .next_update(now + timedelta(days=7))
        .add_extension(x509.CRLNumber(1), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
    )
    for serial in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now - timedelta(minutes=1)).build()
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)


@dataclass
class Pkis:
    barid_root: x509.Certificate
    issuing: x509.Certificate
    seal: x509.Certificate
    sahm_root: x509.Certificate
    tsa: x509.Certificate
    settings: dict[str, Any]
    issuing_key: Any = None

    def asn1_roots(self) -> list[asn1_x509.Certificate]:
        return [
            asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
            for c in (self.barid_root, self.sahm_root)
        ]


@pytest.fixture
def pkis(served: Served, tmp_path: Path, clock: FrozenClock) -> Pkis:
    """Barid (our seal's CA) and Sahm (the external TSA's), with their CRLs published on `served`."""
    clock.current = datetime.now(UTC).replace(microsecond=0)  # the external TSA and the CAs live in real time
    start = clock.now() - timedelta(days=30)
    www = served.directory
    barid_root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    barid_root = _cert(
        _name("Barid Al-Maghrib PKI", "Barid Root CA"), barid_root_key, None, ca=True, crl_url=None, start=start
    )
    issuing_key = ec.generate_private_key(ec.SECP384R1())
    issuing = _cert(
        _name("Barid Al-Maghrib PKI", "Barid Issuing CA"),
        issuing_key,
        (barid_root.subject, barid_root_key),
        ca=True,
        crl_url=f"{served.base}/barid-root.crl",
        start=start,
    )
    seal_key = ec.generate_private_key(ec.SECP256R1())
    seal = _cert(
        _name("Wassit SARL", "Wassit qualified seal"),
        seal_key,
        (issuing.subject, issuing_key),
        ca=False,
        crl_url=f"{served.base}/barid-issuing.crl",
        start=start,
    )
    sahm_root_key = ec.generate_private_key(ec.SECP384R1())
    sahm_root = _cert(_name("Sahm Trust", "Sahm Root CA"), sahm_root_key, None, ca=True, crl_url=None, start=start)
    tsa_key = ec.generate_private_key(ec.SECP256R1())
    tsa = _cert(
        _name("Sahm Trust", "Sahm Timestamping Unit 1"),
        tsa_key,
        (sahm_root.subject, sahm_root_key),
        ca=False,
        crl_url=f"{served.base}/sahm-root.crl",
        start=start,
        eku=[ExtendedKeyUsageOID.TIME_STAMPING],
    )
    write(www / "barid-root.crl", _crl(barid_root, barid_root_key, clock.now()))
    write(www / "barid-issuing.crl", _crl(issuing, issuing_key, clock.now()))
    write(www / "sahm-root.crl", _crl(sahm_root, sahm_root_key, clock.now()))

    write(www / "tsa.pem", _pem(tsa))
    write(www / "tsa-key.pem", _key(tsa_key))
    write(www / "tsaserial", b"01\n")
    write(
        www / "tsa.cnf",
        f"""[ tsa ]
default_tsa = sahm
[ sahm ]
dir = {www}
serial = $dir/tsaserial
crypto_device = builtin
signer_cert = $dir/tsa.pem
signer_key = $dir/tsa-key.pem
signer_digest = sha256
default_policy = 1.3.6.1.4.1.4146.1.2
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
""".encode(),
    )
    pki = tmp_path / "pki"
    pki.mkdir()
    settings = {
        "seal_cert": write(pki / "seal-chain.pem", _pem(seal, issuing)),
        "seal_key": write(pki / "seal-key.pem", _key(seal_key, SEAL_PASSPHRASE)),
        "seal_key_passphrase": SEAL_PASSPHRASE,
        "trust_root_cert": write(pki / "barid-root.pem", _pem(barid_root)),
        "tsa_root_cert": write(pki / "sahm-root.pem", _pem(sahm_root)),
        "tsa_url": f"{served.base}/tsa",
    }
    return Pkis(barid_root, issuing, seal, sahm_root, tsa, settings, issuing_key)


def _key(key: Any, passphrase: str | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    )
    return bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))


@pytest.fixture
def settings(settings: Settings, pkis: Pkis) -> Settings:
    """conftest's settings, with the Barid seal and the Sahm TSA."""
    return settings.replace(**pkis.settings)


@pytest.fixture
def letters(app: Flask, client: FlaskClient, sender: Sender, deposit: Any, run_jobs: Any, outbox: Any) -> Letters:
    return Letters(app, client, sender, deposit, run_jobs, outbox)


def test_a_proof_sealed_and_timestamped_by_outside_cas_is_b_lta_with_their_crls(
    app: Flask, client: FlaskClient, letters: Letters, pkis: Pkis, served: Served, tmp_path: Path
) -> None:
    letter_id, path = letters.notified()
    letters.decide(path, "accept")
    letters.run_jobs()
    proof = letters.proof(letter_id, "reception")

    # The CRLs were fetched from the CAs' server, and the timestamps asked of the external TSA.
    for crl in ("barid-issuing.crl", "barid-root.crl", "sahm-root.crl"):
        assert f"GET /{crl}" in served.requests, served.requests
    assert "POST /tsa" in served.requests

    # pyHanko, trusting the two roots only, revocation information required, nothing fetched.
    before = len(served.requests)
    result = validate_lta(proof, pkis.asn1_roots())
    assert lta_valid(result), (result.ades_subindic, result.failure_msg)
    assert len(served.requests) == before  # the DSS sufficed
    status = result.api_status
    assert status is not None
    assert status.signing_cert.dump() == pkis.seal.public_bytes(serialization.Encoding.DER)
    assert status.timestamp_validity is not None
    assert status.timestamp_validity.signing_cert.dump() == pkis.tsa.public_bytes(serialization.Encoding.DER)
    # Our own CA publishes nothing here: the seal's CA does.
    assert client.get("/trust/crl").status_code == 404
    assert proof_row(app, letter_id, "reception").archive_expires_at == pkis.tsa.not_valid_after_utc

    # The proof names who stands behind it, in its language (French here), not a trial setup.
    text = pdf_text(proof)
    assert "Barid Issuing CA" in text
    assert "Sahm Timestamping Unit 1" in text
    assert "Sahm Root CA" in text
    assert LABELS["fr"]["trust.trial"][:40] not in text

    # The verifier says so too, and validates at B-LTA (fetching what the certificates name).
    page = client.get("/verify")
    response = client.post(
        "/verify?lang=en",
        data={"csrf_token": csrf_of(page.text), "proof": (io.BytesIO(proof), "reception.pdf")},
        content_type="multipart/form-data",
    )
    assert verdicts(response.text) == ["pass"]
    assert "Valid at the PAdES B-LTA level" in response.text
    assert "Sealed with a certificate issued by Barid Issuing CA; timestamped by Sahm Timestamping Unit 1." in (
        response.text
    )
    assert "Trial setup" not in response.text
    result_cli = run_cli(app, ["proofs", "verify", str(write(tmp_path / "reception.pdf", proof))])
    assert result_cli.exit_code == 0, result_cli.output
    assert "seal certificate issued by Barid Issuing CA; timestamps by Sahm Timestamping Unit 1" in result_cli.output
    assert "TRIAL" not in result_cli.output
    policy = client.get("/trust/policy?lang=en")
    assert "Barid Issuing CA" in policy.text
    assert "Trial setup" not in policy.text


def test_a_crl_that_cannot_be_fetched_stops_the_proof_with_a_clear_reason(
    app: Flask, letters: Letters, served: Served
) -> None:
    served.down.add("/barid-issuing.crl")
    created = letters.deposit()
    assert created.status_code == 201
    letter_id = created.json["id"]
    letters.run_jobs()
    row = proof_row(app, letter_id, "deposit")
    assert row.status.value == "pending"  # never a proof without its validation data
    assert row.last_error is not None
    assert "signing the proof failed" in row.last_error
    # It says what was missing, for which certificate, and where it should have come from.
    assert "no revocation information could be found" in row.last_error, row.last_error
    assert "Wassit qualified seal" in row.last_error
    assert f"{served.base}/barid-issuing.crl" in row.last_error

    # The CA's server is back: the sweeper's retry produces the proof.
    served.down.clear()
    from webapp import jobs

    with app.app_context():
        assert jobs.issue_proof(row.id) == "ready"


def test_a_revoked_seal_certificate_is_refused(app: Flask, letters: Letters, pkis: Pkis, served: Served) -> None:
    """The CRL is read, not merely fetched: our seal certificate listed on it stops the signature."""
    now = datetime.now(UTC)
    write(served.directory / "barid-issuing.crl", _crl(pkis.issuing, pkis.issuing_key, now, (pkis.seal.serial_number,)))
    created = letters.deposit()
    letters.run_jobs()
    row = proof_row(app, created.json["id"], "deposit")
    assert row.status.value == "pending"
    assert row.last_error is not None
    assert "revoked" in row.last_error, row.last_error
