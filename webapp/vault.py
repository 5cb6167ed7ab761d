"""Envelope encryption: one AES-256-GCM data key per object, wrapped by the master key.

The master key never touches stored data directly: it only wraps data keys
(AES-GCM with the key's purpose as associated data), and each object is bound
to its owner by associated data, so a ciphertext moved to another letter does
not decrypt.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
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


def master_key_id(master_key: bytes) -> str:
    """Identifies which master key wrapped a data key (never the key itself)."""
    return hashlib.sha256(b"wassit/key-id" + master_key).hexdigest()[:16]


class Vault:
    """Wraps new data keys with the current master key; unwraps with it or any older one it was given.

    Rotation: the new key becomes MASTER_KEY at once (every new object is wrapped by it), the old one
    moves to MASTER_KEYS, and `rewrap` moves old data keys to the new master key (the objects themselves
    are never re-encrypted: only their small wrapped keys change).
    """

    def __init__(self, master_key: bytes, old_keys: Iterable[bytes] = ()) -> None:
        if len(master_key) != 32 or any(len(key) != 32 for key in old_keys):
            raise ValueError("the master key must be 32 bytes")
        self._master = AESGCM(master_key)
        self.key_id = master_key_id(master_key)
        self._keys = {master_key_id(key): AESGCM(key) for key in old_keys}
        self._keys[self.key_id] = self._master

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The current master key's id first, then the older ones this vault can still read."""
        return (self.key_id, *(key_id for key_id in self._keys if key_id != self.key_id))

    def _unwrap(self, key_id: str, wrapped_key: bytes) -> bytes:
        master = self._keys.get(key_id)
        if master is None:
            raise VaultError("object was sealed with another master key")
        try:
            return master.decrypt(wrapped_key[:12], wrapped_key[12:], _WRAP_AAD)
        except InvalidTag as exc:
            raise VaultError("stored object failed authentication") from exc

    def rewrap(self, key_id: str, wrapped_key: bytes) -> tuple[str, bytes]:
        """The same data key, wrapped by the current master key: (its id, the new wrapped key)."""
        data_key = self._unwrap(key_id, wrapped_key)
        wrap_nonce = secrets.token_bytes(12)
        return self.key_id, wrap_nonce + self._master.encrypt(wrap_nonce, data_key, _WRAP_AAD)

    def encrypt(self, plaintext: bytes, *, context: str) -> Sealed:
        data_key = AESGCM.generate_key(bit_length=256)
        wrap_nonce = secrets.token_bytes(12)
        wrapped = wrap_nonce + self._master.encrypt(wrap_nonce, data_key, _WRAP_AAD)
        nonce = secrets.token_bytes(12)
        ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, context.encode())
        return Sealed(self.key_id, wrapped, nonce, ciphertext)

    def decrypt(self, sealed: Sealed, *, context: str) -> bytes:
        data_key = self._unwrap(sealed.key_id, sealed.wrapped_key)
        try:
            return AESGCM(data_key).decrypt(sealed.nonce, sealed.ciphertext, context.encode())
        except InvalidTag as exc:
            raise VaultError("stored object failed authentication") from exc
