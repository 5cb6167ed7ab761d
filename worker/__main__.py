"""`python -m worker [work|scheduler] [--burst]`: the RQ worker, or the periodic scheduler.

The app is built here, in the entry point, never as an import side effect.
"""

from __future__ import annotations

import argparse
import logging
import sys

from webapp import create_app
from worker.app_worker import build_scheduler, run_worker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker")
    parser.add_argument("role", nargs="?", default="work", choices=["work", "scheduler"])
    parser.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app()
    if args.role == "scheduler":
        build_scheduler(app).start()  # type: ignore[no-untyped-call]
        return 0
    run_worker(app, burst=args.burst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
