"""What a single-line field may hold: the one rule, applied by every way in (forms, API, CLI, domain).

A name, a legal name, a reference, a token's name or a description is shown on one line, and
some go into email subjects and SMS: a line break there is a header injection
("Evil Org\\r\\nBcc: …"), and other control characters corrupt what they are printed in.  Such a
field is refused at input, never silently cleaned, so that the sender sees what was wrong.

Refused: the C0 and C1 control characters and DEL (line breaks and tabs included), the
Unicode line and paragraph separators, surrogates, private-use and unassigned code points, and the
bidirectional embeddings and overrides (U+202A–U+202E) that make a text display as another.
Kept: the format characters Arabic and mixed-direction text need (ZWNJ, ZWJ, the direction marks
and isolates).
"""

from __future__ import annotations

import unicodedata

# Invisible characters legitimate in names: zero-width (non-)joiner, left/right-to-left and Arabic
# letter marks, directional isolates.
_ALLOWED_FORMAT = frozenset("\u200c\u200d\u200e\u200f\u061c\u2066\u2067\u2068\u2069")
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Cn", "Zl", "Zp"})
_OVERRIDES = frozenset("\u202a\u202b\u202c\u202d\u202e")


def control_character(text: str) -> str | None:
    """The first character a single-line field may not hold, as `U+000D`; None if there is none."""
    for ch in text:
        category = unicodedata.category(ch)
        if category in _REFUSED_CATEGORIES or ch in _OVERRIDES or (category == "Cf" and ch not in _ALLOWED_FORMAT):
            return f"U+{ord(ch):04X}"
    return None


def is_single_line(text: str) -> bool:
    return control_character(text) is None


def single_line_message(field: str, found: str) -> str:
    """The English message of the API, the CLI and the domain errors."""
    return f"The field '{field}' may not contain line breaks or control characters (found {found})."
