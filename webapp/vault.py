"""Envelope encryption: one AES-256-GCM data key per object, wrapped by the master key.

The master key never touches stored data directly: it only wraps data keys
(AES-GCM with the key's purpose as associated data), and each object is bound
to its owner by associated data, so a ciphertext moved to another letter does
not decrypt.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_WRAP_AAD = b"wassit/data-key/v1"


class VaultError(Exception):
    """A stored object could not be decrypted (wrong key, or tampered data)."""


@dataclass(frozen=True)
class Sealed:
    key_id: str
    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes


class Vault:
    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError("the master key must be 32 bytes")
        self._master = AESGCM(master_key)
        # Identifies which master key wrapped a data key, for key rotation.
        self.key_id = hashlib.sha256(b"wassit/key-id" + master_key).hexdigest()[:16]

    def encrypt(self, plaintext: bytes, *, context: str) -> Sealed:
        data_key = AESGCM.generate_key(bit_length=256)
        wrap_nonce = secrets.token_bytes(12)
        wrapped = wrap_nonce + self._master.encrypt(wrap_nonce, data_key, _WRAP_AAD)
        nonce = secrets.token_bytes(12)
        ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, context.encode())
        return Sealed(self.key_id, wrapped, nonce, ciphertext)

    def decrypt(self, sealed: Sealed, *, context: str) -> bytes:
        if sealed.key_id != self.key_id:
            raise VaultError("object was sealed with another master key")
        try:
            data_key = self._master.decrypt(sealed.wrapped_key[:12], sealed.wrapped_key[12:], _WRAP_AAD)
            return AESGCM(data_key).decrypt(sealed.nonce, sealed.ciphertext, context.encode())
        except InvalidTag as exc:
            raise VaultError("stored object failed authentication") from exc
