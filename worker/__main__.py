"""`python -m worker [work|scheduler] [--burst]`: an RQ worker, or the periodic scheduler.

The app is built here, in the entry point, never as an import side effect.
`LOG_LEVEL` (default `info`): at `info`, a worker logs failures, a line when it
starts, and one summary line a minute; `debug` adds every job's own lines.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from webapp import create_app
from webapp.queue import LANES
from worker.app_worker import run_scheduler, run_worker, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker")
    parser.add_argument("role", nargs="?", default="work", choices=["work", "scheduler"])
    parser.add_argument("--burst", action="store_true", help="stop when the queues are empty")
    parser.add_argument(
        "--lane",
        choices=sorted(LANES),
        default=os.environ.get("WORKER_LANE", "proofs"),
        help="the order of the queues after the urgent ones (webapp.queue.LANES; default WORKER_LANE or proofs)",
    )
    args = parser.parse_args(argv)
    level = os.environ.get("LOG_LEVEL", "info").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # RQ's own lines say, at INFO, every job dequeued and done: detail for `LOG_LEVEL=debug` only.
    rq_level = "DEBUG" if level == "DEBUG" else "WARNING"
    for name in ("rq", "rq.worker", "rq.cron", "rq.scheduler"):
        logging.getLogger(name).setLevel(rq_level)
    app = create_app()
    if args.role == "scheduler":
        run_scheduler(app, logging_level=rq_level)
    elif args.burst:
        run_worker(app, burst=True, logging_level=rq_level, lane=args.lane)
    else:
        serve(app, logging_level=rq_level, lane=args.lane)
    return 0


if __name__ == "__main__":
    sys.exit(main())
