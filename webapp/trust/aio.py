"""Running pyHanko's coroutines from synchronous code."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Runs a coroutine on a private event loop.

    Not `asyncio.run`: on Python 3.11 its SIGINT handling formats the repr of
    the finished main task, whose result (a large asn1crypto structure) can take
    minutes to repr.  A plain loop installs no signal handler.
    """
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()
