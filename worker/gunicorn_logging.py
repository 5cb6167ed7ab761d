"""gunicorn's logger, with the request line's secrets redacted (`--logger-class`).

The access log prints each request's path and line; recipient links, invitation
and confirmation links carry their token in the path (see `webapp.logredact`).
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger  # type: ignore[import-untyped]

from webapp.logredact import install_log_redaction, redact

# gunicorn's master process never builds the app: its own lines (errors, worker restarts) are redacted too.
install_log_redaction()


class RedactingLogger(Logger):  # type: ignore[misc]
    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key, value in atoms.items():
            if isinstance(value, str) and ("/" in value or "lre_" in value):
                atoms[key] = redact(value)
        return atoms
