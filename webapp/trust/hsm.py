"""Keys in a hardware security module, through PKCS#11 (python-pkcs11, pyHanko's PKCS#11 signer).

The seal key can live in any PKCS#11 token (SEAL_PKCS11_MODULE, SEAL_PKCS11_TOKEN, SEAL_PKCS11_KEY,
SEAL_PKCS11_PIN): it never leaves the token, which signs each digest.  One logged-in session per
process and token is opened on first use and kept (a worker signs many proofs); the tests use a real
SoftHSM2 token.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pyhanko.sign.signers import Signer

from webapp.trust.keys import Pkcs11Key, TrustConfigError

_sessions: dict[tuple[str, str], Any] = {}
_lock = threading.RLock()  # re-entered: a signing call opens the session under it


def pkcs11_session(key: Pkcs11Key) -> Any:
    """The process's logged-in session on the key's token (opened once)."""
    with _lock:
        session = _sessions.get((key.module, key.token))
        if session is None:
            from pkcs11.exceptions import PKCS11Error
            from pyhanko.config.pkcs11 import TokenCriteria
            from pyhanko.sign.pkcs11 import open_pkcs11_session

            try:
                session = open_pkcs11_session(
                    key.module, token_criteria=TokenCriteria(label=key.token), user_pin=key.pin or None
                )
            except (PKCS11Error, OSError, ValueError) as exc:
                raise TrustConfigError(f"cannot open the PKCS#11 token {key.token!r}: {exc!r}") from exc
            _sessions[(key.module, key.token)] = session
        return session


def pkcs11_signer(key: Pkcs11Key, cert: asn1_x509.Certificate, chain: list[asn1_x509.Certificate]) -> Signer:
    """pyHanko's signer for a key held in a token, with the certificate and chain from our configuration."""
    from pyhanko.sign.pkcs11 import PKCS11Signer

    return PKCS11Signer(
        pkcs11_session(key),
        key_label=key.label,
        signing_cert=cert,
        ca_chain=chain,
        other_certs_to_pull=None,
        # Hash here, sign the digest in the token (CKM_ECDSA): tokens without hash-and-sign mechanisms work too.
        use_raw_mechanism=True,
    )


def pkcs11_sign_ecdsa_sha256(key: Pkcs11Key, data: bytes) -> bytes:
    """An ECDSA-with-SHA-256 signature (DER) of `data` by the token's key (the built-in TSA's tokens)."""
    from pkcs11 import KeyType, Mechanism, ObjectClass
    from pkcs11.util.ec import encode_ecdsa_signature

    session = pkcs11_session(key)
    with _lock:
        private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.EC, label=key.label)
        # Plain ECDSA over our own SHA-256 digest: every token has it (SoftHSM2 has no CKM_ECDSA_SHA256).
        raw = private.sign(hashlib.sha256(data).digest(), mechanism=Mechanism.ECDSA)
    return bytes(encode_ecdsa_signature(raw))


class Pkcs11Ed25519Key:
    """An Ed25519 key in the token (the journal's checkpoint key): signs with CKM_EDDSA there."""

    def __init__(self, key: Pkcs11Key) -> None:
        self.key = key

    def _object(self, object_class: Any) -> Any:
        from pkcs11 import KeyType

        return pkcs11_session(self.key).get_key(
            object_class=object_class, key_type=KeyType.EC_EDWARDS, label=self.key.label
        )

    def sign(self, data: bytes) -> bytes:
        from pkcs11 import Mechanism, ObjectClass

        with _lock:
            return bytes(self._object(ObjectClass.PRIVATE_KEY).sign(data, mechanism=Mechanism.EDDSA))

    def public_key(self) -> Ed25519PublicKey:
        from asn1crypto.core import OctetString
        from pkcs11 import Attribute, ObjectClass

        with _lock:
            point = self._object(ObjectClass.PUBLIC_KEY)[Attribute.EC_POINT]
        return Ed25519PublicKey.from_public_bytes(OctetString.load(point).native)
