#!/usr/bin/env python3
"""Checks a Wassit dispute bundle offline, with the Python standard library (and `openssl` if present).

Usage: python3 verify_bundle.py [BUNDLE_DIRECTORY]

It checks, without trusting Wassit's servers or code:
  1. every evidence record's SHA-256, and that records which follow each other in the journal
     are linked (a record names the hash of the one before it);
  2. every record's RFC 9162 inclusion proof into the journal checkpoint (Merkle tree: leaf hash
     SHA-256(0x00 || record bytes), node hash SHA-256(0x01 || left || right));
  3. the checkpoint's Ed25519 signature (C2SP signed note) against the journal key, with
     `openssl pkeyutl` when openssl is installed;
  4. that every record names the same letter and document.
The proofs' PDF signatures, the checkpoint's seal and timestamp, and the certificates are checked
with the `openssl` and `pyhanko` commands given in VERIFY.md.
Exits 0 when everything checks, 1 otherwise.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

PROBLEMS: list[str] = []


def problem(text: str) -> None:
    PROBLEMS.append(text)
    print("PROBLEM " + text)


def ok(text: str) -> None:
    print("ok      " + text)


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def largest_power_of_two_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def root_from_path(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.3: the root an audit path leads to (the last hash is the top sibling)."""
    if size == 1:
        if path:
            raise ValueError("path too long")
        return leaf
    if not path:
        raise ValueError("path too short")
    k = largest_power_of_two_below(size)
    rest, sibling = path[:-1], path[-1]
    if index < k:
        return node_hash(root_from_path(index, k, leaf, rest), sibling)
    return node_hash(sibling, root_from_path(index - k, size - k, leaf, rest))


def read_checkpoint(directory: str) -> tuple[str, str, str, str, int, bytes]:
    with open(os.path.join(directory, "journal", "checkpoint.txt"), encoding="utf-8") as handle:
        note = handle.read()
    text, _, signatures = note.partition("\n\n")
    origin, size, root = text.split("\n")[:3]
    return note, text + "\n", signatures, origin, int(size), base64.b64decode(root)


def check_note_signature(directory: str, text: str, signatures: str, origin: str) -> None:
    with open(os.path.join(directory, "journal", "journal-key.txt"), encoding="utf-8") as handle:
        name, key_id, key = handle.read().strip().split("+", 2)
    raw = base64.b64decode(key)
    if name != origin:
        problem("the checkpoint's origin is not the journal key's name")
        return
    if hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex() != key_id:
        problem("the journal key's id does not match the key")
        return
    blobs = []
    for line in signatures.strip("\n").split("\n"):
        signer, _, encoded = line[2:].rpartition(" ")
        blob = base64.b64decode(encoded)
        if signer == name and blob[:4].hex() == key_id:
            blobs.append(blob[4:])
    if not blobs:
        problem("the checkpoint carries no signature by the journal key")
        return
    openssl = shutil.which("openssl")
    if openssl is None:
        print("skip    the checkpoint's Ed25519 signature: openssl is not installed (see VERIFY.md)")
        return
    with tempfile.TemporaryDirectory() as scratch:
        text_file = os.path.join(scratch, "checkpoint-text.txt")
        signature_file = os.path.join(scratch, "checkpoint-signature.bin")
        with open(text_file, "wb") as handle:
            handle.write(text.encode())
        with open(signature_file, "wb") as handle:
            handle.write(blobs[0])
        result = subprocess.run(  # noqa: S603 - openssl, found on PATH, with our own file names
            [
                openssl,
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                os.path.join(directory, "journal", "journal-key.pem"),
                "-rawin",
                "-in",
                text_file,
                "-sigfile",
                signature_file,
            ],
            capture_output=True,
        )
    if result.returncode == 0:
        ok("the checkpoint is signed by the journal key (openssl pkeyutl)")
    else:
        problem("the checkpoint's signature does not verify: " + result.stdout.decode() + result.stderr.decode())


def main(directory: str) -> int:
    _note, text, signatures, origin, size, root = read_checkpoint(directory)
    ok(f"checkpoint of {size} records, root {root.hex()}, origin {origin}")
    check_note_signature(directory, text, signatures, origin)

    records: list[tuple[str, bytes, dict[str, Any]]] = []
    for path in sorted(glob.glob(os.path.join(directory, "records", "evidence-*.json"))):
        with open(path, "rb") as handle:
            data = handle.read()
        records.append((path, data, json.loads(data)))
    if not records:
        problem("the bundle holds no evidence record")
    letters: set = set()  # type: ignore[type-arg]
    documents: set = set()  # type: ignore[type-arg]
    previous: tuple[Any, str] | None = None
    for path, data, record in records:
        name = os.path.basename(path)
        digest = hashlib.sha256(data).hexdigest()
        letters.add(record.get("letter_id"))
        documents.add(json.dumps(record.get("document"), sort_keys=True))
        if previous is not None and record.get("sequence") == previous[0] + 1:
            if record.get("previous_hash") != previous[1]:
                problem(f"{name} does not link to the record before it")
            else:
                ok(f"{name} links to record {previous[0]}")
        previous = (record.get("sequence"), digest)
        inclusion_file = os.path.join(directory, "records", f"inclusion-{record.get('sequence', 0):08d}.json")
        if not os.path.exists(inclusion_file):
            problem(f"{name} has no inclusion proof")
            continue
        with open(inclusion_file, encoding="utf-8") as handle:
            inclusion = json.load(handle)
        if inclusion["tree_size"] != size or inclusion["leaf_index"] != record.get("sequence", 0) - 1:
            problem(f"{name}: its inclusion proof is not for this checkpoint or this record")
            continue
        try:
            found = root_from_path(
                inclusion["leaf_index"], size, leaf_hash(data), [bytes.fromhex(h) for h in inclusion["hashes"]]
            )
        except ValueError as error:
            problem(f"{name}: malformed inclusion proof ({error})")
            continue
        if found == root:
            ok(f"{name} (sha256 {digest}) is in the journal checkpoint")
        else:
            problem(f"{name} is NOT in the journal checkpoint: it was altered, or the proof is wrong")
    if len(letters) > 1 or len(documents) > 1:
        problem("the records do not all name the same letter and document")
    elif records:
        document = records[0][2].get("document") or {}
        ok("every record names letter {} and document sha256 {}".format(letters.pop(), document.get("sha256")))
    print("")
    if PROBLEMS:
        print(f"NOT VERIFIED: {len(PROBLEMS)} problem(s).")
        return 1
    print("VERIFIED: every record is intact and in the signed journal checkpoint.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))))
