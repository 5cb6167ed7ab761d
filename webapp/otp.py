"""One-time identification codes: generated with `secrets`, stored as keyed hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets

CODE_DIGITS = 6


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def hash_code(code: str, *, pepper: str, salt: str) -> str:
    """HMAC-SHA256 keyed with the app secret and salted with the code's id.

    A million possible codes make a plain hash trivially reversible; the key
    keeps a stolen database from revealing live codes.
    """
    return hmac.new(pepper.encode(), f"{salt}:{code}".encode(), hashlib.sha256).hexdigest()


def code_matches(candidate: str, stored_hash: str, *, pepper: str, salt: str) -> bool:
    return hmac.compare_digest(hash_code(candidate, pepper=pepper, salt=salt), stored_hash)


def normalise_code(raw: str) -> str | None:
    """Accepts `123 456`, `123-456` and Arabic-Indic digits as typed on some keyboards."""
    # isdecimal, not isdigit: superscripts and circled digits are "digits" that int() refuses.
    digits = "".join(str(int(ch)) for ch in (raw or "") if ch.isdecimal())
    return digits if len(digits) == CODE_DIGITS else None


def wait_after(failures: int, *, free: int, base: int, cap: int) -> int:
    """Seconds the next check must wait after `failures` wrong codes in a row (NIST SP 800-63B-4 §3.2.2).

    The first `free` failures cost nothing (a typo, a code read from the wrong SMS); from then
    on each failure doubles the wait, from `base` up to `cap`: 30 s, 1, 2, 4, 8, 16, 32 minutes,
    then an hour at most with the defaults.  A wait, never a lock: it ends by itself.
    """
    beyond = failures - free
    if beyond <= 0:
        return 0
    return min(cap, base * (1 << min(beyond - 1, 20)))
