"""Running pyHanko's coroutines from synchronous code."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from pyhanko_certvalidator import ValidationContext

T = TypeVar("T")


def run_sync(coroutine: Coroutine[Any, Any, T], *contexts: ValidationContext | None) -> T:
    """Runs a coroutine on a private event loop, then closes what `contexts` opened to fetch CRLs or OCSP.

    Not `asyncio.run`: on Python 3.11 its SIGINT handling formats the repr of
    the finished main task, whose result (a large asn1crypto structure) can take
    minutes to repr.  A plain loop installs no signal handler.
    """

    async def run_and_release() -> T:
        try:
            return await coroutine
        finally:
            for context in contexts:
                if context is not None:
                    await context.aclose()  # on this loop, which opened the HTTP session

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(run_and_release())
    finally:
        loop.close()
