"""Secrets out of logs: the paths and values that carry them, redacted wherever a line is written.

A recipient's link (`/l/<token>`), an invitation (`/invitations/<token>`), an email
confirmation (`/confirm-email/<token>`), an API token (`lre_…`), a webhook signing secret
(`whsec_…`) and a bearer credential are secrets: whoever reads a log line holding one can act
with it.  Web servers log request paths, and an exception's message may quote a URL, so

- `redact` rewrites a text, and
- `install_log_redaction` makes every log record of the process go through it, whatever
  logger writes it (Flask, Werkzeug, gunicorn's access and error logs, RQ, our own): a log
  record factory, so no handler configured later can bypass it.  `create_app` installs it in
  every process (web workers, RQ workers, the scheduler, the CLI); gunicorn's logger class does
  in its master process.

One-time codes have no recognisable shape: they are never passed to a logger (jobs take ids, and
form bodies are never logged); `tests/test_log_secrets.py` runs the real stack and greps its
logs for every secret it used, codes included.
"""

from __future__ import annotations

import logging
import re
from typing import Any

_SECRET_PATHS = re.compile(r"(/(?:l|invitations|confirm-email)/)[A-Za-z0-9_-]{8,}")
_PREFIXED = re.compile(r"\b(lre|whsec)_[A-Za-z0-9_-]{8,}")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
_QUERY_SECRETS = re.compile(r"(?i)([?&](?:token|access_token|api_key|code|secret)=)[^&\s\"']+")


def redact(text: str) -> str:
    """`text` with every link token, API token, signing secret and bearer credential replaced by `[redacted]`."""
    text = _SECRET_PATHS.sub(r"\1[redacted]", text)
    text = _PREFIXED.sub(r"\1_[redacted]", text)
    text = _BEARER.sub(r"\1[redacted]", text)
    return _QUERY_SECRETS.sub(r"\1[redacted]", text)


_EXCEPTION_FORMATTER = logging.Formatter()


def _redacted_record(record: logging.LogRecord) -> logging.LogRecord:
    try:
        message = record.getMessage()
    except Exception:  # a malformed call (wrong arguments): left for logging's own error report
        return record
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and not record.exc_text:
        # Formatted now, redacted, and cached where every standard formatter reads it.
        record.exc_text = redact(_EXCEPTION_FORMATTER.formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


def install_log_redaction() -> None:
    """Makes every log record created in this process from now on carry redacted text (idempotent)."""
    current = logging.getLogRecordFactory()
    if getattr(current, "redacts_secrets", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return _redacted_record(current(*args, **kwargs))

    factory.redacts_secrets = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
