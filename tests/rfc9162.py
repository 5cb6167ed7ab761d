"""An outside verifier of our transparency log, written from the specifications, not from our code.

- RFC 9162 §2.1: Merkle tree hashes (leaf = SHA-256(0x00 ‖ d), node = SHA-256(0x01 ‖ l ‖ r));
  inclusion and consistency proofs are checked by rebuilding the roots from the *structure* that
  §2.1.3.1 (PATH) and §2.1.4.1 (PROOF/SUBPROOF) define, recursively — deliberately not with the
  bit-walking algorithms of §2.1.3.2/§2.1.4.2 that the service itself uses.
- c2sp.org/signed-note and c2sp.org/tlog-checkpoint: the note text, its blank line, signature
  lines `— <name> <base64(key id ‖ Ed25519 signature)>`, key id = SHA-256(name ‖ "\\n" ‖ 0x01 ‖ key)[:4].

Only the standard library and `cryptography` (for Ed25519) are used.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) straight from §2.1.1, over raw leaf data."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaf(leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node(mth(leaves[:k]), mth(leaves[k:]))


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def root_from_inclusion(index: int, size: int, leaf_hash: bytes, path: list[bytes]) -> bytes:
    """The root PATH(m, D[n]) leads to: PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n]) if m < k, else
    PATH(m - k, D[k:n]) : MTH(D[0:k]).  The last element is the sibling at the top split."""
    if not 0 <= index < size:
        raise ValueError("index out of range")
    if size == 1:
        if path:
            raise ValueError("path too long")
        return leaf_hash
    if not path:
        raise ValueError("path too short")
    k = _split(size)
    *rest, sibling = path
    if index < k:
        return node(root_from_inclusion(index, k, leaf_hash, rest), sibling)
    return node(sibling, root_from_inclusion(index - k, size - k, leaf_hash, rest))


def verify_inclusion(index: int, size: int, data: bytes, path: list[bytes], root: bytes) -> bool:
    try:
        return root_from_inclusion(index, size, leaf(data), path) == root
    except ValueError:
        return False


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, path: list[bytes]) -> bool:
    """Rebuilds both roots from SUBPROOF's structure; the old root is only known, never trusted, where
    SUBPROOF(m, D[m], true) leaves it out of the proof."""
    if not 0 < old_size <= new_size:
        return False
    remaining = list(path)

    def sub(m: int, n: int, whole: bool) -> tuple[bytes, bytes]:
        if m == n:
            if whole:
                return old_root, old_root
            if not remaining:
                raise ValueError("proof too short")
            h = remaining.pop()
            return h, h
        if not remaining:
            raise ValueError("proof too short")
        k = _split(n)
        top = remaining.pop()
        if m <= k:
            old, new = sub(m, k, whole)
            return old, node(new, top)
        old, new = sub(m - k, n - k, False)
        return node(top, old), node(top, new)

    try:
        old, new = sub(old_size, new_size, True)
    except ValueError:
        return False
    return not remaining and old == old_root and new == new_root


@dataclass(frozen=True)
class SignedCheckpoint:
    origin: str
    size: int
    root: bytes
    text: str


def open_checkpoint(note: str, verifier_key: str) -> SignedCheckpoint:
    """Checks a C2SP checkpoint note against a verifier key line; raises ValueError if it does not hold."""
    name, key_id_hex, key_b64 = verifier_key.strip().split("+", 2)
    raw = base64.b64decode(key_b64)
    if raw[0] != 1 or len(raw) != 33:
        raise ValueError("not an Ed25519 verifier key")
    key_id = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    if key_id.hex() != key_id_hex:
        raise ValueError("verifier key id mismatch")
    body, blank, signatures = note.partition("\n\n")
    if not blank:
        raise ValueError("no blank line")
    text = body + "\n"
    verified = False
    for line in signatures.rstrip("\n").split("\n"):
        if not line.startswith("\u2014 "):
            raise ValueError("bad signature line")
        signer, encoded = line[2:].rsplit(" ", 1)
        blob = base64.b64decode(encoded)
        if signer == name and blob[:4] == key_id:
            Ed25519PublicKey.from_public_bytes(raw[1:]).verify(blob[4:], text.encode())
            verified = True
    if not verified:
        raise ValueError("no signature by this key")
    origin, size, root, *_ = text.split("\n")
    if origin != name:
        raise ValueError("origin is not the key name")
    return SignedCheckpoint(origin, int(size), base64.b64decode(root), text)
