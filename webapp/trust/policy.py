"""Our timestamping policy's identifier, and the check that a configured one is a real OID.

The built-in timestamp authority names its policy in every token it issues
(`TSTInfo.policy`, RFC 3161 §2.4.2).  An OID must belong to whoever uses it:
ours is derived from a UUID under the `2.25` arc (ITU-T X.667 / ISO/IEC 9834-8),
which anyone may use without registering, and which no one else can have
chosen.  The UUID below was generated once, for this purpose, and never
changes: tokens already issued name it.  A production service whose TSA policy
is registered elsewhere sets `TSA_POLICY_OID`.

This module imports nothing heavy: `webapp.config` reads the default from it.
"""

from __future__ import annotations

import re
from uuid import UUID

# Generated once with uuid.uuid4() for the Wassit timestamping policy; do not change.
POLICY_UUID = UUID("bcf74be5-7ad6-43bc-a62f-4e09cb176819")

# 2.25.<the UUID read as one unsigned 128-bit integer>, as X.667 §6.3 prescribes.
DEFAULT_POLICY_OID = f"2.25.{POLICY_UUID.int}"

_DOTTED = re.compile(r"^(0|1|2)(\.(0|[1-9][0-9]*))+$")


def is_dotted_oid(value: str) -> bool:
    """True for an object identifier in dotted decimal form that DER can encode.

    At least two arcs; the first is 0, 1 or 2; under 0 and 1 the second is at
    most 39 (X.690 §8.19.4); no leading zeros.
    """
    if not _DOTTED.match(value):
        return False
    first, second = (int(arc) for arc in value.split(".")[:2])
    return first == 2 or second <= 39
