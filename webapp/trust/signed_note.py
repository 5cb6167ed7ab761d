"""The journal's signing key and its notes: C2SP signed-note and tlog-checkpoint formats.

A checkpoint is a note whose text is three lines — the log's origin, the tree
size in decimal, the base64 root hash — followed by a blank line and one
signature line per signer: `— <key name> <base64(key id ‖ signature)>`.  The
key id is the first four bytes of SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ Ed25519
public key), and the verifier key is published as
`<name>+<hex key id>+<base64(0x01 ‖ public key)>` (c2sp.org/signed-note,
c2sp.org/tlog-checkpoint).  Any standard tooling (e.g. Go's
`golang.org/x/mod/sumdb/note`) can check our checkpoints with that line alone.

The key is Ed25519, dedicated to the journal: on the embedded default it is
created once under the trust directory; in production `JOURNAL_KEY` names a
PEM file.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519_ALGORITHM = b"\x01"
SIGNATURE_PREFIX = "\u2014 "  # an em dash and a space


class NoteError(ValueError):
    """A note is malformed, or not signed by the expected key."""


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519_ALGORITHM + public_key).digest()[:4]


def _check_name(name: str) -> str:
    if not name or any(ch.isspace() or ch == "+" for ch in name):
        raise NoteError(f"a note key name may not be empty nor contain spaces or '+': {name!r}")
    return name


@dataclass(frozen=True)
class NoteVerifier:
    """A public key that checks notes: what `/journal/key` publishes."""

    name: str
    public_key: bytes  # 32 bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    def __str__(self) -> str:
        encoded = base64.b64encode(ED25519_ALGORITHM + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    @classmethod
    def parse(cls, text: str) -> NoteVerifier:
        try:
            name, hex_id, encoded = text.strip().split("+", 2)
            raw = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise NoteError("a verifier key is <name>+<hex key id>+<base64 key>") from exc
        if len(raw) != 33 or raw[:1] != ED25519_ALGORITHM:
            raise NoteError("only Ed25519 verifier keys are supported")
        verifier = cls(_check_name(name), raw[1:])
        if verifier.key_id.hex() != hex_id.lower():
            raise NoteError("the verifier key's id does not match its name and key")
        return verifier

    def open(self, note: str) -> str:
        """The note's text, if one of its signature lines is by this key; raises `NoteError` otherwise."""
        text, signatures = split_note(note)
        public = Ed25519PublicKey.from_public_bytes(self.public_key)
        for name, blob in signatures:
            if name != self.name or len(blob) != 68 or blob[:4] != self.key_id:
                continue
            try:
                public.verify(blob[4:], text.encode())
            except InvalidSignature:
                raise NoteError("the note's signature does not verify") from None
            return text
        raise NoteError(f"the note carries no signature by {self.name}")


class Ed25519Signing(Protocol):
    """An Ed25519 private key: in memory (`Ed25519PrivateKey`) or in a PKCS#11 token (`trust.hsm`)."""

    def sign(self, data: bytes) -> bytes: ...

    def public_key(self) -> Ed25519PublicKey: ...


@dataclass(frozen=True)
class NoteSigner:
    """The journal's private key, with the name its signatures carry."""

    name: str
    private_key: Ed25519PrivateKey | Ed25519Signing

    @property
    def verifier(self) -> NoteVerifier:
        raw = self.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return NoteVerifier(self.name, raw)

    def sign(self, text: str) -> str:
        """The signed note: the text, a blank line, and our signature line."""
        if not text.endswith("\n") or "\n\n" in text:
            raise NoteError("a note's text ends with a newline and has no blank line")
        blob = self.verifier.key_id + self.private_key.sign(text.encode())
        return f"{text}\n{SIGNATURE_PREFIX}{self.name} {base64.b64encode(blob).decode()}\n"


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """(text, [(key name, key id ‖ signature)]) of a signed note."""
    text, separator, tail = note.rpartition("\n\n")
    if not separator or not tail.endswith("\n"):
        raise NoteError("a signed note is its text, a blank line, then signature lines")
    signatures = []
    for line in tail[:-1].split("\n"):
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError("a signature line starts with an em dash")
        name, _, encoded = line[len(SIGNATURE_PREFIX) :].rpartition(" ")
        try:
            signatures.append((name, base64.b64decode(encoded, validate=True)))
        except binascii.Error as exc:
            raise NoteError("a signature is base64") from exc
    return text + "\n", signatures


@dataclass(frozen=True)
class Checkpoint:
    """The three mandatory lines of a tlog checkpoint."""

    origin: str
    size: int
    root_hash: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root_hash).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteError("a checkpoint has an origin, a size and a root hash, each on its own line")
        origin, size, root = lines[0], lines[1], lines[2]
        if not origin or not size.isdigit() or (size != "0" and size.startswith("0")):
            raise NoteError("malformed checkpoint origin or size")
        try:
            root_hash = base64.b64decode(root, validate=True)
        except binascii.Error as exc:
            raise NoteError("the checkpoint's root hash is not base64") from exc
        if len(root_hash) != 32:
            raise NoteError("the checkpoint's root hash is not a SHA-256 hash")
        return cls(origin, int(size), root_hash)


def load_or_create_signer(name: str, key_file: Path | None, directory: Path) -> NoteSigner:
    """The journal key: `key_file` (PEM, production) or one created once in `directory`."""
    _check_name(name)
    if key_file is not None:
        return NoteSigner(name, _read_ed25519(key_file))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "journal-key.pem"
    with (directory / ".journal-key.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # several processes start at once: one creates the key
        if not path.exists():
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
    return NoteSigner(name, _read_ed25519(path))


def _read_ed25519(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), None)
    except (OSError, ValueError, TypeError) as exc:
        raise NoteError(f"cannot read the journal key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise NoteError(f"the journal key {path} must be an Ed25519 private key")
    return key
