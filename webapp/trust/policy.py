"""Our timestamping policy's identifier, and the check that a configured one is a real OID.

The built-in timestamp authority names its policy in every token it issues
(`TSTInfo.policy`, RFC 3161 §2.4.2).  An OID must belong to whoever uses it:
ours is derived from a UUID under the `2.25` arc (ITU-T X.667 / ISO/IEC 9834-8),
which anyone may use without registering, and which no one else can have
chosen.  The UUID was generated once, for this purpose, and never changes:
tokens already issued name it.  A production service whose TSA policy is
registered elsewhere sets `TSA_POLICY_OID`.

The identifier and its check are defined in `webapp.config`, as the default and
the validation of the `TSA_POLICY_OID` setting (settings import nothing of ours).
"""

from __future__ import annotations

from webapp.config import DEFAULT_POLICY_OID, POLICY_UUID, is_dotted_oid

__all__ = ["DEFAULT_POLICY_OID", "POLICY_UUID", "is_dotted_oid"]
