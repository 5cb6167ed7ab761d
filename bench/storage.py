"""Object storage: encrypted documents written and read per second, on the local directory and on S3.

    .venv/bin/python -m bench.storage [--count N] [--size BYTES] [--no-json]

For each store — the embedded default (`LocalStore` in a temporary directory) and a real S3-compatible
server (SeaweedFS `weed mini` on loopback, through boto3) — writes N documents of `--size` bytes as the
deposit does (`EncryptedObjects.put`: a fresh data key, AES-256-GCM, written once with If-None-Match), then
reads each back as a download does (`EncryptedObjects.read`: SHA-256 checked, decrypted).  One thread: the
figures are what one web or worker process gets; they add up over processes until the store's disk or
network saturates.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.proofs import RESULTS, machine
from webapp.models import StoredDocument
from webapp.storage import EncryptedObjects, LocalStore, ObjectStore, S3Store
from webapp.vault import Vault


def _timed(count: int, step: Callable[[int], None]) -> dict[str, float]:
    durations = []
    for index in range(count):
        started = time.perf_counter()
        step(index)
        durations.append(time.perf_counter() - started)
    durations.sort()
    total = sum(durations)
    return {
        "per_s": count / total,
        "mean_ms": statistics.mean(durations) * 1000,
        "p95_ms": durations[max(0, int(len(durations) * 0.95) - 1)] * 1000,
    }


def run_store(name: str, store: ObjectStore, count: int, size: int) -> dict[str, Any]:
    objects = EncryptedObjects(Vault(secrets.token_bytes(32)), store)
    document = secrets.token_bytes(size)
    rows: list[StoredDocument] = []
    now = datetime.now(UTC)

    def put(index: int) -> None:
        row = StoredDocument(letter_id=f"bench-{index}")
        objects.put(document, context=f"document:{index}", kind="documents", owner_id=row.letter_id, now=now).apply(row)
        rows.append(row)

    def read(index: int) -> None:
        assert objects.read(rows[index], context=f"document:{index}") == document

    for index in range(3):  # warm-up: connections, caches
        objects.put(document, context="w", kind="documents", owner_id=f"warm-{index}", now=now)
    return {"store": name, "write": _timed(count, put), "read": _timed(count, read)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--no-json", action="store_true")
    args = parser.parse_args()
    from tests.s3server import start_s3_server

    results = []
    with tempfile.TemporaryDirectory() as directory:
        results.append(run_store("local directory", LocalStore(Path(directory) / "objects"), args.count, args.size))
        server = start_s3_server(Path(directory) / "seaweedfs")
        try:
            store = S3Store(
                server.bucket,
                "bench",
                endpoint_url=server.endpoint,
                region="us-east-1",
                access_key_id=server.access_key,
                secret_access_key=server.secret_key,
            )
            results.append(run_store("S3 (SeaweedFS, loopback)", store, args.count, args.size))
        finally:
            server.stop()
    print(f"{args.count} documents of {args.size:,} bytes, one thread")
    print(f"{'':32} {'write/s':>8} {'mean ms':>8} {'p95 ms':>7} {'read/s':>8} {'mean ms':>8} {'p95 ms':>7}")
    for result in results:
        w, r = result["write"], result["read"]
        print(
            f"{result['store']:32} {w['per_s']:8.1f} {w['mean_ms']:8.1f} {w['p95_ms']:7.1f} "
            f"{r['per_s']:8.1f} {r['mean_ms']:8.1f} {r['p95_ms']:7.1f}"
        )
    if not args.no_json:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"storage-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
        path.write_text(json.dumps({"machine": machine(), "args": vars(args), "results": results}, indent=2))


if __name__ == "__main__":
    main()
