"""What a server sends at given times, in order: a heap of due items and the loop that carries them out.

Shared by the mock upstream and the replay: both schedule events (and closes) ahead, and one sender per
connection takes each when it is due, earliest first, then in the order they were put.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from typing import Any, Awaitable, Callable


class DueQueue:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Any]] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()

    def put(self, at: float, item: Any) -> None:
        heapq.heappush(self._heap, (at, next(self._seq), item))
        self._wake.set()

    async def run(self, carry_out: Callable[[Any], Awaitable[bool]]) -> None:
        """Hand each item to carry_out when it is due; stop when carry_out returns False."""
        while True:
            self._wake.clear()
            if not self._heap:
                await self._wake.wait()
                continue
            delay = self._heap[0][0] - time.monotonic()
            if delay > 0:
                # An item put meanwhile may be due earlier: wake up for it.
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                continue
            if not await carry_out(heapq.heappop(self._heap)[2]):
                return
