"""Keys and certificates, the built-in RFC 3161 authority, and the seals of evidence records.

Checked with independent tools: `openssl` (ts, cms, verify) run as a
subprocess, `cryptography` and asn1crypto to read what the service produced.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms, core, tsp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from flask import Flask
from flask.testing import FlaskClient

from tests import rfc9162
from tests.trust_helpers import cms_verify, evidence_rows, journal_key, openssl, write
from webapp import create_app
from webapp.clock import FrozenClock
from webapp.config import Settings
from webapp.extensions import db
from webapp.trust.tsa import DEFAULT_POLICY_OID

TIMESTAMP_QUERY = "application/timestamp-query"
SIGNATURE_TIME_STAMP_TOKEN = "1.2.840.113549.1.9.16.2.14"


@contextmanager
def another_app(settings: Settings, clock: FrozenClock) -> Iterator[Flask]:
    """A second app on the same instance (another web worker, the RQ worker, a restart)."""
    app = create_app(settings, clock=clock)
    app.config.update(TESTING=True)
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        app.extensions["wassit.redis"].close()


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


# --- keys and certificates ----------------------------------------------------------------------


def test_a_fresh_instance_gets_a_root_a_seal_and_a_tsa_certificate(client: FlaskClient, settings: Settings) -> None:
    response = client.get("/trust/ca.pem")
    assert response.status_code == 200
    directory = settings.trust_directory
    assert directory == settings.instance_path / "trust"
    for name in ("root.pem", "seal.pem", "tsa.pem"):
        assert (directory / name).is_file(), name
    for name in ("root-key.pem", "seal-key.pem", "tsa-key.pem"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600, name

    root, seal, tsa = (_cert(directory / name) for name in ("root.pem", "seal.pem", "tsa.pem"))
    # The published trust anchor is the root, byte for byte.
    assert response.data == (directory / "root.pem").read_bytes()
    assert x509.load_pem_x509_certificate(response.data) == root
    assert response.mimetype == "application/x-pem-file"

    # A self-signed CA...
    assert root.issuer == root.subject
    root.verify_directly_issued_by(root)
    constraints = root.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    assert root.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    # ...that issued the seal certificate...
    seal.verify_directly_issued_by(root)
    assert not seal.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = seal.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.content_commitment
    assert not usage.key_cert_sign
    # ...and the TSA certificate, whose only extended key usage, critical, is timeStamping.
    tsa.verify_directly_issued_by(root)
    eku = tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical
    assert list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    assert not tsa.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # The keys match their certificates.
    for cert_name, key_name in (("seal.pem", "seal-key.pem"), ("tsa.pem", "tsa-key.pem")):
        key = serialization.load_pem_private_key((directory / key_name).read_bytes(), None)
        assert key.public_key() == _cert(directory / cert_name).public_key()

    # OpenSSL agrees: both chain to the root, the TSA certificate for timestamp signing.
    ca = directory / "root.pem"
    assert openssl("verify", "-CAfile", ca, directory / "seal.pem").returncode == 0
    result = openssl("verify", "-CAfile", ca, "-purpose", "timestampsign", directory / "tsa.pem")
    assert result.returncode == 0, result.stderr
    # The seal certificate is not a timestamping one, and a certificate of another CA does not chain.
    assert openssl("verify", "-CAfile", ca, "-purpose", "timestampsign", directory / "seal.pem").returncode != 0
    assert openssl("verify", "-CAfile", directory / "seal.pem", directory / "tsa.pem").returncode != 0


def test_the_keys_are_created_once_and_reused(
    app: Flask, client: FlaskClient, settings: Settings, clock: FrozenClock
) -> None:
    published = client.get("/trust/ca.pem").data
    directory = settings.trust_directory
    files = sorted(path.name for path in directory.iterdir() if path.suffix == ".pem")
    assert files == ["root-key.pem", "root.pem", "seal-key.pem", "seal.pem", "tsa-key.pem", "tsa.pem"]
    before = {name: ((directory / name).read_bytes(), (directory / name).stat().st_mtime_ns) for name in files}

    with another_app(settings, clock) as second:
        assert second.test_client().get("/trust/ca.pem").data == published
        material = second.extensions["wassit"].trust.material
        assert material.seal.cert == _cert(directory / "seal.pem")
        assert material.tsa is not None
        assert material.tsa.cert == _cert(directory / "tsa.pem")
    after = {name: ((directory / name).read_bytes(), (directory / name).stat().st_mtime_ns) for name in files}
    assert after == before


def test_two_instances_have_different_roots(settings: Settings, clock: FrozenClock, tmp_path: Path) -> None:
    with another_app(settings, clock) as first:
        one = first.test_client().get("/trust/ca.pem").data
    with another_app(settings.replace(trust_dir=tmp_path / "elsewhere"), clock) as second:
        other = second.test_client().get("/trust/ca.pem").data
    assert (tmp_path / "elsewhere" / "root.pem").read_bytes() == other
    assert one != other


# --- the RFC 3161 authority at POST /tsa --------------------------------------------------------


@pytest.fixture
def document(tmp_path: Path) -> Path:
    return write(tmp_path / "document.pdf", b"%PDF-1.7\n" + os.urandom(2000))


def _query(tmp_path: Path, document: Path, *options: str) -> bytes:
    out = tmp_path / "request.tsq"
    result = openssl("ts", "-query", "-data", document, *options, "-out", out)
    assert result.returncode == 0, result.stderr
    return out.read_bytes()


def _stamp(client: FlaskClient, request: bytes) -> bytes:
    response = client.post("/tsa", data=request, content_type=TIMESTAMP_QUERY)
    assert response.status_code == 200
    assert response.mimetype == "application/timestamp-reply"
    return bytes(response.data)


def _status(reply: bytes) -> tuple[str, set[str]]:
    """(status, failure bits) of a TimeStampResp, read with asn1crypto."""
    info = tsp.PKIStatusInfo.load(core.Sequence.load(reply)[0].dump())
    failures = info["fail_info"].native
    return info["status"].native, set(failures or ())


def _tst_info(reply: bytes) -> tsp.TSTInfo:
    token = tsp.TimeStampResp.load(reply)["time_stamp_token"]
    return token["content"]["encap_content_info"]["content"].parsed


def test_openssl_verifies_a_token_of_the_authority(
    client: FlaskClient, settings: Settings, tmp_path: Path, document: Path, clock: FrozenClock
) -> None:
    ca = write(tmp_path / "ca.pem", client.get("/trust/ca.pem").data)
    tsa_pem = settings.trust_directory / "tsa.pem"
    request = _query(tmp_path, document, "-sha256", "-cert")
    reply = write(tmp_path / "reply.tsr", _stamp(client, request))
    query = tmp_path / "request.tsq"

    result = openssl("ts", "-verify", "-in", reply, "-queryfile", query, "-CAfile", ca, "-untrusted", tsa_pem)
    assert result.returncode == 0, result.stderr
    assert b"Verification: OK" in result.stdout
    result = openssl("ts", "-verify", "-in", reply, "-data", document, "-CAfile", ca)
    assert result.returncode == 0, result.stderr

    # Another document, or another CA, does not verify.
    other = write(tmp_path / "other.pdf", document.read_bytes() + b"x")
    assert openssl("ts", "-verify", "-in", reply, "-data", other, "-CAfile", ca).returncode != 0
    assert openssl("ts", "-verify", "-in", reply, "-data", document, "-CAfile", tsa_pem).returncode != 0

    text = openssl("ts", "-reply", "-in", reply, "-text", check=True).stdout.decode()
    assert "Status: Granted." in text
    assert f"Policy OID: {DEFAULT_POLICY_OID}" in text
    info = _tst_info(reply.read_bytes())
    assert info["gen_time"].native == clock.now()
    assert info["message_imprint"]["hashed_message"].native == hashlib.sha256(document.read_bytes()).digest()
    assert info["accuracy"]["seconds"].native == 1


def test_the_nonce_is_echoed_and_certificates_are_included_only_on_request(
    client: FlaskClient, tmp_path: Path, document: Path
) -> None:
    request = _query(tmp_path, document, "-sha256", "-cert")
    nonce = tsp.TimeStampReq.load(request)["nonce"].native
    assert nonce is not None
    with_cert = _stamp(client, request)
    assert _tst_info(with_cert)["nonce"].native == nonce
    token = tsp.TimeStampResp.load(with_cert)["time_stamp_token"]["content"]
    [certificate] = token["certificates"]
    assert "Timestamp Authority" in certificate.chosen.subject.human_friendly

    request = _query(tmp_path, document, "-sha512")  # no -cert: certReq false
    without = _stamp(client, request)
    assert _status(without)[0] == "granted"
    token = tsp.TimeStampResp.load(without)["time_stamp_token"]["content"]
    assert not token["certificates"].native
    assert _tst_info(without)["nonce"].native == tsp.TimeStampReq.load(request)["nonce"].native

    request = _query(tmp_path, document, "-sha384", "-no_nonce")
    assert _tst_info(_stamp(client, request))["nonce"].native is None


def test_garbage_is_answered_with_a_rejection(client: FlaskClient, tmp_path: Path) -> None:
    for body in (b"not a timestamp request", b"\x30\x03\x02\x01\x01", b""):
        reply = _stamp(client, body)
        assert _status(reply) == ("rejection", {"bad_data_format"})
    text = openssl("ts", "-reply", "-in", write(tmp_path / "reply.tsr", reply), "-text").stdout.decode()
    assert "Status: Rejected." in text


@pytest.mark.parametrize("digest", ["-sha1", "-md5"])
def test_weak_digests_are_rejected_as_bad_alg(client: FlaskClient, tmp_path: Path, document: Path, digest: str) -> None:
    reply = _stamp(client, _query(tmp_path, document, digest, "-cert"))
    assert _status(reply) == ("rejection", {"bad_alg"})
    text = openssl("ts", "-reply", "-in", write(tmp_path / "reply.tsr", reply), "-text").stdout.decode()
    assert "Status: Rejected." in text
    assert "unrecognized or unsupported algorithm" in text


def test_a_foreign_policy_is_rejected(client: FlaskClient, tmp_path: Path, document: Path) -> None:
    reply = _stamp(client, _query(tmp_path, document, "-sha256", "-tspolicy", "1.2.3.4.5"))
    assert _status(reply) == ("rejection", {"unaccepted_policy"})
    # Our own policy is granted.
    reply = _stamp(client, _query(tmp_path, document, "-sha256", "-tspolicy", DEFAULT_POLICY_OID))
    assert _status(reply)[0] == "granted"


def _request(imprint: bytes, algorithm: str = "sha256", **fields: Any) -> bytes:
    return bytes(
        tsp.TimeStampReq(
            {
                "version": "v1",
                "message_imprint": {"hash_algorithm": {"algorithm": algorithm}, "hashed_message": imprint},
                **fields,
            }
        ).dump()
    )


def test_malformed_imprints_and_extensions_are_rejected(client: FlaskClient) -> None:
    digest = hashlib.sha256(b"document").digest()
    assert _status(_stamp(client, _request(digest)))[0] == "granted"
    assert _status(_stamp(client, _request(digest[:20]))) == ("rejection", {"bad_data_format"})
    assert _status(_stamp(client, _request(digest, "sha512"))) == ("rejection", {"bad_data_format"})
    extension = {"extn_id": "1.2.3.4", "critical": False, "extn_value": b"\x05\x00"}
    assert _status(_stamp(client, _request(digest, extensions=[extension]))) == (
        "rejection",
        {"unaccepted_extensions"},
    )


def test_wrong_content_type_and_oversized_requests_are_refused(
    client: FlaskClient, tmp_path: Path, document: Path
) -> None:
    request = _query(tmp_path, document, "-sha256", "-cert")
    for content_type in ("application/octet-stream", "application/x-www-form-urlencoded", "text/plain"):
        assert client.post("/tsa", data=request, content_type=content_type).status_code == 415
    assert client.post("/tsa", data=b"\x00" * (16 * 1024 + 1), content_type=TIMESTAMP_QUERY).status_code == 413
    assert client.post("/tsa", data=b"\x00" * (1024 * 1024), content_type=TIMESTAMP_QUERY).status_code == 413
    assert client.get("/tsa").status_code == 405


def test_the_authority_is_not_served_when_an_external_one_is_configured(settings: Settings, clock: FrozenClock) -> None:
    with another_app(settings.replace(tsa_url="https://tsa.example.ma/rfc3161"), clock) as app:
        client = app.test_client()
        response = client.post("/tsa", data=b"0", content_type=TIMESTAMP_QUERY)
        assert response.status_code == 404
        assert app.extensions["wassit"].trust.authority is None
        assert client.get("/trust/ca.pem").status_code == 200


# --- evidence records, sealed by the journal's checkpoints ---------------------------------------


def test_every_record_is_sealed_by_a_checkpoint_that_openssl_verifies(
    app: Flask, client: FlaskClient, deposit: Any, run_jobs: Any, tmp_path: Path, clock: FrozenClock
) -> None:
    deposit()
    deposit(recipient_phone="0700112233")
    clock.advance(30)
    run_jobs()
    rows = evidence_rows(app)
    assert [row.event for row in rows] == ["SubmissionAcceptance"] * 2 + ["ConsignmentNotification"] * 2
    ca = client.get("/trust/ca.pem").data
    key = journal_key(client)
    for row in rows:
        assert row.seal is None  # no longer one seal per record
        assert row.sealed_at is not None
        body = client.get(f"/journal/inclusion/{row.id}").get_json()
        checkpoint = rfc9162.open_checkpoint(body["checkpoint"], key)
        hashes = [bytes.fromhex(h) for h in body["hashes"]]
        assert rfc9162.verify_inclusion(
            body["leaf_index"], checkpoint.size, row.canonical.encode(), hashes, checkpoint.root
        )
        seal = client.get(f"/journal/checkpoint/{checkpoint.size}.p7s").data
        result = cms_verify(tmp_path, body["checkpoint"].encode(), seal, ca)
        assert result.returncode == 0, result.stderr
        assert b"Verification successful" in result.stderr
        assert (tmp_path / "verified.out").read_bytes() == body["checkpoint"].encode()

    # A changed checkpoint, or another CA: refused.
    note = client.get("/journal/checkpoint").get_data(as_text=True)
    size = rfc9162.open_checkpoint(note, key).size
    seal = client.get(f"/journal/checkpoint/{size}.p7s").data
    assert cms_verify(tmp_path, note.replace(f"\n{size}\n", "\n1\n").encode(), seal, ca).returncode != 0
    with another_app(app.extensions["wassit"].settings.replace(trust_dir=tmp_path / "other-ca"), clock) as other:
        foreign = other.test_client().get("/trust/ca.pem").data
    assert cms_verify(tmp_path, note.encode(), seal, foreign).returncode != 0


def test_a_checkpoint_seal_is_by_the_seal_certificate_and_carries_a_signature_timestamp(
    app: Flask, client: FlaskClient, deposit: Any, run_jobs: Any, settings: Settings, tmp_path: Path
) -> None:
    deposit()
    run_jobs()
    note = client.get("/journal/checkpoint").get_data(as_text=True).encode()
    size = int(note.split(b"\n")[1])
    seal = client.get(f"/journal/checkpoint/{size}.p7s").data
    signed_data = cms.ContentInfo.load(seal)["content"]
    assert signed_data["encap_content_info"]["content"].native is None  # detached
    [signer] = signed_data["signer_infos"]
    seal_cert = _cert(settings.trust_directory / "seal.pem")
    assert signer["sid"].chosen["serial_number"].native == seal_cert.serial_number
    certificates = {c.chosen.dump() for c in signed_data["certificates"]}
    assert seal_cert.public_bytes(serialization.Encoding.DER) in certificates
    signed = {attr["type"].native: attr["values"][0] for attr in signer["signed_attrs"]}
    assert signed["message_digest"].native == hashlib.sha256(note).digest()

    [attribute] = [a for a in signer["unsigned_attrs"] if a["type"].dotted == SIGNATURE_TIME_STAMP_TOKEN]
    token = attribute["values"][0]
    info = token["content"]["encap_content_info"]["content"].parsed
    # The timestamp is over the signature value (CAdES-T), by our TSA.
    signature = signer["signature"].native
    assert info["message_imprint"]["hashed_message"].native == hashlib.sha256(signature).digest()
    ca = write(tmp_path / "ca.pem", client.get("/trust/ca.pem").data)
    result = openssl(
        "ts",
        "-verify",
        "-in",
        write(tmp_path / "token.der", token.dump()),
        "-token_in",
        "-data",
        write(tmp_path / "signature.bin", signature),
        "-CAfile",
        ca,
        "-untrusted",
        settings.trust_directory / "tsa.pem",
    )
    assert result.returncode == 0, result.stderr
