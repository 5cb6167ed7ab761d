"""The bytes evidence is made of: RFC 8785 canonical JSON, and SHA-256 over it.

What the chain (`trust.evidence`), the transparency log (`trust.journal`), the audit and
the verifier all hash the same way; kept apart so that the journal needs nothing of the
module that appends records (which enqueues the journal's checkpoint job).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import rfc8785

# The `previous_hash` of the first record of the chain.
GENESIS_HASH = "0" * 64


def canonical_json(document: Mapping[str, Any]) -> bytes:
    """RFC 8785 (JCS) canonical form: the bytes that are hashed and sealed."""
    return rfc8785.dumps(document)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
