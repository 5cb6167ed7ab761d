"""Secrets out of logs: the paths and values that carry them, redacted wherever a line is written.

A recipient's link (`/l/<token>`), an invitation (`/invitations/<token>`), an email
confirmation (`/confirm-email/<token>`) and an API token (`lre_…`) are bearer
secrets: whoever reads a log line holding one can act with it.  Web servers log
request paths, so every logger that may print a path goes through `redact`.
"""

from __future__ import annotations

import re

_SECRET_PATHS = re.compile(r"(/(?:l|invitations|confirm-email)/)[A-Za-z0-9_-]{8,}")
_API_TOKENS = re.compile(r"\blre_[A-Za-z0-9_-]{8,}")


def redact(text: str) -> str:
    """`text` with every link token and API token replaced by `[redacted]`."""
    return _API_TOKENS.sub("lre_[redacted]", _SECRET_PATHS.sub(r"\1[redacted]", text))
