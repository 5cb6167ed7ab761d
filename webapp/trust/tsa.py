"""An RFC 3161 timestamp authority, and the timestamper the seal and PDF signatures use.

The built-in authority answers `POST /tsa` (application/timestamp-query in,
application/timestamp-reply out) so that `openssl ts -query … | curl` and
`openssl ts -verify` work against it.  Production may instead name an
external, qualified TSA with `TSA_URL`.

Tokens carry the ESS signing-certificate-v2 attribute (RFC 5816), our policy
OID (`TSA_POLICY_OID`; by default a 2.25 UUID OID of ours, see
`webapp.trust.policy`, described at `/trust/policy`), a 1-second accuracy,
the requester's nonce, and the TSA certificate only when the request asks for
it (certReq).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from asn1crypto import algos, cms, core, tsp, x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from pyhanko.sign.general import as_signing_certificate_v2, simple_cms_attribute
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper

from webapp.trust.keys import KeyPair, Pkcs11Key, to_asn1_cert
from webapp.trust.policy import DEFAULT_POLICY_OID

_DIGESTS: dict[str, tuple[int, Any]] = {
    "sha256": (32, hashes.SHA256),
    "sha384": (48, hashes.SHA384),
    "sha512": (64, hashes.SHA512),
}


class TimestampRejected(Exception):
    """The authority refused the request (RFC 3161 PKIFailureInfo)."""

    def __init__(self, failure: str, text: str) -> None:
        super().__init__(text)
        self.failure = failure


class TimestampAuthority:
    """Issues RFC 3161 timestamp tokens with its own key."""

    def __init__(self, keys: KeyPair, *, now: Callable[[], datetime], policy_oid: str = DEFAULT_POLICY_OID) -> None:
        self.keys = keys
        self.cert = keys.asn1_cert
        self.chain = [to_asn1_cert(cert) for cert in keys.chain]
        self.now = now
        self.policy_oid = policy_oid
        # What every token repeats, serialised once. asn1crypto copies and re-serialises a parsed
        # structure (a certificate, a name) each time it is placed in a new one: 11 ms a token, against
        # well under 1 ms when the same bytes are loaded lazily and dumped as they are.
        self._certificates_der = [cert.dump() for cert in (self.cert, *self.chain)]
        self._tsa_name_der = x509.GeneralName({"directory_name": self.cert.subject}).dump()
        self._sid_der = cms.SignerIdentifier(
            {
                "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                    {"issuer": self.cert.issuer, "serial_number": self.cert.serial_number}
                )
            }
        ).dump()
        self._signing_certificate_der = simple_cms_attribute(
            "signing_certificate_v2", as_signing_certificate_v2(self.cert)
        ).dump()

    def respond(self, request_der: bytes) -> bytes:
        """The DER TimeStampResp for a DER TimeStampReq; refusals are responses too."""
        try:
            request = tsp.TimeStampReq.load(request_der)
            request.native  # noqa: B018 - forces a full parse, so malformed input fails here
        except (ValueError, TypeError, KeyError, IndexError):
            return bytes(_rejection("bad_data_format", "malformed TimeStampReq").dump())
        try:
            return bytes(self.issue(request).dump())
        except TimestampRejected as exc:
            return bytes(_rejection(exc.failure, str(exc)).dump())

    def issue(self, request: tsp.TimeStampReq) -> tsp.TimeStampResp:
        if request["version"].native != "v1":
            raise TimestampRejected("bad_request", "only version 1 requests are supported")
        imprint = request["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        if algorithm not in _DIGESTS:
            raise TimestampRejected("bad_alg", f"unsupported hash algorithm {algorithm}")
        if len(imprint["hashed_message"].native) != _DIGESTS[algorithm][0]:
            raise TimestampRejected("bad_data_format", "digest length does not match its algorithm")
        policy = request["req_policy"].native
        if policy is not None and policy != self.policy_oid:
            raise TimestampRejected("unaccepted_policy", f"policy {policy} is not ours")
        if request["extensions"].native:
            raise TimestampRejected("unaccepted_extensions", "extensions are not supported")

        gen_time = self.now().astimezone(UTC).replace(microsecond=0)
        info: dict[str, Any] = {
            "version": "v1",
            "policy": self.policy_oid,
            "message_imprint": imprint,
            "serial_number": secrets.randbits(127) | 1,
            "gen_time": gen_time,
            "accuracy": {"seconds": 1},
            "ordering": False,
            "tsa": x509.GeneralName.load(self._tsa_name_der),
        }
        if request["nonce"].native is not None:
            info["nonce"] = request["nonce"]
        token = self._sign(tsp.TSTInfo(info).dump(), gen_time, bool(request["cert_req"].native))
        return tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token})

    def _sign(self, tst_info: bytes, signing_time: datetime, include_certs: bool) -> cms.ContentInfo:
        digest = hashes.Hash(hashes.SHA256())
        digest.update(tst_info)
        signed_attrs = cms.CMSAttributes(
            [
                simple_cms_attribute("content_type", "tst_info"),
                simple_cms_attribute("signing_time", cms.Time({"generalized_time": signing_time})),
                simple_cms_attribute("message_digest", digest.finalize()),
                cms.CMSAttribute.load(self._signing_certificate_der),
            ]
        )
        key = self.keys.key
        if isinstance(key, Pkcs11Key):
            from webapp.trust.hsm import pkcs11_sign_ecdsa_sha256

            signature = pkcs11_sign_ecdsa_sha256(key, signed_attrs.dump())
            signature_algorithm = "sha256_ecdsa"
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            signature = key.sign(signed_attrs.dump(), ec.ECDSA(hashes.SHA256()))
            signature_algorithm = "sha256_ecdsa"
        elif isinstance(key, rsa.RSAPrivateKey):
            signature = key.sign(signed_attrs.dump(), PKCS1v15(), hashes.SHA256())
            signature_algorithm = "sha256_rsa"
        else:
            raise TypeError("the TSA key must be ECDSA or RSA")
        signer_info = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier.load(self._sid_der),
                "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": signature_algorithm}),
                "signed_attrs": signed_attrs,
                "signature": signature,
            }
        )
        signed_data: dict[str, Any] = {
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {
                "content_type": "tst_info",
                "content": cms.ParsableOctetString(tst_info),
            },
            "signer_infos": [signer_info],
        }
        if include_certs:
            signed_data["certificates"] = [cms.CertificateChoices.load(der) for der in self._certificates_der]
        return cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})


class _RejectionResponse(core.Sequence):  # type: ignore[misc]
    """A TimeStampResp without a token (asn1crypto marks the token as mandatory)."""

    _fields = [("status", tsp.PKIStatusInfo)]  # noqa: RUF012


def _rejection(failure: str, text: str) -> _RejectionResponse:
    return _RejectionResponse(
        {
            "status": {
                "status": "rejection",
                "status_string": [text],
                "fail_info": tsp.PKIFailureInfo({failure}),
            }
        }
    )


class LocalTimeStamper(TimeStamper):
    """A pyHanko timestamper that asks the built-in authority directly, without HTTP."""

    def __init__(self, authority: TimestampAuthority) -> None:
        super().__init__(include_nonce=True)
        self.authority = authority

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        # Through DER, exactly as an HTTP client would receive it: embedding the freshly
        # built asn1crypto structure in the signature instead can make serialising it
        # take minutes.
        return tsp.TimeStampResp.load(self.authority.respond(req.dump()))


class RetryingHTTPTimeStamper(RequestsHTTPTimeStamper):
    """An external RFC 3161 service, asked again on network errors and 5xx answers.

    A refusal by the authority (a rejection status) is not retried: it will not
    change, and the caller reports it.
    """

    def __init__(self, url: str, *, timeout: int, attempts: int = 3, backoff: float = 0.5) -> None:
        super().__init__(url, timeout=timeout)
        self.attempts = attempts
        self.backoff = backoff

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        last_error: Exception | None = None
        for attempt in range(self.attempts):
            try:
                response: tsp.TimeStampResp = await super().async_request_tsa_response(req)
                return response
            except TimestampRequestError as exc:
                last_error = exc
                await asyncio.sleep(self.backoff * 2**attempt)
        raise TimestampRequestError(
            f"the timestamp authority at {self.url} did not answer after {self.attempts} attempts: {last_error}"
        ) from last_error


def make_timestamper(authority: TimestampAuthority | None, tsa_url: str | None, timeout: int = 10) -> TimeStamper:
    """The built-in authority, or an external RFC 3161 service."""
    if tsa_url:
        return RetryingHTTPTimeStamper(tsa_url, timeout=timeout)
    if authority is None:
        raise ValueError("no timestamp authority configured")
    return LocalTimeStamper(authority)


def token_time(token: cms.ContentInfo) -> datetime:
    info = token["content"]["encap_content_info"]["content"].parsed
    moment: datetime = info["gen_time"].native
    return moment


def is_granted(response: tsp.TimeStampResp) -> bool:
    return bool(response["status"]["status"].native in {"granted", "granted_with_mods"})


def timestamp_response(token: bytes) -> bytes:
    """A granted RFC 3161 TimeStampResp around a stored token (what `openssl ts -reply -in` reads)."""
    status = bytes.fromhex("3003020100")  # PKIStatusInfo { status granted(0) }
    body = status + token
    return _der_sequence(body)


def _der_sequence(body: bytes) -> bytes:
    length = len(body)
    if length < 0x80:
        return bytes([0x30, length]) + body
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x30, 0x80 | len(size)]) + size + body


__all__ = [
    "DEFAULT_POLICY_OID",
    "LocalTimeStamper",
    "TimestampAuthority",
    "TimestampRejected",
    "is_granted",
    "make_timestamper",
    "timestamp_response",
    "token_time",
]
