"""A small HTTP load generator: N processes × T threads, each thread one keep-alive connection.

    .venv/bin/python -m bench.loadgen URL [--processes 2] [--threads 4] [--warmup 2] [--duration 10]
        [--header 'Accept-Encoding: br']

Every thread sends `GET` in a loop for `warmup + duration` seconds; only the
requests that start after the warm-up and end before the deadline are counted.
Prints one JSON object: label, count, per_second, mean_ms, p95_ms (nearest rank), errors
(and with --latencies, every counted latency in seconds).
Standard library only, and its own process (`bench.recipient` runs it so), so
that its workers start light and it measures the server rather than a client library.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import multiprocessing
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass
from multiprocessing.synchronize import Barrier
from urllib.parse import urlsplit


@dataclass(frozen=True)
class LoadFigures:
    label: str
    count: int
    per_second: float
    mean_ms: float
    p95_ms: float
    errors: int

    @classmethod
    def of(cls, label: str, latencies: list[float], duration: float, errors: int) -> LoadFigures:
        ordered = sorted(latencies)
        return cls(
            label=label,
            count=len(ordered),
            per_second=len(ordered) / duration,
            mean_ms=statistics.fmean(ordered) * 1000 if ordered else math.nan,
            p95_ms=ordered[math.ceil(0.95 * len(ordered)) - 1] * 1000 if ordered else math.nan,
            errors=errors,
        )


def _hammer(
    host: str,
    port: int,
    path: str,
    headers: dict[str, str],
    measure_from: float,
    end: float,
    latencies: list[float],
    errors: list[int],
) -> None:
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        while (start := time.monotonic()) < end:
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
                done = time.monotonic()
                if response.status != 200:
                    errors.append(response.status)
                elif start >= measure_from and done <= end:
                    latencies.append(done - start)
                if response.will_close:
                    connection.close()
            except (OSError, http.client.HTTPException):
                errors.append(0)
                connection.close()
    finally:
        connection.close()


def _process(
    host: str,
    port: int,
    path: str,
    headers: dict[str, str],
    threads: int,
    warmup: float,
    duration: float,
    barrier: Barrier,
    results: multiprocessing.Queue[tuple[list[float], int]],
) -> None:
    latencies: list[float] = []  # list.append is atomic under the GIL
    errors: list[int] = []
    barrier.wait()
    start = time.monotonic()
    workers = [
        threading.Thread(
            target=_hammer,
            args=(host, port, path, headers, start + warmup, start + warmup + duration, latencies, errors),
        )
        for _ in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put((latencies, len(errors)))


def run_load(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    processes: int = 2,
    threads: int = 4,
    warmup: float = 2.0,
    duration: float = 10.0,
) -> tuple[list[float], int]:
    """Loads `url`; returns the latencies (seconds) of the counted requests and the number of errors."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes + 1)
    results: multiprocessing.Queue[tuple[list[float], int]] = context.Queue()
    children = [
        context.Process(
            target=_process,
            args=(host, port, path, headers or {}, threads, warmup, duration, barrier, results),
        )
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    barrier.wait(timeout=60)  # every process started: they begin together
    latencies: list[float] = []
    errors = 0
    for _ in children:
        some, failed = results.get(timeout=warmup + duration + 60)
        latencies += some
        errors += failed
    for child in children:
        child.join(timeout=10)
    return latencies, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("url")
    parser.add_argument("--label", default="")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="threads (connections) per process")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of uncounted load first")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of counted load")
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("--latencies", action="store_true", help="add every counted latency (seconds) to the JSON")
    args = parser.parse_args(argv)
    headers: dict[str, str] = {}
    for header in args.header:
        name, _, value = header.partition(":")
        headers[name.strip()] = value.strip()
    latencies, errors = run_load(
        args.url,
        headers=headers,
        processes=args.processes,
        threads=args.threads,
        warmup=args.warmup,
        duration=args.duration,
    )
    result = asdict(LoadFigures.of(args.label or args.url, latencies, args.duration, errors))
    if args.latencies:
        result["latencies"] = latencies
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
